// The persisted requests of a run without an etcd WAL.
//
// etcd's suite reads from each member's WAL the ordered list of requests the cluster
// applied (report.PersistedRequestsCluster) and uses it twice: model.NewReplay rebuilds
// the keyspace at every revision and the events every watch should have seen (the watch
// and stale-read checks), and validate's history patching learns which writes whose
// client got an error did take effect (and bounds when). Without a WAL the list is empty
// and the suite skips the watch and stale-read checks without a word.
//
// The substitute:
//  1. A recorder opens, on every member, a watch of the whole keyspace from revision 1
//     before the traffic starts, resumes it after every break, and keeps each event as the
//     server sent it (key, value, lease, version, create and mod revision). The streams of
//     all members are merged per revision; two members that disagree on a revision, or a
//     revision no member delivered (between 2 and the last one), make the substitute
//     unusable, and the run says so instead of validating without it.
//  2. Each revision is attributed to the client request that wrote it, taken from the
//     client reports as the client sent it (conditions and both branches, as the WAL has
//     it), so model.NewReplay applies that request to the state it rebuilt and derives
//     the events itself, exactly as it does from WAL entries: a server that applies a
//     request wrongly yields different events than the watches got. A request qualifies
//     for revision R when applying it to the rebuilt state at R-1 gives exactly the
//     keyspace the server's events at R describe (values, mod revisions, versions,
//     leases); among those, first the requests whose successful response says revision R,
//     then those whose client got an error (outcome unknown), then lease revocations.
//     A revision no request explains is replaced by a transaction of its events as
//     delivered and counted ("synthesized"): the watch check then trusts the server's
//     events for that revision, and the count is reported.
//  3. Requests that do not create a revision and still change what the model tracks are
//     placed after the revision their response names: lease grants (their id), and
//     successful lease revocations that deleted nothing.
//
// What the WAL has and this does not (each choice keeps the check sound, at worst less
// strict than etcd's):
//   - writes that created no revision (a transaction whose condition failed and whose
//     failure branch only reads, a delete of a missing key): a failed client request of
//     that kind is dropped from the history as never persisted, where etcd keeps it as
//     "persisted, outcome computed by the model". Both mean "no effect on the keyspace".
//   - compactions: successful ones are left out (their return time is then not tightened
//     by the order of the WAL), failed ones are listed at the end (the history keeps
//     them as "maybe applied", where etcd drops those that its WAL lacks).
//
// On etcd, where both exist, the wrapper validates with the WAL and with the substitute
// and compares the verdicts and the replayed events (-compare-wal).
package robustness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/tests/v3/robustness/model"
	"go.etcd.io/etcd/tests/v3/robustness/report"
)

// rawEvent is one watch event as the server sent it.
type rawEvent struct {
	Revision       int64  `json:"rev"`
	Delete         bool   `json:"del,omitempty"`
	Key            string `json:"key"`
	Value          string `json:"value,omitempty"`
	Lease          int64  `json:"lease,omitempty"`
	Version        int64  `json:"ver,omitempty"`
	CreateRevision int64  `json:"create,omitempty"`
}

func (e rawEvent) same(o rawEvent) bool { return e == o }

// memberStream is what one member's recorder got.
type memberStream struct {
	Endpoint string
	Events   []rawEvent
	Last     int64    // last revision received
	Gaps     []string // revision ranges lost to compaction while the watch was down
	Breaks   int      // watches that ended and were reopened
}

type persistRecorder struct {
	lg      *zap.Logger
	streams []*memberStream
	mu      sync.Mutex
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// startRecorder opens one full-keyspace watch from revision 1 per endpoint.
func startRecorder(ctx context.Context, lg *zap.Logger, endpoints []string) *persistRecorder {
	ctx, cancel := context.WithCancel(ctx)
	r := &persistRecorder{lg: lg, cancel: cancel}
	for _, ep := range endpoints {
		s := &memberStream{Endpoint: ep, Last: 1}
		r.streams = append(r.streams, s)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.record(ctx, s)
		}()
	}
	return r
}

func (r *persistRecorder) record(ctx context.Context, s *memberStream) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{s.Endpoint},
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		r.lg.Error("persist recorder: no client", zap.String("endpoint", s.Endpoint), zap.Error(err))
		return
	}
	defer c.Close()
	for ctx.Err() == nil {
		r.mu.Lock()
		from := s.Last + 1
		r.mu.Unlock()
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := c.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range wch {
			if resp.Canceled {
				if resp.CompactRevision > 0 {
					r.mu.Lock()
					if resp.CompactRevision > s.Last+1 {
						s.Gaps = append(s.Gaps, fmt.Sprintf("%d-%d", s.Last+1, resp.CompactRevision-1))
						s.Last = resp.CompactRevision - 1
					}
					r.mu.Unlock()
				}
				break
			}
			if len(resp.Events) == 0 {
				continue
			}
			r.mu.Lock()
			for _, ev := range resp.Events {
				e := rawEvent{Revision: ev.Kv.ModRevision, Key: string(ev.Kv.Key)}
				if ev.Type == mvccpb.DELETE {
					e.Delete = true
				} else {
					e.Value, e.Lease, e.Version, e.CreateRevision = string(ev.Kv.Value), ev.Kv.Lease, ev.Kv.Version, ev.Kv.CreateRevision
				}
				s.Events = append(s.Events, e)
			}
			s.Last = resp.Events[len(resp.Events)-1].Kv.ModRevision
			r.mu.Unlock()
		}
		wcancel()
		if ctx.Err() != nil {
			break
		}
		r.mu.Lock()
		s.Breaks++
		r.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop waits (at most timeout) until some member delivered revision upTo and every
// member that is still delivering caught up with it, then closes the watches.
func (r *persistRecorder) stop(upTo int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		all := true
		for _, s := range r.streams {
			if s.Last < upTo {
				all = false
			}
		}
		r.mu.Unlock()
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.cancel()
	r.wg.Wait()
}

// substitute is the outcome of building persisted requests from the recorded streams.
type substitute struct {
	Requests     []model.EtcdRequest
	Usable       bool
	Problem      string // why it is not usable
	MaxRevision  int64
	Matched      int // revisions attributed to a client request
	Synthesized  int // revisions rebuilt from their events
	FirstSynth   string
	Disagreement string
}

func (s substitute) String() string {
	if !s.Usable {
		return "unusable: " + s.Problem
	}
	txt := fmt.Sprintf("%d requests for revisions 2..%d: %d from client requests, %d synthesized from events", len(s.Requests), s.MaxRevision, s.Matched, s.Synthesized)
	if s.FirstSynth != "" {
		txt += " (first: " + s.FirstSynth + ")"
	}
	return txt
}

// buildSubstitute merges the streams and attributes every revision to a request.
func buildSubstitute(streams []*memberStream, reports []report.ClientReport, upTo int64) substitute {
	// --- merge -------------------------------------------------------------------------
	byRev := map[int64][]rawEvent{}
	var disagree []string
	var maxRev int64
	for _, s := range streams {
		per := map[int64][]rawEvent{}
		for _, e := range s.Events {
			per[e.Revision] = append(per[e.Revision], e)
		}
		for rev, evs := range per {
			if have, ok := byRev[rev]; ok {
				if !sameEvents(have, evs) {
					disagree = append(disagree, fmt.Sprintf("revision %d: %s has %s, another member %s", rev, s.Endpoint, fmtEvents(evs), fmtEvents(have)))
				}
				continue
			}
			byRev[rev] = evs
			maxRev = max(maxRev, rev)
		}
	}
	sub := substitute{MaxRevision: maxRev}
	if len(disagree) > 0 {
		sort.Strings(disagree)
		sub.Disagreement = strings.Join(disagree[:min(5, len(disagree))], "; ")
		sub.Problem = fmt.Sprintf("members' watch streams disagree on %d revisions: %s", len(disagree), sub.Disagreement)
		return sub
	}
	if maxRev < upTo {
		sub.Problem = fmt.Sprintf("the watches delivered revisions up to %d, the clients saw %d", maxRev, upTo)
		return sub
	}
	var missing []string
	for rev := int64(2); rev <= maxRev; rev++ {
		if _, ok := byRev[rev]; !ok {
			missing = append(missing, fmt.Sprint(rev))
		}
	}
	if len(missing) > 0 {
		var gaps []string
		for _, s := range streams {
			if len(s.Gaps) > 0 {
				gaps = append(gaps, s.Endpoint+" lost "+strings.Join(s.Gaps, ","))
			}
		}
		sub.Problem = fmt.Sprintf("%d revisions delivered by no member (first %s; compacted while the watches were down: %s)", len(missing), missing[0], strings.Join(gaps, "; "))
		return sub
	}

	// --- the client requests -------------------------------------------------------------
	type cand struct {
		req  model.EtcdRequest
		used bool
	}
	var cands []*cand
	byRespRev := map[int64][]*cand{}           // successful writes, by response revision
	byValue := map[model.ValueOrHash][]*cand{} // failed writes that put a value
	byDelKey := map[string][]*cand{}           // failed writes that only delete
	byLease := map[int64][]*cand{}             // lease revocations, any outcome
	grantsAt := map[int64][]int64{}            // lease grants by response revision
	var failedCompacts []model.EtcdRequest
	keySet := map[string]bool{}
	for _, r := range reports {
		for _, op := range r.KeyValue {
			req := op.Input.(model.EtcdRequest)
			resp := op.Output.(model.MaybeEtcdResponse)
			failed := resp.Error != ""
			switch req.Type {
			case model.Txn:
				hasWrite := false
				for _, o := range req.Txn.AllOperations() {
					switch o.Type {
					case model.PutOperation:
						keySet[o.Put.Key] = true
						hasWrite = true
					case model.DeleteOperation:
						keySet[o.Delete.Key] = true
						hasWrite = true
					case model.RangeOperation:
						keySet[o.Range.Start] = true
					}
				}
				if !hasWrite || resp.ClientError != "" {
					continue
				}
				c := &cand{req: req}
				cands = append(cands, c)
				if !failed {
					byRespRev[resp.Revision] = append(byRespRev[resp.Revision], c)
					continue
				}
				put := false
				for _, o := range req.Txn.AllOperations() {
					if o.Type == model.PutOperation {
						byValue[o.Put.Value] = append(byValue[o.Put.Value], c)
						put = true
					}
				}
				if !put {
					for _, o := range req.Txn.AllOperations() {
						if o.Type == model.DeleteOperation {
							byDelKey[o.Delete.Key] = append(byDelKey[o.Delete.Key], c)
						}
					}
				}
			case model.LeaseRevoke:
				c := &cand{req: req}
				cands = append(cands, c)
				byLease[req.LeaseRevoke.LeaseID] = append(byLease[req.LeaseRevoke.LeaseID], c)
				if !failed {
					byRespRev[resp.Revision] = append(byRespRev[resp.Revision], c)
				}
			case model.LeaseGrant:
				if !failed && req.LeaseGrant.LeaseID != 0 {
					grantsAt[resp.Revision] = append(grantsAt[resp.Revision], req.LeaseGrant.LeaseID)
				}
			case model.Compact:
				if failed {
					failedCompacts = append(failedCompacts, req)
				}
			}
		}
	}
	for _, evs := range byRev {
		for _, e := range evs {
			keySet[e.Key] = true
		}
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	keyIndex := map[string]int{}
	for i, k := range keys {
		keyIndex[k] = i
	}

	// --- replay, attributing each revision -------------------------------------------------
	state := model.EtcdState{
		Revision: 1, CompactRevision: -1, Keys: keys,
		KeyValues: make([]*model.ValueRevision, len(keys)), KeyLeases: make([]*int64, len(keys)),
		Leases: []int64{},
	}
	var out []model.EtcdRequest
	emit := func(req model.EtcdRequest) {
		state, _ = state.Step(req)
		out = append(out, req)
	}
	grant := func(rev int64) {
		for _, id := range grantsAt[rev] {
			emit(model.EtcdRequest{Type: model.LeaseGrant, LeaseGrant: &model.LeaseGrantRequest{LeaseID: id}})
		}
	}
	grant(1)
	for rev := int64(2); rev <= maxRev; rev++ {
		evs := byRev[rev]
		want := expectedState(state, keyIndex, evs, rev)
		fits := func(c *cand) bool {
			if c.used {
				return false
			}
			next, _ := state.Step(c.req)
			return next.Revision == rev && sameKeyspace(next, want)
		}
		var pick *cand
		for _, c := range byRespRev[rev] {
			if fits(c) {
				pick = c
				break
			}
		}
		if pick == nil {
			for _, e := range evs {
				if pick != nil {
					break
				}
				var list []*cand
				if e.Delete {
					list = byDelKey[e.Key]
				} else {
					list = byValue[model.ToValueOrHash(e.Value)]
				}
				for _, c := range list {
					if fits(c) {
						pick = c
						break
					}
				}
			}
		}
		if pick == nil {
			leases := map[int64]bool{}
			for _, e := range evs {
				if !e.Delete {
					continue
				}
				if l := state.KeyLeases[keyIndex[e.Key]]; l != nil {
					leases[*l] = true
				}
			}
			for l := range leases {
				for _, c := range byLease[l] {
					if pick == nil && fits(c) {
						pick = c
					}
				}
			}
		}
		if pick != nil {
			pick.used = true
			sub.Matched++
			emit(pick.req)
		} else {
			sub.Synthesized++
			if sub.FirstSynth == "" {
				sub.FirstSynth = fmt.Sprintf("revision %d %s", rev, fmtEvents(evs))
			}
			emit(synthesize(state, evs))
		}
		if state.Revision != rev {
			// the synthesized request cannot create the revision (e.g. a put with a lease the
			// model does not know): give up rather than validate against a wrong replay
			sub.Problem = fmt.Sprintf("revision %d (%s) cannot be replayed", rev, fmtEvents(evs))
			return sub
		}
		grant(rev)
		// successful revocations that deleted nothing
		for _, c := range byRespRev[rev] {
			if !c.used && c.req.Type == model.LeaseRevoke {
				next, _ := state.Step(c.req)
				if next.Revision == state.Revision {
					c.used = true
					emit(c.req)
				}
			}
		}
	}
	out = append(out, failedCompacts...)
	sub.Requests = out
	sub.Usable = true
	return sub
}

func expectedState(s model.EtcdState, keyIndex map[string]int, evs []rawEvent, rev int64) model.EtcdState {
	w := s.DeepCopy()
	w.Revision = rev
	for _, e := range evs {
		i := keyIndex[e.Key]
		if e.Delete {
			w.KeyValues[i], w.KeyLeases[i] = nil, nil
			continue
		}
		w.KeyValues[i] = &model.ValueRevision{Value: model.ToValueOrHash(e.Value), ModRevision: rev, Version: e.Version}
		if e.Lease != 0 {
			l := e.Lease
			w.KeyLeases[i] = &l
		} else {
			w.KeyLeases[i] = nil
		}
	}
	return w
}

func sameKeyspace(a, b model.EtcdState) bool {
	for i := range a.KeyValues {
		x, y := a.KeyValues[i], b.KeyValues[i]
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
		l, m := a.KeyLeases[i], b.KeyLeases[i]
		if (l == nil) != (m == nil) || (l != nil && *l != *m) {
			return false
		}
	}
	return true
}

func synthesize(state model.EtcdState, evs []rawEvent) model.EtcdRequest {
	txn := &model.TxnRequest{Conditions: []model.EtcdCondition{}, OperationsOnFailure: []model.EtcdOperation{}}
	for _, e := range evs {
		if e.Delete {
			txn.OperationsOnSuccess = append(txn.OperationsOnSuccess, model.EtcdOperation{Type: model.DeleteOperation, Delete: model.DeleteOptions{Key: e.Key}})
		} else {
			txn.OperationsOnSuccess = append(txn.OperationsOnSuccess, model.EtcdOperation{Type: model.PutOperation, Put: model.PutOptions{Key: e.Key, Value: model.ToValueOrHash(e.Value), LeaseID: knownLease(state, e.Lease)}})
		}
	}
	return model.EtcdRequest{Type: model.Txn, Txn: txn}
}

func sameEvents(a, b []rawEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

func fmtEvents(evs []rawEvent) string {
	var parts []string
	for _, e := range evs {
		if e.Delete {
			parts = append(parts, "DELETE "+e.Key)
		} else {
			v := e.Value
			if len(v) > 24 {
				v = v[:24] + "..."
			}
			parts = append(parts, fmt.Sprintf("PUT %s=%q lease=%d ver=%d", e.Key, v, e.Lease, e.Version))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// knownLease: the lease, if the model knows it (a put with a lease the model never saw
// granted would fail there and create no revision), else none.
func knownLease(state model.EtcdState, lease int64) int64 {
	for _, l := range state.Leases {
		if l == lease {
			return lease
		}
	}
	return 0
}
