package goclient

// The v3election and v3lock gRPC services (etcd serves them next to KV, Watch, Lease,
// ...; `etcdctl elect` and `etcdctl lock` use them), called directly with their
// generated clients over the client's connection.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	epb "go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	lpb "go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// failIfUnimplemented stops the test with a clear message when the server does not
// serve the service at all.
func failIfUnimplemented(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) == codes.Unimplemented {
		t.Fatalf("%s: the server does not serve this service: %v", what, err)
	}
}

// TestElectionGRPC: Campaign / Leader / Observe / Proclaim / Resign of the Election
// service, with two candidates holding their own leases.
func TestElectionGRPC(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c1, c2 := clientOn(t, 0), clientOn(t, 1)
	pfx := keyPrefix(t, c1)
	name := []byte(pfx + "election")
	ec1 := epb.NewElectionClient(c1.ActiveConnection())
	ec2 := epb.NewElectionClient(c2.ActiveConnection())
	lease1 := grantLease(t, ctx, c1, 30)
	lease2 := grantLease(t, ctx, c2, 30)

	// Leader of an empty election: an error ("election: no leader").
	sctx, cancel := step(ctx, 10*time.Second)
	_, err := ec1.Leader(sctx, &epb.LeaderRequest{Name: name})
	cancel()
	failIfUnimplemented(t, "Election.Leader", err)
	if err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("Leader of an empty election: %v, want an error saying \"election: no leader\"", err)
	}

	sctx, cancel = step(ctx, 10*time.Second)
	c1resp, err := ec1.Campaign(sctx, &epb.CampaignRequest{Name: name, Lease: int64(lease1), Value: []byte("grpc-1")})
	cancel()
	failIfUnimplemented(t, "Election.Campaign", err)
	if err != nil {
		t.Fatalf("Campaign: %v", err)
	}
	lk := c1resp.Leader
	if lk == nil || string(lk.Name) != string(name) || lk.Lease != int64(lease1) || lk.Rev == 0 ||
		!strings.HasPrefix(string(lk.Key), string(name)+"/") {
		t.Fatalf("Campaign leader key = %+v, want name %q, lease %x, a revision and a key under %q/", lk, name, lease1, name)
	}
	if c1resp.Header == nil || c1resp.Header.Revision < lk.Rev {
		t.Errorf("Campaign header %v, leader rev %d", c1resp.Header, lk.Rev)
	}

	sctx, cancel = step(ctx, 10*time.Second)
	lr, err := ec2.Leader(sctx, &epb.LeaderRequest{Name: name})
	cancel()
	if err != nil || lr.Kv == nil || string(lr.Kv.Value) != "grpc-1" || string(lr.Kv.Key) != string(lk.Key) {
		t.Fatalf("Leader = %v, %v; want key %q value grpc-1", lr, err, lk.Key)
	}

	// Observe from the other member.
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	stream, err := ec2.Observe(octx, &epb.LeaderRequest{Name: name})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	observed := make(chan string, 100)
	go func() {
		defer close(observed)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			if r.Kv != nil {
				observed <- string(r.Kv.Value)
			}
		}
	}()
	expect := func(v string, allowed ...string) {
		t.Helper()
		for {
			select {
			case got, ok := <-observed:
				if !ok {
					t.Fatalf("Observe stream ended while waiting for %q", v)
				}
				if got == v {
					return
				}
				ok = false
				for _, a := range allowed {
					ok = ok || a == got
				}
				if !ok {
					t.Fatalf("Observe: %q while waiting for %q", got, v)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("Observe: no %q within 15 s", v)
			}
		}
	}
	expect("grpc-1")

	// The second candidate blocks.
	type campaignResult struct {
		resp *epb.CampaignResponse
		err  error
	}
	won := make(chan campaignResult, 1)
	go func() {
		cctx, ccancel := step(ctx, 40*time.Second)
		defer ccancel()
		r, err := ec2.Campaign(cctx, &epb.CampaignRequest{Name: name, Lease: int64(lease2), Value: []byte("grpc-2")})
		won <- campaignResult{r, err}
	}()
	select {
	case r := <-won:
		t.Fatalf("second Campaign returned (%v, %v) while the first leads", r.resp, r.err)
	case <-time.After(700 * time.Millisecond):
	}

	// Proclaim with the leader key; with a wrong key it is refused.
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = ec1.Proclaim(sctx, &epb.ProclaimRequest{Leader: lk, Value: []byte("grpc-1b")})
	cancel()
	if err != nil {
		t.Fatalf("Proclaim: %v", err)
	}
	expect("grpc-1b", "grpc-1")
	bad := *lk
	bad.Rev = lk.Rev + 1000
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = ec1.Proclaim(sctx, &epb.ProclaimRequest{Leader: &bad, Value: []byte("nope")})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "not leader") {
		t.Errorf("Proclaim with a wrong leader revision: %v, want an error saying \"election: not leader\"", err)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = ec1.Proclaim(sctx, &epb.ProclaimRequest{Value: []byte("nope")})
	cancel()
	if err == nil {
		t.Errorf("Proclaim without a leader key: no error")
	}
	sctx, cancel = step(ctx, 10*time.Second)
	lr, err = ec1.Leader(sctx, &epb.LeaderRequest{Name: name})
	cancel()
	if err != nil || string(lr.Kv.Value) != "grpc-1b" {
		t.Errorf("Leader after Proclaim = %v, %v; want grpc-1b", lr, err)
	}

	// Resign: the second candidate is elected.
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = ec1.Resign(sctx, &epb.ResignRequest{Leader: lk})
	cancel()
	if err != nil {
		t.Fatalf("Resign: %v", err)
	}
	var lk2 *epb.LeaderKey
	select {
	case r := <-won:
		if r.err != nil {
			t.Fatalf("second Campaign after Resign: %v", r.err)
		}
		lk2 = r.resp.Leader
	case <-time.After(15 * time.Second):
		t.Fatalf("second candidate not elected 15 s after Resign")
	}
	if lk2.Lease != int64(lease2) || string(lk2.Key) == string(lk.Key) {
		t.Errorf("second leader key %+v (first %+v)", lk2, lk)
	}
	expect("grpc-2", "grpc-1b")

	// Its lease is revoked: the election has no leader any more.
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = c2.Revoke(sctx, lease2)
	cancel()
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = ec1.Leader(sctx, &epb.LeaderRequest{Name: name})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("Leader after the leader's lease was revoked: %v, want \"election: no leader\"", err)
	}
	ocancel()
}

// TestLockGRPC: Lock / Unlock of the Lock service: a second Lock blocks until Unlock,
// a Lock with a deadline gives up, and a lock whose lease expires is released.
func TestLockGRPC(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c1, c2 := clientOn(t, 0), clientOn(t, 2)
	pfx := keyPrefix(t, c1)
	name := []byte(pfx + "lock")
	lc1 := lpb.NewLockClient(c1.ActiveConnection())
	lc2 := lpb.NewLockClient(c2.ActiveConnection())
	lease1 := grantLease(t, ctx, c1, 30)
	lease2 := grantLease(t, ctx, c2, 30)

	sctx, cancel := step(ctx, 10*time.Second)
	l1, err := lc1.Lock(sctx, &lpb.LockRequest{Name: name, Lease: int64(lease1)})
	cancel()
	failIfUnimplemented(t, "Lock.Lock", err)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if !strings.HasPrefix(string(l1.Key), string(name)+"/") || l1.Header == nil || l1.Header.Revision == 0 {
		t.Fatalf("Lock response %+v, want a key under %q/ and a header", l1, name)
	}
	// The key is owned by the lease.
	sctx, cancel = step(ctx, 10*time.Second)
	gr, err := c2.Get(sctx, string(l1.Key))
	cancel()
	if err != nil || len(gr.Kvs) != 1 || gr.Kvs[0].Lease != int64(lease1) {
		t.Errorf("lock key %q: %v, %v; want one key with lease %x", l1.Key, gr, err, lease1)
	}

	// A Lock with a deadline fails while held. (Its own lease: the waiter's key is named
	// after the lease, and the server deletes it when it gives up, which may happen after
	// the client has seen the deadline, so a next Lock with the same lease could lose its
	// key to that cleanup.)
	leaseT := grantLease(t, ctx, c2, 30)
	t0 := time.Now()
	sctx, cancel = step(ctx, 1*time.Second)
	_, err = lc2.Lock(sctx, &lpb.LockRequest{Name: name, Lease: int64(leaseT)})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with a 1 s deadline while held: %v (after %v), want DeadlineExceeded", err, time.Since(t0))
	}

	// A blocked Lock proceeds after Unlock.
	type lockResult struct {
		resp *lpb.LockResponse
		err  error
	}
	got := make(chan lockResult, 1)
	go func() {
		lctx, lcancel := step(ctx, 30*time.Second)
		defer lcancel()
		r, err := lc2.Lock(lctx, &lpb.LockRequest{Name: name, Lease: int64(lease2)})
		got <- lockResult{r, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("second Lock returned (%v, %v) while held", r.resp, r.err)
	case <-time.After(700 * time.Millisecond):
	}
	sctx, cancel = step(ctx, 10*time.Second)
	ur, err := lc1.Unlock(sctx, &lpb.UnlockRequest{Key: l1.Key})
	cancel()
	if err != nil || ur.Header == nil {
		t.Fatalf("Unlock: %v, %v", ur, err)
	}
	var l2 *lpb.LockResponse
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("second Lock after Unlock: %v", r.err)
		}
		l2 = r.resp
	case <-time.After(15 * time.Second):
		t.Fatalf("second Lock still blocked 15 s after Unlock")
	}
	if string(l2.Key) == string(l1.Key) {
		t.Errorf("second lock key %q equals the first", l2.Key)
	}

	// A holder whose lease expires releases the lock: lease3 (2 s, never kept alive)
	// waits behind l2; l2 is unlocked, lease3 gets the lock, then expires, and a Lock with
	// lease1 gets it.
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = lc2.Unlock(sctx, &lpb.UnlockRequest{Key: l2.Key})
	cancel()
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	lease3 := grantLease(t, ctx, c2, 2)
	sctx, cancel = step(ctx, 10*time.Second)
	l3, err := lc2.Lock(sctx, &lpb.LockRequest{Name: name, Lease: int64(lease3)})
	cancel()
	if err != nil {
		t.Fatalf("Lock with a 2 s lease: %v", err)
	}
	t0 = time.Now()
	sctx, cancel = step(ctx, 20*time.Second)
	l4, err := lc1.Lock(sctx, &lpb.LockRequest{Name: name, Lease: int64(lease1)})
	cancel()
	if err != nil {
		t.Fatalf("Lock behind a holder whose 2 s lease expires: %v (after %v)", err, time.Since(t0))
	}
	t.Logf("lock released by lease expiry after %.2f s", time.Since(t0).Seconds())
	sctx, cancel = step(ctx, 10*time.Second)
	gr, err = c1.Get(sctx, string(l3.Key))
	cancel()
	if err != nil || len(gr.Kvs) != 0 {
		t.Errorf("expired holder's key %q: %v, %v; want it gone", l3.Key, gr, err)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = lc1.Unlock(sctx, &lpb.UnlockRequest{Key: l4.Key})
	cancel()
	if err != nil {
		t.Errorf("Unlock: %v", err)
	}
}
