package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// secretFiles writes a password file and a CA file into a new directory.
func secretFiles(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"vc-east", "vc-west", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// apiExample is the example of API.md's "Several vCenters", with paths
// that exist.
const apiExample = `vcenters:
  - id: east                         # [a-z0-9-]{1,63}; the {vcenter} segment of names
    url: https://vc-east.example.com/sdk
    username: svc-vasagw@vsphere.local
    passwordFile: vc-east   # re-read at every login
    caFile: ca.pem   # or thumbprint: "AB:CD:...", or insecure: true
    autoReconnect: false             # see "Fleet" below
  - id: west
    url: https://vc-west.example.com/sdk
    username: svc
    passwordFile: vc-west
    thumbprint: "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
    autoReconnect: true
  - id: lab-1
    url: http://127.0.0.1:8989/sdk
    username: svc
    passwordFile: vc-west
    insecure: true
`

func TestParseVCenters(t *testing.T) {
	t.Parallel()
	dir := secretFiles(t)
	got, err := ParseVCenters([]byte(apiExample), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []VCenter{
		{ID: "east", URL: "https://vc-east.example.com/sdk", Username: "svc-vasagw@vsphere.local", PasswordFile: filepath.Join(dir, "vc-east"), CAFile: filepath.Join(dir, "ca.pem")},
		{ID: "west", URL: "https://vc-west.example.com/sdk", Username: "svc", PasswordFile: filepath.Join(dir, "vc-west"),
			Thumbprint: "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF", AutoReconnect: true},
		{ID: "lab-1", URL: "http://127.0.0.1:8989/sdk", Username: "svc", PasswordFile: filepath.Join(dir, "vc-west"), Insecure: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	if pw, err := got[0].PasswordFunc()(); err != nil || pw != "s3cret" {
		t.Errorf("password %q, %v; want the file without its newline", pw, err)
	}
	for _, empty := range []string{"", "# nothing yet\n", "vcenters:\n", "vcenters: []\n", "---\n"} {
		if got, err := ParseVCenters([]byte(empty), dir); err != nil || len(got) != 0 {
			t.Errorf("ParseVCenters(%q) = %v, %v; want no vCenters", empty, got, err)
		}
	}
}

func TestParseVCentersErrors(t *testing.T) {
	t.Parallel()
	dir := secretFiles(t)
	entry := func(lines ...string) string {
		return "vcenters:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	good := []string{"id: east", "url: https://vc.example.test/sdk", "username: svc", "passwordFile: vc-east"}
	with := func(extra ...string) string { return entry(append(append([]string(nil), good...), extra...)...) }
	without := func(key string) string {
		var lines []string
		for _, l := range good {
			if !strings.HasPrefix(l, key+":") {
				lines = append(lines, l)
			}
		}
		return entry(lines...)
	}
	tests := []struct {
		name string
		file string
		want []string // substrings of the error, naming the entry and key
	}{
		{"not YAML", "vcenters: [", []string{"not YAML"}},
		{"not a mapping", "- id: east\n", []string{"line 1", "vcenters"}},
		{"unknown top-level key", "vcenter:\n  - id: east\n", []string{`unknown key "vcenter"`}},
		{"vcenters not a list", "vcenters: east\n", []string{"vcenters: want a list"}},
		{"entry not a mapping", "vcenters:\n  - east\n", []string{"vcenters[0]", "want a mapping"}},
		{"unknown key", with("pasword: x"), []string{`vcenters[0] (id "east")`, "pasword: unknown key (line 6)"}},
		{"key twice", with("username: other"), []string{`vcenters[0] (id "east")`, "username: given twice"}},
		{"bad id", strings.Replace(with(), "id: east", "id: East_1", 1), []string{`vcenters[0] (id "East_1")`, "id"}},
		{"id too long", strings.Replace(with(), "id: east", "id: "+strings.Repeat("a", 64), 1), []string{"vcenters[0]", "id"}},
		{"missing id", without("id"), []string{"vcenters[0]: id"}},
		{"missing url", without("url"), []string{`(id "east"): url: required`}},
		{"url with credentials", strings.Replace(with(), "https://vc", "https://u:p@vc", 1), []string{"url: must not carry credentials"}},
		{"url not https", strings.Replace(with(), "https://vc.example.test/sdk", "ftp://vc.example.test", 1), []string{"url:", "https://"}},
		{"missing username", without("username"), []string{"username: required"}},
		{"missing password file", without("passwordFile"), []string{"passwordFile: required"}},
		{"password file absent", strings.Replace(with(), "vc-east", "nope", 1), []string{`(id "east"): passwordFile:`, "no such file"}},
		{"ca file absent", with("caFile: nope.pem"), []string{"caFile:", "no such file"}},
		{"bad thumbprint", with("thumbprint: zz"), []string{"thumbprint: want"}},
		{"two trust settings", with("insecure: true", "caFile: ca.pem"), []string{"caFile, thumbprint, insecure: give at most one"}},
		{"insecure not a bool", with("insecure: maybe"), []string{"insecure: line 6: want true or false"}},
		{"url a list", strings.Replace(with(), "url: https://vc.example.test/sdk", "url: [a, b]", 1), []string{"url: line 3: want a single value"}},
		{"duplicate id", with() + "  - " + strings.Join(good, "\n    ") + "\n", []string{`vcenters[1] (id "east"): id: duplicate of vcenters[0]`}},
		{"two documents", with() + "---\nvcenters: []\n", []string{"second YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseVCenters([]byte(tt.file), dir)
			if err == nil {
				t.Fatalf("no error for\n%s", tt.file)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

func TestLoadWithConfigFile(t *testing.T) {
	t.Parallel()
	dir := secretFiles(t)
	file := filepath.Join(dir, "vasagw.yaml")
	if err := os.WriteFile(file, []byte(apiExample), 0o600); err != nil {
		t.Fatal(err)
	}
	flagsDefault := []string{"--vcenter-url=https://vc.example.test/sdk", "--vcenter-username=svc", "--vcenter-password-file=" + filepath.Join(dir, "vc-east")}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string // replaces the file's content when set
		check   func(t *testing.T, c Config)
		wantErr []string
	}{
		{name: "from the flag", args: []string{"--insecure-allow-unauthenticated", "--config=" + file}, check: func(t *testing.T, c Config) {
			if len(c.VCenters) != 3 || c.VCenters[1].ID != "west" || !c.VCenters[1].AutoReconnect {
				t.Errorf("vCenters %+v", c.VCenters)
			}
		}},
		{name: "from VASAGW_CONFIG", args: []string{"--insecure-allow-unauthenticated"}, env: map[string]string{"VASAGW_CONFIG": file}, check: func(t *testing.T, c Config) {
			if len(c.VCenters) != 3 || c.ConfigFile != file {
				t.Errorf("config %q, vCenters %+v", c.ConfigFile, c.VCenters)
			}
		}},
		{name: "with the flags' default", args: append([]string{"--insecure-allow-unauthenticated", "--config=" + file, "--auto-reconnect"}, flagsDefault...), check: func(t *testing.T, c Config) {
			if len(c.VCenters) != 3 || c.VCenterURL == "" || !c.AutoReconnect {
				t.Errorf("%+v", c)
			}
		}},
		{name: "real vCenters need caller authentication", args: []string{"--config=" + file}, wantErr: []string{"authentication"}},
		{name: "file missing", args: []string{"--insecure-allow-unauthenticated", "--config=" + filepath.Join(dir, "none.yaml")}, wantErr: []string{"--config", "none.yaml"}},
		{name: "default collides with the flags", args: append([]string{"--insecure-allow-unauthenticated", "--config=" + file}, flagsDefault...),
			file: strings.Replace(apiExample, "id: west", "id: default", 1), wantErr: []string{`vcenters[1] (id "default"): id: the --vcenter-* flags already define "default"`}},
		{name: "an id of --simulate-vcenters", args: []string{"--insecure-allow-unauthenticated", "--config=" + file, "--simulate-vcenters=north,east"}, wantErr: []string{`vcenters[0] (id "east"): id: --simulate-vcenters already defines "east"`}},
		{name: "simulated ids", args: []string{"--simulate-vcenters=east, west"}, check: func(t *testing.T, c Config) {
			if len(c.SimulateVCenters) != 2 || c.SimulateVCenters[1] != "west" || c.RealVCenters() {
				t.Errorf("simulated %q, real %v", c.SimulateVCenters, c.RealVCenters())
			}
		}},
		{name: "simulated id twice", args: []string{"--simulate-vcenters=east,east"}, wantErr: []string{`--simulate-vcenters "east": given twice`}},
		{name: "simulated bad id", args: []string{"--simulate-vcenters=East"}, wantErr: []string{`--simulate-vcenters "East"`}},
		{name: "simulated default beside the flags", args: append([]string{"--insecure-allow-unauthenticated", "--simulate-vcenters=default"}, flagsDefault...), wantErr: []string{`--simulate-vcenters "default"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.file != "" {
				other := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
				if err := os.WriteFile(other, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string(nil), args...)
				for i, a := range args {
					args[i] = strings.Replace(a, file, other, 1)
				}
			}
			c, err := Load(args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
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

// FuzzParseVCenters: no file, however malformed, makes the parser panic,
// and what it accepts passes its own checks.
func FuzzParseVCenters(f *testing.F) {
	dir := secretFiles(f)
	f.Add([]byte(apiExample))
	f.Add([]byte("vcenters:\n  - id: a\n    id: b\n"))
	f.Add([]byte("vcenters: [{id: x, url: [1], insecure: {a: b}}]"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("vcenters: !!binary aGVsbG8="))
	f.Fuzz(func(t *testing.T, data []byte) {
		vcs, err := ParseVCenters(data, dir)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, vc := range vcs {
			if err := vc.validate(); err != nil || seen[vc.ID] {
				t.Fatalf("accepted %+v: %v (duplicate %v)", vc, err, seen[vc.ID])
			}
			seen[vc.ID] = true
		}
	})
}
