package goclient

// KV.RangeStream (etcd 3.7), through the client's GetStream: a large prefix comes back
// in several chunks whose merge equals a plain Get at the same revision; only the last
// chunk carries the header, More and Count; writes made while the stream is read are
// not in it; limits, count-only and the refusals (custom sort order, revision filters)
// behave as in etcd 3.7.

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamChunks reads a whole GetStream; the error is the stream's terminal error.
func streamChunks(ctx context.Context, cli *clientv3.Client, key string, opts ...clientv3.OpOption) ([]*pb.RangeResponse, error) {
	ch, err := cli.GetStream(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	var chunks []*pb.RangeResponse
	for r := range ch {
		if err := r.Err(); err != nil {
			return chunks, err
		}
		chunks = append(chunks, r.RangeResponse)
	}
	return chunks, nil
}

func TestRangeStream(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	cli := newClient(t)
	pfx := keyPrefix(t, cli)
	const n = 300
	value := strings.Repeat("v", 1024)
	for i := 0; i < n; i++ {
		sctx, cancel := step(ctx, 10*time.Second)
		_, err := cli.Put(sctx, fmt.Sprintf("%sk%04d", pfx, i), fmt.Sprintf("%s-%d", value, i))
		cancel()
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}

	sctx, cancel := step(ctx, 20*time.Second)
	defer cancel()
	chunks, err := streamChunks(sctx, cli, pfx, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("GetStream: %v", err)
	}
	if len(chunks) < 2 {
		t.Fatalf("GetStream of %d keys of 1 KiB: %d chunk(s), want several", n, len(chunks))
	}
	merged := &pb.RangeResponse{}
	for i, c := range chunks {
		last := i == len(chunks)-1
		if (c.Header != nil) != last || (!last && (c.More || c.Count != 0)) {
			t.Fatalf("chunk %d of %d: header %v, more %v, count %d; only the last chunk carries them",
				i, len(chunks), c.Header, c.More, c.Count)
		}
		merged.Kvs = append(merged.Kvs, c.Kvs...)
	}
	final := chunks[len(chunks)-1]
	rev := final.Header.Revision
	if final.More || final.Count != n || len(merged.Kvs) != n {
		t.Fatalf("GetStream: %d keys, more %v, count %d; want %d keys, more false, count %d",
			len(merged.Kvs), final.More, final.Count, n, n)
	}
	plain, err := cli.Get(sctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		t.Fatalf("Get at revision %d: %v", rev, err)
	}
	for i, kv := range plain.Kvs {
		s := merged.Kvs[i]
		if !bytes.Equal(kv.Key, s.Key) || !bytes.Equal(kv.Value, s.Value) || kv.ModRevision != s.ModRevision ||
			kv.CreateRevision != s.CreateRevision || kv.Version != s.Version {
			t.Fatalf("key %d: stream %q@%d, Get %q@%d", i, s.Key, s.ModRevision, kv.Key, kv.ModRevision)
		}
	}
	t.Logf("GetStream: %d keys in %d chunks at revision %d", n, len(chunks), rev)

	// Writes made after the stream began are not in it: the revision is pinned when it starts.
	ch, err := cli.GetStream(sctx, pfx, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("GetStream: %v", err)
	}
	first, ok := <-ch
	if !ok || first.Err() != nil {
		t.Fatalf("first chunk: %v", first.Err())
	}
	if _, err := cli.Put(sctx, pfx+"k9999-late", "x"); err != nil {
		t.Fatalf("put during the stream: %v", err)
	}
	if _, err := cli.Delete(sctx, pfx+"k0299"); err != nil {
		t.Fatalf("delete during the stream: %v", err)
	}
	keys := len(first.Kvs)
	var tail *pb.RangeResponse
	for r := range ch {
		if r.Err() != nil {
			t.Fatalf("stream: %v", r.Err())
		}
		keys += len(r.Kvs)
		for _, kv := range r.Kvs {
			if strings.HasSuffix(string(kv.Key), "late") {
				t.Fatalf("a key written during the stream is in it")
			}
		}
		tail = r.RangeResponse
	}
	if keys != n || tail == nil || tail.Count != n {
		t.Fatalf("stream read while writing: %d keys (count %v); want the %d at its start", keys, tail, n)
	}

	// Limit: the first 120 keys, More set, Count of the whole range (now n: one added, one deleted).
	chunks, err = streamChunks(sctx, cli, pfx, clientv3.WithPrefix(), clientv3.WithLimit(120))
	if err != nil {
		t.Fatalf("GetStream with limit: %v", err)
	}
	got := 0
	for _, c := range chunks {
		got += len(c.Kvs)
	}
	final = chunks[len(chunks)-1]
	if got != 120 || !final.More || final.Count != n {
		t.Fatalf("GetStream limit 120: %d keys, more %v, count %d; want 120, true, %d", got, final.More, final.Count, n)
	}

	// Count only: one chunk with the count and no keys.
	chunks, err = streamChunks(sctx, cli, pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || len(chunks) != 1 || chunks[0].Count != n || len(chunks[0].Kvs) != 0 || chunks[0].Header == nil {
		t.Fatalf("GetStream count-only: %v, %v; want one chunk with count %d", chunks, err, n)
	}

	// Refusals: what cannot be cut into key-ordered chunks.
	for _, c := range []struct {
		name string
		opts []clientv3.OpOption
		want string
	}{
		{"descending sort", []clientv3.OpOption{clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)},
			"RangeStream does not support custom sort orders"},
		{"min mod revision", []clientv3.OpOption{clientv3.WithMinModRev(2)},
			"RangeStream does not support revision filters"},
	} {
		_, err := streamChunks(sctx, cli, pfx, append([]clientv3.OpOption{clientv3.WithPrefix()}, c.opts...)...)
		if status.Code(err) != codes.Unimplemented || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("GetStream with %s: %v; want Unimplemented %q", c.name, err, c.want)
		}
	}
}
