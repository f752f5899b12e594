package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The insecure flag comes first so that the slices below can cut the
	// credentials off the end.
	vc := []string{"--insecure-allow-unauthenticated", "--vcenter-url=https://vc.example.test/sdk", "--vcenter-username=svc", "--vcenter-password-file=" + pwFile}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string // a substring naming the flag
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.GRPCAddr != ":9090" || c.HTTPAddr != ":8080" || c.TaskPollInterval != time.Second || c.VCenterURL != "" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "environment twin", env: map[string]string{"VASAGW_TASK_POLL_INTERVAL": "250ms", "VASAGW_GRPC_ADDR": "127.0.0.1:1"}, check: func(t *testing.T, c Config) {
			if c.TaskPollInterval != 250*time.Millisecond || c.GRPCAddr != "127.0.0.1:1" {
				t.Errorf("env not applied: %+v", c)
			}
		}},
		{name: "flag wins over environment", args: []string{"--task-poll-interval=2s"}, env: map[string]string{"VASAGW_TASK_POLL_INTERVAL": "250ms"}, check: func(t *testing.T, c Config) {
			if c.TaskPollInterval != 2*time.Second {
				t.Errorf("flag lost: %s", c.TaskPollInterval)
			}
		}},
		{name: "password from the environment", args: vc[:3], env: map[string]string{"VASAGW_VCENTER_PASSWORD": "pw"}, check: func(t *testing.T, c Config) {
			if pw, err := c.PasswordFunc()(); err != nil || pw != "pw" {
				t.Errorf("password %q, %v", pw, err)
			}
		}},
		{name: "password file, one trailing newline ignored", args: vc, check: func(t *testing.T, c Config) {
			if pw, err := c.PasswordFunc()(); err != nil || pw != "s3cret" {
				t.Errorf("password %q, %v", pw, err)
			}
		}},
		{name: "CORS origins", args: []string{"--cors-allowed-origins=https://portal.example.test, http://localhost:3000"}, check: func(t *testing.T, c Config) {
			if len(c.CORSAllowedOrigins) != 2 || c.CORSAllowedOrigins[1] != "http://localhost:3000" {
				t.Errorf("origins %q", c.CORSAllowedOrigins)
			}
		}},
		{name: "bad duration names the flag", args: []string{"--task-poll-interval=soon"}, wantErr: "task-poll-interval"},
		{name: "bad duration from the environment names flag and variable", env: map[string]string{"VASAGW_TASK_POLL_INTERVAL": "soon"}, wantErr: "VASAGW_TASK_POLL_INTERVAL"},
		{name: "poll interval too short", args: []string{"--task-poll-interval=1ms"}, wantErr: "--task-poll-interval"},
		{name: "value refused by validation names the variable it came from", env: map[string]string{"VASAGW_LOG_LEVEL": "loud"}, wantErr: "--log-level (from VASAGW_LOG_LEVEL)"},
		{name: "unknown flag spelled with two dashes", args: []string{"-grpc-port=1"}, wantErr: "unknown flag --grpc-port"},
		{name: "bad value spelled with two dashes", args: []string{"-task-poll-interval", "soon"}, wantErr: "flag --task-poll-interval"},
		{name: "help", args: []string{"-help"}, wantErr: ErrHelp.Error()},
		{name: "reconnect rate with only the embedded simulator", check: func(t *testing.T, c Config) {
			if c.ReconnectRate != DemoReconnectRate {
				t.Errorf("reconnect rate %v, want the demo default %v", &c.ReconnectRate, &DemoReconnectRate)
			}
		}},
		{name: "reconnect rate in front of a vCenter", args: vc, check: func(t *testing.T, c Config) {
			if c.ReconnectRate != (Rate{N: 10, Per: time.Minute}) {
				t.Errorf("reconnect rate %v, want 10/m", &c.ReconnectRate)
			}
		}},
		{name: "reconnect rate set explicitly with the simulator", env: map[string]string{"VASAGW_RECONNECT_RATE": "3/m"}, check: func(t *testing.T, c Config) {
			if c.ReconnectRate != (Rate{N: 3, Per: time.Minute}) {
				t.Errorf("reconnect rate %v, want 3/m", &c.ReconnectRate)
			}
		}},
		{name: "unknown flag", args: []string{"--vcenter=x"}, wantErr: "vcenter"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "serve"},
		{name: "vCenter URL without https", args: append([]string{"--vcenter-url=ftp://vc/sdk"}, vc[2:]...), wantErr: "--vcenter-url"},
		{name: "vCenter URL with credentials", args: append([]string{"--vcenter-url=https://u:p@vc/sdk"}, vc[2:]...), wantErr: "must not carry credentials"},
		{name: "vCenter URL needs a user", args: []string{"--insecure-allow-unauthenticated", "--vcenter-url=https://vc/sdk", "--vcenter-password-file=" + pwFile}, wantErr: "--vcenter-username"},
		{name: "vCenter URL needs a password", args: vc[:3], wantErr: "--vcenter-password-file"},
		{name: "missing password file", args: append(vc[:3:3], "--vcenter-password-file="+filepath.Join(dir, "nope")), wantErr: "--vcenter-password-file"},
		{name: "missing CA file", args: append(vc[:4:4], "--vcenter-ca-file="+filepath.Join(dir, "nope")), wantErr: "--vcenter-ca-file"},
		{name: "insecure and a pin", args: append(vc[:4:4], "--vcenter-insecure", "--vcenter-thumbprint=AA"), wantErr: "--vcenter-insecure"},
		{name: "bad CORS origin", args: []string{"--cors-allowed-origins=portal.example.test"}, wantErr: "--cors-allowed-origins"},
		{name: "bad log format", args: []string{"--log-format=xml"}, wantErr: "--log-format"},
		{name: "limit defaults", check: func(t *testing.T, c Config) {
			if c.Limits != DefaultLimits() || c.MaxPublicStreams != 1000 || c.MaxConnections != 2000 || c.IdleTimeout != 2*time.Minute {
				t.Errorf("limits %+v", c.Limits)
			}
		}},
		{name: "limits from the environment", env: map[string]string{"VASAGW_MAX_PUBLIC_STREAMS": "5", "VASAGW_MAX_STREAMS_PER_CONNECTION": "6", "VASAGW_MAX_STREAMS_PER_ANONYMOUS_IP": "7", "VASAGW_MAX_CONNECTIONS": "8", "VASAGW_IDLE_TIMEOUT": "30s", "VASAGW_KEEPALIVE_MIN_TIME": "20s"}, check: func(t *testing.T, c Config) {
			if c.Limits != (Limits{MaxPublicStreams: 5, MaxStreamsPerConnection: 6, MaxStreamsPerAnonymousIP: 7, MaxConnections: 8, IdleTimeout: 30 * time.Second, KeepaliveMinTime: 20 * time.Second}) {
				t.Errorf("limits %+v", c.Limits)
			}
		}},
		{name: "negative limit names the flag", args: []string{"--max-connections=-1"}, wantErr: "--max-connections"},
		{name: "idle timeout too short", args: []string{"--idle-timeout=1ms"}, wantErr: "--idle-timeout"},
		{name: "keepalive minimum too short", args: []string{"--keepalive-min-time=10ms"}, wantErr: "--keepalive-min-time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, mapLookup(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestPasswordFileIsReadAtEachLogin(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("old\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--insecure-allow-unauthenticated", "--vcenter-url=https://vc/sdk", "--vcenter-username=u", "--vcenter-password-file=" + pwFile}, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	pw := c.PasswordFunc()
	if got, _ := pw(); got != "old" {
		t.Errorf("first read %q", got)
	}
	if err := os.WriteFile(pwFile, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := pw(); got != "new" {
		t.Errorf("after rotation %q", got)
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestCallerRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"10/m": "10/m", "1/s": "1/s", "3/h": "3/h", "5/30s": "5/30s", "0": "0", "7/1m0s": "7/m"} {
		var r Rate
		if err := r.Set(in); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("%s: %s, want %s", in, r.String(), want)
		}
	}
	for _, bad := range []string{"10", "x/m", "-1/m", "0/m", "1/0s", "1/d", "1/-1m"} {
		var r Rate
		if err := r.Set(bad); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
