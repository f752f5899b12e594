package server

import (
	"context"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// inProcess is the REST side's connection to the gRPC services (the REST
// facade, its SSE watches, the VI/JSON facade): a channel that calls the
// registered services in this process, through the same interceptors as
// the network server (telemetry, authentication and authorization, audit,
// limits) and the same stats handlers, with no HTTP/2 framing and no
// serialisation: messages are copied, not encoded.
//
// A unary call runs on the caller's goroutine. A stream made with
// NewStream runs its server side on one goroutine and hands messages over
// an unbuffered channel; [inProcess.ServeServerStream] runs a
// server-streaming method on the caller's goroutine and gives each message
// to a callback as it is sent, so an SSE watcher costs no goroutine and no
// buffer of its own (docs/benchmarks.md).
//
// Calls on it are marked: their server context's peer carries an
// [inProcessAuthInfo], which only this type makes, so [isInProcess] knows
// them. A network caller's peer comes from the gRPC server's transport
// credentials and cannot carry one, whatever metadata it sends.
type inProcess struct {
	unary   map[string]inProcessMethod
	streams map[string]inProcessStreamMethod

	unaryInt    grpc.UnaryServerInterceptor
	streamInt   grpc.StreamServerInterceptor
	serverStats stats.Handler // nil: none
	clientStats stats.Handler // nil: none
	// seal adds the REST caller's sealed authentication to a call's
	// outgoing metadata ([security.seal]).
	seal func(context.Context) context.Context
}

type inProcessMethod struct {
	srv     any
	handler grpc.MethodHandler
}

type inProcessStreamMethod struct {
	srv  any
	desc grpc.StreamDesc
}

var (
	_ grpc.ClientConnInterface = (*inProcess)(nil)
	_ grpc.ServiceRegistrar    = (*inProcess)(nil)
)

// inProcessOptions configure [newInProcess].
type inProcessOptions struct {
	// Unary and Stream are the server interceptors, outermost first.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// ServerStats and ClientStats, when not nil, see every call as a
	// grpc.Server's and a grpc.ClientConn's stats handlers would.
	ServerStats, ClientStats stats.Handler
	// Seal prepares a call's outgoing context; nil leaves it alone.
	Seal func(context.Context) context.Context
}

func newInProcess(o inProcessOptions) *inProcess {
	c := &inProcess{
		unary:       map[string]inProcessMethod{},
		streams:     map[string]inProcessStreamMethod{},
		unaryInt:    chainUnary(o.Unary),
		streamInt:   chainStream(o.Stream),
		serverStats: o.ServerStats,
		clientStats: o.ClientStats,
		seal:        o.Seal,
	}
	if c.seal == nil {
		c.seal = func(ctx context.Context) context.Context { return ctx }
	}
	return c
}

// RegisterService registers a service's methods, as on a grpc.Server.
func (c *inProcess) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for _, m := range desc.Methods {
		c.unary["/"+desc.ServiceName+"/"+m.MethodName] = inProcessMethod{srv: impl, handler: m.Handler}
	}
	for _, s := range desc.Streams {
		c.streams["/"+desc.ServiceName+"/"+s.StreamName] = inProcessStreamMethod{srv: impl, desc: s}
	}
}

// inProcessAuthInfo is the AuthInfo of the in-process channel's peer. Only
// [inProcess] makes one.
type inProcessAuthInfo struct{ credentials.CommonAuthInfo }

func (inProcessAuthInfo) AuthType() string { return "in-process" }

type inProcessAddr struct{}

func (inProcessAddr) Network() string { return "in-process" }
func (inProcessAddr) String() string  { return "in-process" }

var inProcessPeer = peer.Peer{
	Addr:      inProcessAddr{},
	LocalAddr: inProcessAddr{},
	AuthInfo:  inProcessAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}},
}

// isInProcess reports whether a call came over the in-process channel.
func isInProcess(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.AuthInfo.(inProcessAuthInfo)
	return ok
}

// Invoke runs a unary method on the caller's goroutine.
func (c *inProcess) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	ctx = c.seal(ctx)
	ctx, end := c.clientBegin(ctx, method, false)
	err := c.invoke(ctx, method, req, reply, opts)
	end(err)
	return err
}

func (c *inProcess) invoke(ctx context.Context, method string, req, reply any, opts []grpc.CallOption) error {
	m, ok := c.unary[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	sctx, cancel := c.serverContext(ctx)
	defer cancel()
	st := &transportStream{method: method}
	sctx = grpc.NewContextWithServerTransportStream(sctx, st)
	sctx, end := c.serverBegin(sctx, method, false)
	out, err := m.handler(m.srv, sctx, func(in any) error { return copyMessage(in, req) }, c.unaryInt)
	err = statusError(err)
	end(err)
	header, trailer := st.result()
	applyCallOptions(opts, header, trailer)
	if err != nil {
		return err
	}
	return copyMessage(reply, out)
}

// ServeServerStream runs the server-streaming method on the caller's
// goroutine: onHeader gets the response header when the server sends it
// (at the latest with the first message), and send each message as the
// server sends it; send must be done with the message when it returns. A
// send error ends the call (the server sees it from its SendMsg). The
// result is the method's status.
func (c *inProcess) ServeServerStream(ctx context.Context, method string, req any, onHeader func(metadata.MD), send func(any) error) error {
	ctx = c.seal(ctx)
	ctx, end := c.clientBegin(ctx, method, true)
	_, err := c.serveStream(ctx, method, req, onHeader, send)
	end(err)
	return err
}

// serveStream runs the stream and returns its trailer and status.
func (c *inProcess) serveStream(ctx context.Context, method string, req any, onHeader func(metadata.MD), send func(any) error) (metadata.MD, error) {
	m, ok := c.streams[method]
	if !ok || m.desc.ClientStreams {
		// The API has server streams only: a client stream would need a
		// request channel this type does not have.
		return nil, status.Errorf(codes.Unimplemented, "unknown server-streaming method %s", method)
	}
	sctx, cancel := c.serverContext(ctx)
	defer cancel()
	ss := &serverStream{req: req, onHeader: onHeader, send: send}
	ss.transport.method = method
	sctx = grpc.NewContextWithServerTransportStream(sctx, &ss.transport)
	sctx, end := c.serverBegin(sctx, method, true)
	ss.ctx = sctx
	info := &grpc.StreamServerInfo{FullMethod: method, IsServerStream: true}
	err := statusError(c.streamInt(m.srv, ss, info, m.desc.Handler))
	end(err)
	_, trailer := ss.transport.result()
	return trailer, err
}

// NewStream starts a server stream whose server side runs on a goroutine
// of its own once the request is sent (grpc-gateway's NDJSON watches).
func (c *inProcess) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if m, ok := c.streams[method]; !ok || m.desc.ClientStreams || desc.ClientStreams {
		return nil, status.Errorf(codes.Unimplemented, "unknown server-streaming method %s", method)
	}
	return &clientStream{
		c:          c,
		ctx:        ctx,
		method:     method,
		opts:       opts,
		msgs:       make(chan proto.Message),
		headerSent: make(chan struct{}),
		done:       make(chan struct{}),
	}, nil
}

// clientStream is the client side of a [inProcess.NewStream] stream.
type clientStream struct {
	c      *inProcess
	ctx    context.Context
	method string
	opts   []grpc.CallOption

	started    bool
	msgs       chan proto.Message
	headerOnce sync.Once
	headerSent chan struct{}
	header     metadata.MD
	done       chan struct{}
	err        error // set before done closes
	trailer    metadata.MD
}

func (s *clientStream) Header() (metadata.MD, error) {
	select {
	case <-s.headerSent:
		return s.header, nil
	case <-s.done:
		select {
		case <-s.headerSent:
			return s.header, nil
		default:
		}
		if s.err == io.EOF {
			return nil, nil
		}
		return nil, s.err
	case <-s.ctx.Done():
		return nil, status.FromContextError(s.ctx.Err()).Err()
	}
}

func (s *clientStream) Trailer() metadata.MD {
	select {
	case <-s.done:
		return s.trailer
	default:
		return nil
	}
}

func (s *clientStream) CloseSend() error         { return nil }
func (s *clientStream) Context() context.Context { return s.ctx }

// SendMsg takes the one request of the server stream and starts the
// server side.
func (s *clientStream) SendMsg(m any) error {
	if s.started {
		return status.Error(codes.Internal, "a server stream takes one request")
	}
	s.started = true
	req, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "request %T is not a proto message", m)
	}
	req = proto.Clone(req)
	ctx := s.c.seal(s.ctx)
	ctx, end := s.c.clientBegin(ctx, s.method, true)
	go func() {
		trailer, err := s.c.serveStream(ctx, s.method, req, s.setHeader, func(m any) error {
			pm, ok := m.(proto.Message)
			if !ok {
				return status.Errorf(codes.Internal, "response %T is not a proto message", m)
			}
			select {
			case s.msgs <- proto.Clone(pm):
				return nil
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		})
		end(err)
		if err == nil {
			err = io.EOF
		}
		s.err, s.trailer = err, trailer
		for _, o := range s.opts {
			if t, ok := o.(grpc.TrailerCallOption); ok {
				*t.TrailerAddr = trailer
			}
		}
		close(s.done)
	}()
	return nil
}

func (s *clientStream) setHeader(md metadata.MD) {
	s.headerOnce.Do(func() {
		s.header = md
		for _, o := range s.opts {
			if h, ok := o.(grpc.HeaderCallOption); ok {
				*h.HeaderAddr = md
			}
		}
		close(s.headerSent)
	})
}

func (s *clientStream) RecvMsg(m any) error {
	select {
	case msg := <-s.msgs:
		return copyMessage(m, msg)
	case <-s.done:
		return s.err
	case <-s.ctx.Done():
		return status.FromContextError(s.ctx.Err()).Err()
	}
}

// serverStream is the server side of an in-process stream.
type serverStream struct {
	ctx       context.Context
	req       any
	received  bool
	onHeader  func(metadata.MD)
	send      func(any) error
	transport transportStream
}

func (s *serverStream) Context() context.Context       { return s.ctx }
func (s *serverStream) SetHeader(md metadata.MD) error { return s.transport.SetHeader(md) }
func (s *serverStream) SendHeader(md metadata.MD) error {
	if err := s.transport.SendHeader(md); err != nil {
		return err
	}
	s.sendHeader()
	return nil
}
func (s *serverStream) SetTrailer(md metadata.MD) { _ = s.transport.SetTrailer(md) }

func (s *serverStream) sendHeader() {
	if h, ok := s.transport.takeHeader(); ok && s.onHeader != nil {
		s.onHeader(h)
	}
}

func (s *serverStream) SendMsg(m any) error {
	if err := s.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	s.transport.markHeaderSent()
	s.sendHeader()
	return s.send(m)
}

func (s *serverStream) RecvMsg(m any) error {
	if s.received {
		return io.EOF
	}
	s.received = true
	return copyMessage(m, s.req)
}

// transportStream is what grpc.SetHeader, grpc.SendHeader and
// grpc.SetTrailer reach through a call's context.
type transportStream struct {
	method string

	mu         sync.Mutex
	header     metadata.MD
	headerSent bool
	headerTook bool
	trailer    metadata.MD
}

func (t *transportStream) Method() string { return t.method }

func (t *transportStream) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.headerSent {
		return status.Error(codes.Internal, "transport: the stream is done or WriteHeader was already called")
	}
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *transportStream) SendHeader(md metadata.MD) error {
	if err := t.SetHeader(md); err != nil {
		return err
	}
	t.markHeaderSent()
	return nil
}

func (t *transportStream) SetTrailer(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

func (t *transportStream) markHeaderSent() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.headerSent = true
}

// takeHeader returns the header once, when it has been sent.
func (t *transportStream) takeHeader() (metadata.MD, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.headerSent || t.headerTook {
		return nil, false
	}
	t.headerTook = true
	if t.header == nil {
		t.header = metadata.MD{}
	}
	return t.header, true
}

func (t *transportStream) result() (header, trailer metadata.MD) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.headerSent = true
	if t.header == nil {
		t.header = metadata.MD{}
	}
	return t.header, t.trailer
}

// serverContext is the context a call's server side runs in: the caller's
// cancellation and deadline but none of its values (as over a network),
// the caller's outgoing metadata as incoming metadata, and the in-process
// peer.
func (c *inProcess) serverContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(valueless{ctx})
	md, _ := metadata.FromOutgoingContext(ctx)
	if md == nil {
		md = metadata.MD{}
	}
	sctx = metadata.NewIncomingContext(sctx, md)
	return peer.NewContext(sctx, &inProcessPeer), cancel
}

// valueless passes on a context's cancellation and deadline but not its
// values. Its AfterFunc lets contexts derived from it follow the parent's
// cancellation without a goroutine each (context.WithCancel starts one
// for a parent it does not know otherwise).
type valueless struct{ parent context.Context }

func (v valueless) Deadline() (time.Time, bool)           { return v.parent.Deadline() }
func (v valueless) Done() <-chan struct{}                 { return v.parent.Done() }
func (v valueless) Err() error                            { return v.parent.Err() }
func (valueless) Value(any) any                           { return nil }
func (v valueless) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(v.parent, f) }

// clientBegin and serverBegin report a call to the stats handlers; the
// function they return reports its end.
func (c *inProcess) clientBegin(ctx context.Context, method string, stream bool) (context.Context, func(error)) {
	return beginRPC(c.clientStats, ctx, method, stream, true)
}

func (c *inProcess) serverBegin(ctx context.Context, method string, stream bool) (context.Context, func(error)) {
	return beginRPC(c.serverStats, ctx, method, stream, false)
}

func beginRPC(h stats.Handler, ctx context.Context, method string, stream, client bool) (context.Context, func(error)) {
	if h == nil {
		return ctx, func(error) {}
	}
	begin := time.Now()
	ctx = h.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: method})
	h.HandleRPC(ctx, &stats.Begin{Client: client, BeginTime: begin, IsServerStream: stream})
	return ctx, func(err error) {
		h.HandleRPC(ctx, &stats.End{Client: client, BeginTime: begin, EndTime: time.Now(), Error: err})
	}
}

// statusError is the error a gRPC client sees for a handler's error.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.FromContextError(err).Err()
}

// copyMessage copies the proto message in into out, as a decode of its
// encoding would.
func copyMessage(out, in any) error {
	o, ok := out.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "message %T is not a proto message", out)
	}
	i, ok := in.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "message %T is not a proto message", in)
	}
	if o.ProtoReflect().Descriptor() != i.ProtoReflect().Descriptor() {
		return status.Errorf(codes.Internal, "message %T into %T", in, out)
	}
	proto.Reset(o)
	proto.Merge(o, i)
	return nil
}

func applyCallOptions(opts []grpc.CallOption, header, trailer metadata.MD) {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		case grpc.PeerCallOption:
			*o.PeerAddr = inProcessPeer
		}
	}
}

// chainUnary makes one interceptor of ints, the first outermost.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if len(ints) == 0 {
		return nil
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ints[0](ctx, req, info, unaryNext(ints, 1, info, handler))
	}
}

func unaryNext(ints []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ints) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[i](ctx, req, info, unaryNext(ints, i+1, info, final))
	}
}

// chainStream makes one interceptor of ints, the first outermost.
func chainStream(ints []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	if len(ints) == 0 {
		return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, ss)
		}
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ints[0](srv, ss, info, streamNext(ints, 1, info, handler))
	}
}

func streamNext(ints []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, final grpc.StreamHandler) grpc.StreamHandler {
	if i == len(ints) {
		return final
	}
	return func(srv any, ss grpc.ServerStream) error {
		return ints[i](srv, ss, info, streamNext(ints, i+1, info, final))
	}
}
