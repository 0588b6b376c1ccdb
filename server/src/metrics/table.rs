//! The one declaration of every metric family: name, HELP text, type, label
//! names and histogram buckets, in exposition order.
//!
//! The [`families!`] macro turns the table into the [`Metrics`] struct (one
//! field per counter, gauge and histogram, documented with its HELP text),
//! its constructor, and [`FAMILIES`], which `/metrics` walks to render and
//! the golden test walks to list. So adding a metric is one line here (plus
//! the golden file), not a field, a constructor line and an encoder call.
//!
//! Entry forms (each ends with `;`):
//! - `counter field "name" "help";`, `gauge field "name" "help";` and
//!   `histogram field "name" "help" buckets(start, factor, count);`: a value
//!   updated by the request path through `metrics.field`;
//! - `scrape Kind "name" "help" = |s| ...;`: one unlabelled value computed
//!   when scraped (from the server snapshot or /proc); `None` omits it;
//! - `series Kind "name" ["label", ...] "help" = |s, out| ...;`: labelled
//!   samples written through [`Series`]; the family is omitted when it has
//!   none (etcd's Go client omits a vector with no children too). A labelled
//!   histogram adds `buckets(start, factor, count)` after the help, and its
//!   vector takes its bounds from there ([`family_bounds`]).
//!
//! Label names are listed in the order Go's client prints them (sorted).

use super::encode::Encoder;
use super::instruments::{Buckets, Counter, Gauge, Histogram};
use super::process::Stats;
use super::{ServerSnapshot, State, alarm_name, grpc, labelled, major_minor};

/// The Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// What is read at scrape time, besides the registry itself.
pub(super) struct Scrape<'a> {
    pub m: &'a Metrics,
    /// Server state (`None` renders only what the registry holds).
    pub server: Option<&'a ServerSnapshot>,
    pub process: &'a Stats,
}

/// Where a family's samples come from.
enum Source {
    Counter(fn(&Metrics) -> &Counter),
    Gauge(fn(&Metrics) -> &Gauge),
    Histogram(fn(&Metrics) -> &Histogram),
    Scrape(fn(&Scrape<'_>) -> Option<f64>),
    Series(fn(&Scrape<'_>, &mut Series<'_>)),
}

/// One metric family as declared in the table.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names, in the order printed (`le` of histograms not included).
    pub labels: &'static [&'static str],
    /// Read by the golden test; rendering reads each instrument's own bounds.
    #[cfg_attr(not(test), allow(dead_code))]
    pub buckets: Option<Buckets>,
    source: Source,
}

impl Family {
    const fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
        buckets: Option<Buckets>,
        source: Source,
    ) -> Self {
        Self { name, help, kind, labels, buckets, source }
    }

    pub(super) fn render(&'static self, s: &Scrape<'_>, e: &mut Encoder) {
        let value = match self.source {
            Source::Counter(get) => Some(get(s.m).get() as f64),
            Source::Gauge(get) => Some(get(s.m).get() as f64),
            Source::Scrape(read) => read(s),
            Source::Histogram(get) => {
                e.family(self.name, self.help, self.kind.as_str());
                e.histogram_series(self.name, &[], &[], get(s.m));
                return;
            }
            Source::Series(write) => {
                write(s, &mut Series { e, family: self, empty: true });
                return;
            }
        };
        if let Some(v) = value {
            e.family(self.name, self.help, self.kind.as_str());
            e.sample(self.name, &[], &[], v);
        }
    }
}

/// Writes the samples of one labelled family; its header goes before the
/// first sample.
pub(super) struct Series<'e> {
    e: &'e mut Encoder,
    family: &'static Family,
    empty: bool,
}

impl Series<'_> {
    /// One histogram series (a labelled histogram family).
    pub fn histogram(&mut self, values: &[&str], h: &super::instruments::Histogram) {
        let f = self.family;
        assert_eq!(values.len(), f.labels.len(), "{}: one value per declared label", f.name);
        if self.empty {
            self.e.family(f.name, f.help, f.kind.as_str());
            self.empty = false;
        }
        self.e.histogram_series(f.name, f.labels, values, h);
    }

    /// One sample; `values` has one value per declared label name.
    pub fn sample(&mut self, values: &[&str], v: f64) {
        let f = self.family;
        assert_eq!(values.len(), f.labels.len(), "{}: one value per declared label", f.name);
        if self.empty {
            self.e.family(f.name, f.help, f.kind.as_str());
            self.empty = false;
        }
        self.e.sample(f.name, f.labels, values, v);
    }
}

/// Expands the table (see the module docs). A tt-muncher: each step moves
/// one entry into three accumulators (struct fields, their initialisers,
/// table rows); about 80 entries stay well under the default recursion limit.
macro_rules! families {
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]) => {
        /// Every metric of one member, created at its start-up and shared by
        /// the parts that update it: no process-global, so several members
        /// can run in one process (tests) without mixing their counts. The
        /// fields are the plain counters, gauges and histograms of the table
        /// in `table.rs`; labelled series live in `state`.
        pub struct Metrics {
            $($fields)*
            /// Labelled series and scrape-time inputs (see [`State`]).
            pub(super) state: State,
        }

        impl Metrics {
            pub(super) fn with_state(state: State) -> Self {
                Self { $($inits)* state }
            }
        }

        /// Every family, in exposition order.
        pub static FAMILIES: &[Family] = &[$($rows)*];
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        counter $field:ident $name:literal $help:literal; $($rest:tt)*) => {
        families! { @acc
            [$($fields)* #[doc = $help] pub $field: Counter,]
            [$($inits)* $field: Counter::new(),]
            [$($rows)* Family::new($name, $help, Kind::Counter, &[], None, Source::Counter(|m| &m.$field)),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        gauge $field:ident $name:literal $help:literal; $($rest:tt)*) => {
        families! { @acc
            [$($fields)* #[doc = $help] pub $field: Gauge,]
            [$($inits)* $field: Gauge::new(),]
            [$($rows)* Family::new($name, $help, Kind::Gauge, &[], None, Source::Gauge(|m| &m.$field)),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        histogram $field:ident $name:literal $help:literal buckets($start:expr, $factor:expr, $count:expr);
        $($rest:tt)*) => {
        families! { @acc
            [$($fields)* #[doc = $help] pub $field: Histogram,]
            [$($inits)* $field: Histogram::new(Buckets { start: $start, factor: $factor, count: $count }.bounds()),]
            [$($rows)* Family::new(
                $name, $help, Kind::Histogram, &[],
                Some(Buckets { start: $start, factor: $factor, count: $count }),
                Source::Histogram(|m| &m.$field),
            ),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        scrape $kind:ident $name:literal $help:literal = $read:expr; $($rest:tt)*) => {
        families! { @acc
            [$($fields)*]
            [$($inits)*]
            [$($rows)* Family::new($name, $help, Kind::$kind, &[], None, Source::Scrape($read)),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        series Histogram $name:literal [$($label:literal),+] $help:literal buckets($start:expr, $factor:expr, $count:expr)
        = $write:expr; $($rest:tt)*) => {
        families! { @acc
            [$($fields)*]
            [$($inits)*]
            [$($rows)* Family::new(
                $name, $help, Kind::Histogram, &[$($label),+],
                Some(Buckets { start: $start, factor: $factor, count: $count }),
                Source::Series($write),
            ),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*]
        series $kind:ident $name:literal [$($label:literal),+] $help:literal = $write:expr; $($rest:tt)*) => {
        families! { @acc
            [$($fields)*]
            [$($inits)*]
            [$($rows)* Family::new($name, $help, Kind::$kind, &[$($label),+], None, Source::Series($write)),]
            $($rest)*
        }
    };
    (@acc [$($fields:tt)*] [$($inits:tt)*] [$($rows:tt)*] $($rest:tt)+) => {
        compile_error!(concat!("unrecognised metric family entry: ", stringify!($($rest)+)));
    };
    ($($entries:tt)*) => {
        families! { @acc [] [] [] $($entries)* }
    };
}

/// The bucket bounds a histogram family declares (labelled histograms are
/// created with them); panics on a name that is not a histogram of the table.
pub(super) fn family_bounds(name: &str) -> Vec<f64> {
    FAMILIES
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.buckets)
        .unwrap_or_else(|| panic!("{name} is not a histogram of the table"))
        .bounds()
}

/// A value of the server snapshot (the family is omitted without one).
fn snap(s: &Scrape<'_>, read: fn(&ServerSnapshot) -> f64) -> Option<f64> {
    s.server.map(read)
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

families! {
    // ----- read from the server when scraped ------------------------------
    scrape Gauge "etcd_server_has_leader" "Whether or not a leader exists. 1 is existence, 0 is not."
        = |s| snap(s, |v| flag(v.has_leader));
    scrape Gauge "etcd_server_is_leader" "Whether or not this member is a leader. 1 if is, 0 otherwise."
        = |s| snap(s, |v| flag(v.is_leader));
    scrape Gauge "etcd_server_is_learner" "Whether or not this member is a learner. 1 if is, 0 otherwise."
        = |s| snap(s, |v| flag(v.is_learner));
    series Gauge "etcd_server_id" ["server_id"]
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID."
        = |s, out| if let Some(v) = s.server { out.sample(&[&format!("{:x}", v.member_id)], 1.0) };
    series Gauge "etcd_server_version" ["server_version"]
        "Which version is running. 1 for 'server_version' label with current version."
        = |s, out| if let Some(v) = s.server { out.sample(&[&v.server_version], 1.0) };
    series Gauge "etcd_cluster_version" ["cluster_version"]
        "Which version is running. 1 for 'cluster_version' label with current cluster version"
        = |s, out| if let Some(v) = s.server { out.sample(&[&major_minor(&v.server_version)], 1.0) };
    scrape Gauge "etcd_server_quota_backend_bytes" "Current backend storage quota size in bytes."
        = |s| snap(s, |v| v.quota_backend_bytes as f64);
    // Raft's commit index: what the log store saw committed, never below applied.
    scrape Gauge "etcd_server_proposals_committed_total" "The total number of consensus proposals committed."
        = |s| s.server.map(|v| s.m.committed_index(v) as f64);
    scrape Gauge "etcd_server_proposals_applied_total" "The total number of consensus proposals applied."
        = |s| snap(s, |v| v.applied_index as f64);
    series Gauge "etcd_debugging_server_alarms" ["alarm_type", "server_id"]
        "Alarms for every member in cluster. 1 for 'server_id' label with current ID. 2 for 'alarm_type' label with type of this alarm"
        = |s, out| for (member, alarm) in s.server.map_or(&[][..], |v| v.alarms.as_slice()) {
            out.sample(&[&alarm_name(*alarm), &format!("{member:x}")], 1.0);
        };
    scrape Gauge "etcd_mvcc_db_total_size_in_bytes" "Total size of the underlying database physically allocated in bytes."
        = |s| snap(s, |v| v.db_total_size_bytes as f64);
    scrape Gauge "etcd_mvcc_db_total_size_in_use_in_bytes" "Total size of the underlying database logically in use in bytes."
        = |s| snap(s, |v| v.db_in_use_bytes as f64);
    scrape Gauge "etcd_debugging_mvcc_keys_total" "Total number of keys."
        = |s| snap(s, |v| v.keys_total as f64);
    scrape Gauge "etcd_debugging_mvcc_current_revision" "The current revision of store."
        = |s| snap(s, |v| v.current_revision as f64);
    scrape Gauge "etcd_debugging_mvcc_compact_revision" "The revision of the last compaction in store."
        = |s| snap(s, |v| v.compact_revision as f64);
    scrape Gauge "etcd_mvcc_db_open_read_transactions" "The number of currently open read transactions"
        = |s| snap(s, |v| v.open_read_transactions as f64);
    series Gauge "etcd_network_known_peers" ["Local", "Remote"] "The current number of known peers."
        = |s, out| if let Some(v) = s.server {
            let local = format!("{:x}", v.member_id);
            for m in &v.members {
                out.sample(&[&local, &format!("{m:x}")], 1.0);
            }
        };
    series Gauge "etcd_server_feature_enabled" ["name", "stage"]
        "Whether or not a feature is enabled. 1 is enabled, 0 is not."
        = |s, out| for (name, stage, on) in s.server.map_or(&[][..], |v| v.feature_gates.as_slice()) {
            out.sample(&[name, stage], flag(*on));
        };
    // Capstan has no auth store yet: its revision is the initial one, as etcd's before any change.
    scrape Gauge "etcd_debugging_auth_revision" "The current revision of auth store." = |s| snap(s, |_| 1.0);

    // ----- etcd_server_* ---------------------------------------------------
    counter leader_changes "etcd_server_leader_changes_seen_total" "The number of leader changes seen.";
    gauge proposals_pending "etcd_server_proposals_pending" "The current number of pending proposals to commit.";
    counter proposals_failed "etcd_server_proposals_failed_total" "The total number of failed proposals seen.";
    counter slow_apply "etcd_server_slow_apply_total"
        "The total number of slow apply requests (likely overloaded from slow disk).";
    counter read_indexes_failed "etcd_server_read_indexes_failed_total" "The total number of failed read indexes seen.";
    counter slow_read_indexes "etcd_server_slow_read_indexes_total"
        "The total number of pending read indexes not in sync with leader's or timed out read index requests.";
    counter heartbeat_send_failures "etcd_server_heartbeat_send_failures_total"
        "The total number of leader heartbeat send failures (likely overloaded from slow disk).";
    gauge snapshot_apply_in_progress "etcd_server_snapshot_apply_in_progress_total"
        "1 if the server is applying the incoming snapshot. 0 if none.";
    counter snapshot_receive_success "etcd_network_snapshot_receive_success" "Total number of successful snapshot receives";
    counter snapshot_send_success "etcd_network_snapshot_send_success" "Total number of successful snapshot sends";
    counter lease_expired "etcd_debugging_server_lease_expired_total" "The total number of expired leases.";
    counter learner_promote_successes "etcd_server_learner_promote_successes"
        "The total number of successful learner promotions while this member is leader.";
    counter health_success "etcd_server_health_success" "The total number of successful health checks";
    counter health_failures "etcd_server_health_failures" "The total number of failed health checks";
    series Gauge "etcd_server_healthcheck" ["name", "type"] "The result of each kind of healthcheck."
        = labelled::render_health_last;
    series Counter "etcd_server_healthchecks_total" ["name", "status", "type"] "The total number of each kind of healthcheck."
        = labelled::render_health_totals;
    series Histogram "etcd_server_request_duration_seconds" ["success", "type"]
        "Response latency distribution in seconds for each type." buckets(0.001, 2.0, 14)
        = |s, out| s.m.state.request_durations.render(out);
    series Histogram "etcd_server_apply_duration_seconds" ["op", "success", "version"]
        "The latency distributions of v2 apply called by backend." buckets(0.0001, 2.0, 20)
        = |s, out| s.m.state.apply_durations.render(out);
    series Counter "etcd_server_client_requests_total" ["client_api_version", "type"]
        "The total number of client requests per client version."
        = labelled::render_client_requests;

    // ----- etcd_mvcc_* / etcd_debugging_mvcc_* -------------------------------
    counter range_total "etcd_mvcc_range_total" "Total number of ranges seen by this member.";
    counter put_total "etcd_mvcc_put_total" "Total number of puts seen by this member.";
    counter delete_total "etcd_mvcc_delete_total" "Total number of deletes seen by this member.";
    counter txn_total "etcd_mvcc_txn_total" "Total number of txns seen by this member.";
    gauge total_put_size_bytes "etcd_debugging_mvcc_total_put_size_in_bytes"
        "The total size of put kv pairs seen by this member.";
    gauge watch_streams "etcd_debugging_mvcc_watch_stream_total" "Total number of watch streams.";
    gauge watchers "etcd_debugging_mvcc_watcher_total" "Total number of watchers.";
    gauge slow_watchers "etcd_debugging_mvcc_slow_watcher_total" "Total number of unsynced slow watchers.";
    counter events_total "etcd_debugging_mvcc_events_total" "Total number of events sent by this member.";
    gauge pending_events "etcd_debugging_mvcc_pending_events_total" "Total number of pending events to be sent.";
    histogram index_compaction_pause_ms "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds"
        "Bucketed histogram of index compaction pause duration." buckets(0.5, 2.0, 14);
    histogram db_compaction_pause_ms "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds"
        "Bucketed histogram of db compaction pause duration." buckets(1.0, 2.0, 13);
    histogram db_compaction_total_ms "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds"
        "Bucketed histogram of db compaction total duration." buckets(100.0, 2.0, 14);
    gauge db_compaction_last "etcd_debugging_mvcc_db_compaction_last"
        "The unix time of the last db compaction. Resets to 0 on start.";
    counter db_compaction_keys "etcd_debugging_mvcc_db_compaction_keys_total" "Total number of db keys compacted.";
    histogram hash_duration "etcd_mvcc_hash_duration_seconds"
        "The latency distribution of storage hash operation." buckets(0.01, 2.0, 15);
    histogram hash_rev_duration "etcd_mvcc_hash_rev_duration_seconds"
        "The latency distribution of storage hash by revision operation." buckets(0.01, 2.0, 15);

    // ----- etcd_disk_* (disk latencies: 1 ms .. 8.192 s, as etcd) ------------
    histogram wal_fsync_duration "etcd_disk_wal_fsync_duration_seconds"
        "The latency distributions of fsync called by WAL." buckets(0.001, 2.0, 14);
    histogram wal_write_duration "etcd_disk_wal_write_duration_seconds"
        "The latency distributions of write called by WAL." buckets(0.001, 2.0, 14);
    gauge wal_write_bytes "etcd_disk_wal_write_bytes_total" "Total number of bytes written in WAL.";
    histogram backend_commit_duration "etcd_disk_backend_commit_duration_seconds"
        "The latency distributions of commit called by backend." buckets(0.001, 2.0, 14);
    histogram backend_defrag_duration "etcd_disk_backend_defrag_duration_seconds"
        "The latency distribution of backend defragmentation." buckets(0.1, 2.0, 13);
    histogram backend_snapshot_duration "etcd_disk_backend_snapshot_duration_seconds"
        "The latency distribution of backend snapshots." buckets(0.01, 2.0, 17);
    gauge defrag_inflight "etcd_disk_defrag_inflight"
        "Whether or not defrag is active on the member. 1 means active, 0 means not.";

    // ----- etcd_debugging_lease_* -------------------------------------------
    counter lease_granted "etcd_debugging_lease_granted_total" "The total number of granted leases.";
    counter lease_revoked "etcd_debugging_lease_revoked_total" "The total number of revoked leases.";
    counter lease_renewed "etcd_debugging_lease_renewed_total" "The number of renewed leases seen by the leader.";
    histogram lease_ttl "etcd_debugging_lease_ttl_total" "Bucketed histogram of lease TTLs." buckets(1.0, 2.0, 24);

    // ----- etcd_network_* -----------------------------------------------------
    counter client_grpc_received_bytes "etcd_network_client_grpc_received_bytes_total"
        "The total number of bytes received from grpc clients.";
    counter client_grpc_sent_bytes "etcd_network_client_grpc_sent_bytes_total"
        "The total number of bytes sent to grpc clients.";
    series Counter "etcd_network_peer_sent_bytes_total" ["To"] "The total number of bytes sent to peers."
        = |s, out| labelled::render_peers(s, out, |p| &p.sent_bytes);
    series Counter "etcd_network_peer_received_bytes_total" ["From"] "The total number of bytes received from peers."
        = |s, out| labelled::render_peers(s, out, |p| &p.received_bytes);
    series Counter "etcd_network_peer_sent_failures_total" ["To"] "The total number of send failures from peers."
        = |s, out| labelled::render_peers(s, out, |p| &p.sent_failures);
    series Counter "etcd_network_peer_received_failures_total" ["From"] "The total number of receive failures from peers."
        = |s, out| labelled::render_peers(s, out, |p| &p.received_failures);

    // ----- grpc_server_* (go-grpc-middleware's names) ----------------------------
    series Counter "grpc_server_handled_total" ["grpc_code", "grpc_method", "grpc_service", "grpc_type"]
        "Total number of RPCs completed on the server, regardless of success or failure."
        = grpc::render_handled;
    series Counter "grpc_server_msg_received_total" ["grpc_method", "grpc_service", "grpc_type"]
        "Total number of RPC stream messages received on the server."
        = |s, out| grpc::render_per_method(s, out, |c| &c.msg_received);
    series Counter "grpc_server_msg_sent_total" ["grpc_method", "grpc_service", "grpc_type"]
        "Total number of gRPC stream messages sent by the server."
        = |s, out| grpc::render_per_method(s, out, |c| &c.msg_sent);
    series Counter "grpc_server_started_total" ["grpc_method", "grpc_service", "grpc_type"]
        "Total number of RPCs started on the server."
        = |s, out| grpc::render_per_method(s, out, |c| &c.started);

    // ----- always zero: etcd registers them in every server, Capstan has no v2 store
    // and runs no gRPC proxy, as an etcd server without either ------------------------
    scrape Counter "etcd_debugging_store_expires_total" "Total number of expired keys." = |_| Some(0.0);
    scrape Counter "etcd_debugging_store_watch_requests_total"
        "Total number of incoming watch requests (new or reestablished)." = |_| Some(0.0);
    scrape Gauge "etcd_debugging_store_watchers" "Count of currently active watchers." = |_| Some(0.0);
    scrape Gauge "etcd_grpc_proxy_cache_hits_total" "Total number of cache hits" = |_| Some(0.0);
    scrape Gauge "etcd_grpc_proxy_cache_keys_total" "Total number of keys/ranges cached" = |_| Some(0.0);
    scrape Gauge "etcd_grpc_proxy_cache_misses_total" "Total number of cache misses" = |_| Some(0.0);
    scrape Counter "etcd_grpc_proxy_events_coalescing_total" "Total number of events coalescing" = |_| Some(0.0);
    scrape Gauge "etcd_grpc_proxy_watchers_coalescing_total" "Total number of current watchers coalescing"
        = |_| Some(0.0);

    // ----- process_* / os_* (Go's process collector), from /proc ----------------
    scrape Counter "process_cpu_seconds_total" "Total user and system CPU time spent in seconds."
        = |s| s.process.cpu_seconds;
    scrape Gauge "process_open_fds" "Number of open file descriptors." = |s| s.process.open_fds.map(|n| n as f64);
    scrape Gauge "os_fd_used" "The number of used file descriptors." = |s| s.process.open_fds.map(|n| n as f64);
    scrape Gauge "process_max_fds" "Maximum number of open file descriptors." = |s| s.process.max_fds.map(|n| n as f64);
    scrape Gauge "os_fd_limit" "The file descriptor limit." = |s| s.process.max_fds.map(|n| n as f64);
    scrape Gauge "process_resident_memory_bytes" "Resident memory size in bytes."
        = |s| s.process.resident_bytes.map(|n| n as f64);
    scrape Gauge "process_start_time_seconds" "Start time of the process since unix epoch in seconds."
        = |s| Some(s.process.start_time_seconds);
    scrape Gauge "process_virtual_memory_bytes" "Virtual memory size in bytes."
        = |s| s.process.virtual_bytes.map(|n| n as f64);
    scrape Gauge "process_virtual_memory_max_bytes" "Maximum amount of virtual memory available in bytes."
        = |s| s.process.virtual_max_bytes;
}
