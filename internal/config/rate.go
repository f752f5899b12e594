package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a per-caller rate, "N/unit": N calls per period Per, with
// bursts of up to N. The zero value is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

func (r *Rate) String() string {
	if r.N == 0 {
		return "0"
	}
	switch r.Per {
	case time.Second:
		return strconv.Itoa(r.N) + "/s"
	case time.Minute:
		return strconv.Itoa(r.N) + "/m"
	case time.Hour:
		return strconv.Itoa(r.N) + "/h"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// Set parses "N/s", "N/m", "N/h", "N/<duration>" (such as 5/30s), or "0"
// for no limit.
func (r *Rate) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "0" || s == "" {
		*r = Rate{}
		return nil
	}
	ns, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n <= 0 {
		return fmt.Errorf("%q: want N/s, N/m, N/h or N/<duration> with N > 0, or 0", s)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		per, err = time.ParseDuration(unit)
		if err != nil || per <= 0 {
			return fmt.Errorf("%q: want N/s, N/m, N/h or N/<duration> with N > 0, or 0", s)
		}
	}
	*r = Rate{N: n, Per: per}
	return nil
}
