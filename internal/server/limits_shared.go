package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/vasagw/vasagw/internal/store/redisstore"
)

// sharedLimits is what the per-caller limits need of the store the
// replicas share (*redisstore.Store): a rate bucket per caller, and a
// count of open streams that a dead replica's streams leave by themselves.
type sharedLimits interface {
	Allow(ctx context.Context, caller string, n int, per time.Duration) (time.Duration, error)
	OpenStream(ctx context.Context, caller, id string, max int) (bool, error)
	RefreshStream(ctx context.Context, caller, id string) error
	CloseStream(ctx context.Context, caller, id string) error
}

// sharedLimitTimeout bounds a limit check on the shared store; past it the
// local limits apply.
const sharedLimitTimeout = 500 * time.Millisecond

// errNoSharedLimits is openShared's answer without a shared store.
var errNoSharedLimits = errors.New("no shared limits")

// openShared counts a stream of caller across the replicas. It returns
// ok false when the caller's cap is reached, and an error when there is no
// shared store or it failed (the local cap applies then). done stops
// counting the stream; until then the stream is refreshed in the store.
func (l *callerLimits) openShared(ctx context.Context, caller string, max int) (done func(), ok bool, err error) {
	if l.shared == nil {
		return nil, false, errNoSharedLimits
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	sctx, cancel := context.WithTimeout(ctx, sharedLimitTimeout)
	ok, err = l.shared.OpenStream(sctx, caller, id, max)
	cancel()
	if err != nil || !ok {
		return nil, ok, err
	}
	stop := make(chan struct{})
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		t := time.NewTicker(redisstore.StreamTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), sharedLimitTimeout)
				_ = l.shared.RefreshStream(rctx, caller, id)
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-refreshed
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedLimitTimeout)
		defer cancel()
		_ = l.shared.CloseStream(cctx, caller, id)
	}, true, nil
}
