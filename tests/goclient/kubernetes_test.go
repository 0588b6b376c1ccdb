package goclient

// The client's kubernetes interface (go.etcd.io/etcd/client/v3/kubernetes), which is
// what kube-apiserver's storage layer uses: OptimisticPut / OptimisticDelete guarded by a
// key's mod revision, Get and List at a revision, pagination with Limit and Continue,
// Count.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/v3/kubernetes"
)

func newKubeClient(t *testing.T) *kubernetes.Client {
	t.Helper()
	kc, err := kubernetes.New(clientConfig(endpoints(t)))
	if err != nil {
		t.Fatalf("kubernetes.New: %v", err)
	}
	t.Cleanup(func() { _ = kc.Close() })
	return kc
}

// TestKubernetesOptimistic: create (expected revision 0), update and delete with the
// current mod revision; a stale revision makes the write fail and, with GetOnFailure,
// returns the current object.
func TestKubernetesOptimistic(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	kc := newKubeClient(t)
	pfx := keyPrefix(t, kc.Client)
	k := kc.Kubernetes
	key := pfx + "pods/default/web-0"
	sctx := func() context.Context {
		c, cancel := step(ctx, 10*time.Second)
		t.Cleanup(cancel)
		return c
	}

	// Absent key: Get returns no KV and the current revision.
	g, err := k.Get(sctx(), key, kubernetes.GetOptions{})
	if err != nil || g.KV != nil || g.Revision == 0 {
		t.Fatalf("Get of an absent key: %+v, %v; want KV nil and a revision", g, err)
	}

	// Create: expected revision 0 means "must not exist".
	p1, err := k.OptimisticPut(sctx(), key, []byte("v1"), 0, kubernetes.PutOptions{})
	if err != nil || !p1.Succeeded || p1.Revision <= g.Revision {
		t.Fatalf("create: %+v, %v; want success at a revision > %d", p1, err, g.Revision)
	}
	// Creating again fails; GetOnFailure returns the existing object.
	p, err := k.OptimisticPut(sctx(), key, []byte("v1-again"), 0, kubernetes.PutOptions{GetOnFailure: true})
	if err != nil || p.Succeeded || p.KV == nil || string(p.KV.Value) != "v1" || p.KV.ModRevision != p1.Revision {
		t.Fatalf("second create: %+v, %v; want failure returning v1 at mod revision %d", p, err, p1.Revision)
	}
	if p.Revision < p1.Revision {
		t.Errorf("failed create: response revision %d < %d", p.Revision, p1.Revision)
	}

	g, err = k.Get(sctx(), key, kubernetes.GetOptions{})
	if err != nil || g.KV == nil || string(g.KV.Value) != "v1" || g.KV.ModRevision != p1.Revision || g.KV.CreateRevision != p1.Revision {
		t.Fatalf("Get after create: %+v, %v", g, err)
	}

	// Update with the current revision.
	p2, err := k.OptimisticPut(sctx(), key, []byte("v2"), p1.Revision, kubernetes.PutOptions{})
	if err != nil || !p2.Succeeded || p2.Revision <= p1.Revision {
		t.Fatalf("update at the current revision: %+v, %v", p2, err)
	}
	// Update with the now stale revision: conflict.
	p, err = k.OptimisticPut(sctx(), key, []byte("v3-stale"), p1.Revision, kubernetes.PutOptions{GetOnFailure: true})
	if err != nil || p.Succeeded {
		t.Fatalf("update at a stale revision: %+v, %v; want a conflict", p, err)
	}
	if p.KV == nil || string(p.KV.Value) != "v2" || p.KV.ModRevision != p2.Revision || p.KV.Version != 2 {
		t.Errorf("conflict with GetOnFailure returned %+v; want v2 at mod revision %d, version 2", p.KV, p2.Revision)
	}
	// Without GetOnFailure the failed update returns no object.
	p, err = k.OptimisticPut(sctx(), key, []byte("v3-stale"), p1.Revision, kubernetes.PutOptions{})
	if err != nil || p.Succeeded || p.KV != nil {
		t.Errorf("conflict without GetOnFailure: %+v, %v; want failure and no KV", p, err)
	}

	// Get at an earlier revision sees the old value.
	g, err = k.Get(sctx(), key, kubernetes.GetOptions{Revision: p1.Revision})
	if err != nil || g.KV == nil || string(g.KV.Value) != "v1" {
		t.Errorf("Get at revision %d: %+v, %v; want v1", p1.Revision, g, err)
	}

	// With a lease.
	lease := grantLease(t, ctx, kc.Client, 30)
	p3, err := k.OptimisticPut(sctx(), key, []byte("v3"), p2.Revision, kubernetes.PutOptions{LeaseID: lease})
	if err != nil || !p3.Succeeded {
		t.Fatalf("update with a lease: %+v, %v", p3, err)
	}
	g, err = k.Get(sctx(), key, kubernetes.GetOptions{})
	if err != nil || g.KV == nil || g.KV.Lease != int64(lease) || string(g.KV.Value) != "v3" {
		t.Errorf("Get after update with lease %x: %+v, %v", lease, g, err)
	}

	// Delete with a stale revision fails (and returns the object), then succeeds.
	d, err := k.OptimisticDelete(sctx(), key, p2.Revision, kubernetes.DeleteOptions{GetOnFailure: true})
	if err != nil || d.Succeeded || d.KV == nil || string(d.KV.Value) != "v3" {
		t.Fatalf("delete at a stale revision: %+v, %v; want failure returning v3", d, err)
	}
	d, err = k.OptimisticDelete(sctx(), key, p3.Revision, kubernetes.DeleteOptions{})
	if err != nil || !d.Succeeded || d.Revision <= p3.Revision {
		t.Fatalf("delete at the current revision: %+v, %v", d, err)
	}
	g, err = k.Get(sctx(), key, kubernetes.GetOptions{})
	if err != nil || g.KV != nil {
		t.Errorf("Get after delete: %+v, %v; want no KV", g, err)
	}
	// Deleting an absent key with a non-zero revision fails; GetOnFailure gives no KV.
	d, err = k.OptimisticDelete(sctx(), key, p3.Revision, kubernetes.DeleteOptions{GetOnFailure: true})
	if err != nil || d.Succeeded || d.KV != nil {
		t.Errorf("delete of an absent key: %+v, %v; want failure and no KV", d, err)
	}
	// Re-create after delete: expected revision 0 again.
	p4, err := k.OptimisticPut(sctx(), key, []byte("reborn"), 0, kubernetes.PutOptions{})
	if err != nil || !p4.Succeeded {
		t.Fatalf("re-create: %+v, %v", p4, err)
	}
	g, err = k.Get(sctx(), key, kubernetes.GetOptions{})
	if err != nil || g.KV == nil || g.KV.Version != 1 || g.KV.CreateRevision != p4.Revision {
		t.Errorf("Get after re-create: %+v, %v; want version 1 created at %d", g, err, p4.Revision)
	}
}

// TestKubernetesList: 25 objects listed in pages of 10 at the first page's revision
// (Continue = last key + "\x00") while objects are added and deleted between pages;
// Count; Get and List at a compacted revision fail with ErrCompacted.
func TestKubernetesList(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	kc := newKubeClient(t)
	pfx := keyPrefix(t, kc.Client)
	k := kc.Kubernetes
	sctx := func() context.Context {
		c, cancel := step(ctx, 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	list := pfx + "pods/"
	const n = 25
	var want []string
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%spod-%02d", list, i)
		want = append(want, key)
		if r, err := k.OptimisticPut(sctx(), key, []byte(fmt.Sprintf("spec-%d", i)), 0, kubernetes.PutOptions{}); err != nil || !r.Succeeded {
			t.Fatalf("create %s: %+v, %v", key, r, err)
		}
	}
	// A key just after the prefix's range must not be listed.
	if _, err := kc.Put(sctx(), pfx+"pods0", "outside"); err != nil {
		t.Fatalf("Put: %v", err)
	}

	cnt, err := k.Count(sctx(), list, kubernetes.CountOptions{})
	if err != nil || cnt != n {
		t.Fatalf("Count = %d, %v; want %d", cnt, err, n)
	}
	all, err := k.List(sctx(), list, kubernetes.ListOptions{})
	if err != nil || len(all.Kvs) != n || all.Count != n {
		t.Fatalf("List without limit: %d kvs, count %d, %v; want %d", len(all.Kvs), all.Count, err, n)
	}

	var got []string
	var rev int64
	opts := kubernetes.ListOptions{Limit: 10}
	for page := 1; ; page++ {
		r, err := k.List(sctx(), list, opts)
		if err != nil {
			t.Fatalf("List page %d (%+v): %v", page, opts, err)
		}
		remaining := int64(n - len(got))
		if r.Count != remaining {
			t.Errorf("page %d: Count %d, want %d (keys from the continue key to the prefix's end)", page, r.Count, remaining)
		}
		wantLen := 10
		if remaining < 10 {
			wantLen = int(remaining)
		}
		if len(r.Kvs) != wantLen {
			t.Fatalf("page %d: %d kvs, want %d", page, len(r.Kvs), wantLen)
		}
		if page == 1 {
			rev = r.Revision
			opts.Revision = rev
			// Changes after the first page must not show in the later ones.
			if _, err := kc.Put(sctx(), list+"pod-12a", "late"); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if _, err := kc.Delete(sctx(), list+"pod-20"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		} else if r.Revision < rev {
			// The header holds the store's current revision, not the one read at.
			t.Errorf("page %d: header revision %d < the first page's %d", page, r.Revision, rev)
		}
		for _, kv := range r.Kvs {
			got = append(got, string(kv.Key))
		}
		if int64(len(r.Kvs)) == r.Count {
			break // that was the last page
		}
		opts.Continue = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
		if page > 5 {
			t.Fatalf("more than 5 pages for %d keys", n)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paginated list:\n got %q\nwant %q", got, want)
	}

	// The current state: one added, one deleted.
	cur, err := k.List(sctx(), list, kubernetes.ListOptions{})
	if err != nil || cur.Count != n || len(cur.Kvs) != n || cur.Revision <= rev {
		t.Errorf("List now: %d kvs, count %d, revision %d (first page at %d), %v", len(cur.Kvs), cur.Count, cur.Revision, rev, err)
	} else if string(cur.Kvs[13].Key) != list+"pod-12a" {
		t.Errorf("List now: kvs[13] = %s, want %spod-12a", cur.Kvs[13].Key, list)
	}
	if c, err := k.Count(sctx(), list, kubernetes.CountOptions{}); err != nil || c != n {
		t.Errorf("Count now = %d, %v; want %d", c, err, n)
	}

	// Compaction: reads below the compacted revision fail with ErrCompacted.
	head, err := k.Get(sctx(), list+"pod-00", kubernetes.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if _, err := kc.Compact(sctx(), head.Revision); err != nil {
		t.Fatalf("Compact(%d): %v", head.Revision, err)
	}
	if _, err := k.Get(sctx(), list+"pod-00", kubernetes.GetOptions{Revision: rev}); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("Get at compacted revision %d: %v, want %v", rev, err, rpctypes.ErrCompacted)
	}
	if _, err := k.List(sctx(), list, kubernetes.ListOptions{Revision: rev, Limit: 10}); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("List at compacted revision %d: %v, want %v", rev, err, rpctypes.ErrCompacted)
	}
	if r, err := k.List(sctx(), list, kubernetes.ListOptions{Revision: head.Revision, Limit: 1}); err != nil || len(r.Kvs) != 1 {
		t.Errorf("List at the compaction revision %d itself: %+v, %v; want it readable", head.Revision, r, err)
	}
}
