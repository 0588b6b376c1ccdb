// The scenarios of etcd's robustness suite (go.etcd.io/etcd/tests/v3/robustness, at the
// version go.mod pins) that need no gofail build, for a server without TLS.
//
// etcd's scenarios.Exploratory() picks one failpoint at random among all those a cluster
// allows, with gofail enabled on every member and peer TLS on 3-member clusters; its
// scenarios.Regression() mixes gofail and plain cases. Here every (traffic profile,
// cluster size, failpoint) is its own subtest, so a run can be repeated and counted per
// scenario:
//
//	Exploratory/<traffic>/ClusterOfSize1/Kill
//	Exploratory/<traffic>/ClusterOfSize3/<Kill|blackholePeerNetwork|
//	    blackholeUntilSnapshot|delayPeerNetwork|dropPeerNetwork|MemberReplace>
//	Regression/<Issue13766|Issue15220|Issue15271|Issue20221>
//
// The cluster options are etcd's (random snapshot count, tick/election, compaction batch
// limit, snapshot catch-up entries; 100 ms watch progress notify interval), minus gofail
// and peer TLS (the server under test has none: etcd's control runs without them too).
// The peer proxy etcd puts between members of 3-member clusters is kept (without TLS: see
// peerproxy_test.go for what that changes in the network failpoints).
package robustness

import (
	"time"

	"go.etcd.io/etcd/server/v3/etcdserver"
	"go.etcd.io/etcd/tests/v3/framework/e2e"
	"go.etcd.io/etcd/tests/v3/robustness/failpoint"
	"go.etcd.io/etcd/tests/v3/robustness/options"
	"go.etcd.io/etcd/tests/v3/robustness/traffic"
)

type scenario struct {
	Name      string
	Failpoint failpoint.Failpoint
	Cluster   e2e.EtcdProcessClusterConfig
	Traffic   traffic.Traffic
	Profile   traffic.Profile
}

// The traffic profiles of etcd's scenarios.go (unexported there).
var trafficProfiles = []struct {
	Name    string
	Traffic traffic.Traffic
	Profile traffic.Profile
}{
	{"EtcdHighTraffic", traffic.EtcdPut, traffic.Profile{KeyValue: &traffic.KeyValueHigh, Watch: &traffic.WatchDefault, Compaction: &traffic.CompactionDefault}},
	{"EtcdTrafficDeleteLeases", traffic.EtcdPutDeleteLease, traffic.Profile{KeyValue: &traffic.KeyValueMedium, Watch: &traffic.WatchDefault, Compaction: &traffic.CompactionDefault}},
	{"KubernetesHighTraffic", traffic.Kubernetes, traffic.Profile{KeyValue: &traffic.KeyValueHigh, Watch: &traffic.WatchDefault, Compaction: &traffic.CompactionDefault}},
	{"KubernetesLowTraffic", traffic.Kubernetes, traffic.Profile{KeyValue: &traffic.KeyValueMedium, Watch: &traffic.WatchDefault, Compaction: &traffic.CompactionDefault}},
}

// The failpoints of failpoint.allFailpoints that need no gofail and no second binary
// (the downgrade ones need the previous release), by the names etcd gives them.
// The two blackhole ones hold the peer traffic instead of discarding it, and
// dropPeerNetwork is left out: see peerproxy_test.go.
var clusterOf3Failpoints = []failpoint.Failpoint{
	failpoint.KillFailpoint,
	PartitionPeerNetwork,
	PartitionUntilSnapshot,
	failpoint.DelayPeerNetwork,
	failpoint.MemberReplace,
}

func failpointName(f failpoint.Failpoint) string {
	return f.Name() // (etcd names both of its blackhole failpoints "blackholePeerNetwork")
}

func exploratoryScenarios() []scenario {
	randomizable := []e2e.EPClusterOption{
		options.WithClusterOptionGroups(
			options.ClusterOptions{options.WithTickMs(29), options.WithElectionMs(271)},
			options.ClusterOptions{options.WithTickMs(101), options.WithElectionMs(521)},
			options.ClusterOptions{options.WithTickMs(100), options.WithElectionMs(2000)}),
	}
	base := func(f failpoint.Failpoint) []e2e.EPClusterOption {
		opts := []e2e.EPClusterOption{
			options.WithSubsetOptions(randomizable...),
			options.WithCompactionBatchLimit(10, 100, 1000),
			e2e.WithWatchProcessNotifyInterval(100 * time.Millisecond),
		}
		if f == PartitionUntilSnapshot {
			// etcd only picks it when snapshot count + catch-up entries <= 200
			// (failpoint/network.go), i.e. never with its random 1000 or 5000.
			opts = append(opts, options.WithSnapshotCount(50, 100), e2e.WithSnapshotCatchUpEntries(100))
			return opts
		}
		opts = append(opts, options.WithSnapshotCount(50, 100, 1000))
		if e2e.CouldSetSnapshotCatchupEntries(e2e.BinPath.Etcd) {
			opts = append(opts, options.WithSnapshotCatchUpEntries(100, etcdserver.DefaultSnapshotCatchUpEntries))
		}
		return opts
	}
	var out []scenario
	for _, tp := range trafficProfiles {
		opts := append(base(failpoint.KillFailpoint), e2e.WithClusterSize(1))
		out = append(out, scenario{
			Name: "Exploratory/" + tp.Name + "/ClusterOfSize1/Kill", Failpoint: failpoint.KillFailpoint,
			Traffic: tp.Traffic, Profile: tp.Profile, Cluster: *e2e.NewConfig(opts...),
		})
	}
	for _, tp := range trafficProfiles {
		for _, f := range clusterOf3Failpoints {
			opts := append(base(f), e2e.WithClusterSize(3), e2e.WithPeerProxy(true))
			out = append(out, scenario{
				Name: "Exploratory/" + tp.Name + "/ClusterOfSize3/" + failpointName(f), Failpoint: f,
				Traffic: tp.Traffic, Profile: tp.Profile, Cluster: *e2e.NewConfig(opts...),
			})
		}
	}
	return out
}

// regressionScenarios: those of etcd's scenarios.Regression() without gofail, as etcd
// defines them except for peer TLS.
func regressionScenarios() []scenario {
	var out []scenario
	out = append(out, scenario{
		Name:      "Regression/Issue13766",
		Failpoint: failpoint.KillFailpoint,
		Profile:   traffic.Profile{KeyValue: &traffic.KeyValueHigh, Compaction: &traffic.CompactionDefault},
		Traffic:   traffic.EtcdPut,
		Cluster:   *e2e.NewConfig(e2e.WithSnapshotCount(100)),
	})
	out = append(out, scenario{
		Name:      "Regression/Issue15220",
		Failpoint: failpoint.KillFailpoint,
		Profile:   traffic.Profile{KeyValue: &traffic.KeyValueMedium, Watch: &traffic.WatchDefault, Compaction: &traffic.CompactionDefault},
		Traffic:   traffic.EtcdPutDeleteLease,
		Cluster:   *e2e.NewConfig(e2e.WithClusterSize(1)),
	})
	out = append(out, scenario{
		Name:      "Regression/Issue20221",
		Failpoint: PartitionUntilSnapshot,
		Profile: traffic.Profile{
			KeyValue: &traffic.KeyValueHigh,
			Watch:    &traffic.Watch{MemberClientCount: 6, ClusterClientCount: 2, RevisionOffsetRange: traffic.Range{Min: 50, Max: 100}},
		},
		Traffic: traffic.EtcdPut,
		Cluster: *e2e.NewConfig(
			e2e.WithSnapshotCount(10),
			e2e.WithPeerProxy(true),
			e2e.WithWatchProcessNotifyInterval(10*time.Millisecond),
			e2e.WithSnapshotCatchUpEntries(10),
		),
	})
	opts := []e2e.EPClusterOption{e2e.WithSnapshotCount(100), e2e.WithPeerProxy(true)}
	if e2e.CouldSetSnapshotCatchupEntries(e2e.BinPath.Etcd) {
		opts = append(opts, e2e.WithSnapshotCatchUpEntries(100))
	}
	out = append(out, scenario{
		Name:      "Regression/Issue15271",
		Failpoint: PartitionUntilSnapshot,
		Profile:   traffic.Profile{KeyValue: &traffic.KeyValueHigh, Compaction: &traffic.CompactionDefault, Watch: &traffic.WatchDefault},
		Traffic:   traffic.EtcdPut,
		Cluster:   *e2e.NewConfig(opts...),
	})
	return out
}
