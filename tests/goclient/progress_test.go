package goclient

// Watch progress notifications on request (client.RequestProgress), which kube-apiserver
// uses to learn how far its watch cache is from the store's revision.

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWatchRequestProgress: a watch on a quiet prefix (on one member) receives, on
// request, progress notifications (no events, IsProgressNotify) whose revision reaches
// the revision of writes made elsewhere (through another member, outside the prefix)
// and never goes backwards; after an event on the prefix, the next notification is at or
// after the event's revision. A watch started at an old revision gets the events and a
// progress notification after them.
func TestWatchRequestProgress(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	wcli := clientOn(t, 1)
	writer := clientOn(t, 0)
	pfx := keyPrefix(t, writer)
	watched := pfx + "watched/"

	// The watch and RequestProgress must share the context (its metadata selects the
	// gRPC watch stream the request goes to).
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := wcli.Watch(wctx, watched, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case r, ok := <-wch:
		if !ok || !r.Created {
			t.Fatalf("first watch response %+v (open %v), want Created", r, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("watch not created within 10 s")
	}

	var last int64
	// progressTo requests progress until a notification reports revision >= target; it
	// fails on events or on a notification going backwards.
	progressTo := func(what string, target int64) int64 {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			err := wcli.RequestProgress(wctx)
			if err != nil {
				t.Fatalf("RequestProgress: %v", err)
			}
			select {
			case r, ok := <-wch:
				if !ok {
					t.Fatalf("watch channel closed (%v) waiting for progress to %d", r.Err(), target)
				}
				if err := r.Err(); err != nil {
					t.Fatalf("watch error waiting for progress: %v", err)
				}
				if !r.IsProgressNotify() {
					t.Fatalf("%s: got %d events / %+v, want a progress notification", what, len(r.Events), r)
				}
				rev := r.Header.Revision
				if rev < last {
					t.Fatalf("%s: progress notification at revision %d after one at %d", what, rev, last)
				}
				last = rev
				if rev >= target {
					return rev
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no response to RequestProgress within 5 s", what)
			case <-deadline:
				t.Fatalf("%s: progress stuck at revision %d, want %d", what, last, target)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Writes outside the watched prefix, through another member.
	var first, target int64
	for i := 0; i < 5; i++ {
		sctx, cancel := step(ctx, 10*time.Second)
		r, err := writer.Put(sctx, pfx+"other", "x")
		cancel()
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		target = r.Header.Revision
		if i == 0 {
			first = target
		}
	}
	rev := progressTo("after writes elsewhere", target)
	t.Logf("progress notification at revision %d (writes elsewhere up to %d)", rev, target)

	// An event on the watched prefix, then progress at or after it.
	sctx, cancel := step(ctx, 10*time.Second)
	pr, err := writer.Put(sctx, watched+"k", "v")
	cancel()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	select {
	case r := <-wch:
		if len(r.Events) != 1 || string(r.Events[0].Kv.Key) != watched+"k" || r.Events[0].Kv.ModRevision != pr.Header.Revision {
			t.Fatalf("watch response %+v, want the PUT of %sk at %d", r, watched, pr.Header.Revision)
		}
		last = r.Header.Revision
	case <-time.After(10 * time.Second):
		t.Fatalf("no event for the PUT within 10 s")
	}
	progressTo("after an event", pr.Header.Revision)

	// A watch from an old revision: its events first, then progress.
	w2ctx, w2cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer w2cancel()
	w2 := wcli.Watch(w2ctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(first))
	seen := 0
	for seen < 6 {
		select {
		case r, ok := <-w2:
			if !ok || r.Err() != nil {
				t.Fatalf("watch from revision %d ended: %v", first, r.Err())
			}
			seen += len(r.Events)
		case <-time.After(10 * time.Second):
			t.Fatalf("watch from revision %d: %d of 6 events within 10 s", first, seen)
		}
	}
	if err := wcli.RequestProgress(w2ctx); err != nil {
		t.Fatalf("RequestProgress: %v", err)
	}
	select {
	case r := <-w2:
		if !r.IsProgressNotify() || r.Header.Revision < pr.Header.Revision {
			t.Errorf("after the replayed events: %+v, want a progress notification at >= %d", r, pr.Header.Revision)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no progress notification within 10 s on the second watch")
	}
	wcancel()
	w2cancel()
}
