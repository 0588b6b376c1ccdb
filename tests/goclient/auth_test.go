package goclient

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The tests below run only when the client authenticates (CAPSTAN_USER): the suite
// then runs as a user who holds READWRITE on the prefix KeyRoot and nothing else.

// TestAuthRestrictedUser: the user's own prefix works, a key outside it is refused with
// etcd's error, which the client maps back to rpctypes.ErrPermissionDenied.
func TestAuthRestrictedUser(t *testing.T) {
	if os.Getenv(EnvUser) == "" {
		t.Skip("CAPSTAN_USER is not set: the cluster runs without auth")
	}
	cli := newClient(t)
	ctx := testCtx(t, 30*time.Second)
	pfx := keyPrefix(t, cli)
	if _, err := cli.Put(ctx, pfx+"k", "v"); err != nil {
		t.Fatalf("put in the user's prefix: %v", err)
	}
	if _, err := cli.Get(ctx, "/outside/k"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("get outside the prefix: got %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	if _, err := cli.Put(ctx, "/outside/k", "v"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("put outside the prefix: got %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	// The refusal arrives as the watch's cancel reason, grpc-go's text of the status.
	wch := cli.Watch(ctx, "/outside/", clientv3.WithPrefix())
	resp := <-wch
	if !resp.Canceled || resp.Err() == nil || !strings.Contains(resp.Err().Error(), "etcdserver: permission denied") {
		t.Fatalf("watch outside the prefix: got %v (canceled %v), want a cancel with permission denied", resp.Err(), resp.Canceled)
	}
}

// TestAuthTokenRefresh: after the token expired on the server (CAPSTAN_AUTH_TTL
// seconds: --auth-token-ttl for simple tokens, the ttl option for JWTs) the client's
// next request still succeeds: the server answers "invalid auth token" (simple) or
// the token is refused as expired, and clientv3 authenticates again and retries.
func TestAuthTokenRefresh(t *testing.T) {
	ttl, err := strconv.Atoi(os.Getenv("CAPSTAN_AUTH_TTL"))
	if os.Getenv(EnvUser) == "" || err != nil {
		t.Skip("CAPSTAN_USER and CAPSTAN_AUTH_TTL are not set")
	}
	cli := newClient(t)
	ctx := testCtx(t, time.Duration(ttl+30)*time.Second)
	pfx := keyPrefix(t, cli)
	if _, err := cli.Put(ctx, pfx+"k", "v1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	time.Sleep(time.Duration(ttl+1) * time.Second)
	if _, err := cli.Put(ctx, pfx+"k", "v2"); err != nil {
		t.Fatalf("put after the token expired: %v", err)
	}
	resp, err := cli.Get(ctx, pfx+"k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" {
		t.Fatalf("get after the token expired: %v %v", resp, err)
	}
}
