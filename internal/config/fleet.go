package config

import (
	"flag"
	"fmt"
	"time"
)

// Fleet is the part of [Config] that runs each vCenter's provider refresh
// loop: how often it lists the providers, and how old its snapshot may be
// for List and Get to be served from it. (Whether it reconnects the
// providers it sees disconnected is each vCenter's autoReconnect, and
// --auto-reconnect for `default`.)
type Fleet struct {
	// ProviderPollInterval is the loop's period; 0 turns the loop off
	// (reads go to vCenter, coalesced; no provider watches, metrics or
	// automatic reconnects).
	ProviderPollInterval time.Duration
	// ProviderMaxAge bounds how old a List or Get answer may be; 0 reads
	// through to vCenter on every call (concurrent identical reads still
	// share one upstream call).
	ProviderMaxAge time.Duration
}

// addFlags registers the fleet flags, with their defaults.
func (c *Fleet) addFlags(fs *flag.FlagSet) {
	c.ProviderPollInterval = 30 * time.Second
	c.ProviderMaxAge = time.Minute
	fs.DurationVar(&c.ProviderPollInterval, "provider-poll-interval", c.ProviderPollInterval,
		"how often each vCenter's providers and their info are refreshed, for watches, metrics, auto-reconnect and reads (0: no refresh loop)")
	fs.DurationVar(&c.ProviderMaxAge, "provider-max-age", c.ProviderMaxAge,
		"how old the provider snapshot may be for List and Get to be served from it; an older one is refreshed first (0: every read asks vCenter)")
}

func (c Fleet) validate() []error {
	var errs []error
	if c.ProviderPollInterval != 0 && c.ProviderPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--provider-poll-interval %s: must be 0 (off) or at least 100ms", c.ProviderPollInterval))
	}
	if c.ProviderMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--provider-max-age %s: must not be negative", c.ProviderMaxAge))
	}
	return errs
}
