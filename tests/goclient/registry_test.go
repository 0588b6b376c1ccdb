package goclient

// The etcd guide's first two Go programs ("Golang API": service registration with a
// lease and KeepAlive; service discovery with Get + Watch) as tests.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// registration is one registered service instance, as in the guide: a lease, a key
// attached to it, and KeepAlive until cancel() (or until its client is closed, which
// is what a crashed service looks like to the server).
type registration struct {
	cli     *clientv3.Client
	key     string
	lease   clientv3.LeaseID
	ttl     int64
	cancel  context.CancelFunc
	kaCount func() int
	kaDone  <-chan struct{}
}

// register follows the guide: Grant(ttl), KeepAlive(ctx, id) with the responses eaten
// by a goroutine, Put(key, val, WithLease(id)).
func register(t *testing.T, ctx context.Context, cli *clientv3.Client, key, val string, ttl int64) *registration {
	t.Helper()
	id := grantLease(t, ctx, cli, ttl)
	kactx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := cli.KeepAlive(kactx, id)
	if err != nil {
		cancel()
		t.Fatalf("KeepAlive(%x): %v", id, err)
	}
	count, done := drainKeepAlive(ch)
	sctx, scancel := step(ctx, 10*time.Second)
	defer scancel()
	if _, err := cli.Put(sctx, key, val, clientv3.WithLease(id)); err != nil {
		cancel()
		t.Fatalf("Put(%s, lease %x): %v", key, id, err)
	}
	return &registration{cli: cli, key: key, lease: id, ttl: ttl, cancel: cancel, kaCount: count, kaDone: done}
}

func getValue(t *testing.T, ctx context.Context, cli *clientv3.Client, key string) (string, bool) {
	t.Helper()
	sctx, cancel := step(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.Get(sctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

// TestServiceRegistration: a service registered with a 2 s lease stays registered for
// well over its TTL while KeepAlive runs (the lease's remaining TTL stays > 0, keep-alive
// responses arrive, TimeToLive lists the key); once KeepAlive is cancelled the key
// disappears by itself after the TTL; a service that deregisters (Revoke) disappears at
// once.
func TestServiceRegistration(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cli := newClient(t)
	pfx := keyPrefix(t, cli)
	const ttl = 2

	r := register(t, ctx, cli, pfx+"svc/api/10.0.0.1:8080", `{"addr":"10.0.0.1:8080"}`, ttl)

	// Alive for 3 TTLs thanks to KeepAlive.
	time.Sleep(3 * ttl * time.Second)
	if _, ok := getValue(t, ctx, cli, r.key); !ok {
		t.Fatalf("%s vanished after %d s although KeepAlive was running", r.key, 3*ttl)
	}
	sctx, cancel := step(ctx, 10*time.Second)
	tl, err := cli.TimeToLive(sctx, r.lease, clientv3.WithAttachedKeys())
	cancel()
	if err != nil {
		t.Fatalf("TimeToLive(%x): %v", r.lease, err)
	}
	if tl.TTL <= 0 || tl.GrantedTTL < ttl {
		t.Errorf("TimeToLive: TTL %d, granted TTL %d (want TTL > 0, granted >= %d)", tl.TTL, tl.GrantedTTL, ttl)
	}
	if len(tl.Keys) != 1 || string(tl.Keys[0]) != r.key {
		t.Errorf("TimeToLive keys = %q, want [%q]", tl.Keys, r.key)
	}
	if n := r.kaCount(); n < 3 {
		t.Errorf("only %d keep-alive responses in %d s (TTL %d s; the client renews every TTL/3)", n, 3*ttl, ttl)
	}
	t.Logf("%d keep-alive responses in %d s; remaining TTL %d s", r.kaCount(), 3*ttl, tl.TTL)

	// Stop keeping it alive: the key goes away with the lease.
	r.cancel()
	stopped := time.Now()
	select {
	case <-r.kaDone:
	case <-time.After(5 * time.Second):
		t.Errorf("KeepAlive channel not closed 5 s after its context was cancelled")
	}
	wctx, wcancel := step(ctx, time.Duration(ttl)*time.Second+10*time.Second)
	gone := eventually(wctx, 100*time.Millisecond, func() bool {
		_, ok := getValue(t, ctx, cli, r.key)
		return !ok
	})
	wcancel()
	if !gone {
		t.Fatalf("%s still present %.1f s after KeepAlive stopped (TTL %d s)", r.key, time.Since(stopped).Seconds(), ttl)
	}
	el := time.Since(stopped)
	t.Logf("key removed %.2f s after KeepAlive stopped (TTL %d s)", el.Seconds(), ttl)
	if el < 500*time.Millisecond {
		t.Errorf("key removed only %v after KeepAlive stopped: the lease should have lasted about its TTL", el)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	tl, err = cli.TimeToLive(sctx, r.lease)
	cancel()
	if err != nil {
		t.Fatalf("TimeToLive(%x) after expiry: %v", r.lease, err)
	}
	if tl.TTL != -1 {
		t.Errorf("TimeToLive after expiry: TTL %d, want -1 (lease not found)", tl.TTL)
	}

	// A graceful shutdown revokes the lease: the key is gone at once.
	r2 := register(t, ctx, cli, pfx+"svc/api/10.0.0.2:8080", `{"addr":"10.0.0.2:8080"}`, 30)
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = cli.Revoke(sctx, r2.lease)
	cancel()
	if err != nil {
		t.Fatalf("Revoke(%x): %v", r2.lease, err)
	}
	if _, ok := getValue(t, ctx, cli, r2.key); ok {
		t.Errorf("%s still present right after Revoke", r2.key)
	}
	// The client learns of the revocation from its next keep-alive answer (TTL 0),
	// sent TTL/3 = 10 s after the previous one at most.
	select {
	case <-r2.kaDone:
	case <-time.After(15 * time.Second):
		t.Errorf("KeepAlive channel of a revoked lease not closed within 15 s")
	}
	r2.cancel()
}

// discovery is the guide's client side: a local table of the services of one type,
// filled by Get and kept up to date by a Watch from the Get's revision + 1.
type discovery struct {
	services map[string]string
	events   chan discoveryEvent
}

type discoveryEvent struct {
	typ     string // "create", "modify", "delete"
	key     string
	value   string
	modRev  int64
	version int64
}

// TestServiceDiscovery: two services are registered; a discovery client on another
// member loads them with Get (prefix) and watches from Get's revision + 1. Then a third
// service registers (PUT, IsCreate), one updates its address (PUT, IsModify) and one
// dies (its client is closed, so its lease is no longer kept alive): the watcher sees
// the DELETE once the 2 s TTL has passed, and its table then matches the server's.
func TestServiceDiscovery(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	admin := newClient(t)
	pfx := keyPrefix(t, admin)
	svcType := pfx + "services/web/"
	const ttl = 2

	// Each service instance has its own client (its own process, in real life).
	svcA := register(t, ctx, clientOn(t, 0), svcType+"a", "10.0.0.1:80", ttl)
	deadCli := clientOn(t, 1)
	svcB := register(t, ctx, deadCli, svcType+"b", "10.0.0.2:80", ttl)

	// Discovery, on another member than the services' writes where possible.
	dcli := clientOn(t, 2)
	d := &discovery{services: map[string]string{}, events: make(chan discoveryEvent, 100)}
	sctx, cancel := step(ctx, 10*time.Second)
	rangeResp, err := dcli.Get(sctx, svcType, clientv3.WithPrefix())
	cancel()
	if err != nil {
		t.Fatalf("Get(%s, prefix): %v", svcType, err)
	}
	curRev := rangeResp.Header.GetRevision()
	for _, kv := range rangeResp.Kvs {
		d.services[string(kv.Key)] = string(kv.Value)
	}
	want := map[string]string{svcA.key: "10.0.0.1:80", svcB.key: "10.0.0.2:80"}
	if fmt.Sprint(d.services) != fmt.Sprint(want) {
		t.Fatalf("initial Get: %v, want %v", d.services, want)
	}

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watchChan := dcli.Watch(wctx, svcType, clientv3.WithPrefix(), clientv3.WithRev(curRev+1))
	watchErr := make(chan error, 1)
	go func() {
		for watchResp := range watchChan {
			if watchResp.Canceled || watchResp.Err() != nil {
				watchErr <- fmt.Errorf("watch ended: canceled=%v err=%v", watchResp.Canceled, watchResp.Err())
				return
			}
			for _, ev := range watchResp.Events {
				de := discoveryEvent{key: string(ev.Kv.Key), value: string(ev.Kv.Value), modRev: ev.Kv.ModRevision, version: ev.Kv.Version}
				switch ev.Type {
				case mvccpb.PUT:
					if ev.IsCreate() {
						de.typ = "create"
					} else if ev.IsModify() {
						de.typ = "modify"
					} else {
						de.typ = "put?"
					}
				case mvccpb.DELETE:
					de.typ = "delete"
				}
				d.events <- de
			}
		}
		watchErr <- nil
	}()
	next := func(what string, within time.Duration) discoveryEvent {
		t.Helper()
		select {
		case ev := <-d.events:
			switch ev.typ {
			case "create", "modify":
				d.services[ev.key] = ev.value
			case "delete":
				delete(d.services, ev.key)
			}
			return ev
		case err := <-watchErr:
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(within):
			t.Fatalf("no watch event for %s within %v", what, within)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		return discoveryEvent{}
	}

	// A new service comes up.
	svcC := register(t, ctx, clientOn(t, 1), svcType+"c", "10.0.0.3:80", ttl)
	ev := next("service c registering", 10*time.Second)
	if ev.typ != "create" || ev.key != svcC.key || ev.value != "10.0.0.3:80" || ev.version != 1 {
		t.Fatalf("event %+v, want create of %s = 10.0.0.3:80 (version 1)", ev, svcC.key)
	}
	if ev.modRev <= curRev {
		t.Errorf("create event at revision %d, not after the Get's revision %d", ev.modRev, curRev)
	}

	// Service a changes its information (same lease).
	sctx, cancel = step(ctx, 10*time.Second)
	_, err = svcA.cli.Put(sctx, svcA.key, "10.0.0.1:8080", clientv3.WithLease(svcA.lease))
	cancel()
	if err != nil {
		t.Fatalf("Put(%s): %v", svcA.key, err)
	}
	ev = next("service a updating", 10*time.Second)
	if ev.typ != "modify" || ev.key != svcA.key || ev.value != "10.0.0.1:8080" || ev.version != 2 {
		t.Fatalf("event %+v, want modify of %s = 10.0.0.1:8080 (version 2)", ev, svcA.key)
	}

	// Service b's process dies: its client goes away without revoking the lease.
	_ = deadCli.Close()
	died := time.Now()
	ev = next("service b's lease to expire", ttl*time.Second+15*time.Second)
	if ev.typ != "delete" || ev.key != svcB.key {
		t.Fatalf("event %+v, want delete of %s", ev, svcB.key)
	}
	t.Logf("DELETE of the dead service seen %.2f s after its client closed (TTL %d s)", time.Since(died).Seconds(), ttl)

	// No other event; the local table equals the server's view.
	select {
	case ev := <-d.events:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}
	want = map[string]string{svcA.key: "10.0.0.1:8080", svcC.key: "10.0.0.3:80"}
	if fmt.Sprint(d.services) != fmt.Sprint(want) {
		t.Errorf("discovered services %v, want %v", d.services, want)
	}
	sctx, cancel = step(ctx, 10*time.Second)
	now, err := admin.Get(sctx, svcType, clientv3.WithPrefix())
	cancel()
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	server := map[string]string{}
	for _, kv := range now.Kvs {
		server[string(kv.Key)] = string(kv.Value)
	}
	if fmt.Sprint(server) != fmt.Sprint(want) {
		t.Errorf("server has %v, want %v", server, want)
	}
	wcancel()
	svcA.cancel()
	svcC.cancel()
}
