package goclient

// The etcd guide's third Go program (a distributed lock with concurrency.NewMutex, with
// a blocking or timed Lock) as tests: TryLock / timed Lock semantics, mutual exclusion
// between several processes, and release when the holder process is killed.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// guideLock is the guide's Lock(key, timeout): a new session, a mutex, Lock with a
// timeout (0: wait forever); the returned func unlocks. The session is closed by unlock.
func guideLock(cli *clientv3.Client, key string, timeout time.Duration, ttl int) (func(), error) {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	m := concurrency.NewMutex(s, key)
	ctx := context.Background()
	if timeout != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err = m.Lock(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return func() {
		m.Unlock(context.Background())
		s.Close()
	}, nil
}

// TestLockMutex: Lock / TryLock / timed Lock / Unlock between two sessions on different
// members, and the guide's Lock helper (timeout and unlock).
func TestLockMutex(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c1, c2 := clientOn(t, 0), clientOn(t, 1)
	pfx := keyPrefix(t, c1)
	lockName := pfx + "lock"

	s1, err := concurrency.NewSession(c1, concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(c2, concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer s2.Close()
	m1, m2 := concurrency.NewMutex(s1, lockName), concurrency.NewMutex(s2, lockName)

	sctx, cancel := step(ctx, 10*time.Second)
	err = m1.Lock(sctx)
	cancel()
	if err != nil {
		t.Fatalf("m1.Lock: %v", err)
	}
	if want := fmt.Sprintf("%s/%x", lockName, s1.Lease()); m1.Key() != want {
		t.Errorf("m1.Key() = %q, want %q", m1.Key(), want)
	}
	if m1.Header() == nil || m1.Header().Revision == 0 {
		t.Errorf("m1.Header() = %v, want a header with a revision", m1.Header())
	}
	// The IsOwner comparison guards writes of the holder only.
	sctx, cancel = step(ctx, 10*time.Second)
	tr, err := c1.Txn(sctx).If(m1.IsOwner()).Then(clientv3.OpPut(pfx+"guarded", "by-m1")).Commit()
	cancel()
	if err != nil || !tr.Succeeded {
		t.Errorf("txn guarded by m1.IsOwner(): succeeded=%v err=%v, want success", tr != nil && tr.Succeeded, err)
	}

	// TryLock by another session fails at once with ErrLocked and leaves no waiter key.
	sctx, cancel = step(ctx, 10*time.Second)
	err = m2.TryLock(sctx)
	cancel()
	if !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("m2.TryLock while m1 holds the lock: %v, want %v", err, concurrency.ErrLocked)
	}
	if n := countPrefix(t, ctx, c1, lockName+"/"); n != 1 {
		t.Errorf("%d keys under the lock prefix after a failed TryLock, want 1 (the holder's)", n)
	}

	// Lock with a timeout gives up with DeadlineExceeded.
	t0 := time.Now()
	sctx, cancel = step(ctx, 1*time.Second)
	err = m2.Lock(sctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("m2.Lock(1 s timeout) while m1 holds the lock: %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(t0); el < 900*time.Millisecond {
		t.Errorf("timed Lock returned after %v, before its 1 s timeout", el)
	}
	if n := countPrefix(t, ctx, c1, lockName+"/"); n != 1 {
		t.Errorf("%d keys under the lock prefix after a timed-out Lock, want 1 (the holder's)", n)
	}
	// The guide's helper times out the same way.
	if unlock, err := guideLock(c2, lockName, 500*time.Millisecond, 10); !errors.Is(err, context.DeadlineExceeded) {
		if unlock != nil {
			unlock()
		}
		t.Fatalf("guide Lock(500 ms) while held: %v, want context.DeadlineExceeded", err)
	}

	// A blocked Lock proceeds as soon as the holder unlocks.
	got := make(chan error, 1)
	go func() {
		lctx, lcancel := step(ctx, 20*time.Second)
		defer lcancel()
		got <- m2.Lock(lctx)
	}()
	select {
	case err := <-got:
		t.Fatalf("m2.Lock returned (%v) while m1 holds the lock", err)
	case <-time.After(500 * time.Millisecond):
	}
	sctx, cancel = step(ctx, 10*time.Second)
	err = m1.Unlock(sctx)
	cancel()
	if err != nil {
		t.Fatalf("m1.Unlock: %v", err)
	}
	unlocked := time.Now()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("m2.Lock after m1.Unlock: %v", err)
		}
		t.Logf("waiter acquired the lock %.3f s after the holder's Unlock", time.Since(unlocked).Seconds())
	case <-time.After(15 * time.Second):
		t.Fatalf("m2.Lock still blocked 15 s after m1.Unlock")
	}
	// Now m1's guard fails and m2's holds.
	sctx, cancel = step(ctx, 10*time.Second)
	tr, err = c1.Txn(sctx).If(m1.IsOwner()).Then(clientv3.OpPut(pfx+"guarded", "by-m1-again")).Commit()
	cancel()
	if err != nil || tr.Succeeded {
		t.Errorf("txn guarded by the released m1.IsOwner(): succeeded=%v err=%v, want failure", tr != nil && tr.Succeeded, err)
	}
	if err := m1.Unlock(ctx); !errors.Is(err, concurrency.ErrLockReleased) {
		t.Errorf("second m1.Unlock: %v, want %v", err, concurrency.ErrLockReleased)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	err = m2.Unlock(sctx)
	cancel()
	if err != nil {
		t.Fatalf("m2.Unlock: %v", err)
	}

	// The guide's helper with no timeout takes the free lock; TryLock then fails.
	unlock, err := guideLock(c1, lockName, 0, 10)
	if err != nil {
		t.Fatalf("guide Lock(no timeout) on a free lock: %v", err)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	err = m2.TryLock(sctx)
	cancel()
	if !errors.Is(err, concurrency.ErrLocked) {
		t.Errorf("TryLock while the guide's lock is held: %v, want ErrLocked", err)
	}
	unlock()
	sctx, cancel = step(ctx, 10*time.Second)
	err = m2.TryLock(sctx)
	cancel()
	if err != nil {
		t.Errorf("TryLock after the guide's unlock: %v, want success", err)
	} else {
		_ = m2.Unlock(ctx)
	}
	if n := countPrefix(t, ctx, c1, lockName+"/"); n != 0 {
		t.Errorf("%d keys left under the lock prefix, want 0", n)
	}
}

func countPrefix(t *testing.T, ctx context.Context, cli *clientv3.Client, p string) int64 {
	t.Helper()
	sctx, cancel := step(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.Get(sctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("count %s*: %v", p, err)
	}
	return resp.Count
}

// TestLockContendedProcesses: 4 processes, each on a different member first, take the
// same mutex 10 times each; under the lock they increment a counter non-atomically
// (Get, sleep, Put) and claim an owner key guarded by IsOwner(). Mutual exclusion holds
// if the counter ends at 40, no process ever found the owner key taken, and the
// processes' critical sections (wall-clock intervals) never overlap.
func TestLockContendedProcesses(t *testing.T) {
	ctx := testCtx(t, 150*time.Second)
	cli := newClient(t)
	pfx := keyPrefix(t, cli)
	const procs, iters = 4, 10
	var hs []*helperProc
	for i := 0; i < procs; i++ {
		hs = append(hs, startHelper(t, fmt.Sprintf("worker%d", i), "lockworker", map[string]string{
			"ID":         fmt.Sprintf("w%d", i),
			"LOCK":       pfx + "lock",
			"COUNTER":    pfx + "counter",
			"OWNER":      pfx + "owner",
			"ITERS":      strconv.Itoa(iters),
			"TTL":        "10",
			"EP_OFFSET":  strconv.Itoa(i),
			"HELPER_MAX": "140",
		}))
	}
	type interval struct {
		id         string
		start, end int64
	}
	var ivs []interval
	for i, h := range hs {
		wctx, cancel := step(ctx, 140*time.Second)
		out, err := h.wait(wctx)
		cancel()
		if err != nil {
			t.Errorf("worker %d: %v; output %q; stderr: %s", i, err, out, h.stderr())
		}
		done := false
		for _, line := range out {
			f := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, "INTERVAL") && len(f) == 4:
				s, _ := strconv.ParseInt(f[2], 10, 64)
				e, _ := strconv.ParseInt(f[3], 10, 64)
				ivs = append(ivs, interval{f[1], s, e})
			case strings.HasPrefix(line, "VIOLATION"), strings.HasPrefix(line, "ERROR"):
				t.Errorf("worker %d: %s", i, line)
			case line == "DONE":
				done = true
			}
		}
		if !done {
			t.Errorf("worker %d did not finish", i)
		}
	}
	if len(ivs) != procs*iters {
		t.Errorf("%d critical sections recorded, want %d", len(ivs), procs*iters)
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].start < ivs[j].start })
	overlaps := 0
	for i := 1; i < len(ivs); i++ {
		if ivs[i].start < ivs[i-1].end {
			overlaps++
			if overlaps <= 5 {
				t.Errorf("critical sections overlap: %s [%d, %d] and %s [%d, %d]",
					ivs[i-1].id, ivs[i-1].start, ivs[i-1].end, ivs[i].id, ivs[i].start, ivs[i].end)
			}
		}
	}
	if v, ok := getValue(t, ctx, cli, pfx+"counter"); !ok || v != strconv.Itoa(procs*iters) {
		t.Errorf("counter = %q (present %v), want %d: increments were lost, so two processes held the lock at once", v, ok, procs*iters)
	}
	if len(ivs) > 1 {
		span := float64(ivs[len(ivs)-1].end-ivs[0].start) / 1e9
		t.Logf("%d critical sections by %d processes in %.2f s, no overlap found: %v", len(ivs), procs, span, overlaps == 0)
	}
	if n := countPrefix(t, ctx, cli, pfx+"lock/"); n != 0 {
		t.Errorf("%d keys left under the lock prefix after all workers finished, want 0", n)
	}
}

// TestLockHolderKilled: a process takes the lock with a 2 s session and is killed with
// SIGKILL; TryLock fails while it lives, and a waiter gets the lock once the dead
// holder's session lease has expired (and not long before its TTL).
func TestLockHolderKilled(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cli := clientOn(t, 2)
	pfx := keyPrefix(t, cli)
	const ttl = 2
	h := startHelper(t, "holder", "lockhold", map[string]string{
		"LOCK": pfx + "lock", "TTL": strconv.Itoa(ttl), "EP_OFFSET": "0", "HELPER_MAX": "60",
	})
	wctx, cancel := step(ctx, 20*time.Second)
	line := h.waitLine(t, wctx, "LOCKED")
	cancel()
	t.Logf("holder: %s", line)

	s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer s.Close()
	m := concurrency.NewMutex(s, pfx+"lock")
	sctx, cancel := step(ctx, 10*time.Second)
	err = m.TryLock(sctx)
	cancel()
	if !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("TryLock while the holder process is alive: %v, want ErrLocked", err)
	}

	h.kill()
	killed := time.Now()
	lctx, lcancel := step(ctx, ttl*time.Second+20*time.Second)
	err = m.Lock(lctx)
	lcancel()
	el := time.Since(killed)
	if err != nil {
		t.Fatalf("Lock %.1f s after the holder was killed (TTL %d s): %v", el.Seconds(), ttl, err)
	}
	t.Logf("lock acquired %.2f s after kill -9 of the holder (session TTL %d s)", el.Seconds(), ttl)
	if el < 500*time.Millisecond {
		t.Errorf("lock acquired only %v after the holder was killed: its session lease should have lasted about %d s", el, ttl)
	}
	if n := countPrefix(t, ctx, cli, pfx+"lock/"); n != 1 {
		t.Errorf("%d keys under the lock prefix, want 1 (ours; the dead holder's key must be gone)", n)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	err = m.Unlock(sctx)
	cancel()
	if err != nil {
		t.Errorf("Unlock: %v", err)
	}
}
