package goclient

// Helper processes: a test starts copies of its own test binary with GOCLIENT_HELPER set
// (TestMain dispatches to runHelper), so that locks and elections are contended by
// separate processes and a holder can be killed with SIGKILL (its session lease then
// expires on the server). Helpers talk to the test through stdout lines; they get their
// parameters from GOCLIENT_* variables, die with their parent (Pdeathsig) and exit by
// themselves after GOCLIENT_HELPER_MAX (default 120 s).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const envHelper = "GOCLIENT_HELPER"

func helperEnv(name string) string { return os.Getenv("GOCLIENT_" + name) }

func helperInt(name string, def int) int {
	if v, err := strconv.Atoi(helperEnv(name)); err == nil {
		return v
	}
	return def
}

// runHelper is the main function of a helper process; its exit status is returned.
func runHelper(mode string) int {
	maxLife := time.Duration(helperInt("HELPER_MAX", 120)) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), maxLife)
	defer cancel()
	eps := splitEndpoints(os.Getenv(EnvEndpoints))
	if len(eps) == 0 {
		fmt.Println("ERROR no endpoints")
		return 2
	}
	// Rotate the endpoint list so that helpers start on different members.
	off := helperInt("EP_OFFSET", 0) % len(eps)
	eps = append(eps[off:], eps[:off]...)
	cli, err := clientv3.New(clientConfig(eps))
	if err != nil {
		fmt.Printf("ERROR client: %v\n", err)
		return 2
	}
	defer cli.Close()
	switch mode {
	case "lockworker":
		err = helperLockWorker(ctx, cli)
	case "lockhold":
		err = helperLockHold(ctx, cli)
	case "campaign":
		err = helperCampaign(ctx, cli)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return 1
	}
	fmt.Println("DONE")
	return 0
}

// helperLockWorker: GOCLIENT_ITERS times: take the mutex GOCLIENT_LOCK, then
//   - claim the owner key GOCLIENT_OWNER with a transaction guarded by the mutex's
//     IsOwner() comparison and by the owner key being absent (so a second holder at the
//     same time is detected: "VIOLATION"),
//   - increment the counter GOCLIENT_COUNTER non-atomically (Get, sleep, Put),
//   - release the owner key, record "INTERVAL <id> <start ns> <end ns>" (wall clock,
//     from after Lock returned to before Unlock is called), and Unlock.
func helperLockWorker(ctx context.Context, cli *clientv3.Client) error {
	id := helperEnv("ID")
	lock, counter, owner := helperEnv("LOCK"), helperEnv("COUNTER"), helperEnv("OWNER")
	iters := helperInt("ITERS", 10)
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(helperInt("TTL", 10)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer sess.Close()
	m := concurrency.NewMutex(sess, lock)
	for i := 0; i < iters; i++ {
		lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := m.Lock(lctx)
		cancel()
		if err != nil {
			return fmt.Errorf("iteration %d: Lock: %w", i, err)
		}
		start := time.Now().UnixNano()
		tr, err := cli.Txn(ctx).
			If(m.IsOwner(), clientv3.Compare(clientv3.CreateRevision(owner), "=", 0)).
			Then(clientv3.OpPut(owner, id)).
			Else(clientv3.OpGet(owner)).Commit()
		if err != nil {
			return fmt.Errorf("iteration %d: claim owner key: %w", i, err)
		}
		if !tr.Succeeded {
			other := "?"
			if rr := tr.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
				other = string(rr.Kvs[0].Value)
			}
			fmt.Printf("VIOLATION %s iteration %d: lock held but owner key says %q (or IsOwner false)\n", id, i, other)
		}
		gr, err := cli.Get(ctx, counter)
		if err != nil {
			return fmt.Errorf("iteration %d: get counter: %w", i, err)
		}
		n := 0
		if len(gr.Kvs) > 0 {
			n, _ = strconv.Atoi(string(gr.Kvs[0].Value))
		}
		time.Sleep(time.Duration(2+i%3) * time.Millisecond)
		if _, err := cli.Put(ctx, counter, strconv.Itoa(n+1)); err != nil {
			return fmt.Errorf("iteration %d: put counter: %w", i, err)
		}
		if tr.Succeeded {
			if _, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(owner), "=", id)).
				Then(clientv3.OpDelete(owner)).Commit(); err != nil {
				return fmt.Errorf("iteration %d: release owner key: %w", i, err)
			}
		}
		end := time.Now().UnixNano()
		fmt.Printf("INTERVAL %s %d %d\n", id, start, end)
		if err := m.Unlock(ctx); err != nil {
			return fmt.Errorf("iteration %d: Unlock: %w", i, err)
		}
	}
	return nil
}

// helperLockHold: take the mutex GOCLIENT_LOCK with a session of GOCLIENT_TTL seconds,
// print "LOCKED <key>", then hold it until killed.
func helperLockHold(ctx context.Context, cli *clientv3.Client) error {
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(helperInt("TTL", 2)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	m := concurrency.NewMutex(sess, helperEnv("LOCK"))
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("Lock: %w", err)
	}
	fmt.Printf("LOCKED %s %x\n", m.Key(), sess.Lease())
	<-ctx.Done()
	return errors.New("still holding the lock at the end of the helper's lifetime")
}

// helperCampaign: campaign in election GOCLIENT_ELECTION with value GOCLIENT_VALUE and
// a session of GOCLIENT_TTL seconds; print "LEADER <key>" once elected, then stay leader
// until killed.
func helperCampaign(ctx context.Context, cli *clientv3.Client) error {
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(helperInt("TTL", 2)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	e := concurrency.NewElection(sess, helperEnv("ELECTION"))
	if err := e.Campaign(ctx, helperEnv("VALUE")); err != nil {
		return fmt.Errorf("Campaign: %w", err)
	}
	fmt.Printf("LEADER %s %x\n", e.Key(), sess.Lease())
	<-ctx.Done()
	return errors.New("still leader at the end of the helper's lifetime")
}

// helperProc is a running helper process seen from the test.
type helperProc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string // stdout, line by line; closed at EOF
	mu    sync.Mutex
	out   []string // every stdout line
	errb  bytes.Buffer
	done  chan struct{} // closed when the process has exited
	err   error         // its Wait result, valid after done
}

// startHelper runs the test binary as helper MODE with GOCLIENT_<k>=v for env; it is
// killed (SIGKILL) when the test ends, and its stderr is logged if the test failed.
func startHelper(t *testing.T, name, mode string, env map[string]string) *helperProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode)
	for k, v := range env {
		cmd.Env = append(cmd.Env, "GOCLIENT_"+k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h := &helperProc{name: name, cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &h.mu, w: &h.errb}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("helper %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("helper %s: start: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			h.mu.Lock()
			h.out = append(h.out, line)
			h.mu.Unlock()
			select {
			case h.lines <- line:
			default:
			}
		}
		close(h.lines)
		h.err = cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.kill()
		if t.Failed() {
			h.mu.Lock()
			if s := strings.TrimSpace(h.errb.String()); s != "" {
				t.Logf("helper %s stderr:\n%s", name, s)
			}
			h.mu.Unlock()
		}
	})
	return h
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// kill sends SIGKILL and waits (bounded) for the process to be reaped.
func (h *helperProc) kill() {
	if h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
	}
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
	}
}

// waitLine waits for a stdout line starting with prefix; it returns the line, or fails
// the test if the process ends first, prints ERROR, or ctx expires.
func (h *helperProc) waitLine(t *testing.T, ctx context.Context, prefix string) string {
	t.Helper()
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				<-h.done
				t.Fatalf("helper %s exited (%v) before printing %q; output: %q; stderr: %s",
					h.name, h.err, prefix, h.output(), h.stderr())
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
			if strings.HasPrefix(line, "ERROR") {
				t.Fatalf("helper %s: %s", h.name, line)
			}
		case <-ctx.Done():
			t.Fatalf("helper %s: no %q line: %v; output so far: %q", h.name, prefix, ctx.Err(), h.output())
		}
	}
}

// wait waits for the process to exit (bounded by ctx) and returns its stdout lines.
func (h *helperProc) wait(ctx context.Context) ([]string, error) {
	select {
	case <-h.done:
		return h.output(), h.err
	case <-ctx.Done():
		return h.output(), fmt.Errorf("helper %s still running: %w", h.name, ctx.Err())
	}
}

func (h *helperProc) output() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.out...)
}

func (h *helperProc) stderr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.errb.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}
