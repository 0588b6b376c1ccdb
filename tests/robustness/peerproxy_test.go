// etcd's peer proxy without peer TLS, and partitions that do not corrupt a plain stream.
//
// etcd's framework refuses a peer proxy without peer TLS ("it can result in malformed
// packets"): its blackhole and drop failpoints discard chunks of the TCP byte stream
// (proxy.BlackholeTx/Rx = ModifyTx/Rx returning nil). Under TLS a discarded chunk breaks
// the record MAC, the connection fails and is redialled through the same blackhole: a
// partition. In a plain stream the bytes after the hole are parsed as if nothing were
// missing: not a network fault any TCP network produces, and not what etcd is tested
// against. The server under test has no TLS, so here:
//   - newPlainProxyCluster puts etcd's proxy between members without TLS (the cluster
//     etcd's framework would build, minus the panic), for etcd and the server alike;
//   - the blackhole failpoints hold the traffic instead of discarding it (proxy
//     PauseTx/PauseRx: nothing passes in either direction, nothing is lost or altered, as
//     TCP behaves across a partition that heals before the connections time out), and
//     they partition a random follower rather than a random member (see Inject); the
//     "until snapshot" variant waits exactly as etcd's does (failpoint/network.go);
//   - delayPeerNetwork and the non-network failpoints are etcd's own;
//   - dropPeerNetwork (50 % of the chunks discarded for 1 s) has no plain-stream
//     equivalent and is not run.
package robustness

import (
	"context"
	"fmt"
	"math/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.etcd.io/etcd/tests/v3/framework/e2e"
	"go.etcd.io/etcd/tests/v3/robustness/identity"
	"go.etcd.io/etcd/tests/v3/robustness/report"
	"go.etcd.io/etcd/tests/v3/robustness/traffic"
)

// newPlainProxyCluster: e2e.NewEtcdProcessCluster for cfg.PeerProxy without TLS: the
// members are configured without the proxy, then each advertises the proxy's address
// (its peer port + 3, as etcd's framework does) and gets the proxy in front of its peer
// listener.
func newPlainProxyCluster(ctx context.Context, t *testing.T, cfg *e2e.EtcdProcessClusterConfig) (*e2e.EtcdProcessCluster, error) {
	if !cfg.PeerProxy || cfg.IsPeerTLS {
		return e2e.NewEtcdProcessCluster(ctx, t, e2e.WithConfig(cfg))
	}
	cfg.PeerProxy = false
	epc, err := e2e.InitEtcdProcessCluster(t, cfg)
	cfg.PeerProxy = true
	if err != nil {
		return nil, err
	}
	scfgs := make([]*e2e.EtcdServerProcessConfig, len(epc.Procs))
	initial := make([]string, len(epc.Procs))
	for i, p := range epc.Procs {
		sc := p.Config()
		listen := sc.PeerURL
		port := 0
		fmt.Sscanf(listen.Port(), "%d", &port)
		// etcd's framework: peer port = base+1, proxy = base+3
		adv := url.URL{Scheme: listen.Scheme, Host: fmt.Sprintf("%s:%d", listen.Hostname(), port+2)}
		sc.PeerURL = adv
		sc.Proxy = &proxy.ServerConfig{Logger: zap.NewNop(), To: listen, From: adv}
		for j, a := range sc.Args {
			if strings.HasPrefix(a, "--initial-advertise-peer-urls=") {
				sc.Args[j] = "--initial-advertise-peer-urls=" + adv.String()
			}
		}
		scfgs[i] = sc
		initial[i] = sc.Name + "=" + adv.String()
	}
	for i, sc := range scfgs {
		ic := strings.Join(initial, ",")
		sc.InitialCluster = ic
		for j, a := range sc.Args {
			if strings.HasPrefix(a, "--initial-cluster=") {
				sc.Args[j] = "--initial-cluster=" + ic
			}
		}
		p, err := e2e.NewEtcdProcess(t, sc)
		if err != nil {
			epc.Close()
			return nil, err
		}
		epc.Procs[i] = p
	}
	epc.Cfg.PeerProxy = true
	return e2e.StartEtcdProcessCluster(ctx, t, epc, cfg)
}

// partitionFailpoint: etcd's blackholePeerNetworkFailpoint with PauseTx/PauseRx in place
// of BlackholeTx/BlackholeRx.
type partitionFailpoint struct {
	waitTillSnapshot bool
}

var (
	PartitionPeerNetwork   = partitionFailpoint{waitTillSnapshot: false}
	PartitionUntilSnapshot = partitionFailpoint{waitTillSnapshot: true}
)

func (f partitionFailpoint) Name() string {
	if f.waitTillSnapshot {
		return "blackholeUntilSnapshot"
	}
	return "blackholePeerNetwork"
}

func (f partitionFailpoint) Available(config e2e.EtcdProcessClusterConfig, process e2e.EtcdProcess, _ traffic.Profile) bool {
	if f.waitTillSnapshot && (entriesToGuaranteeSnapshot(config) > 200 || !e2e.CouldSetSnapshotCatchupEntries(process.Config().ExecPath)) {
		return false
	}
	return config.ClusterSize > 1 && process.PeerProxy() != nil
}

func (f partitionFailpoint) Inject(ctx context.Context, t *testing.T, lg *zap.Logger, clus *e2e.EtcdProcessCluster, _ time.Time, _ identity.Provider) ([]report.ClientReport, error) {
	// a follower: a member's proxy only carries the connections the member accepts. etcd's
	// peers also dial the members they receive from, so a partitioned etcd leader loses
	// its followers' acknowledgements; the server's peers dial only to send (Raft RPCs
	// from the leader), so a leader behind a held proxy keeps its quorum and nothing
	// is partitioned (blackholeUntilSnapshot then waits its full minute in vain).
	leader := clus.WaitLeader(t)
	member := clus.Procs[(leader+1+rand.Intn(len(clus.Procs)-1))%len(clus.Procs)]
	p := member.PeerProxy()
	t.Logf("Partitioning member %q (peer traffic held, not dropped)", member.Config().Name)
	p.PauseTx()
	p.PauseRx()
	defer func() {
		t.Logf("Partition of member %q healed", member.Config().Name)
		p.UnpauseTx()
		p.UnpauseRx()
	}()
	if f.waitTillSnapshot {
		return nil, waitTillSnapshot(ctx, t, clus, member)
	}
	time.Sleep(time.Second)
	return nil, nil
}

// waitTillSnapshot and entriesToGuaranteeSnapshot: etcd's (failpoint/network.go,
// unexported).
func waitTillSnapshot(ctx context.Context, t *testing.T, clus *e2e.EtcdProcessCluster, blackholedMember e2e.EtcdProcess) error {
	var endpoints []string
	for _, ep := range clus.EndpointsGRPC() {
		if ep == blackholedMember.Config().ClientURL {
			continue
		}
		endpoints = append(endpoints, ep)
	}
	clusterClient, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop(), DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	defer clusterClient.Close()
	blackholedMemberClient, err := clientv3.New(clientv3.Config{Endpoints: []string{blackholedMember.Config().ClientURL}, Logger: zap.NewNop(), DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	defer blackholedMemberClient.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		blackholedMemberRevision, err := latestRevisionForEndpoint(ctx, blackholedMemberClient)
		if err != nil {
			return err
		}
		clusterRevision, err := latestRevisionForEndpoint(ctx, clusterClient)
		if err != nil {
			return err
		}
		minEntriesToGuarantee := entriesToGuaranteeSnapshot(*clus.Cfg)
		t.Logf("clusterRevision: %d, blackholedMemberRevision: %d, minEntriesToGuarantee: %d", clusterRevision, blackholedMemberRevision, minEntriesToGuarantee)
		if clusterRevision-blackholedMemberRevision > int64(minEntriesToGuarantee) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func entriesToGuaranteeSnapshot(config e2e.EtcdProcessClusterConfig) uint64 {
	return config.ServerConfig.SnapshotCount + config.ServerConfig.SnapshotCatchUpEntries
}

func latestRevisionForEndpoint(ctx context.Context, c *clientv3.Client) (int64, error) {
	resp, err := c.Status(ctx, c.Endpoints()[0])
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, err
}
