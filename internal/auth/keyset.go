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
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// fileKeySet is a JWKS file as a go-oidc key set. Each verification checks
// the file's modification time and size and reads it again when they
// changed, so rotating keys needs no restart and no goroutine. A file that
// stops parsing keeps the last good keys in use and is logged once.
type fileKeySet struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	keys    *oidc.StaticKeySet
	stamp   fileStamp // of the file the keys came from
	badSeen fileStamp // of the last file that failed to parse
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
	if err != nil || stamp == k.stamp || stamp == k.badSeen {
		return k.keys
	}
	keys, err := readJWKS(k.path)
	if err != nil {
		k.badSeen = stamp
		k.log.Warn("the JWKS file changed but cannot be used; keeping the previous keys", "path", k.path, "error", err)
		return k.keys
	}
	k.keys, k.stamp = keys, stamp
	k.log.Info("reloaded the JWKS file", "path", k.path, "keys", len(keys.PublicKeys))
	return k.keys
}

// readJWKS reads the public signing keys of a JWKS file. A symmetric key
// is an error: the gateway never verifies with a shared secret.
func readJWKS(path string) (*oidc.StaticKeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("JWKS file: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	var keys []crypto.PublicKey
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
	if len(keys) == 0 {
		return nil, errors.New("JWKS file " + path + ": no signing keys")
	}
	return &oidc.StaticKeySet{PublicKeys: keys}, nil
}
