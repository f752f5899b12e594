package rest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAcceptsJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		accept []string
		want   bool
	}{
		{name: "no header", want: true},
		{name: "json", accept: []string{"application/json"}, want: true},
		{name: "any", accept: []string{"*/*"}, want: true},
		{name: "any application", accept: []string{"application/*"}, want: true},
		{name: "event stream", accept: []string{"text/event-stream"}, want: true},
		{name: "case and parameters", accept: []string{"Application/JSON; charset=utf-8"}, want: true},
		{name: "json among others", accept: []string{"application/xml, application/json;q=0.5"}, want: true},
		{name: "any at low weight", accept: []string{"text/html, */*;q=0.1"}, want: true},
		{name: "second header line", accept: []string{"application/xml", "application/json"}, want: true},
		{name: "xml only", accept: []string{"application/xml"}, want: false},
		{name: "json refused", accept: []string{"application/json;q=0"}, want: false},
		{name: "json refused with spaces", accept: []string{"application/xml, application/json; q=0"}, want: false},
		{name: "weight 0.5 is not a refusal", accept: []string{"application/json;q=0.5"}, want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/v1/vcenters/default/vasaProviders", nil)
			for _, v := range tt.accept {
				r.Header.Add("Accept", v)
			}
			if got := acceptsJSON(r); got != tt.want {
				t.Errorf("acceptsJSON(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestValidUTF8(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		target    string
		wantField string
		wantOK    bool
	}{
		{name: "plain", target: "/v1/vcenters/default/vasaProviders?pageSize=2", wantOK: true},
		{name: "escaped UTF-8", target: "/v1/vcenters/default/vasaProviders/caf%C3%A9", wantOK: true},
		{name: "bad path", target: "/v1/vcenters/default/vasaProviders/%FF", wantField: "path"},
		{name: "bad query value names its key", target: "/v1/vcenters/default/vasaProviders?pageToken=%FF", wantField: "pageToken"},
		{name: "bad query key", target: "/v1/vcenters/default/vasaProviders?%FF=1", wantField: "query"},
		{name: "unparsable query", target: "/v1/vcenters/default/vasaProviders?a=%zz", wantField: "query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			field, ok := validUTF8(httptest.NewRequest(http.MethodGet, tt.target, nil))
			if ok != tt.wantOK || field != tt.wantField {
				t.Errorf("validUTF8(%s) = %q, %v; want %q, %v", tt.target, field, ok, tt.wantField, tt.wantOK)
			}
		})
	}
}

func TestSSEMatches(t *testing.T) {
	t.Parallel()
	var h sseHandler
	for _, tt := range []struct {
		name   string
		target string
		accept string
		want   bool
	}{
		{name: "task watch as SSE", target: "/v1/vcenters/default/tasks/SmsTask-1:watch", accept: "text/event-stream", want: true},
		{name: "escaped moId", target: "/v1/vcenters/default/tasks/Sms%3ATask-1:watch", accept: "text/html, text/event-stream", want: true},
		{name: "NDJSON watch", target: "/v1/vcenters/default/tasks/SmsTask-1:watch", accept: "application/json", want: false},
		{name: "no Accept", target: "/v1/vcenters/default/tasks/SmsTask-1:watch", want: false},
		{name: "not a task", target: "/v1/vcenters/default/vasaProviders/vp-1:watch", accept: "text/event-stream", want: false},
		{name: "not a watch", target: "/v1/vcenters/default/tasks/SmsTask-1", accept: "text/event-stream", want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if got := h.matches(r); got != tt.want {
				t.Errorf("matches(%s, Accept %q) = %v, want %v", tt.target, tt.accept, got, tt.want)
			}
		})
	}
}

func TestProviderSSEMatches(t *testing.T) {
	t.Parallel()
	var h providerSSEHandler
	for _, tt := range []struct {
		name   string
		target string
		accept string
		want   bool
	}{
		{name: "provider watch as SSE", target: "/v1/vcenters/default/vasaProviders:watch", accept: "text/event-stream", want: true},
		{name: "with a filter", target: "/v1/vcenters/default/vasaProviders:watch?filter=status%20%3D%20STATUS_CONNECTED", accept: "text/event-stream", want: true},
		{name: "NDJSON watch", target: "/v1/vcenters/default/vasaProviders:watch", accept: "application/json", want: false},
		{name: "no Accept", target: "/v1/vcenters/default/vasaProviders:watch", want: false},
		{name: "no vCenter", target: "/v1/vcenters//vasaProviders:watch", accept: "text/event-stream", want: false},
		{name: "one provider", target: "/v1/vcenters/default/vasaProviders/vp-1:watch", accept: "text/event-stream", want: false},
		{name: "a task watch", target: "/v1/vcenters/default/tasks/SmsTask-1:watch", accept: "text/event-stream", want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if got := h.matches(r); got != tt.want {
				t.Errorf("matches(%s, Accept %q) = %v, want %v", tt.target, tt.accept, got, tt.want)
			}
		})
	}
}

func TestLastEventID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"": 0, "7": 7, " 12 ": 12, "-1": 0, "x": 0, "18446744073709551615": 1<<64 - 1} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if in != "" {
			r.Header.Set("Last-Event-ID", in)
		}
		if got := lastEventID(r); got != want {
			t.Errorf("lastEventID(%q) = %d, want %d", in, got, want)
		}
	}
}
