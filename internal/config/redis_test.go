package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedisFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-pw")
	if err := os.WriteFile(pwFile, []byte("r3dis-s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantURL  string
		wantPass string
		wantErr  string // a substring naming the flag
	}{
		{name: "off by default"},
		{name: "redis", args: []string{"--redis-url=redis://127.0.0.1:6379/2"}, wantURL: "redis://127.0.0.1:6379/2"},
		{name: "rediss from the environment, password file", env: map[string]string{"VASAGW_REDIS_URL": "rediss://redis.example.test:6380", "VASAGW_REDIS_PASSWORD_FILE": pwFile},
			wantURL: "rediss://redis.example.test:6380", wantPass: "r3dis-s3cret"},
		{name: "other scheme", args: []string{"--redis-url=http://user:hunter2@redis:6379"}, wantErr: "--redis-url"},
		{name: "no host", args: []string{"--redis-url=redis://"}, wantErr: "--redis-url"},
		{name: "password file without a URL", args: []string{"--redis-password-file=" + pwFile}, wantErr: "--redis-password-file"},
		{name: "empty prefix", args: []string{"--redis-url=redis://r:6379", "--redis-key-prefix="}, wantErr: "--redis-key-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RedisURL != tt.wantURL || c.RedisKeyPrefix != "vasagw:" {
				t.Errorf("url %q prefix %q", c.RedisURL, c.RedisKeyPrefix)
			}
			pw, err := c.RedisPassword()
			if err != nil || pw != tt.wantPass {
				t.Errorf("password %q, %v; want %q", pw, err, tt.wantPass)
			}
		})
	}
}

func TestRedisPasswordFileErrorHidesContent(t *testing.T) {
	t.Parallel()
	_, err := Redis{RedisURL: "redis://r:1", RedisPasswordFile: filepath.Join(t.TempDir(), "missing")}.RedisPassword()
	if err == nil || !strings.Contains(err.Error(), "--redis-password-file") {
		t.Fatalf("err = %v, want one naming --redis-password-file", err)
	}
}
