package goclient

// Software transactional memory (concurrency.NewSTM): bank transfers under contention,
// the invariant "the total never changes" checked by concurrent snapshot reads and at the
// end; and the isolation levels' conflict rules, checked deterministically.

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

var isolationNames = map[concurrency.Isolation]string{
	concurrency.SerializableSnapshot: "SerializableSnapshot",
	concurrency.Serializable:         "Serializable",
	concurrency.RepeatableReads:      "RepeatableReads",
	concurrency.ReadCommitted:        "ReadCommitted",
}

const (
	bankAccounts = 5
	bankInitial  = 100
)

func acct(pfx string, i int) string { return fmt.Sprintf("%sacct/%02d", pfx, i) }

// balance parses an account's value.
func balance(key, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("account %s holds %q, not a number", key, s)
	}
	if n < 0 {
		return 0, fmt.Errorf("account %s holds %d < 0", key, n)
	}
	return n, nil
}

// setupBank creates the accounts with bankInitial each, in one transaction.
func setupBank(t *testing.T, ctx context.Context, cli *clientv3.Client, pfx string) {
	t.Helper()
	var ops []clientv3.Op
	for i := 0; i < bankAccounts; i++ {
		ops = append(ops, clientv3.OpPut(acct(pfx, i), strconv.Itoa(bankInitial)))
	}
	sctx, cancel := step(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Txn(sctx).Then(ops...).Commit(); err != nil {
		t.Fatalf("create accounts: %v", err)
	}
}

// bankTotal reads all accounts with one range request (one revision): their sum and
// count. opts may add WithSerializable (a member's local, possibly stale, snapshot).
func bankTotal(ctx context.Context, cli *clientv3.Client, pfx string, opts ...clientv3.OpOption) (sum, n int, rev int64, err error) {
	resp, err := cli.Get(ctx, pfx+"acct/", append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, kv := range resp.Kvs {
		v, err := strconv.Atoi(string(kv.Value))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s = %q", kv.Key, kv.Value)
		}
		if v < 0 {
			return 0, 0, 0, fmt.Errorf("%s = %d < 0", kv.Key, v)
		}
		sum += v
	}
	return sum, len(resp.Kvs), resp.Header.Revision, nil
}

// transfer moves a third of from's balance (at least 1, if any) to to, inside an STM.
func transfer(pfx string, from, to int) func(concurrency.STM) error {
	return func(s concurrency.STM) error {
		kf, kt := acct(pfx, from), acct(pfx, to)
		fb, err := balance(kf, s.Get(kf))
		if err != nil {
			return err
		}
		tb, err := balance(kt, s.Get(kt))
		if err != nil {
			return err
		}
		amt := fb/3 + 1
		if fb == 0 {
			return nil
		}
		if amt > fb {
			amt = fb
		}
		s.Put(kf, strconv.Itoa(fb-amt))
		s.Put(kt, strconv.Itoa(tb+amt))
		return nil
	}
}

// TestSTMBank: for SerializableSnapshot, Serializable and RepeatableReads, 4 goroutines
// (clients on different members) make 25 transfers each between random accounts while
// readers check that every snapshot (a linearizable range on all endpoints, a
// serializable range on each member, and a read-only STM) sums to the initial total.
// ReadCommitted does not validate reads, so concurrent transfers may lose updates: it is
// run with a single writer, where the invariant holds.
func TestSTMBank(t *testing.T) {
	levels := []struct {
		iso     concurrency.Isolation
		writers int
	}{
		{concurrency.SerializableSnapshot, 4},
		{concurrency.Serializable, 4},
		{concurrency.RepeatableReads, 4},
		{concurrency.ReadCommitted, 1},
	}
	for _, lv := range levels {
		t.Run(isolationNames[lv.iso], func(t *testing.T) { stmBank(t, lv.iso, lv.writers, 25) })
	}
}

func stmBank(t *testing.T, iso concurrency.Isolation, writers, transfers int) {
	ctx := testCtx(t, 90*time.Second)
	admin := newClient(t)
	pfx := keyPrefix(t, admin)
	setupBank(t, ctx, admin, pfx)
	const total = bankAccounts * bankInitial
	eps := endpoints(t)

	// Every member has applied the accounts' creation before the readers start (their
	// serializable reads are local).
	for i, ep := range eps {
		cli := clientOn(t, i)
		wctx, cancel := step(ctx, 10*time.Second)
		ok := eventually(wctx, 50*time.Millisecond, func() bool {
			_, n, _, err := bankTotal(wctx, cli, pfx, clientv3.WithSerializable())
			return err == nil && n == bankAccounts
		})
		cancel()
		if !ok {
			t.Fatalf("%s: the accounts are not visible to serializable reads after 10 s", ep)
		}
	}

	var (
		wg, rwg   sync.WaitGroup
		stop      = make(chan struct{})
		mu        sync.Mutex
		errs      []string
		commits   atomic.Int64
		attempts  atomic.Int64
		snapshots atomic.Int64
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, a...))
		}
	}
	for w := 0; w < writers; w++ {
		// One endpoint per STM client: Serializable(Snapshot) reads after the first one are
		// serializable reads at the first read's revision, which a member that has not
		// applied it yet would refuse (future revision).
		cli := clientOn(t, w)
		rng := rand.New(rand.NewSource(int64(w) + 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < transfers; i++ {
				from := rng.Intn(bankAccounts)
				to := (from + 1 + rng.Intn(bankAccounts-1)) % bankAccounts
				tctx, cancel := step(ctx, 30*time.Second)
				apply := transfer(pfx, from, to)
				counted := func(s concurrency.STM) error { attempts.Add(1); return apply(s) }
				_, err := concurrency.NewSTM(cli, counted, concurrency.WithIsolation(iso), concurrency.WithAbortContext(tctx))
				cancel()
				if err != nil {
					fail("writer %d transfer %d: %v", w, i, err)
					return
				}
				commits.Add(1)
			}
		}()
	}
	// Readers: a linearizable range through all endpoints, a serializable range on each
	// member, and a read-only SerializableSnapshot STM.
	reader := func(name string, read func(context.Context) (int, int, error)) {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rctx, cancel := step(ctx, 10*time.Second)
				sum, n, err := read(rctx)
				cancel()
				if err != nil {
					fail("%s: %v", name, err)
					return
				}
				snapshots.Add(1)
				if sum != total || n != bankAccounts {
					fail("%s: snapshot with %d accounts summing to %d, want %d accounts and %d", name, n, sum, bankAccounts, total)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	reader("linearizable range", func(c context.Context) (int, int, error) {
		s, n, _, err := bankTotal(c, admin, pfx)
		return s, n, err
	})
	for i, ep := range eps {
		cli := clientOn(t, i)
		reader("serializable range on "+ep, func(c context.Context) (int, int, error) {
			s, n, _, err := bankTotal(c, cli, pfx, clientv3.WithSerializable())
			return s, n, err
		})
	}
	stmReader := clientOn(t, len(eps)-1)
	reader("read-only STM", func(c context.Context) (int, int, error) {
		var sum, n int
		_, err := concurrency.NewSTM(stmReader, func(s concurrency.STM) error {
			sum, n = 0, 0
			for i := 0; i < bankAccounts; i++ {
				v := s.Get(acct(pfx, i))
				if v != "" {
					b, err := balance(acct(pfx, i), v)
					if err != nil {
						return err
					}
					n++
					sum += b
				}
			}
			return nil
		}, concurrency.WithIsolation(concurrency.SerializableSnapshot), concurrency.WithAbortContext(c))
		return sum, n, err
	})

	wg.Wait()
	close(stop)
	rwg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	sctx, cancel := step(ctx, 10*time.Second)
	sum, n, rev, err := bankTotal(sctx, admin, pfx)
	cancel()
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	if sum != total || n != bankAccounts {
		t.Errorf("final: %d accounts summing to %d at revision %d, want %d and %d", n, sum, rev, bankAccounts, total)
	}
	if c := commits.Load(); c != int64(writers*transfers) {
		t.Errorf("%d transfers committed, want %d", c, writers*transfers)
	}
	t.Logf("%s: %d transfers by %d writers in %d attempts (%d retries), %d consistent snapshots read; final total %d",
		isolationNames[iso], commits.Load(), writers, attempts.Load(), attempts.Load()-commits.Load(), snapshots.Load(), sum)
	if writers > 1 && attempts.Load() == commits.Load() {
		t.Logf("note: no conflicts happened (no retries): contention was lower than intended")
	}
}

// TestSTMIsolationLevels checks each level's conflict rule deterministically: during the
// first attempt of a transaction, another client changes a key; whether the STM retries
// (apply runs twice) and what it commits depends on the level:
//   - read conflict: the transaction read A, A changes, then it writes B := A.
//     SerializableSnapshot, Serializable and RepeatableReads retry and commit the new A;
//     ReadCommitted does not validate reads and commits the stale A.
//   - write conflict: the transaction read A and writes C (not read); C changes.
//     Only SerializableSnapshot (which also checks written keys) retries.
//   - snapshot reads: the transaction reads A, then A and D change, then it reads D.
//     Serializable and SerializableSnapshot read D at the first read's revision (old D);
//     RepeatableReads and ReadCommitted read the new D (then RepeatableReads retries
//     because A changed).
func TestSTMIsolationLevels(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	// The STM and the interfering writer use the same member: a member answers a write
	// after applying it, so the STM's serializable (local) reads see it.
	cli, other := clientOn(t, 1), clientOn(t, 1)
	pfx := keyPrefix(t, cli)
	put := func(k, v string) {
		t.Helper()
		sctx, cancel := step(ctx, 10*time.Second)
		defer cancel()
		if _, err := other.Put(sctx, k, v); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}
	levels := []concurrency.Isolation{concurrency.SerializableSnapshot, concurrency.Serializable,
		concurrency.RepeatableReads, concurrency.ReadCommitted}
	for _, iso := range levels {
		name := isolationNames[iso]
		a, b, c, d := pfx+name+"/a", pfx+name+"/b", pfx+name+"/c", pfx+name+"/d"
		put(a, "a0")
		put(c, "c0")
		put(d, "d0")

		// Read conflict.
		runs := 0
		sctx, cancel := step(ctx, 20*time.Second)
		_, err := concurrency.NewSTM(cli, func(s concurrency.STM) error {
			runs++
			av := s.Get(a)
			if runs == 1 {
				put(a, "a1")
			}
			s.Put(b, av)
			return nil
		}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(sctx))
		cancel()
		if err != nil {
			t.Fatalf("%s read conflict: %v", name, err)
		}
		bv, _ := getValue(t, ctx, cli, b)
		wantRuns, wantB := 2, "a1"
		if iso == concurrency.ReadCommitted {
			wantRuns, wantB = 1, "a0"
		}
		if runs != wantRuns || bv != wantB {
			t.Errorf("%s, read key changed during the transaction: %d attempts, committed b=%q; want %d, %q", name, runs, bv, wantRuns, wantB)
		}

		// Write conflict on a key that was written but not read.
		runs = 0
		sctx, cancel = step(ctx, 20*time.Second)
		_, err = concurrency.NewSTM(cli, func(s concurrency.STM) error {
			runs++
			_ = s.Get(a)
			if runs == 1 {
				put(c, "c1")
			}
			s.Put(c, "from-stm")
			return nil
		}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(sctx))
		cancel()
		if err != nil {
			t.Fatalf("%s write conflict: %v", name, err)
		}
		wantRuns = 1
		if iso == concurrency.SerializableSnapshot {
			wantRuns = 2
		}
		if cv, _ := getValue(t, ctx, cli, c); runs != wantRuns || cv != "from-stm" {
			t.Errorf("%s, written key changed during the transaction: %d attempts, c=%q; want %d, \"from-stm\"", name, runs, cv, wantRuns)
		}

		// Snapshot reads: what the first attempt sees of D after A and D changed.
		runs = 0
		var firstD string
		put(a, "a2")
		sctx, cancel = step(ctx, 20*time.Second)
		_, err = concurrency.NewSTM(cli, func(s concurrency.STM) error {
			runs++
			_ = s.Get(a)
			if runs == 1 {
				put(a, "a3")
				put(d, "d1")
			}
			dv := s.Get(d)
			if runs == 1 {
				firstD = dv
			}
			return nil
		}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(sctx))
		cancel()
		if err != nil {
			t.Fatalf("%s snapshot reads: %v", name, err)
		}
		wantD, wantRuns := "d1", 2
		switch iso {
		case concurrency.SerializableSnapshot, concurrency.Serializable:
			wantD = "d0"
		case concurrency.ReadCommitted:
			wantRuns = 1
		}
		if firstD != wantD || runs != wantRuns {
			t.Errorf("%s, keys changed between two reads: second read saw d=%q in %d attempts; want %q in %d", name, firstD, runs, wantD, wantRuns)
		}
	}
}
