//! The watch hub: fans committed MVCC events out to watchers with etcd's
//! exact semantics (etcd `server/storage/mvcc/watchable_store.go`,
//! `watcher.go`, `watcher_group.go`).
//!
//! # Model
//!
//! Every gRPC Watch stream opens one [`WatchStream`]; it owns a bounded queue
//! of [`Delivery`]s shared by all of its watchers (etcd's per-stream
//! `chanBufLen` channel). A watcher is in one of three states:
//!
//! * **synced**: it has seen every event up to the hub's revision; the Raft
//!   state machine's [`WatchHub::notify`] pushes new events to it directly,
//!   one response per revision (as etcd's `notify`, called once per txn).
//! * **unsynced**: it is behind (historical `start_revision`, or its stream's
//!   queue was full when `notify` tried to deliver). A background thread
//!   catches it up from [`KvStore::history`] in responses of at most
//!   [`WatchConfig::max_revisions_per_response`] revisions (etcd's
//!   `watchBatchMaxRevs`), then moves it back to synced. If its next
//!   revision has been compacted meanwhile it is canceled with
//!   `compact_revision` (etcd `chooseAll`).
//! * **compacted**: canceled by compaction; it stays registered on its stream
//!   until the client cancels it, exactly as in etcd.
//!
//! `notify` never blocks on a consumer: a full queue turns the watcher
//! unsynced (it remembers the first revision it missed), so slow consumers
//! neither stall the apply path nor other watchers, and no event is lost or
//! duplicated (each watcher's `min_rev` only moves forward past delivered
//! revisions).
//!
//! The hub keeps its own notion of "current revision" (the highest revision
//! passed to `notify`), not the store's: the store publishes a revision before
//! the state machine calls `notify`, so using it for progress notifications
//! could announce a revision whose events are still on their way.

mod group;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use capstan_proto::mvccpb::{Event, event::EventType};
use parking_lot::{Condvar, Mutex};
use tokio::sync::mpsc;

use crate::mvcc::KvStore;
use group::SyncedIndex;

/// `clientv3.InvalidWatchID`: the watch id of RequestProgress responses
/// (broadcast by clients to every watcher of the stream) and of failed creates.
pub const INVALID_WATCH_ID: i64 = -1;

/// etcd's `grpcOverheadBytes`: added to `max-request-bytes` to get the size
/// above which a `fragment` watcher's responses are split.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// etcd `minWatchProgressInterval`.
pub const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Tunables of the hub and of the Watch service. Defaults are etcd's.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Interval of progress notifications for `progress_notify` watchers
    /// (etcd `--experimental-watch-progress-notify-interval`, default 10 min;
    /// each stream adds up to 10 % random jitter like etcd).
    pub progress_notify_interval: Duration,
    /// Set to etcd's `--max-request-bytes` (default 1.5 MiB): responses of
    /// watchers created with `fragment` are split above this plus
    /// [`GRPC_OVERHEAD_BYTES`], as etcd does.
    pub max_response_bytes: usize,
    /// Capacity, in responses, of each stream's queue (etcd `chanBufLen` = 128).
    pub stream_buffer: usize,
    /// How often unsynced watchers are retried when nothing wakes the sync
    /// thread earlier (etcd `watchResyncPeriod` = 100 ms).
    pub sync_interval: Duration,
    /// Unsynced watchers handled per catch-up round (etcd `maxWatchersPerSync` = 512).
    pub max_watchers_per_sync: usize,
    /// Distinct revisions per catch-up response (etcd `watchBatchMaxRevs` = 1000).
    pub max_revisions_per_response: usize,
    /// Events read from history per catch-up round, bounding memory (etcd
    /// reads everything up to the current revision at once).
    pub max_events_per_sync: usize,
    /// When a catch-up finishes, revisions committed during the (unlocked)
    /// history read are read with the hub locked so the watcher can become
    /// synced; above this many revisions it takes another unlocked round instead.
    pub max_locked_catchup_revisions: i64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            progress_notify_interval: Duration::from_secs(600),
            max_response_bytes: 3 * 512 * 1024,
            stream_buffer: 128,
            sync_interval: Duration::from_millis(100),
            max_watchers_per_sync: 512,
            max_revisions_per_response: 1000,
            max_events_per_sync: 10_000,
            max_locked_catchup_revisions: 256,
        }
    }
}

impl WatchConfig {
    /// Size at which responses of `fragment` watchers are split (etcd
    /// `MaxRequestBytesWithOverhead`).
    pub fn fragment_threshold(&self) -> usize {
        self.max_response_bytes + GRPC_OVERHEAD_BYTES
    }

    /// The progress interval etcd would use: zero keeps the 10-minute
    /// default, anything below 100 ms is raised to 100 ms
    /// (`minWatchProgressInterval`).
    pub fn effective_progress_interval(&self) -> Duration {
        if self.progress_notify_interval.is_zero() {
            Duration::from_secs(600)
        } else {
            self.progress_notify_interval.max(MIN_PROGRESS_INTERVAL)
        }
    }
}

/// Why a watch could not be created or canceled. The texts are etcd's, since
/// they reach clients verbatim as `cancel_reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// A negative `start_revision` (etcd 3.6 answers it with `ErrCompacted`).
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// `key >= range_end` for a real range (etcd `ErrEmptyWatcherRange`).
    #[error("mvcc: watcher range is empty")]
    EmptyRange,
    /// A client-chosen watch id already in use on the stream.
    #[error("mvcc: duplicate watch ID provided on the WatchStream")]
    DuplicateId,
    /// Cancel of an id the stream does not have (etcd sends no response).
    #[error("mvcc: watcher does not exist")]
    NotExist,
    /// The hub was shut down.
    #[error("etcdserver: server stopped")]
    Stopped,
}

/// What a client asked to watch: the fields of `WatchCreateRequest` the hub
/// needs, unnormalized (the hub applies etcd's normalization).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSpec {
    /// 0 = let the stream choose (etcd `AutoWatchID`).
    pub watch_id: i64,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub start_revision: i64,
    /// Filter NOPUT: drop PUT events.
    pub no_put: bool,
    /// Filter NODELETE: drop DELETE events.
    pub no_delete: bool,
}

/// A response for one watcher (or, with `watch_id == -1`, for the whole
/// stream) as the hub produced it; the gRPC layer adds header, prev_kv and
/// fragmentation.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub watch_id: i64,
    /// Shared between the watchers that receive the same event.
    pub events: Vec<Arc<Event>>,
    /// The revision for the response header, as etcd computes it: the event
    /// revision for live events, the store revision for catch-up batches and
    /// progress notifications, 0 for compaction cancels.
    pub revision: i64,
    /// Non-zero when the watcher was canceled because the revision it needs
    /// was compacted.
    pub compact_revision: i64,
    /// Identity of the watcher, so a stream drops leftovers of a canceled
    /// watcher whose id was reused.
    serial: u64,
}

impl Delivery {
    #[cfg(test)]
    /// A response with no events and no compaction: a progress notification.
    pub fn is_progress(&self) -> bool {
        self.events.is_empty() && self.compact_revision == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatcherState {
    Synced,
    Unsynced,
    Compacted,
}

#[derive(Debug)]
struct Watcher {
    stream: u64,
    id: i64,
    key: Vec<u8>,
    /// In [`crate::mvcc::key_in_range`] terms: empty = single key, `[0]` = from key.
    end: Vec<u8>,
    start_rev: i64,
    /// The first revision this watcher has not been sent yet.
    min_rev: i64,
    no_put: bool,
    no_delete: bool,
    state: WatcherState,
}

impl Watcher {
    fn keeps(&self, ev: &Event) -> bool {
        let put = ev.r#type == EventType::Put as i32;
        !(put && self.no_put || !put && self.no_delete)
    }
}

struct StreamSlot {
    tx: mpsc::Sender<Delivery>,
    /// watch id → watcher serial.
    ids: HashMap<i64, u64>,
    /// etcd `nextID`: the next auto-assigned id.
    next_id: i64,
    /// Set when a delivery found the queue full; the stream wakes the sync
    /// thread on its next receive so the watcher catches up promptly.
    stalled: Arc<AtomicBool>,
}

#[derive(Default)]
struct HubState {
    closed: bool,
    /// The highest revision passed to `notify` (or the store's at creation).
    rev: i64,
    next_serial: u64,
    next_stream: u64,
    watchers: HashMap<u64, Watcher>,
    synced: SyncedIndex,
    unsynced: BTreeSet<u64>,
    /// Round-robin position of the catch-up thread in `unsynced`.
    sync_cursor: u64,
    streams: HashMap<u64, StreamSlot>,
}

enum SendOutcome {
    Sent,
    /// Every event was filtered out: nothing to send (etcd `watcher.send`).
    Filtered,
    Full,
    Closed,
}

impl HubState {
    /// Sends `events` (already restricted to `w`'s range and revisions) to
    /// the watcher's stream, applying its filters.
    fn send(&self, serial: u64, events: Vec<Arc<Event>>, revision: i64) -> SendOutcome {
        let Some(w) = self.watchers.get(&serial) else { return SendOutcome::Closed };
        let Some(slot) = self.streams.get(&w.stream) else { return SendOutcome::Closed };
        let progress = events.is_empty();
        let events: Vec<Arc<Event>> =
            if w.no_put || w.no_delete { events.into_iter().filter(|e| w.keeps(e)).collect() } else { events };
        if !progress && events.is_empty() {
            return SendOutcome::Filtered;
        }
        let d = Delivery { watch_id: w.id, events, revision, compact_revision: 0, serial };
        match slot.tx.try_send(d) {
            Ok(()) => SendOutcome::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => {
                slot.stalled.store(true, Ordering::Release);
                SendOutcome::Full
            }
            Err(mpsc::error::TrySendError::Closed(_)) => SendOutcome::Closed,
        }
    }

    fn make_synced(&mut self, serial: u64) {
        if let Some(w) = self.watchers.get_mut(&serial) {
            w.state = WatcherState::Synced;
            self.unsynced.remove(&serial);
            self.synced.insert(serial, &w.key, &w.end);
        }
    }

    fn make_unsynced(&mut self, serial: u64, min_rev: i64) {
        if let Some(w) = self.watchers.get_mut(&serial) {
            if w.state == WatcherState::Synced {
                self.synced.remove(serial, &w.key, &w.end);
            }
            w.state = WatcherState::Unsynced;
            w.min_rev = min_rev;
            self.unsynced.insert(serial);
        }
    }

    fn remove_watcher(&mut self, serial: u64) {
        if let Some(w) = self.watchers.remove(&serial) {
            match w.state {
                WatcherState::Synced => self.synced.remove(serial, &w.key, &w.end),
                WatcherState::Unsynced => {
                    self.unsynced.remove(&serial);
                }
                WatcherState::Compacted => {}
            }
        }
    }
}

/// Wakes the catch-up thread.
#[derive(Default)]
struct Waker {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    fn wake(&self) {
        *self.pending.lock() = true;
        self.cv.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let mut pending = self.pending.lock();
        if !*pending {
            self.cv.wait_for(&mut pending, timeout);
        }
        *pending = false;
    }
}

/// The registry of every watcher of this member, fed by the Raft state
/// machine through [`WatchHub::notify`].
pub struct WatchHub {
    kv: Arc<KvStore>,
    config: WatchConfig,
    state: Mutex<HubState>,
    waker: Waker,
    sync_thread: Mutex<Option<JoinHandle<()>>>,
    /// Test hook run by the catch-up thread between its unlocked history
    /// read and the locked hand-over (to force writes into that window).
    #[cfg(test)]
    after_history_read: Mutex<Option<TestHook>>,
}

/// A callback tests install into the catch-up thread.
#[cfg(test)]
type TestHook = Box<dyn Fn(&WatchHub) + Send + Sync>;

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("WatchHub")
            .field("revision", &st.rev)
            .field("streams", &st.streams.len())
            .field("watchers", &st.watchers.len())
            .field("unsynced", &st.unsynced.len())
            .finish()
    }
}

impl WatchHub {
    /// Creates the hub at the store's current revision and starts its
    /// catch-up thread (blocking history reads stay off the async runtime).
    /// The thread ends on [`WatchHub::shutdown`] or when the hub is dropped.
    pub fn new(kv: Arc<KvStore>, config: WatchConfig) -> Arc<Self> {
        let rev = kv.current_revision();
        let hub = Arc::new(Self {
            kv,
            config,
            state: Mutex::new(HubState { rev, ..Default::default() }),
            waker: Waker::default(),
            sync_thread: Mutex::new(None),
            #[cfg(test)]
            after_history_read: Mutex::new(None),
        });
        let weak = Arc::downgrade(&hub);
        let handle = std::thread::Builder::new()
            .name("watch-sync".into())
            .spawn(move || sync::run(weak))
            .expect("spawning the watch catch-up thread");
        *hub.sync_thread.lock() = Some(handle);
        hub
    }

    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    pub fn kv(&self) -> &Arc<KvStore> {
        &self.kv
    }

    /// The hub's current revision: every event up to it has been handed to
    /// the hub. Used for created/canceled/progress response headers.
    pub fn revision(&self) -> i64 {
        self.state.lock().rev
    }

    #[cfg(test)]
    /// Number of registered watchers (all states).
    pub fn watcher_count(&self) -> usize {
        self.state.lock().watchers.len()
    }

    #[cfg(test)]
    /// Number of watchers currently catching up from history.
    pub fn unsynced_count(&self) -> usize {
        self.state.lock().unsynced.len()
    }

    /// Called by the state machine after every durable batch with its events
    /// (ordered by revision and sub-revision) and the revision after it.
    ///
    /// Never blocks on consumers: each synced watcher gets one response per
    /// revision pushed with `try_send`; a watcher whose stream queue is full
    /// becomes unsynced and later catches up from history.
    pub fn notify(&self, events: &[Event], current_revision: i64) {
        let mut wake = false;
        {
            let mut st = self.state.lock();
            if st.closed {
                return;
            }
            let st = &mut *st;
            if !st.synced.is_empty() {
                let mut matched = Vec::new();
                let mut batch: Vec<(u64, Vec<Arc<Event>>)> = Vec::new();
                let mut slot_of: HashMap<u64, usize> = HashMap::new();
                let mut i = 0;
                while i < events.len() {
                    let rev = mod_revision(&events[i]);
                    let mut j = i + 1;
                    while j < events.len() && mod_revision(&events[j]) == rev {
                        j += 1;
                    }
                    batch.clear();
                    slot_of.clear();
                    for ev in &events[i..j] {
                        let Some(kv) = ev.kv.as_ref() else { continue };
                        matched.clear();
                        st.synced.matching(&kv.key, &mut matched);
                        if matched.is_empty() {
                            continue;
                        }
                        let shared = Arc::new(ev.clone());
                        for &serial in &matched {
                            // "don't double notify" (etcd newWatcherBatch).
                            if st.watchers.get(&serial).is_some_and(|w| rev >= w.min_rev) {
                                let at = *slot_of.entry(serial).or_insert_with(|| {
                                    batch.push((serial, Vec::new()));
                                    batch.len() - 1
                                });
                                batch[at].1.push(shared.clone());
                            }
                        }
                    }
                    for (serial, evs) in batch.drain(..) {
                        match st.send(serial, evs, rev) {
                            SendOutcome::Sent | SendOutcome::Filtered | SendOutcome::Closed => {
                                if let Some(w) = st.watchers.get_mut(&serial) {
                                    w.min_rev = rev + 1;
                                }
                            }
                            SendOutcome::Full => {
                                tracing::debug!(
                                    serial,
                                    revision = rev,
                                    "watch stream full; watcher falls back to catch-up"
                                );
                                st.make_unsynced(serial, rev);
                                wake = true;
                            }
                        }
                    }
                    i = j;
                }
            }
            let last = events.last().map(mod_revision).unwrap_or(0);
            st.rev = st.rev.max(current_revision).max(last);
        }
        if wake {
            self.waker.wake();
        }
    }

    /// Opens the watcher set of one gRPC Watch stream. Dropping the returned
    /// handle removes all of its watchers.
    pub fn open_stream(self: &Arc<Self>) -> WatchStream {
        let (tx, rx) = mpsc::channel(self.config.stream_buffer.max(1));
        let stalled = Arc::new(AtomicBool::new(false));
        let mut st = self.state.lock();
        let id = st.next_stream;
        st.next_stream += 1;
        if !st.closed {
            // When closed, `tx` is dropped here and the stream ends at once.
            st.streams.insert(id, StreamSlot { tx, ids: HashMap::new(), next_id: 0, stalled: stalled.clone() });
        }
        WatchStream { hub: self.clone(), id, rx, stalled, active: HashMap::new() }
    }

    /// Moves every synced watcher to catch-up, as etcd's `Restore` does after
    /// the store is replaced by a snapshot: they re-read history from the
    /// revision they expect next, each its own (a watcher started at a
    /// future revision keeps it: lowering it to the restored revision sent
    /// it events from before its start). Also adopts the store's revision.
    pub fn resync_all(&self) {
        let rev = self.kv.current_revision();
        {
            let mut st = self.state.lock();
            let synced: Vec<(u64, i64)> = st
                .watchers
                .iter()
                .filter(|(_, w)| w.state == WatcherState::Synced)
                .map(|(s, w)| (*s, w.min_rev.max(1)))
                .collect();
            for (serial, min_rev) in synced {
                st.make_unsynced(serial, min_rev);
            }
            st.rev = rev;
        }
        self.waker.wake();
    }

    /// Ends every stream (their gRPC responses finish with "server stopped")
    /// and stops the catch-up thread. Idempotent.
    pub fn shutdown(&self) {
        {
            let mut st = self.state.lock();
            if !st.closed {
                tracing::info!(streams = st.streams.len(), watchers = st.watchers.len(), "watch hub shutting down");
            }
            st.closed = true;
            st.streams.clear();
            st.watchers.clear();
            st.synced = SyncedIndex::default();
            st.unsynced.clear();
        }
        self.waker.wake();
        let handle = self.sync_thread.lock().take();
        if let Some(h) = handle
            && h.thread().id() != std::thread::current().id()
        {
            let _ = h.join();
        }
    }

    fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    fn close_stream(&self, stream: u64) {
        let mut st = self.state.lock();
        if let Some(slot) = st.streams.remove(&stream) {
            for serial in slot.ids.into_values() {
                st.remove_watcher(serial);
            }
        }
    }

    fn watch(&self, stream: u64, spec: WatchSpec) -> Result<(i64, u64, i64), WatchError> {
        if spec.start_revision < 0 {
            return Err(WatchError::Compacted);
        }
        // etcd v3rpc: an empty key means "\0", the smallest key; a range end
        // of "\0" means every key from `key` on.
        let key = if spec.key.is_empty() { vec![0] } else { spec.key };
        let end = spec.range_end;
        if !end.is_empty() && end != [0] && key >= end {
            return Err(WatchError::EmptyRange);
        }
        let mut wake = false;
        let result = {
            let mut st = self.state.lock();
            let st = &mut *st;
            if st.closed {
                return Err(WatchError::Stopped);
            }
            let rev = st.rev;
            let Some(slot) = st.streams.get_mut(&stream) else { return Err(WatchError::Stopped) };
            let id = if spec.watch_id == 0 {
                while slot.ids.contains_key(&slot.next_id) {
                    slot.next_id += 1;
                }
                slot.next_id += 1;
                slot.next_id - 1
            } else if slot.ids.contains_key(&spec.watch_id) {
                return Err(WatchError::DuplicateId);
            } else {
                spec.watch_id
            };
            let serial = st.next_serial;
            st.next_serial += 1;
            slot.ids.insert(id, serial);
            // etcd watchableStore.watch: start 0 or in the future = synced.
            let start = spec.start_revision;
            let synced = start == 0 || start > rev;
            let min_rev = if synced { (rev + 1).max(start) } else { start };
            let w = Watcher {
                stream,
                id,
                key,
                end,
                start_rev: start,
                min_rev,
                no_put: spec.no_put,
                no_delete: spec.no_delete,
                state: if synced { WatcherState::Synced } else { WatcherState::Unsynced },
            };
            if synced {
                st.synced.insert(serial, &w.key, &w.end);
            } else {
                st.unsynced.insert(serial);
                wake = true;
            }
            tracing::debug!(stream, id, start, min_rev, synced, "watcher created");
            st.watchers.insert(serial, w);
            (id, serial, rev)
        };
        if wake {
            self.waker.wake();
        }
        Ok(result)
    }

    fn cancel(&self, stream: u64, id: i64) -> Result<i64, WatchError> {
        let mut st = self.state.lock();
        let serial = st.streams.get_mut(&stream).and_then(|s| s.ids.remove(&id)).ok_or(WatchError::NotExist)?;
        st.remove_watcher(serial);
        tracing::debug!(stream, id, "watcher canceled");
        Ok(st.rev)
    }

    /// etcd `progressIfSync`: sends an empty response at the hub revision if
    /// every given watcher of the stream is synced and has reached its start
    /// revision; otherwise nothing. `id == None` means all watchers, answered
    /// with watch id -1 (RequestProgress); `Some(id)` is the periodic
    /// notification of one watcher.
    fn progress(&self, stream: u64, id: Option<i64>) -> bool {
        let st = self.state.lock();
        let Some(slot) = st.streams.get(&stream) else { return false };
        let rev = st.rev;
        let serials: Vec<u64> = match id {
            Some(id) => match slot.ids.get(&id) {
                Some(s) => vec![*s],
                None => return false,
            },
            None => slot.ids.values().copied().collect(),
        };
        for s in &serials {
            match st.watchers.get(s) {
                Some(w) if w.state == WatcherState::Synced && rev >= w.start_rev => {}
                _ => return false,
            }
        }
        let Some(first) = serials.first() else { return true };
        let d = Delivery {
            watch_id: id.unwrap_or(INVALID_WATCH_ID),
            events: Vec::new(),
            revision: rev,
            compact_revision: 0,
            serial: if id.is_some() { *first } else { 0 },
        };
        // Like etcd, a progress notification that does not fit is dropped.
        let _ = slot.tx.try_send(d);
        true
    }
}

fn mod_revision(ev: &Event) -> i64 {
    ev.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

/// The watchers of one gRPC Watch stream and their shared response queue
/// (etcd `mvcc.WatchStream`).
pub struct WatchStream {
    hub: Arc<WatchHub>,
    id: u64,
    rx: mpsc::Receiver<Delivery>,
    stalled: Arc<AtomicBool>,
    /// Live watch ids → serials, to drop queued leftovers of canceled watchers.
    active: HashMap<i64, u64>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").field("id", &self.id).field("watchers", &self.active.len()).finish()
    }
}

impl WatchStream {
    /// Creates a watcher (etcd `watchStream.Watch`). Returns its id and the
    /// revision for the created response's header.
    pub fn watch(&mut self, spec: WatchSpec) -> Result<(i64, i64), WatchError> {
        let (id, serial, rev) = self.hub.watch(self.id, spec)?;
        self.active.insert(id, serial);
        Ok((id, rev))
    }

    /// Cancels a watcher; returns the revision for the canceled response's
    /// header. Responses of the watcher still queued are discarded.
    pub fn cancel(&mut self, id: i64) -> Result<i64, WatchError> {
        let rev = self.hub.cancel(self.id, id)?;
        self.active.remove(&id);
        Ok(rev)
    }

    /// Client RequestProgress: a response with watch id -1 at the hub's
    /// revision if every watcher of the stream is synced; otherwise (or with
    /// no watchers) nothing, as in etcd 3.5/3.6.
    pub fn request_progress_all(&self) -> bool {
        self.hub.progress(self.id, None)
    }

    /// Periodic progress notification of one watcher (if it is synced).
    pub fn request_progress(&self, id: i64) -> bool {
        self.hub.progress(self.id, Some(id))
    }

    /// The hub's current revision.
    pub fn revision(&self) -> i64 {
        self.hub.revision()
    }

    #[cfg(test)]
    /// Whether `id` is a watcher of this stream (compacted ones included,
    /// until canceled).
    pub fn has_watcher(&self, id: i64) -> bool {
        self.active.contains_key(&id)
    }

    /// The next response for this stream; `None` once the hub shut down.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            let d = self.rx.recv().await?;
            if let Some(d) = self.accept(d) {
                return Some(d);
            }
        }
    }

    #[cfg(test)]
    /// Non-blocking [`WatchStream::recv`]: `Ok(None)` when nothing is queued,
    /// `Err(())` once the hub shut down.
    #[allow(clippy::result_unit_err)]
    pub fn try_recv(&mut self) -> Result<Option<Delivery>, ()> {
        loop {
            match self.rx.try_recv() {
                Ok(d) => {
                    if let Some(d) = self.accept(d) {
                        return Ok(Some(d));
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(()),
            }
        }
    }

    fn accept(&self, d: Delivery) -> Option<Delivery> {
        if self.stalled.swap(false, Ordering::AcqRel) {
            self.hub.waker.wake();
        }
        let live = d.watch_id == INVALID_WATCH_ID && d.serial == 0 || self.active.get(&d.watch_id) == Some(&d.serial);
        live.then_some(d)
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.hub.close_stream(self.id);
    }
}
