package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ForwardedMetadataKey is the gRPC metadata key that carries a sealed
// authentication result from the REST facade to the gRPC server.
const ForwardedMetadataKey = "x-vasagw-authn"

// Sealer seals the outcome of a REST caller's authentication so that the
// REST facade can hand it to the gRPC server over the in-process
// connection. The seal is an HMAC-SHA256 under a key drawn at random when
// the process starts and never written anywhere: no caller can make one,
// even one that smuggles metadata through grpc-gateway's Grpc-Metadata-
// headers or reaches the gRPC port directly.
type Sealer struct {
	key [32]byte
}

// sealed is what a seal carries: a caller, or the refusal.
type sealed struct {
	Caller *Caller `json:"caller,omitempty"`
	Error  *Error  `json:"error,omitempty"`
}

// NewSealer returns a Sealer with a fresh random key.
func NewSealer() (*Sealer, error) {
	s := &Sealer{}
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return s, nil
}

// Seal returns the metadata value for an authentication outcome: the
// caller, or the error [Authenticator.Authenticate] returned.
func (s *Sealer) Seal(c *Caller, authErr error) (string, error) {
	var v sealed
	switch {
	case authErr != nil:
		var e *Error
		if !errors.As(authErr, &e) {
			e = unauthenticated(ReasonUnauthenticated, "authentication failed")
		}
		v.Error = e
	case c != nil:
		v.Caller = c
	default:
		return "", errors.New("seal: nothing to seal")
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload)), nil
}

// Open checks a sealed value and returns its caller, or the sealed
// refusal as an [*Error]. A value that is not a valid seal is refused as
// UNAUTHENTICATED.
func (s *Sealer) Open(value string) (*Caller, error) {
	bad := unauthenticated(ReasonUnauthenticated, "authentication failed")
	p, m, ok := strings.Cut(value, ".")
	if !ok {
		return nil, bad
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(payload)) {
		return nil, bad
	}
	var v sealed
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, bad
	}
	switch {
	case v.Error != nil:
		return nil, v.Error
	case v.Caller != nil:
		return v.Caller, nil
	}
	return nil, bad
}

func (s *Sealer) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key[:])
	h.Write(payload)
	return h.Sum(nil)
}
