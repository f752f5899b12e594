package config

import (
	"fmt"
	"os"
	"strings"
)

// PasswordFunc returns the function the session calls at each login: the
// password file is read anew each time, so rotating it needs no restart.
func (c Config) PasswordFunc() func() (string, error) {
	if c.VCenterPasswordFile == "" {
		pw := c.VCenterPassword
		return func() (string, error) { return pw, nil }
	}
	path := c.VCenterPasswordFile
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read --vcenter-password-file: %w", err)
		}
		s := string(b)
		s = strings.TrimSuffix(s, "\n")
		s = strings.TrimSuffix(s, "\r")
		return s, nil
	}
}
