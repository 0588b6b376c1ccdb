// A runner for etcd's robustness suite (go.etcd.io/etcd/tests/v3/robustness) against any
// etcd-compatible server, without gofail: etcd's own entry points
// (TestRobustnessExploratory/Regression) enable gofail on every cluster and pick their
// failpoint at random, and its runner (testRobustness, runScenario) is not exported. This
// file follows etcd's main_test.go step for step (traffic + failpoint + the suite's own
// watchers, end-of-test HashKV check, validation with Porcupine and the watch checks,
// report kept on failure) and adds the persisted-requests substitute of
// persisted_test.go for servers without an etcd WAL.
//
// Flags (after the framework's own -bin-dir, the directory holding the server as `etcd`):
//
//	-persisted=substitute|wal|auto  where the validation's persisted requests come from;
//	                                auto = the WAL when the members have one, else the
//	                                substitute (default substitute)
//	-compare-wal                    also validate with the other source and compare the
//	                                verdicts and the replayed events (needs a WAL: etcd)
//
//	-list-scenarios                 print "SCENARIO name" lines and run nothing
//
// Each test prints one line "ROBUSTNESS-RESULT {json}" with the verdicts, which
// tests/robustness/run.sh collects.
package robustness

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/framework"
	"go.etcd.io/etcd/tests/v3/framework/e2e"
	"go.etcd.io/etcd/tests/v3/robustness/client"
	"go.etcd.io/etcd/tests/v3/robustness/failpoint"
	"go.etcd.io/etcd/tests/v3/robustness/identity"
	"go.etcd.io/etcd/tests/v3/robustness/model"
	"go.etcd.io/etcd/tests/v3/robustness/report"
	"go.etcd.io/etcd/tests/v3/robustness/traffic"
	"go.etcd.io/etcd/tests/v3/robustness/validate"
)

var (
	persistedFlag  = flag.String("persisted", "substitute", "source of the persisted requests: substitute, wal or auto")
	compareWALFlag = flag.Bool("compare-wal", false, "validate with both the WAL and the substitute and compare")
	listFlag       = flag.Bool("list-scenarios", false, "print the scenario names and run nothing")
)

var testRunner = framework.E2eTestRunner

// As etcd's main_test.go.
var (
	WaitBeforeFailpoint = time.Second
	WaitJitter          = time.Millisecond * 200
	WaitAfterFailpoint  = time.Second
)

func TestMain(m *testing.M) {
	testRunner.TestMain(m)
}

func TestRobustness(t *testing.T) {
	testRunner.BeforeTest(t)
	all := slices.Concat(exploratoryScenarios(), regressionScenarios())
	if *listFlag {
		for _, s := range all {
			fmt.Println("SCENARIO", s.Name)
		}
		return
	}
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			lg := zaptest.NewLogger(t)
			s.Cluster.Logger = lg
			ctx := t.Context()
			res := &result{Scenario: s.Name, Failpoint: failpointName(s.Failpoint), ClusterSize: s.Cluster.ClusterSize,
				SnapshotCount: s.Cluster.ServerConfig.SnapshotCount, SnapshotCatchUpEntries: s.Cluster.ServerConfig.SnapshotCatchUpEntries}
			defer res.print(t)
			c, err := newPlainProxyCluster(ctx, t, &s.Cluster)
			if err != nil {
				res.Other = append(res.Other, "cluster start: "+err.Error())
			}
			require.NoError(t, err)
			defer forcestopCluster(c)
			if err := failpoint.Validate(c, s.Failpoint, s.Profile); err != nil {
				res.Other = append(res.Other, err.Error())
				t.Fatal(err)
			}
			testRobustness(ctx, t, lg, s, c, res)
		})
	}
}

// result: the verdicts of one run.
type result struct {
	Scenario               string   `json:"scenario"`
	Failpoint              string   `json:"failpoint"`
	ClusterSize            int      `json:"cluster_size"`
	SnapshotCount          uint64   `json:"snapshot_count"`
	SnapshotCatchUpEntries uint64   `json:"snapshot_catchup_entries"`
	Source                 string   `json:"persisted_source,omitempty"`
	Substitute             string   `json:"substitute,omitempty"`
	Synthesized            int      `json:"synthesized"`
	Assumptions            string   `json:"assumptions,omitempty"`
	Linearization          string   `json:"linearization,omitempty"`
	Watch                  string   `json:"watch,omitempty"`
	Serializable           string   `json:"serializable,omitempty"`
	WAL                    string   `json:"wal_verdict,omitempty"`        // -compare-wal: the verdict with the other source
	SameVerdict            *bool    `json:"same_verdict,omitempty"`       // -compare-wal
	SameReplay             *bool    `json:"same_replay_events,omitempty"` // -compare-wal
	ReplayDiff             string   `json:"replay_diff,omitempty"`
	Other                  []string `json:"other,omitempty"` // errors outside validation
	Failed                 bool     `json:"failed"`
	Report                 string   `json:"report,omitempty"`
}

func (r *result) print(t *testing.T) {
	r.Failed = t.Failed()
	b, _ := json.Marshal(r)
	fmt.Printf("\nROBUSTNESS-RESULT %s\n", b)
}

func status(x validate.Result) string {
	if x.Status == validate.Unknown {
		return "skipped"
	}
	return x.String()
}

func verdict(r validate.RobustnessResult) string {
	return fmt.Sprintf("assumptions=%s linearization=%s watch=%s serializable=%s",
		status(r.Assumptions), status(r.Linearization.Result), status(r.Watch), status(r.Serializable))
}

func testRobustness(ctx context.Context, t *testing.T, lg *zap.Logger, s scenario, c *e2e.EtcdProcessCluster, res *result) {
	dir := testResultsDirectory(t)
	res.Report = dir
	r, err := report.NewTestReport(lg, dir, report.ServerDataPaths(c), &report.TrafficDetail{ExpectUniqueRevision: s.Traffic.ExpectUniqueRevision()})
	require.NoError(t, err)
	panicked := true
	defer func() {
		if err := r.Finalize(t.Failed(), panicked); err != nil {
			t.Error(err)
		}
		if !t.Failed() && !panicked {
			os.RemoveAll(dir)
		}
	}()
	recorder := startRecorder(ctx, lg, processEndpoints(c))
	clientReports := runScenario(ctx, t, s, lg, c, res)
	r.SetClientReports(clientReports)

	// the substitute: until the last revision any member reports now
	upTo := report.OperationsMaxRevision(clientReports)
	if rev := currentRevision(ctx, c); rev > upTo {
		upTo = rev
	}
	recorder.stop(upTo, 30*time.Second)
	sub := buildSubstitute(recorder.streams, clientReports, upTo)
	res.Substitute, res.Synthesized = sub.String(), sub.Synthesized
	if b, err := json.Marshal(recorder.streams); err == nil {
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "persist-watch-streams.json"), b, 0o600)
	}

	if err := r.SaveEtcdData(); err != nil {
		t.Error(err)
	}
	// SaveEtcdData recreates the directory: keep the streams next to the data
	if b, err := json.Marshal(recorder.streams); err == nil {
		os.WriteFile(filepath.Join(dir, "persist-watch-streams.json"), b, 0o600)
	}

	var walRequests []model.EtcdRequest
	var walErr error
	needWAL := *persistedFlag != "substitute" || *compareWALFlag
	if needWAL {
		walRequests, walErr = report.PersistedRequestsCluster(lg, c)
	}
	source := *persistedFlag
	if source == "auto" {
		source = "wal"
		if walErr != nil || len(walRequests) == 0 {
			source = "substitute"
		}
	}
	res.Source = source
	var persisted []model.EtcdRequest
	switch source {
	case "wal":
		if walErr != nil {
			t.Error(walErr)
		}
		persisted = walRequests
	default:
		if !sub.Usable {
			// as etcd's suite without persisted requests: linearization only, but loudly
			res.Other = append(res.Other, "no persisted requests, watch and stale-read checks skipped: substitute "+sub.String())
			t.Errorf("persisted-requests substitute %s", sub.String())
		}
		persisted = sub.Requests
	}

	cfg := validate.Config{ExpectRevisionUnique: s.Traffic.ExpectUniqueRevision()}
	out := validate.ValidateAndReturnVisualize(lg, cfg, clientReports, persisted, 5*time.Minute)
	res.Assumptions, res.Linearization, res.Watch, res.Serializable =
		status(out.Assumptions), status(out.Linearization.Result), status(out.Watch), status(out.Serializable)
	if err := out.Error(); err != nil {
		t.Error(err)
	} else {
		r.SetVisualizer(out.Linearization.Visualize)
	}

	if *compareWALFlag {
		other, otherName := walRequests, "wal"
		if source == "wal" {
			other, otherName = sub.Requests, "substitute"
		}
		if walErr != nil {
			t.Errorf("-compare-wal: reading the WAL: %v", walErr)
		} else if !sub.Usable {
			t.Errorf("-compare-wal: substitute %s", sub.String())
		} else {
			out2 := validate.ValidateAndReturnVisualize(lg, cfg, clientReports, other, 5*time.Minute)
			res.WAL = otherName + ": " + verdict(out2)
			same := verdict(out) == verdict(out2)
			res.SameVerdict = &same
			a, b := model.NewReplay(walRequests).Events, model.NewReplay(sub.Requests).Events
			sameReplay := reflect.DeepEqual(a, b)
			res.SameReplay = &sameReplay
			if !sameReplay {
				res.ReplayDiff = replayDiff(a, b)
			}
			if !same {
				t.Errorf("verdicts differ: %s: %s; %s", source, verdict(out), res.WAL)
			}
			if !sameReplay {
				t.Errorf("replayed events differ between the WAL and the substitute: %s", res.ReplayDiff)
			}
		}
	}
	panicked = false
}

func replayDiff(wal, sub []model.PersistedEvent) string {
	n := min(len(wal), len(sub))
	for i := 0; i < n; i++ {
		if wal[i] != sub[i] {
			return fmt.Sprintf("%d vs %d events; first difference at %d: wal %+v, substitute %+v", len(wal), len(sub), i, wal[i], sub[i])
		}
	}
	return fmt.Sprintf("%d vs %d events, equal up to %d", len(wal), len(sub), n)
}

func currentRevision(ctx context.Context, c *e2e.EtcdProcessCluster) int64 {
	var rev int64
	for _, ep := range processEndpoints(c) {
		cc, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop(), DialTimeout: 2 * time.Second})
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if resp, err := cc.Get(cctx, "robustness-final-revision"); err == nil {
			rev = max(rev, resp.Header.Revision)
		}
		cancel()
		cc.Close()
	}
	return rev
}

// runScenario: etcd's, with the failpoint's and the traffic's errors also kept in res.
func runScenario(ctx context.Context, t *testing.T, s scenario, lg *zap.Logger, clus *e2e.EtcdProcessCluster, res *result) (reports []report.ClientReport) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := errgroup.Group{}
	var failpointClientReport []report.ClientReport
	failpointInjected := make(chan report.FailpointInjection, 1)

	baseTime := time.Now()
	ids := identity.NewIDProvider()
	g.Go(func() error {
		defer close(failpointInjected)
		time.Sleep(randomizeTime(WaitBeforeFailpoint, WaitJitter))
		fr, err := failpoint.Inject(ctx, t, lg, clus, s.Failpoint, baseTime, ids)
		if err != nil {
			res.Other = append(res.Other, "failpoint: "+err.Error())
			t.Error(err)
			cancel()
		}
		time.Sleep(randomizeTime(WaitAfterFailpoint, WaitJitter))
		if fr != nil {
			failpointInjected <- fr.FailpointInjection
			failpointClientReport = fr.Client
		}
		return nil
	})
	trafficSet := client.NewSet(ids, baseTime)
	defer trafficSet.Close()
	maxRevisionChan := make(chan int64, 1)
	g.Go(func() error {
		defer close(maxRevisionChan)
		operationReport := traffic.SimulateTraffic(ctx, t, lg, clus, s.Profile, s.Traffic, failpointInjected, trafficSet)
		maxRevision := report.OperationsMaxRevision(operationReport)
		maxRevisionChan <- maxRevision
		lg.Info("Finished simulating Traffic", zap.Int64("max-revision", maxRevision))
		return nil
	})
	watchSet := client.NewSet(ids, baseTime)
	defer watchSet.Close()
	g.Go(func() error {
		return client.CollectClusterWatchEvents(ctx, client.CollectClusterWatchEventsParam{
			Lg:              lg,
			Endpoints:       processEndpoints(clus),
			MaxRevisionChan: maxRevisionChan,
			ClientSet:       watchSet,
		})
	})
	if err := g.Wait(); err != nil {
		res.Other = append(res.Other, "watch: "+err.Error())
		t.Error(err)
	}
	if err := client.CheckEndOfTestHashKV(ctx, clus); err != nil {
		res.Other = append(res.Other, "hashkv: "+err.Error())
		t.Error(err)
	}
	return slices.Concat(trafficSet.Reports(), watchSet.Reports(), failpointClientReport)
}

func randomizeTime(base time.Duration, jitter time.Duration) time.Duration {
	return base - jitter + time.Duration(rand.Int63n(int64(jitter)*2))
}

func forcestopCluster(clus *e2e.EtcdProcessCluster) error {
	for _, member := range clus.Procs {
		member.Kill()
	}
	return clus.ConcurrentStop()
}

func testResultsDirectory(t *testing.T) string {
	base, ok := os.LookupEnv("RESULTS_DIR")
	if !ok {
		base = os.TempDir()
	}
	base, err := filepath.Abs(base)
	require.NoError(t, err)
	path := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"), fmt.Sprint(time.Now().UnixNano()))
	require.NoError(t, os.RemoveAll(path))
	require.NoError(t, os.MkdirAll(path, 0o700))
	return path
}

func processEndpoints(clus *e2e.EtcdProcessCluster) []string {
	endpoints := make([]string, 0, len(clus.Procs))
	for _, proc := range clus.Procs {
		endpoints = append(endpoints, proc.EndpointsGRPC()[0])
	}
	return endpoints
}
