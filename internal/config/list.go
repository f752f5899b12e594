package config

import "strings"

// List is a comma-separated list flag: "a, b" is [a b]; spaces around
// items and empty items are dropped.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the items of s.
func (l *List) Set(s string) error {
	*l = splitList(s)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
