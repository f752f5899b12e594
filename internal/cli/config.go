package cli

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// defaultAddr is the gateway's default gRPC address (its --grpc-addr :9090).
const defaultAddr = "localhost:9090"

// fileConfig is vasactl's config file, $XDG_CONFIG_HOME/vasactl/config.yaml
// (~/.config/vasactl/config.yaml) or the one --config or VASACTL_CONFIG
// names: the connection settings, so they need not be typed every time.
// Relative paths are read from the file's directory, as kubeconfig does.
// Flags win over VASACTL_ADDR, which wins over the file.
//
//	addr: gw.example.com:9090
//	caFile: ca.pem
//	certFile: me.pem
//	keyFile: me-key.pem
//	tokenFile: token
//	plaintext: false
//	vcenter: default
type fileConfig struct {
	Addr      string `yaml:"addr"`
	CAFile    string `yaml:"caFile"`
	CertFile  string `yaml:"certFile"`
	KeyFile   string `yaml:"keyFile"`
	TokenFile string `yaml:"tokenFile"`
	Plaintext bool   `yaml:"plaintext"`
	VCenter   string `yaml:"vcenter"`
}

// configPath returns the config file to read and whether it must exist (it
// must when it was named explicitly).
func configPath(flag string, lookup func(string) (string, bool)) (string, bool) {
	if flag != "" {
		return flag, true
	}
	if p, ok := lookup("VASACTL_CONFIG"); ok && p != "" {
		return p, true
	}
	if dir, ok := lookup("XDG_CONFIG_HOME"); ok && dir != "" {
		return filepath.Join(dir, "vasactl", "config.yaml"), false
	}
	if home, ok := lookup("HOME"); ok && home != "" {
		return filepath.Join(home, ".config", "vasactl", "config.yaml"), false
	}
	return "", false
}

// loadConfig reads the config file at path. A missing file that was not
// named explicitly is an empty config.
func loadConfig(path string, required bool) (fileConfig, error) {
	var c fileConfig
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return c, nil
	}
	if err != nil {
		return c, localf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, localf("config file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile, &c.TokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return c, nil
}

// connection is the resolved way to reach the gateway.
type connection struct {
	addr      string
	caFile    string
	certFile  string
	keyFile   string
	tokenFile string
	plaintext bool
	vcenter   string
}

// resolve merges flags (those the caller set), VASACTL_ADDR, the config
// file and the defaults, in that order of precedence.
func (g *globalFlags) resolve(set func(name string) bool, lookup func(string) (string, bool)) (connection, error) {
	path, required := configPath(g.config, lookup)
	fc, err := loadConfig(path, required)
	if err != nil {
		return connection{}, err
	}
	c := connection{
		addr:      fc.Addr,
		caFile:    fc.CAFile,
		certFile:  fc.CertFile,
		keyFile:   fc.KeyFile,
		tokenFile: fc.TokenFile,
		plaintext: fc.Plaintext,
		vcenter:   fc.VCenter,
	}
	if v, ok := lookup("VASACTL_ADDR"); ok && v != "" {
		c.addr = v
	}
	pick := func(name string, dst *string, v string) {
		if set(name) {
			*dst = v
		}
	}
	pick("addr", &c.addr, g.addr)
	pick("ca-file", &c.caFile, g.caFile)
	pick("cert-file", &c.certFile, g.certFile)
	pick("key-file", &c.keyFile, g.keyFile)
	pick("token-file", &c.tokenFile, g.tokenFile)
	pick("vcenter", &c.vcenter, g.vcenter)
	if set("plaintext") {
		c.plaintext = g.plaintext
	}
	if c.addr == "" {
		c.addr = defaultAddr
	}
	if c.vcenter == "" {
		c.vcenter = "default"
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return c, usagef("--cert-file and --key-file go together")
	}
	if c.plaintext && (c.caFile != "" || c.certFile != "") {
		return c, usagef("--plaintext cannot be combined with --ca-file, --cert-file or --key-file")
	}
	if !validID(c.vcenter) {
		return c, usagef("--vcenter %q: want an id like default or east ([a-z0-9-]{1,63})", c.vcenter)
	}
	return c, nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
