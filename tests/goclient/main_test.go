// Package goclient holds tests that drive an etcd-compatible cluster (Capstan, or etcd
// itself) through etcd's own Go client, go.etcd.io/etcd/client/v3, its concurrency
// package (sessions, mutexes, elections, STM), its kubernetes interface, and the
// v3election / v3lock gRPC services.
//
// The cluster is given by CAPSTAN_ENDPOINTS=host:port,host:port,... (every test skips
// when it is unset); CAPSTAN_CACERT, CAPSTAN_CERT and CAPSTAN_KEY make it TLS (mutual
// TLS with a certificate), as etcdctl's --cacert, --cert and --key. Every test is
// bounded by context deadlines, works under its own key prefix
// /goclient/<TestName>/<nonce>/ and deletes it (and revokes its leases) at the end.
// Run them with tests/e2e/go-client.sh, which starts a 3-member cluster, or by hand:
//
//	CAPSTAN_ENDPOINTS=127.0.0.1:2379 go test -v -count=1 ./...
//
// Some tests start helper processes: the test binary re-executes itself with
// GOCLIENT_HELPER=<mode> (see helpers_test.go).
package goclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EnvEndpoints names the variable holding the cluster's client endpoints.
const EnvEndpoints = "CAPSTAN_ENDPOINTS"

// KeyRoot is the prefix of every key these tests write.
const KeyRoot = "/goclient/"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// endpoints returns the cluster's endpoints, or skips the test.
func endpoints(t testing.TB) []string {
	t.Helper()
	eps := splitEndpoints(os.Getenv(EnvEndpoints))
	if len(eps) == 0 {
		t.Skipf("%s is not set (e.g. %s=127.0.0.1:2379,127.0.0.2:2379)", EnvEndpoints, EnvEndpoints)
	}
	return eps
}

func splitEndpoints(s string) []string {
	var eps []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

// clientLogger: the client's own log, at warn level by default (GOCLIENT_LOG_LEVEL
// changes it: debug, info, warn, error).
func clientLogger() *zap.Logger {
	lvl := zapcore.WarnLevel
	if s := os.Getenv("GOCLIENT_LOG_LEVEL"); s != "" {
		_ = lvl.Set(s)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	lg, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return lg
}

var (
	loggerOnce sync.Once
	logger     *zap.Logger
)

func sharedLogger() *zap.Logger {
	loggerOnce.Do(func() { logger = clientLogger() })
	return logger
}

func clientConfig(eps []string) clientv3.Config {
	return clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               sharedLogger(),
		TLS:                  clientTLS(),
		Username:             os.Getenv(EnvUser),
		Password:             os.Getenv(EnvPassword),
	}
}

// Variables naming the user the client authenticates as (clientv3.Config Username and
// Password; unset: no authentication).
const (
	EnvUser     = "CAPSTAN_USER"
	EnvPassword = "CAPSTAN_PASSWORD"
)

// Variables naming the client's TLS files, as etcdctl's --cacert, --cert and --key:
// with CAPSTAN_CACERT set the client speaks TLS (verifying the members against it),
// and with CAPSTAN_CERT and CAPSTAN_KEY too it presents that certificate (mutual TLS).
const (
	EnvCACert = "CAPSTAN_CACERT"
	EnvCert   = "CAPSTAN_CERT"
	EnvKey    = "CAPSTAN_KEY"
)

// clientTLS: the tls.Config the variables above describe, or nil for plain text.
func clientTLS() *tls.Config {
	caFile := os.Getenv(EnvCACert)
	if caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", EnvCACert, err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		panic(fmt.Sprintf("%s: no certificate in %s", EnvCACert, caFile))
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile := os.Getenv(EnvCert); certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, os.Getenv(EnvKey))
		if err != nil {
			panic(fmt.Sprintf("%s/%s: %v", EnvCert, EnvKey, err))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// newClient: a client on all endpoints, closed when the test ends.
func newClient(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClientEps(t, endpoints(t))
}

// clientOn: a client on the i-th endpoint only (modulo their number), so that its
// requests and watch streams go to one member.
func clientOn(t testing.TB, i int) *clientv3.Client {
	t.Helper()
	eps := endpoints(t)
	return newClientEps(t, []string{eps[i%len(eps)]})
}

func newClientEps(t testing.TB, eps []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientConfig(eps))
	if err != nil {
		t.Fatalf("clientv3.New(%v): %v", eps, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// testCtx: a context that expires after d (the test's overall budget) or when the
// test ends.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// step: a context for one step of a test, derived from the test's context.
func step(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// keyPrefix: a fresh prefix /goclient/<TestName>/<nonce>/ that is deleted (with
// everything under it) when the test ends.
func keyPrefix(t testing.TB, cli *clientv3.Client) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p := fmt.Sprintf("%s%s/%08x/", KeyRoot, name, rand.Uint32())
	t.Cleanup(func() { deletePrefix(t, p) })
	return p
}

// deletePrefix removes every key under p with a fresh client (the test's clients may be
// closed already) and checks that nothing is left.
func deletePrefix(t testing.TB, p string) {
	cli, err := clientv3.New(clientConfig(endpoints(t)))
	if err != nil {
		t.Errorf("cleanup of %s: %v", p, err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Delete(ctx, p, clientv3.WithPrefix()); err != nil {
		t.Errorf("cleanup: delete %s*: %v", p, err)
		return
	}
	resp, err := cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Errorf("cleanup: count %s*: %v", p, err)
	} else if resp.Count != 0 {
		t.Errorf("cleanup: %d keys left under %s", resp.Count, p)
	}
}

// grantLease grants a lease of ttl seconds that is revoked when the test ends.
func grantLease(t testing.TB, ctx context.Context, cli *clientv3.Client, ttl int64) clientv3.LeaseID {
	t.Helper()
	sctx, cancel := step(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.Grant(sctx, ttl)
	if err != nil {
		t.Fatalf("Grant(%d): %v", ttl, err)
	}
	id := resp.ID
	t.Cleanup(func() { revokeLease(id) })
	return id
}

// revokeLease revokes a lease with a fresh client, ignoring errors (it may be gone).
func revokeLease(id clientv3.LeaseID) {
	eps := splitEndpoints(os.Getenv(EnvEndpoints))
	if len(eps) == 0 {
		return
	}
	cli, err := clientv3.New(clientConfig(eps))
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = cli.Revoke(ctx, id)
}

// drainKeepAlive consumes a KeepAlive channel (as the guide says one must), counting
// the responses.
func drainKeepAlive(ch <-chan *clientv3.LeaseKeepAliveResponse) (count func() int, closed <-chan struct{}) {
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return n }, done
}

// eventually polls cond every interval until it returns true or ctx ends.
func eventually(ctx context.Context, interval time.Duration, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(interval):
		}
	}
}

// TestEndpoints checks that every endpoint answers Status, that they belong to one
// cluster listing as many members as there are endpoints, and logs the versions.
func TestEndpoints(t *testing.T) {
	eps := endpoints(t)
	ctx := testCtx(t, 30*time.Second)
	cli := newClient(t)
	var cluster uint64
	leaders := map[uint64]bool{}
	for _, ep := range eps {
		sctx, cancel := step(ctx, 5*time.Second)
		st, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			t.Fatalf("Status(%s): %v", ep, err)
		}
		t.Logf("%s: version %s, member %x, leader %x, raft term %d, revision %d",
			ep, st.Version, st.Header.MemberId, st.Leader, st.RaftTerm, st.Header.Revision)
		if cluster == 0 {
			cluster = st.Header.ClusterId
		} else if st.Header.ClusterId != cluster {
			t.Errorf("%s: cluster id %x, others %x", ep, st.Header.ClusterId, cluster)
		}
		if st.Leader == 0 {
			t.Errorf("%s: no leader", ep)
		}
		leaders[st.Leader] = true
	}
	if len(leaders) > 1 {
		t.Errorf("endpoints disagree on the leader: %v", leaders)
	}
	sctx, cancel := step(ctx, 5*time.Second)
	defer cancel()
	ml, err := cli.MemberList(sctx)
	if err != nil {
		t.Fatalf("MemberList: %v", err)
	}
	if len(ml.Members) != len(eps) {
		t.Errorf("MemberList: %d members, %d endpoints given", len(ml.Members), len(eps))
	}
}
