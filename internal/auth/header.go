package auth

import (
	"errors"
	"strings"
)

// maxTokenLength bounds a bearer token; real JWTs are a few kilobytes.
const maxTokenLength = 16 << 10

// Errors of [ParseAuthorization].
var (
	// ErrNoAuthorization: the header is empty.
	ErrNoAuthorization = errors.New("no Authorization header")
	// ErrNotBearer: the header uses another scheme than Bearer.
	ErrNotBearer = errors.New("the Authorization scheme is not Bearer")
	// ErrMalformedAuthorization: a Bearer header whose credentials are not
	// a token68 (RFC 9110 section 11.4), or too long.
	ErrMalformedAuthorization = errors.New("malformed Bearer credentials")
)

// ParseAuthorization returns the token of an `Authorization: Bearer
// <token>` header value (RFC 6750 section 2.1): the scheme in any case, one
// or more spaces, then a token68. It checks syntax only; a [TokenVerifier]
// decides whether the token is good. Errors never contain the header.
func ParseAuthorization(header string) (string, error) {
	if header == "" {
		return "", ErrNoAuthorization
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNotBearer
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" || len(token) > maxTokenLength || !isToken68(token) {
		return "", ErrMalformedAuthorization
	}
	return token, nil
}

// isToken68 reports whether s is a token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}
