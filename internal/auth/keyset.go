package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// fileKeySet is a JWKS file as a go-oidc key set. Each verification checks
// the file's modification time and size and reads it again when they
// changed, so rotating keys needs no restart and no goroutine. A well-formed
// set replaces the keys in use, even when it holds none: an emptied set
// ({"keys":[]}) revokes every key. Only a file that cannot be read or does
// not parse as a key set the gateway accepts (a half-written file, a
// symmetric key) keeps the last good keys; that is logged as an error once
// per version of the file and counted in failures.
type fileKeySet struct {
	path string
	log  *slog.Logger

	// failures counts changes of the file that could not be used.
	failures atomic.Int64

	mu      sync.Mutex
	keys    *oidc.StaticKeySet
	stamp   fileStamp // of the file the keys came from
	badSeen fileStamp // of the last file that failed to parse
	missing bool      // the file could not be found at the last check
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: st.ModTime(), size: st.Size()}, nil
}

func newFileKeySet(path string, log *slog.Logger) (*fileKeySet, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stamp, err := stampOf(path)
	if err != nil {
		return nil, fmt.Errorf("JWKS file: %w", err)
	}
	keys, err := readJWKS(path)
	if err != nil {
		return nil, err
	}
	if len(keys.PublicKeys) == 0 {
		log.Warn("the JWKS file holds no signing keys: every bearer token is refused until keys are added", "path", path)
	}
	return &fileKeySet{path: path, log: log, keys: keys, stamp: stamp}, nil
}

// VerifySignature implements oidc.KeySet.
func (k *fileKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	return k.current().VerifySignature(ctx, jwt)
}

func (k *fileKeySet) current() *oidc.StaticKeySet {
	k.mu.Lock()
	defer k.mu.Unlock()
	stamp, err := stampOf(k.path)
	if err != nil {
		if !k.missing {
			k.missing = true
			k.failures.Add(1)
			k.log.Error("the JWKS file cannot be read; keeping the previous keys", "path", k.path, "error", err)
		}
		return k.keys
	}
	k.missing = false
	if stamp == k.stamp || stamp == k.badSeen {
		return k.keys
	}
	keys, err := readJWKS(k.path)
	if err != nil {
		k.badSeen = stamp
		k.failures.Add(1)
		k.log.Error("the JWKS file changed but cannot be used; keeping the previous keys", "path", k.path, "error", err)
		return k.keys
	}
	k.keys, k.stamp = keys, stamp
	if len(keys.PublicKeys) == 0 {
		k.log.Warn("the JWKS file now holds no signing keys: every key is revoked and every bearer token refused", "path", k.path)
	} else {
		k.log.Info("reloaded the JWKS file", "path", k.path, "keys", len(keys.PublicKeys))
	}
	return k.keys
}

// readJWKS reads the public signing keys of a JWKS file; a well-formed set
// with none (or with only encryption keys) gives an empty key set. A file
// without a "keys" array, or holding a key go-jose cannot decode, does not
// parse; a symmetric key is an error too: the gateway never verifies with a
// shared secret.
func readJWKS(path string) (*oidc.StaticKeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("JWKS file: %w", err)
	}
	var shape struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	if len(shape.Keys) == 0 || shape.Keys[0] != '[' {
		return nil, errors.New("JWKS file " + path + ": no \"keys\" array")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	keys := []crypto.PublicKey{}
	for i, jwk := range set.Keys {
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		switch pub := jwk.Public().Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, pub)
		default:
			return nil, fmt.Errorf("JWKS file %s: key %d (kid %q) is not an RSA, EC or Ed25519 public key", path, i, jwk.KeyID)
		}
	}
	return &oidc.StaticKeySet{PublicKeys: keys}, nil
}
