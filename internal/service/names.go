package service

import (
	"fmt"
	"net/url"
	"strings"
)

// The collection segments of the gateway's resource names.
const (
	collectionVCenters  = "vcenters"
	collectionProviders = "vasaProviders"
	collectionTasks     = "tasks"
)

// maxIDLength bounds a single segment; vCenter moIds are far shorter.
const maxIDLength = 256

// vcenterName is a parsed `vcenters/{vcenter}`.
type vcenterName struct {
	VCenter string
}

func (n vcenterName) String() string { return collectionVCenters + "/" + n.VCenter }

// providerName is a parsed `vcenters/{vcenter}/vasaProviders/{provider}`.
type providerName struct {
	VCenter  string
	Provider string
}

func (n providerName) String() string {
	return collectionVCenters + "/" + n.VCenter + "/" + collectionProviders + "/" + n.Provider
}

// taskName is a parsed `vcenters/{vcenter}/tasks/{task}`.
type taskName struct {
	VCenter string
	Task    string
}

func (n taskName) String() string {
	return collectionVCenters + "/" + n.VCenter + "/" + collectionTasks + "/" + n.Task
}

// parseVCenterName parses the request field `field` as `vcenters/{vcenter}`.
func parseVCenterName(field, s string) (vcenterName, error) {
	segs, err := splitName(field, s, collectionVCenters)
	if err != nil {
		return vcenterName{}, err
	}
	return vcenterName{VCenter: segs[0]}, nil
}

// parseProviderName parses the request field `field` as
// `vcenters/{vcenter}/vasaProviders/{provider}`.
func parseProviderName(field, s string) (providerName, error) {
	segs, err := splitName(field, s, collectionVCenters, collectionProviders)
	if err != nil {
		return providerName{}, err
	}
	return providerName{VCenter: segs[0], Provider: segs[1]}, nil
}

// parseTaskName parses the request field `field` as
// `vcenters/{vcenter}/tasks/{task}`.
func parseTaskName(field, s string) (taskName, error) {
	segs, err := splitName(field, s, collectionVCenters, collectionTasks)
	if err != nil {
		return taskName{}, err
	}
	return taskName{VCenter: segs[0], Task: segs[1]}, nil
}

// splitName checks that s is `c0/{id0}/c1/{id1}...` for the given
// collections and returns the ids. An id may arrive percent-escaped (a REST
// caller sends `:` as `%3A`); it is unescaped once. Every failure is an
// INVALID_ARGUMENT naming field.
func splitName(field, s string, collections ...string) ([]string, error) {
	pattern := namePattern(collections)
	if s == "" {
		return nil, invalidRequest(field, fmt.Sprintf("%s is required, in the form %s", field, pattern))
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2*len(collections) {
		return nil, invalidRequest(field, fmt.Sprintf("%s %q is not of the form %s", field, clip(s), pattern))
	}
	ids := make([]string, 0, len(collections))
	for i, c := range collections {
		if parts[2*i] != c {
			return nil, invalidRequest(field, fmt.Sprintf("%s %q is not of the form %s", field, clip(s), pattern))
		}
		id, err := parseID(parts[2*i+1])
		if err != nil {
			return nil, invalidRequest(field, fmt.Sprintf("%s %q: %v", field, clip(s), err))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parseID validates one id segment: a vCenter moId or a configured vCenter
// id. moIds hold letters, digits and `:-._`; nothing that could change the
// meaning of a name or of a SOAP request.
func parseID(seg string) (string, error) {
	id := seg
	if strings.Contains(seg, "%") {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return "", fmt.Errorf("bad percent-escape in %q", clip(seg))
		}
		id = u
	}
	switch {
	case id == "":
		return "", fmt.Errorf("empty id")
	case len(id) > maxIDLength:
		return "", fmt.Errorf("id longer than %d characters", maxIDLength)
	}
	for _, r := range id {
		if !idRune(r) {
			return "", fmt.Errorf("id %q has the character %q; ids hold letters, digits and \":-._\"", clip(id), r)
		}
	}
	return id, nil
}

func idRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r == ':' || r == '-' || r == '.' || r == '_':
		return true
	}
	return false
}

func namePattern(collections []string) string {
	var b strings.Builder
	for i, c := range collections {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
		b.WriteString("/{")
		b.WriteString(singular(c))
		b.WriteString("}")
	}
	return b.String()
}

func singular(collection string) string {
	switch collection {
	case collectionVCenters:
		return "vcenter"
	case collectionProviders:
		return "provider"
	case collectionTasks:
		return "task"
	}
	return collection
}

// clip keeps caller input echoed in an error message short.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
