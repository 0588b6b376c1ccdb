//! capstan-operator: runs Capstan clusters on Kubernetes from `EtcdCluster`
//! resources.
//!
//! Layout, from pure to effectful:
//! * [`crd`] — the resource types and their schema (no I/O);
//! * [`resources`] — pure builders for every Kubernetes object the operator owns;
//! * [`members`] — the pure membership planner: observed state in, one safe step out;
//! * [`tls`] — certificates, the CA rotation state machine and TLS probes of members;
//! * [`etcd`] — a small etcd v3 client over `capstan-proto` (cluster and maintenance RPCs);
//! * [`controller`] — the kube-runtime controller that applies the builders and
//!   executes planner steps;
//! * [`leader`], [`metrics`], [`telemetry`] — what the binary needs around it.

pub mod controller;
pub mod crd;
pub mod etcd;
pub mod http;
pub mod leader;
pub mod members;
pub mod metrics;
pub mod resources;
pub mod status;
pub mod tls;
