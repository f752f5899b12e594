package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultVCenter is the id of the vCenter the --vcenter-* flags configure,
// and of the embedded simulator when nothing else is configured.
const DefaultVCenter = "default"

// VCenter is one entry of the config file's `vcenters` list (--config).
type VCenter struct {
	// ID is the `{vcenter}` of resource names: [a-z0-9-]{1,63}.
	ID string
	// URL is the vCenter's SDK URL, e.g. https://vc.example.com/sdk.
	URL      string
	Username string
	// PasswordFile holds the password; it is re-read at every login. A
	// relative path is relative to the config file's directory.
	PasswordFile string
	// CAFile (relative like PasswordFile), Thumbprint and Insecure say how
	// to trust the vCenter's certificate; at most one is set, and none
	// means the system roots.
	CAFile     string
	Thumbprint string
	Insecure   bool
	// AutoReconnect lets the gateway reconnect this vCenter's providers
	// that it sees disconnected.
	AutoReconnect bool
}

// vcenterKeys are the keys of a `vcenters` entry, as API.md writes them.
var vcenterKeys = []string{"id", "url", "username", "passwordFile", "caFile", "thumbprint", "insecure", "autoReconnect"}

// LoadVCenters reads the config file at path and returns its vCenters,
// checked: an unknown key, a duplicate or bad id, a missing password file,
// a value of the wrong type are errors naming the entry and the key.
func LoadVCenters(path string) ([]VCenter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVCenters(data, filepath.Dir(path))
}

// maxConfigBytes bounds the config file: a thousand vCenters fit in far
// less.
const maxConfigBytes = 1 << 20

// ParseVCenters parses a config file's content; relative file paths in it
// are taken relative to dir. See [LoadVCenters].
func ParseVCenters(data []byte, dir string) ([]VCenter, error) {
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("%d bytes: larger than the %d a config file may have", len(data), maxConfigBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty: no vCenters
		}
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("line %d: a second YAML document; the file holds one", next.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with the key vcenters", root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "vcenters" {
			return nil, fmt.Errorf("line %d: unknown key %q (the file's only key is vcenters)", k.Line, k.Value)
		}
		list = v
	}
	if list == nil || (list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: vcenters: want a list of vCenters", list.Line)
	}
	var (
		out  []VCenter
		errs []error
		seen = make(map[string]int)
	)
	for i, n := range list.Content {
		vc, err := parseEntry(n, dir)
		where := entryName(i, vc.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if j, dup := seen[vc.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: id: duplicate of vcenters[%d]", where, j))
			continue
		}
		seen[vc.ID] = i
		if err := vc.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		out = append(out, vc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func entryName(i int, id string) string {
	if id == "" {
		return fmt.Sprintf("vcenters[%d]", i)
	}
	return fmt.Sprintf("vcenters[%d] (id %q)", i, id)
}

// parseEntry decodes one entry, key by key, so that an error names its key.
func parseEntry(n *yaml.Node, dir string) (VCenter, error) {
	var vc VCenter
	if n.Kind != yaml.MappingNode {
		return vc, fmt.Errorf("line %d: want a mapping with the keys %s", n.Line, strings.Join(vcenterKeys, ", "))
	}
	// The id first, so that every later error names the entry by it.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" {
			_ = n.Content[i+1].Decode(&vc.ID)
		}
	}
	var errs []error
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			errs = append(errs, fmt.Errorf("%s: given twice (line %d)", k.Value, k.Line))
			continue
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "id":
			err = scalar(v, &vc.ID)
		case "url":
			err = scalar(v, &vc.URL)
		case "username":
			err = scalar(v, &vc.Username)
		case "passwordFile":
			err = scalar(v, &vc.PasswordFile)
		case "caFile":
			err = scalar(v, &vc.CAFile)
		case "thumbprint":
			err = scalar(v, &vc.Thumbprint)
		case "insecure":
			err = scalar(v, &vc.Insecure)
		case "autoReconnect":
			err = scalar(v, &vc.AutoReconnect)
		default:
			err = fmt.Errorf("unknown key (line %d); the keys are %s", k.Line, strings.Join(vcenterKeys, ", "))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.Value, err))
		}
	}
	vc.PasswordFile = resolve(dir, vc.PasswordFile)
	vc.CAFile = resolve(dir, vc.CAFile)
	return vc, errors.Join(errs...)
}

// scalar decodes a scalar value; a list or mapping where a value belongs
// is an error, not silently an empty value.
func scalar[T string | bool](v *yaml.Node, out *T) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value", v.Line)
	}
	if err := v.Decode(out); err != nil {
		var zero T
		if _, isBool := any(zero).(bool); isBool {
			return fmt.Errorf("line %d: want true or false", v.Line)
		}
		return fmt.Errorf("line %d: %v", v.Line, err)
	}
	return nil
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// ValidVCenterID reports whether id fits [a-z0-9-]{1,63}.
func ValidVCenterID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validate checks one entry; errors name the key.
func (vc VCenter) validate() error {
	var errs []error
	if !ValidVCenterID(vc.ID) {
		errs = append(errs, fmt.Errorf("id %q: want 1 to 63 of a-z, 0-9 and -", vc.ID))
	}
	if vc.URL == "" {
		errs = append(errs, errors.New("url: required, e.g. https://vc.example.com/sdk"))
	} else if err := checkVCenterURL(vc.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if vc.Username == "" {
		errs = append(errs, errors.New("username: required"))
	}
	if vc.PasswordFile == "" {
		errs = append(errs, errors.New("passwordFile: required"))
	} else if _, err := os.Stat(vc.PasswordFile); err != nil {
		errs = append(errs, fmt.Errorf("passwordFile: %w", err))
	}
	if vc.CAFile != "" {
		if _, err := os.Stat(vc.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("caFile: %w", err))
		}
	}
	if vc.Thumbprint != "" && !validThumbprint(vc.Thumbprint) {
		errs = append(errs, errors.New("thumbprint: want the SHA-256 (or SHA-1) thumbprint as hex, with or without colons"))
	}
	trust := 0
	for _, set := range []bool{vc.CAFile != "", vc.Thumbprint != "", vc.Insecure} {
		if set {
			trust++
		}
	}
	if trust > 1 {
		errs = append(errs, errors.New("caFile, thumbprint, insecure: give at most one"))
	}
	return errors.Join(errs...)
}

// checkVCenterURL accepts an absolute http(s) URL with a host and no
// credentials.
func checkVCenterURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: must be an https:// URL such as https://vc.example.com/sdk", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("%q: has no host", u.Redacted())
	case u.User != nil:
		return errors.New("must not carry credentials; use username and passwordFile")
	}
	return nil
}

func validThumbprint(s string) bool {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	return err == nil && (len(b) == 32 || len(b) == 20)
}

// CheckVCenters checks a config file's vCenters against the flags: an id
// may be defined once, so the file's `default` collides with the
// --vcenter-* flags, and an id of --simulate-vcenters with either.
func (c Config) CheckVCenters(file []VCenter) error {
	var errs []error
	for i, vc := range file {
		if vc.ID == DefaultVCenter && c.VCenterURL != "" {
			errs = append(errs, fmt.Errorf("%s: id: the --vcenter-* flags already define %q", entryName(i, vc.ID), DefaultVCenter))
		}
		if slices.Contains(c.SimulateVCenters, vc.ID) {
			errs = append(errs, fmt.Errorf("%s: id: --simulate-vcenters already defines %q", entryName(i, vc.ID), vc.ID))
		}
	}
	return errors.Join(errs...)
}

// checkSimulated checks --simulate-vcenters.
func (c Config) checkSimulated() error {
	var errs []error
	seen := make(map[string]bool)
	for _, id := range c.SimulateVCenters {
		switch {
		case !ValidVCenterID(id):
			errs = append(errs, fmt.Errorf("--simulate-vcenters %q: an id is 1 to 63 of a-z, 0-9 and -", id))
		case seen[id]:
			errs = append(errs, fmt.Errorf("--simulate-vcenters %q: given twice", id))
		case id == DefaultVCenter && c.VCenterURL != "":
			errs = append(errs, fmt.Errorf("--simulate-vcenters %q: the --vcenter-* flags already define it", id))
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

// RealVCenters reports whether the configuration names a vCenter that is
// not a simulator: then the gateway holds real credentials and callers
// must authenticate.
func (c Config) RealVCenters() bool {
	return c.VCenterURL != "" || len(c.VCenters) > 0
}

// PasswordFunc returns the function a session calls at each login
// for a config file entry: the file is read anew each time, so rotating
// it needs no restart. One trailing newline is ignored.
func (vc VCenter) PasswordFunc() func() (string, error) {
	path := vc.PasswordFile
	id := vc.ID
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read the passwordFile of vCenter %s: %w", id, err)
		}
		s := strings.TrimSuffix(string(b), "\n")
		return strings.TrimSuffix(s, "\r"), nil
	}
}
