package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/smssim"
)

// TestCrossOriginWritesRefused: a page on another site cannot make a
// browser that holds an operator's client certificate reconnect a provider
// (a text/plain POST needs no CORS preflight); an allowed origin, a
// same-origin page and a non-browser client can, and reads stay open.
func TestCrossOriginWritesRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const portal = "https://portal.example.test"
	g := startSecureGateway(t, p, append(p.mtlsFlags(), "--cors-allowed-origins="+portal)...)
	hc := g.httpClient(t, p.client(t, "operator-bot"))
	const reconnect = "/v1/vcenters/default/vasaProviders/vp-1:reconnect"
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		want   int
	}{
		{name: "cross-site POST", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		{name: "cross-site POST, Origin only", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, want: http.StatusForbidden},
		{name: "same-site but another origin", method: http.MethodPost, path: reconnect, header: []string{"Origin", "https://other.127.0.0.1.example", "Sec-Fetch-Site", "same-site"}, want: http.StatusForbidden},
		{name: "allowed origin", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "application/json", "Origin", portal, "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
		{name: "same origin", method: http.MethodPost, path: reconnect, header: []string{"Sec-Fetch-Site", "same-origin"}, want: http.StatusOK},
		{name: "non-browser client", method: http.MethodPost, path: reconnect, want: http.StatusOK},
		{name: "cross-site read", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders/vp-1", header: []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.sim.Sim.Calls("VasaProviderReconnect_Task")
			r, err := g.restCall(t, hc, tt.method, tt.path, "{}", tt.header...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != http.StatusForbidden {
				if r.code != tt.want {
					t.Fatalf("HTTP %d %s, want %d", r.code, r.body, tt.want)
				}
				return
			}
			checkRESTRefusal(t, r, http.StatusForbidden, "CROSS_ORIGIN_REFUSED")
			if st := restStatus(t, r.body); st.Code() != 7 { // PERMISSION_DENIED
				t.Errorf("code %v, want PERMISSION_DENIED", st.Code())
			}
			if n := g.sim.Sim.Calls("VasaProviderReconnect_Task"); n != before {
				t.Errorf("the refused request reached vCenter (%d reconnects, before %d)", n, before)
			}
		})
	}
}

// TestEmptiedKeySetRevokes: over gRPC and REST, a token of a key that is
// in use passes; a JWKS file that no longer parses keeps that key (and is
// counted in vasagw_jwks_file_failures_total); an emptied, well-formed key
// set revokes it.
func TestEmptiedKeySetRevokes(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	hc := g.httpClient(t, nil)
	token := p.issuer.Token(t, "ops")
	call := func() (restResult, error) {
		t.Helper()
		_, err := providers.ListVasaProviders(withToken(testContext(t), token), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
		r, rerr := g.restCall(t, hc, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", "Authorization", "Bearer "+token)
		if rerr != nil {
			t.Fatal(rerr)
		}
		return r, err
	}
	rewrite := func(b []byte, step int) {
		t.Helper()
		if err := os.WriteFile(p.jwksFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(time.Duration(step) * time.Minute)
		if err := os.Chtimes(p.jwksFile, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := call(); err != nil || r.code != http.StatusOK {
		t.Fatalf("before: gRPC %v, REST %d", err, r.code)
	}

	rewrite([]byte(`{"keys":[{"kty":"EC"`), 1)
	if r, err := call(); err != nil || r.code != http.StatusOK {
		t.Fatalf("after a broken JWKS file: gRPC %v, REST %d %s", err, r.code, r.body)
	}
	if n := scrape(t, g.admin).value(t, "vasagw_jwks_file_failures_total"); n != 1 {
		t.Errorf("vasagw_jwks_file_failures_total = %v, want 1", n)
	}
	if !strings.Contains(g.logs.String(), `"level":"ERROR","msg":"the JWKS file changed but cannot be used`) {
		t.Errorf("no error log line for the broken JWKS file:\n%s", g.logs.String())
	}

	rewrite([]byte(`{"keys":[]}`), 2)
	r, err := call()
	checkGRPCRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonTokenInvalid)
	if n := scrape(t, g.admin).value(t, "vasagw_jwks_file_failures_total"); n != 1 {
		t.Errorf("vasagw_jwks_file_failures_total = %v after a good (empty) file, want still 1", n)
	}
}

// TestTokenWithoutExpiryIsInvalid: a token without exp never had an
// expiry: TOKEN_INVALID over gRPC and REST, not TOKEN_EXPIRED (which a
// portal would answer by refreshing a token that is not the problem).
func TestTokenWithoutExpiryIsInvalid(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	claims := p.issuer.Claims("ops")
	delete(claims, "exp")
	token := p.issuer.Sign(t, claims)
	_, err := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil)).ListVasaProviders(withToken(testContext(t), token), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
	checkGRPCRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	r, err := g.restCall(t, g.httpClient(t, nil), http.MethodGet, "/v1/vcenters/default/vasaProviders", "", "Authorization", "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonTokenInvalid)
}

// rawH2 is a bare HTTP/2 client connection: the preface and SETTINGS, then
// only what a test writes, as an attacker's client would be.
type rawH2 struct {
	conn net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

// dialRawH2 connects to addr and sends the client preface and an empty
// SETTINGS frame.
func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &rawH2{conn: conn, fr: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.hbuf)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// serverSettings reads up to the server's first SETTINGS frame.
func (c *rawH2) serverSettings(t *testing.T) *http2.SettingsFrame {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("read the server's SETTINGS: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			return s
		}
	}
}

// openHealthWatch starts a grpc.health.v1.Health/Watch call on stream id.
func (c *rawH2) openHealthWatch(t *testing.T, id uint32) {
	t.Helper()
	c.hbuf.Reset()
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.health.v1.Health/Watch"}, {":authority", "vasagw"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// An empty HealthCheckRequest: not compressed, length 0.
	if err := c.fr.WriteData(id, true, []byte{0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
}

// TestStreamsPerConnection: the gRPC listener tells each connection how
// many streams it may open (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS), and
// refuses a stream past it from a client that does not wait; the metric
// counts the connection reaching its limit.
func TestStreamsPerConnection(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--max-streams-per-connection=2", "--admin-addr=127.0.0.1:0")
	c := dialRawH2(t, g.conn.Target())
	settings := c.serverSettings(t)
	if v, ok := settings.Value(http2.SettingMaxConcurrentStreams); !ok || v != 2 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent %v), want 2", v, ok)
	}
	for _, id := range []uint32{1, 3, 5} {
		c.openHealthWatch(t, id)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no RST_STREAM for the third stream: %v", err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			if rst.StreamID != 5 || rst.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM %d %v, want stream 5 REFUSED_STREAM", rst.StreamID, rst.ErrCode)
			}
			break
		}
	}
	// The server refuses stream 5 in its transport as soon as the HEADERS
	// arrive, which can be before the goroutines of streams 1 and 3 have
	// counted them (a stats handler's Begin): wait until they have.
	var refused, inUse float64
	for deadline := time.Now().Add(10 * time.Second); ; {
		m := scrape(t, g.admin)
		refused = m.value(t, "vasagw_limit_refusals_total", "limit", "grpc_connection_streams")
		inUse = m.value(t, "vasagw_limit_in_use", "limit", "grpc_connection_streams")
		if (refused >= 1 && inUse == 2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if refused < 1 {
		t.Errorf("vasagw_limit_refusals_total{limit=grpc_connection_streams} = %v, want at least 1", refused)
	}
	if inUse != 2 {
		t.Errorf("vasagw_limit_in_use{limit=grpc_connection_streams} = %v, want 2", inUse)
	}
}

// TestIdleConnectionsClosed: a gRPC connection that sends the preface and
// SETTINGS and then nothing is sent away (GOAWAY) and closed soon after
// --idle-timeout; so is a REST keep-alive connection after its request.
func TestIdleConnectionsClosed(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	// grpc-go's drain: a GOAWAY, a PING, up to 5 s for its ack (the idle
	// client sends none), the last GOAWAY, the close.
	const slack = 7 * time.Second
	g := startGateway(t, "--idle-timeout="+idle.String())

	start := time.Now()
	c := dialRawH2(t, g.conn.Target())
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	goaway := false
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the idle gRPC connection is still open after 30 s")
			}
			break // closed
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			goaway = true
		}
	}
	if took := time.Since(start); !goaway || took > idle+slack {
		t.Errorf("idle gRPC connection: GOAWAY %v, closed after %v; want a GOAWAY and a close within %v", goaway, took, idle+slack)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: vasagw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	answered := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the idle REST connection is still open after 30 s")
	}
	if took := time.Since(answered); took > idle+slack {
		t.Errorf("idle REST connection closed after %v, want within %v", took, idle+slack)
	}
}

// TestConnectionsBounded: past --max-connections, a listener answers a new
// connection RESOURCE_EXHAUSTED TOO_MANY_CONNECTIONS (REST: 429 with a
// Status body) and closes it, and counts it.
func TestConnectionsBounded(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--max-connections=2", "--admin-addr=127.0.0.1:0")
	grpcAddr, httpAddr := g.conn.Target(), strings.TrimPrefix(g.base, "http://")
	for range 2 {
		// Served: the gateway has accepted it once its SETTINGS arrive.
		dialRawH2(t, grpcAddr).serverSettings(t)
		conn, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: vasagw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection within the bound: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	checkGRPCRefusal(t, err, codes.ResourceExhausted, "TOO_MANY_CONNECTIONS")

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, g.base+"/v1/vcenters/default/vasaProviders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, restResult{code: resp.StatusCode, header: resp.Header, body: body}, http.StatusTooManyRequests, "TOO_MANY_CONNECTIONS")

	m := scrape(t, g.admin)
	for _, l := range []string{"grpc_connections", "http_connections"} {
		if n := m.value(t, "vasagw_limit_refusals_total", "limit", l); n < 1 {
			t.Errorf("vasagw_limit_refusals_total{limit=%s} = %v, want at least 1", l, n)
		}
	}
}

// openHealthWatch opens a health Watch on conn and reads its first answer
// (or its refusal).
func openHealthWatch(ctx context.Context, conn *grpc.ClientConn) error {
	st, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

// TestPublicStreamBudget: health and reflection streams share one budget,
// whoever opens them; past it they are RESOURCE_EXHAUSTED
// TOO_MANY_PUBLIC_STREAMS, counted.
func TestPublicStreamBudget(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--max-public-streams=3", "--max-streams-per-anonymous-ip=0", "--admin-addr=127.0.0.1:0")
	ctx := testContext(t)
	other, err := grpc.NewClient(g.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, c := range []*grpc.ClientConn{g.conn, g.conn, other} {
		if err := openHealthWatch(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	checkGRPCRefusal(t, openHealthWatch(ctx, other), codes.ResourceExhausted, "TOO_MANY_PUBLIC_STREAMS")
	refl, err := reflectionpb.NewServerReflectionClient(g.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	_, err = refl.Recv()
	checkGRPCRefusal(t, err, codes.ResourceExhausted, "TOO_MANY_PUBLIC_STREAMS")
	// The API's own streams are not the public budget's.
	if _, err := g.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: "vcenters/default/tasks/none"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetTask beside a full public budget: %v", err)
	}
	m := scrape(t, g.admin)
	if n := m.value(t, "vasagw_limit_in_use", "limit", "public_streams"); n != 3 {
		t.Errorf("vasagw_limit_in_use{limit=public_streams} = %v, want 3", n)
	}
	if n := m.value(t, "vasagw_limit_refusals_total", "limit", "public_streams"); n != 2 {
		t.Errorf("vasagw_limit_refusals_total{limit=public_streams} = %v, want 2", n)
	}
}

// TestAnonymousStreamsCappedByAddress: anonymous callers' streams count
// by their address, over gRPC and REST alike (the REST side forwards the
// caller's address in process, and an address smuggled in a header is
// ignored); past the cap they are RESOURCE_EXHAUSTED TOO_MANY_STREAMS.
func TestAnonymousStreamsCappedByAddress(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--max-streams-per-anonymous-ip=3", "--admin-addr=127.0.0.1:0")
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-long", Info: disconnectedInfo("vp-long"), ReconnectDuration: time.Hour})
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-long"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := openHealthWatch(ctx, g.conn); err != nil {
			t.Fatal(err)
		}
	}
	// The third, over REST: it stays open on its first message.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1/"+task.GetName()+":watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("REST watch within the cap: %d %v", resp.StatusCode, err)
	}

	stream, err := g.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	ei := checkGRPCRefusal(t, err, codes.ResourceExhausted, "TOO_MANY_STREAMS")
	if ei.GetMetadata()["scope"] != "anonymousAddress" || ei.GetMetadata()["limit"] != "3" {
		t.Errorf("ErrorInfo metadata %v", ei.GetMetadata())
	}
	r := g.rest(t, http.MethodGet, "/v1/"+task.GetName()+":watch", "", "Grpc-Metadata-X-Vasagw-Client-Addr", "10.9.9.9:1")
	checkRESTRefusal(t, r, http.StatusTooManyRequests, "TOO_MANY_STREAMS")
	if n := scrape(t, g.admin).value(t, "vasagw_limit_refusals_total", "limit", "anonymous_ip_streams"); n != 2 {
		t.Errorf("vasagw_limit_refusals_total{limit=anonymous_ip_streams} = %v, want 2", n)
	}
}

// TestPublicStreamAttackBounded is the attack of issue 11 (health Watch
// streams without credentials, on 8 connections) against a gateway in a
// child process with the default limits: past the budget the streams are
// refused, and the gateway's heap and stacks stay within the budget's
// worth (about 13 KB a stream) instead of growing with the attack.
func TestPublicStreamAttackBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	t.Parallel()
	const attack = 8000
	g := startBenchGateway(t, "1s", "--max-public-streams=1000")
	res := publicStreamAttack(t, g, attack)
	t.Logf("%d accepted, %d refused; heap and stacks +%.1f MiB, goroutines +%d", res.accepted, res.refused, float64(res.grew)/(1<<20), res.goroutines)
	if res.accepted > 1000 || res.refused != attack-res.accepted {
		t.Errorf("%d streams accepted, %d refused RESOURCE_EXHAUSTED, of %d; want at most 1000 accepted and the rest refused", res.accepted, res.refused, attack)
	}
	// 1,000 streams cost about 13 MB; unbounded, 8,000 cost about 100 MB.
	if res.grew > 32<<20 {
		t.Errorf("the gateway's heap and stacks grew by %.1f MiB under the attack, want at most 32 MiB", float64(res.grew)/(1<<20))
	}
}

// attackResult is what [publicStreamAttack] saw.
type attackResult struct {
	accepted, refused int
	grew              int64 // bytes of heap and stacks in use, after GC
	goroutines        int   // more than before
}

// publicStreamAttack opens n health Watch streams on 8 connections to the
// child gateway g, holds them, and measures the child.
func publicStreamAttack(t testing.TB, g *benchGateway, n int) attackResult {
	t.Helper()
	conns := dialGRPC(t, g.GRPC, 8)
	before := g.stats(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var accepted, refused atomic.Int64
	var other atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			switch err := openHealthWatch(ctx, conns[i%len(conns)]); status.Code(err) {
			case codes.OK:
				accepted.Add(1)
			case codes.ResourceExhausted:
				refused.Add(1)
			default:
				other.Store(err)
			}
		}()
	}
	wg.Wait()
	if err := other.Load(); err != nil {
		t.Fatalf("a stream failed otherwise: %v", err)
	}
	after := g.stats(t)
	return attackResult{
		accepted:   int(accepted.Load()),
		refused:    int(refused.Load()),
		grew:       int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse),
		goroutines: after.Goroutines - before.Goroutines,
	}
}

// BenchmarkPublicStreamAttack measures the gateway process under the
// attack of issue 11: 20,000 health Watch streams without credentials on 8
// connections, with the limits switched off (as before the fix) and with
// the default limits. Reported: the growth of heap and goroutine stacks
// in use (after GC), goroutines, streams accepted.
//
//	go test -run='^$' -bench=BenchmarkPublicStreamAttack -benchtime=1x ./internal/server/
func BenchmarkPublicStreamAttack(b *testing.B) {
	const n = 20_000
	for _, bc := range []struct {
		name  string
		flags []string
	}{
		{"unbounded", []string{"--max-public-streams=0", "--max-streams-per-anonymous-ip=0", "--max-streams-per-connection=0", "--max-connections=0"}},
		{"default-limits", []string{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := startBenchGateway(b, "1s", bc.flags...)
			for range b.N {
				res := publicStreamAttack(b, g, n)
				b.ReportMetric(float64(res.grew)/(1<<20), "heap+stack-MiB")
				b.ReportMetric(float64(res.goroutines), "goroutines")
				b.ReportMetric(float64(res.accepted), "accepted")
			}
		})
	}
}

// TestKeepaliveEnforced: a gRPC client that pings more often than
// --keepalive-min-time is sent away with GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings" and disconnected.
func TestKeepaliveEnforced(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--keepalive-min-time=1m")
	c := dialRawH2(t, g.conn.Target())
	c.serverSettings(t)
	for i := range 4 {
		if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // already sent away
		}
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY for too many pings: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}

// TestAnonymousKey: anonymous callers count by IPv4 address or IPv6 /64;
// the address forwarded in metadata counts only on the in-process
// connection.
func TestAnonymousKey(t *testing.T) {
	t.Parallel()
	network := func(addr string) context.Context {
		ap := netip.MustParseAddrPort(addr)
		return peer.NewContext(context.Background(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)})
	}
	forwarded := func(p *peer.Peer, addr string) context.Context {
		ctx := peer.NewContext(context.Background(), p)
		return metadata.NewIncomingContext(ctx, metadata.Pairs(clientAddrMetadataKey, addr))
	}
	inproc := &inProcessPeer
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"IPv4", network("192.0.2.7:5000"), "anonymous@192.0.2.7"},
		{"IPv4-mapped IPv6 is the IPv4 address", network("[::ffff:192.0.2.7]:5000"), "anonymous@192.0.2.7"},
		{"IPv6 by its /64", network("[2001:db8:1:2:aaaa::1]:443"), "anonymous@2001:db8:1:2::/64"},
		{"same /64, another host", network("[2001:db8:1:2:bbbb::9]:443"), "anonymous@2001:db8:1:2::/64"},
		{"REST caller forwarded in process", forwarded(inproc, "198.51.100.4:61000"), "anonymous@198.51.100.4"},
		{"forwarded metadata on a network connection is ignored", forwarded(&peer.Peer{Addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.7:1"))}, "198.51.100.4:61000"), "anonymous@192.0.2.7"},
		{"in process without an address", peer.NewContext(context.Background(), inproc), "anonymous@unknown"},
		{"no peer", context.Background(), "anonymous@unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := anonymousKey(tt.ctx); got != tt.want {
				t.Errorf("anonymousKey = %q, want %q", got, tt.want)
			}
		})
	}
}
