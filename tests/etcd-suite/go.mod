// Wrapper module that pins etcd's own end-to-end tests (go.etcd.io/etcd/tests/v3, whose
// package common holds the cases shared by etcd's e2e and integration runners) for
// tests/etcd-suite/run.sh, which builds them with
//   go test -c -tags e2e go.etcd.io/etcd/tests/v3/common
// from this directory (GOFLAGS=-mod=readonly: the build list is exactly go.mod + go.sum).
// etcd's own go.mod carries `replace` lines; required from here they do not apply, so the
// test code is compiled against the released api/client/pkg/server modules of the same
// version. To change versions: GOFLAGS=-mod=mod go get go.etcd.io/etcd/tests/v3@vX, then
// GOFLAGS=-mod=mod go test -c -tags e2e -o /dev/null go.etcd.io/etcd/tests/v3/common
// (records the go.sum lines of the test's own dependencies), then rerun the control
// (run.sh --sut etcd --save etcd-X.results) and the Capstan run.
module capstan.test/etcd-suite

go 1.26.0

require go.etcd.io/etcd/tests/v3 v3.7.3 // indirect
