package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"

	"github.com/vasagw/vasagw/internal/rest"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// This file bounds connections: how many each listener serves at once
// ([limitListener]), and what one gRPC connection may carry
// ([connStreams]).

// Refused connections are answered, not dropped: each goes to a small
// server of its own that answers every call RESOURCE_EXHAUSTED
// TOO_MANY_CONNECTIONS (HTTP 429) and closes. These bound that server.
const (
	// maxRefusing is how many refused connections are being answered at
	// once; past it a refused connection is closed without an answer.
	maxRefusing = 64
	// refusalTime bounds how long a refused connection may stay: its
	// handshake, its one answer, and the close.
	refusalTime = 2 * time.Second
)

// limitListener serves at most max connections at once; the rest go to
// overflow (a refusal server) or, when that is busy, are closed.
type limitListener struct {
	net.Listener
	name     string // "grpc" or "http", the metric's label
	max      int64  // 0: no bound
	overflow *chanListener
	log      *slog.Logger

	open     atomic.Int64
	refusing atomic.Int64
	refused  atomic.Int64
}

func newLimitListener(l net.Listener, name string, max int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, name: name, max: int64(max), overflow: newChanListener(l.Addr()), log: log}
}

// Accept returns the next connection within the bound.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.max == 0 || l.open.Add(1) <= l.max {
			return &countedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
		}
		l.open.Add(-1)
		l.refused.Add(1)
		l.log.Warn("refused a connection: too many open", "listener", l.name, "limit", l.max, "remote", c.RemoteAddr().String())
		if l.refusing.Add(1) > maxRefusing || !l.overflow.put(c) {
			l.refusing.Add(-1)
			c.Close()
			continue
		}
	}
}

// refusedConn is a connection handed to the refusal server: its deadline
// bounds its stay, and closing it frees its place among the refusing.
func (l *limitListener) refusedConn(c net.Conn) net.Conn {
	_ = c.SetDeadline(time.Now().Add(refusalTime))
	return &countedConn{Conn: c, release: func() { l.refusing.Add(-1) }}
}

func (l *limitListener) stat() telemetry.LimitStat {
	return telemetry.LimitStat{Limit: l.name + "_connections", InUse: l.open.Load(), Max: l.max, Refused: l.refused.Load()}
}

// countedConn calls release once, on its first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection, as net/http does after an error
// answer so that the client reads it before the connection goes (hiding it
// would turn that into a reset).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// chanListener is a listener whose connections are handed to it.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
	wrap   func(net.Conn) net.Conn
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// put hands c to a waiting Accept; false when none is waiting.
func (l *chanListener) put(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	default:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		if l.wrap != nil {
			c = l.wrap(c)
		}
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// overflowListener is where l's refused connections are accepted.
func (l *limitListener) overflowListener() net.Listener {
	l.overflow.wrap = l.refusedConn
	return l.overflow
}

// tooManyConnections is the answer on a refused connection.
func tooManyConnections(max int64) error {
	return limitError("TOO_MANY_CONNECTIONS", "the gateway serves too many connections; retry later",
		map[string]string{"limit": strconv.FormatInt(max, 10)})
}

// newGRPCRefusalServer answers every call on a refused gRPC connection
// RESOURCE_EXHAUSTED TOO_MANY_CONNECTIONS, then sends the connection away.
func newGRPCRefusalServer(creds grpc.ServerOption, max int64) *grpc.Server {
	refuse := func(any, grpc.ServerStream) error { return tooManyConnections(max) }
	return grpc.NewServer(creds,
		grpc.UnknownServiceHandler(refuse),
		grpc.ConnectionTimeout(refusalTime),
		grpc.MaxConcurrentStreams(4),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: refusalTime / 2, MaxConnectionAgeGrace: refusalTime / 2}),
	)
}

// newHTTPRefusalServer answers every request on a refused REST connection
// 429 with a google.rpc.Status body, and closes the connection.
func newHTTPRefusalServer(max int64, log *slog.Logger) *http.Server {
	err := tooManyConnections(max)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			rest.WriteError(w, r, err)
		}),
		ReadHeaderTimeout: refusalTime,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.SetKeepAlivesEnabled(false)
	return srv
}

// connStreams counts the streams of each network gRPC connection, for the
// metric of the per-connection limit: HTTP/2's
// SETTINGS_MAX_CONCURRENT_STREAMS, which grpc-go enforces by holding a
// client's further streams back (or refusing them with RST_STREAM when a
// client does not wait). It counts the times a connection reached the
// limit and knows the busiest connection.
type connStreams struct {
	max     int64
	conns   sync.Map // *atomic.Int64 -> struct{}
	reached atomic.Int64
}

type connStreamsKey struct{}

func (s *connStreams) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	n := new(atomic.Int64)
	s.conns.Store(n, struct{}{})
	return context.WithValue(ctx, connStreamsKey{}, n)
}

func (s *connStreams) HandleConn(ctx context.Context, st stats.ConnStats) {
	if _, ok := st.(*stats.ConnEnd); ok {
		if n, ok := ctx.Value(connStreamsKey{}).(*atomic.Int64); ok {
			s.conns.Delete(n)
		}
	}
}

func (s *connStreams) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (s *connStreams) HandleRPC(ctx context.Context, st stats.RPCStats) {
	n, ok := ctx.Value(connStreamsKey{}).(*atomic.Int64)
	if !ok {
		return
	}
	switch st.(type) {
	case *stats.Begin:
		if n.Add(1) == s.max {
			s.reached.Add(1)
		}
	case *stats.End:
		n.Add(-1)
	}
}

func (s *connStreams) stat() telemetry.LimitStat {
	var busiest int64
	s.conns.Range(func(k, _ any) bool {
		busiest = max(busiest, k.(*atomic.Int64).Load())
		return true
	})
	return telemetry.LimitStat{Limit: "grpc_connection_streams", InUse: busiest, Max: s.max, Refused: s.reached.Load()}
}

// serveRefusals runs a refusal server on l's overflow until it is closed.
func serveRefusals(serve func(net.Listener) error, l net.Listener) error {
	if err := serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
