package redisstore

import (
	"bytes"
	"testing"

	"github.com/vasagw/vasagw/internal/service"
)

// FuzzParseTaskMessage: any payload on the channel parses or is refused
// without panicking, and what parses round-trips.
func FuzzParseTaskMessage(f *testing.F) {
	f.Add(taskMessage(service.TaskUpdate{Key: "default/SmsTask-1", Seq: 1, Data: []byte("\x08\x02")}))
	f.Add("3 east/vasagw-1\n")
	f.Add("x y\nz")
	f.Add("-1 k\n")
	f.Fuzz(func(t *testing.T, m string) {
		u, ok := parseTaskMessage(m)
		if !ok {
			return
		}
		if u.Seq <= 0 || u.Key == "" {
			t.Fatalf("parsed %+v", u)
		}
		back, ok := parseTaskMessage(taskMessage(u))
		if !ok || back.Key != u.Key || back.Seq != u.Seq || !bytes.Equal(back.Data, u.Data) {
			t.Fatalf("round trip of %+v gave %+v", u, back)
		}
	})
}
