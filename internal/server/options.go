package server

import (
	"io"
	"net"
	"os"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// An Option adjusts one [Run]. The options exist for the tests that drive
// the whole server and for tools that embed it (benchmarks); main passes
// none.
type Option func(*options)

type options struct {
	onListen          func(Addrs)
	logOutput         io.Writer
	spanExporter      sdktrace.SpanExporter
	sseKeepalive      time.Duration
	watchLinger       time.Duration
	readHeaderTimeout time.Duration
	configCheck       time.Duration
	reload            <-chan os.Signal
}

// Addrs are the addresses [Run] bound.
type Addrs struct {
	GRPC, HTTP net.Addr
	// Admin is nil when --admin-addr is empty.
	Admin net.Addr
}

// OnListen has f told the bound addresses once every listener is bound
// and before anything is served: with ports of 0, how a caller learns
// where to connect.
func OnListen(f func(Addrs)) Option { return func(o *options) { o.onListen = f } }

// LogOutput sends the logs (and the console span exporter's output) to w
// instead of stderr (and stdout).
func LogOutput(w io.Writer) Option { return func(o *options) { o.logOutput = w } }

// SpanExporter sends the spans to e and turns tracing on, whatever the
// OTEL_* variables say.
func SpanExporter(e sdktrace.SpanExporter) Option {
	return func(o *options) { o.spanExporter = e }
}

// SSEKeepalive replaces how long an SSE stream stays silent before a
// keepalive comment (15s).
func SSEKeepalive(d time.Duration) Option { return func(o *options) { o.sseKeepalive = d } }

// WatchLinger replaces how long a task's poller outlives its last
// subscriber.
func WatchLinger(d time.Duration) Option { return func(o *options) { o.watchLinger = d } }

// ReadHeaderTimeout replaces how long a REST client may take to send its
// request headers (10s).
func ReadHeaderTimeout(d time.Duration) Option {
	return func(o *options) { o.readHeaderTimeout = d }
}

// ReloadOn has the config file (--config) re-read and applied at every
// signal on c: main passes SIGHUP.
func ReloadOn(c <-chan os.Signal) Option { return func(o *options) { o.reload = c } }

// ConfigCheckInterval replaces how often the config file is read to see
// whether it changed (1s).
func ConfigCheckInterval(d time.Duration) Option { return func(o *options) { o.configCheck = d } }
