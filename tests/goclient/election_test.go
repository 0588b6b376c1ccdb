package goclient

// Leader election with concurrency.NewElection: Campaign, Proclaim, Leader, Observe,
// Resign, and failover when the leader's process dies.

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// observer collects the values an Observe channel delivers.
type observer struct {
	ch <-chan *clientv3.GetResponse
}

// next returns the next observed leader value, failing the test after within.
func (o *observer) next(t *testing.T, what string, within time.Duration) string {
	t.Helper()
	select {
	case resp, ok := <-o.ch:
		if !ok {
			t.Fatalf("Observe channel closed while waiting for %s", what)
		}
		if len(resp.Kvs) != 1 {
			t.Fatalf("Observe: %d kvs, want 1", len(resp.Kvs))
		}
		return string(resp.Kvs[0].Value)
	case <-time.After(within):
		t.Fatalf("Observe: nothing within %v while waiting for %s", within, what)
	}
	return ""
}

// expectValue reads observations until value v arrives (values of the same leader may
// be coalesced or repeated, but nothing else may come first).
func (o *observer) expect(t *testing.T, v string, allowed ...string) {
	t.Helper()
	for {
		got := o.next(t, strconv.Quote(v), 20*time.Second)
		if got == v {
			return
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == got
		}
		if !ok {
			t.Fatalf("Observe: got %q while waiting for %q", got, v)
		}
	}
}

func leaderValue(t *testing.T, ctx context.Context, e *concurrency.Election) (string, error) {
	t.Helper()
	sctx, cancel := step(ctx, 10*time.Second)
	defer cancel()
	resp, err := e.Leader(sctx)
	if err != nil {
		return "", err
	}
	return string(resp.Kvs[0].Value), nil
}

// TestElection: two candidates on different members and an observer on a third.
func TestElection(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c1, c2, c3 := clientOn(t, 0), clientOn(t, 1), clientOn(t, 2)
	pfx := keyPrefix(t, c1)
	name := pfx + "election"
	sessions := make([]*concurrency.Session, 3)
	for i, c := range []*clientv3.Client{c1, c2, c3} {
		s, err := concurrency.NewSession(c, concurrency.WithTTL(10))
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		defer s.Close()
		sessions[i] = s
	}
	e1 := concurrency.NewElection(sessions[0], name)
	e2 := concurrency.NewElection(sessions[1], name)
	eo := concurrency.NewElection(sessions[2], name)

	if _, err := leaderValue(t, ctx, eo); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader of an empty election: %v, want %v", err, concurrency.ErrElectionNoLeader)
	}
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := &observer{ch: eo.Observe(octx)}

	sctx, cancel := step(ctx, 10*time.Second)
	err := e1.Campaign(sctx, "leader-1")
	cancel()
	if err != nil {
		t.Fatalf("e1.Campaign: %v", err)
	}
	if e1.Key() == "" || e1.Rev() == 0 || e1.Header() == nil {
		t.Errorf("after Campaign: Key %q, Rev %d, Header %v", e1.Key(), e1.Rev(), e1.Header())
	}
	if v, err := leaderValue(t, ctx, eo); err != nil || v != "leader-1" {
		t.Fatalf("Leader = %q, %v; want leader-1", v, err)
	}
	obs.expect(t, "leader-1")

	// A second candidate waits.
	won := make(chan error, 1)
	go func() {
		cctx, ccancel := step(ctx, 40*time.Second)
		defer ccancel()
		won <- e2.Campaign(cctx, "leader-2")
	}()
	select {
	case err := <-won:
		t.Fatalf("e2.Campaign returned (%v) while e1 leads", err)
	case <-time.After(700 * time.Millisecond):
	}

	// Proclaim by the leader changes the value everyone sees.
	sctx, cancel = step(ctx, 10*time.Second)
	err = e1.Proclaim(sctx, "leader-1-v2")
	cancel()
	if err != nil {
		t.Fatalf("e1.Proclaim: %v", err)
	}
	obs.expect(t, "leader-1-v2", "leader-1")
	if v, err := leaderValue(t, ctx, e2); err != nil || v != "leader-1-v2" {
		t.Errorf("Leader (from the waiting candidate) = %q, %v; want leader-1-v2", v, err)
	}
	// Proclaim by an election that never won is refused.
	loser := concurrency.NewElection(sessions[2], name)
	if err := loser.Proclaim(ctx, "usurper"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim by a non-leader: %v, want %v", err, concurrency.ErrElectionNotLeader)
	}
	// A stale leader handle (wrong revision) is refused by the server's comparison.
	stale := concurrency.ResumeElection(sessions[0], name+"/", e1.Key(), e1.Rev()+1000)
	if err := stale.Proclaim(ctx, "stale"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim with a stale leader revision: %v, want %v", err, concurrency.ErrElectionNotLeader)
	}

	// Resign hands leadership to the waiting candidate.
	sctx, cancel = step(ctx, 10*time.Second)
	err = e1.Resign(sctx)
	cancel()
	if err != nil {
		t.Fatalf("e1.Resign: %v", err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatalf("e2.Campaign after e1 resigned: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("e2 not elected 15 s after e1 resigned")
	}
	obs.expect(t, "leader-2", "leader-1-v2")
	if v, err := leaderValue(t, ctx, e1); err != nil || v != "leader-2" {
		t.Errorf("Leader after resign = %q, %v; want leader-2", v, err)
	}
	if err := e1.Proclaim(ctx, "resigned"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim after Resign: %v, want %v", err, concurrency.ErrElectionNotLeader)
	}

	// Campaign again by the same session when already leader: returns at once.
	sctx, cancel = step(ctx, 5*time.Second)
	err = e2.Campaign(sctx, "leader-2-again")
	cancel()
	if err != nil {
		t.Errorf("second Campaign by the leader: %v", err)
	}
	obs.expect(t, "leader-2-again", "leader-2")

	sctx, cancel = step(ctx, 10*time.Second)
	err = e2.Resign(sctx)
	cancel()
	if err != nil {
		t.Fatalf("e2.Resign: %v", err)
	}
	if _, err := leaderValue(t, ctx, eo); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Errorf("Leader after everyone resigned: %v, want %v", err, concurrency.ErrElectionNoLeader)
	}
	ocancel()
}

// TestElectionFailover: the leader is a separate process with a 2 s session; it is
// killed with SIGKILL, and the waiting candidate (on another member) is elected once the
// dead leader's lease expires; an observer sees both leaders in order.
func TestElectionFailover(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cli := clientOn(t, 1)
	pfx := keyPrefix(t, cli)
	name := pfx + "election"
	const ttl = 2
	h := startHelper(t, "leader", "campaign", map[string]string{
		"ELECTION": name, "VALUE": "proc-leader", "TTL": strconv.Itoa(ttl), "EP_OFFSET": "0", "HELPER_MAX": "60",
	})
	wctx, cancel := step(ctx, 20*time.Second)
	line := h.waitLine(t, wctx, "LEADER")
	cancel()
	t.Logf("helper: %s", line)

	s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer s.Close()
	so, err := concurrency.NewSession(clientOn(t, 2), concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer so.Close()
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := &observer{ch: concurrency.NewElection(so, name).Observe(octx)}
	obs.expect(t, "proc-leader")

	e := concurrency.NewElection(s, name)
	won := make(chan error, 1)
	go func() {
		cctx, ccancel := step(ctx, 40*time.Second)
		defer ccancel()
		won <- e.Campaign(cctx, "standby")
	}()
	select {
	case err := <-won:
		t.Fatalf("standby Campaign returned (%v) while the helper leads", err)
	case <-time.After(700 * time.Millisecond):
	}

	h.kill()
	killed := time.Now()
	select {
	case err := <-won:
		if err != nil {
			t.Fatalf("standby Campaign after the leader was killed: %v", err)
		}
	case <-time.After(ttl*time.Second + 20*time.Second):
		t.Fatalf("standby not elected %d s after the leader was killed (TTL %d s)", ttl+20, ttl)
	}
	el := time.Since(killed)
	t.Logf("standby elected %.2f s after kill -9 of the leader (session TTL %d s)", el.Seconds(), ttl)
	if el < 500*time.Millisecond {
		t.Errorf("standby elected only %v after the kill: the dead leader's lease should have lasted about %d s", el, ttl)
	}
	obs.expect(t, "standby")
	if v, err := leaderValue(t, ctx, e); err != nil || v != "standby" {
		t.Errorf("Leader = %q, %v; want standby", v, err)
	}
	sctx, cancel := step(ctx, 10*time.Second)
	if err := e.Resign(sctx); err != nil {
		t.Errorf("Resign: %v", err)
	}
	cancel()
}
