package redisstore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/store/redisstore"
	"github.com/vasagw/vasagw/internal/store/redisstore/redistest"
)

// open returns a store on srv that has seen Redis up.
func open(t *testing.T, srv *redistest.Server, prefix string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(redisstore.Options{URL: srv.URL(), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan bool, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Monitor(ctx, 50*time.Millisecond, func(u bool) { up <- u })
	}()
	t.Cleanup(func() { cancel(); <-done })
	if !<-up {
		t.Fatal("redis not reachable")
	}
	return st
}

func TestRequestRecords(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t1:"), open(t, srv, "t1:")
	ctx := context.Background()
	key := service.RequestKey{Caller: "user:x:y", RequestID: "r1"}
	if _, ok, err := a.Get(ctx, key); err != nil || ok {
		t.Fatalf("Get before put = %v, %v", ok, err)
	}
	first := service.RequestRecord{Operation: "reconnect", Target: "vcenters/default/vasaProviders/vp-1", Task: "SmsTask-1"}
	got, err := a.PutIfAbsent(ctx, key, first, time.Hour)
	if err != nil || got != first {
		t.Fatalf("first put = %+v, %v", got, err)
	}
	got, err = b.PutIfAbsent(ctx, key, service.RequestRecord{Operation: "reconnect", Target: first.Target, Task: "SmsTask-2"}, time.Hour)
	if err != nil || got != first {
		t.Fatalf("second put on another replica = %+v, %v; want the first record", got, err)
	}
	if rec, ok, err := b.Get(ctx, key); err != nil || !ok || rec != first {
		t.Fatalf("Get on another replica = %+v %v %v", rec, ok, err)
	}
	// Another caller's id is its own; a key prefix keeps gateways apart.
	if _, ok, _ := b.Get(ctx, service.RequestKey{Caller: "user:x", RequestID: "y:r1"}); ok {
		t.Fatal("a caller with ':' in the identity saw another caller's record")
	}
	if _, ok, _ := open(t, srv, "other:").Get(ctx, key); ok {
		t.Fatal("another key prefix saw the record")
	}
}

func TestLease(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t2:"), open(t, srv, "t2:")
	ctx := context.Background()
	if ok, err := a.Lease(ctx, "poll/x", 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("a takes the free lease: %v %v", ok, err)
	}
	if ok, _ := b.Lease(ctx, "poll/x", 200*time.Millisecond); ok {
		t.Fatal("b took a held lease")
	}
	if ok, _ := a.Lease(ctx, "poll/x", 200*time.Millisecond); !ok {
		t.Fatal("the holder could not extend its lease")
	}
	if err := b.Release(ctx, "poll/x"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Lease(ctx, "poll/x", time.Second); ok {
		t.Fatal("a non-holder's release freed the lease")
	}
	if err := a.Release(ctx, "poll/x"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Lease(ctx, "poll/x", time.Second); !ok {
		t.Fatal("the released lease was not free")
	}
}

func TestTaskFeed(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t3:"), open(t, srv, "t3:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []service.TaskUpdate
	arrived := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.SubscribeTasks(ctx, func(u service.TaskUpdate) {
			mu.Lock()
			got = append(got, u)
			mu.Unlock()
			arrived <- struct{}{}
		})
	}()
	defer func() { cancel(); <-done }()
	// The subscription is live once a publish arrives.
	data := []byte("\x00binary\nstate")
	for seq := int64(1); ; seq++ {
		if err := a.PublishTask(ctx, service.TaskUpdate{Key: "default/SmsTask-1", Seq: seq, Data: data}, time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	mu.Lock()
	last := got[len(got)-1]
	mu.Unlock()
	if last.Key != "default/SmsTask-1" || string(last.Data) != string(data) {
		t.Fatalf("received %+v", last)
	}
	// An older sequence number is neither stored nor published.
	if err := a.PublishTask(ctx, service.TaskUpdate{Key: "default/SmsTask-1", Seq: last.Seq, Data: []byte("old")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	u, ok, err := b.LatestTask(ctx, "default/SmsTask-1")
	if err != nil || !ok || u.Seq != last.Seq || string(u.Data) != string(data) {
		t.Fatalf("LatestTask = %+v %v %v", u, ok, err)
	}
	if _, ok, err := b.LatestTask(ctx, "default/none"); err != nil || ok {
		t.Fatalf("LatestTask of an unknown task = %v %v", ok, err)
	}
}

func TestLimits(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t4:"), open(t, srv, "t4:")
	ctx := context.Background()
	for i := range 2 {
		if wait, err := a.Allow(ctx, "user:u", 2, time.Minute); err != nil || wait != 0 {
			t.Fatalf("call %d: wait %v, %v", i, wait, err)
		}
	}
	if wait, err := b.Allow(ctx, "user:u", 2, time.Minute); err != nil || wait <= 0 {
		t.Fatalf("third call on another replica: wait %v, %v; want refused", wait, err)
	}
	if ok, _ := a.OpenStream(ctx, "user:u", "s1", 2); !ok {
		t.Fatal("first stream refused")
	}
	if ok, _ := b.OpenStream(ctx, "user:u", "s1", 2); !ok {
		t.Fatal("second stream (another replica) refused")
	}
	if ok, _ := b.OpenStream(ctx, "user:u", "s2", 2); ok {
		t.Fatal("third stream across replicas allowed")
	}
	if err := a.RefreshStream(ctx, "user:u", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := a.CloseStream(ctx, "user:u", "s1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.OpenStream(ctx, "user:u", "s2", 2); !ok {
		t.Fatal("a stream was refused after one closed")
	}
}

func TestDownFailsFastAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.New(redisstore.Options{URL: srv.URL(), KeyPrefix: "t5:"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan bool, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Monitor(ctx, 50*time.Millisecond, func(u bool) { changes <- u })
	}()
	defer func() { cancel(); <-done }()
	if !<-changes {
		t.Fatal("first check: down")
	}
	srv.Stop()
	if <-changes {
		t.Fatal("after stop: still up")
	}
	if _, _, err := st.Get(ctx, service.RequestKey{Caller: "c", RequestID: "r"}); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Get while down = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	if !<-changes {
		t.Fatal("after restart: still down")
	}
	if _, err := st.PutIfAbsent(ctx, service.RequestKey{Caller: "c", RequestID: "r"}, service.RequestRecord{Task: "t"}, time.Minute); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}

func TestNewHidesURL(t *testing.T) {
	_, err := redisstore.New(redisstore.Options{URL: "redis://user:s3cret@[bad"})
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Fatalf("error %q shows the password", got)
	}
}

// TestTLSAndPassword: rediss:// with the server's CA and the password
// works; a wrong password is refused without the password in any error
// or log line.
func TestTLSAndPassword(t *testing.T) {
	const password = "r3dis-Pa55word"
	srv := redistest.StartWith(t, redistest.Options{TLS: true, Password: password})
	check := func(pw string) (bool, string) {
		var logs strings.Builder
		st, err := redisstore.New(redisstore.Options{
			URL: srv.URL(), Password: pw, KeyPrefix: "tls:",
			TLS:    &tls.Config{RootCAs: srv.CAs(), MinVersion: tls.VersionTLS12},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan bool, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			st.Monitor(ctx, time.Hour, func(up bool) { first <- up })
		}()
		up := <-first
		var msg string
		if _, err := st.PutIfAbsent(ctx, service.RequestKey{Caller: "c", RequestID: "r"}, service.RequestRecord{Task: "t"}, time.Minute); err != nil {
			msg = err.Error()
		}
		cancel()
		<-done
		return up, logs.String() + msg
	}
	if up, out := check(password); !up {
		t.Fatalf("rediss with the password: down: %s", out)
	}
	up, out := check("wrong-" + password)
	if up {
		t.Fatal("a wrong password was accepted")
	}
	if strings.Contains(out, password) {
		t.Fatalf("the password reached an error or log line: %s", out)
	}
	if !strings.Contains(out, "redis unreachable") {
		t.Fatalf("no log line for the refused connection: %q", out)
	}
}
