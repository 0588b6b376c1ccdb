//! Catch-up of unsynced watchers from stored history (etcd
//! `syncWatchersLoop` / `syncWatchers` / `chooseAll`).
//!
//! A round: (1) with the hub locked, cancel watchers whose next revision was
//! compacted and pick up to `max_watchers_per_sync` others whose stream has
//! room; (2) without the lock, read history from the smallest of their
//! `min_rev`s to the store's revision; (3) with the lock again, read whatever
//! `notify` handed over meanwhile (a few revisions), send each watcher its
//! events and move those that reached the hub revision to the synced group.
//! Holding the lock only for the short tail keeps `notify` cheap while
//! guaranteeing that a watcher turns synced exactly at the revision after
//! the last one it was sent.

use std::sync::{Arc, Weak};

use capstan_proto::mvccpb::Event;

use super::{Delivery, SendOutcome, WatchHub, WatcherState, mod_revision};
use crate::mvcc::{MvccError, key_in_range};

/// Every key: `key_in_range(k, [0], [0])` holds for all non-empty keys.
const ALL: &[u8] = &[0];

/// Body of the catch-up thread: runs rounds while they make progress, sleeps
/// `sync_interval` (or until woken) otherwise; exits when the hub is shut
/// down or dropped.
pub(super) fn run(hub: Weak<WatchHub>) {
    loop {
        let Some(hub) = hub.upgrade() else { return };
        if hub.is_closed() {
            return;
        }
        let progressed = hub.sync_round();
        if !progressed {
            hub.waker.wait(hub.config.sync_interval);
        }
    }
}

impl WatchHub {
    /// One catch-up round; true if it changed anything (so another round
    /// should follow at once).
    pub(super) fn sync_round(self: &Arc<Self>) -> bool {
        let compacted = self.kv.compacted_revision();
        let mut progressed = false;
        let mut chosen: Vec<(u64, i64)> = Vec::new();
        {
            let mut st = self.state.lock();
            if st.closed || st.unsynced.is_empty() {
                return false;
            }
            let st = &mut *st;
            let cursor = st.sync_cursor;
            let order: Vec<u64> =
                st.unsynced.range(cursor + 1..).chain(st.unsynced.range(..=cursor)).copied().collect();
            for serial in order {
                if chosen.len() >= self.config.max_watchers_per_sync {
                    break;
                }
                let Some(w) = st.watchers.get(&serial) else { continue };
                let Some(slot) = st.streams.get(&w.stream) else { continue };
                if slot.tx.capacity() == 0 {
                    // The consumer is not reading; it wakes us when it does.
                    slot.stalled.store(true, std::sync::atomic::Ordering::Release);
                    continue;
                }
                if w.min_rev < compacted {
                    let d = Delivery {
                        watch_id: w.id,
                        events: Vec::new(),
                        // etcd sends the compaction cancel with revision 0.
                        revision: 0,
                        compact_revision: compacted,
                        serial,
                    };
                    if slot.tx.try_send(d).is_ok() {
                        tracing::debug!(id = w.id, min_rev = w.min_rev, compacted, "watcher canceled by compaction");
                        if let Some(w) = st.watchers.get_mut(&serial) {
                            w.state = WatcherState::Compacted;
                        }
                        st.unsynced.remove(&serial);
                        progressed = true;
                    }
                    continue;
                }
                chosen.push((serial, w.min_rev));
                st.sync_cursor = serial;
            }
        }
        if chosen.is_empty() {
            return progressed;
        }

        let from = chosen.iter().map(|(_, r)| *r).min().unwrap_or(1).max(1);
        let cur = self.kv.current_revision();
        let (events, mut covered) = if from > cur {
            (Vec::new(), cur)
        } else {
            match self.kv.history(ALL, ALL, from, cur, self.config.max_events_per_sync) {
                Ok(r) => r,
                // Compacted between our check and the read: the next round cancels.
                Err(MvccError::Compacted) => return true,
                Err(e) => {
                    tracing::warn!(error = %e, from, to = cur, "watch catch-up could not read history");
                    return progressed;
                }
            }
        };
        let mut events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        #[cfg(test)]
        if let Some(hook) = self.after_history_read.lock().as_ref() {
            hook(self);
        }

        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        let notified = st.rev;
        // Revisions handed to `notify` while we read were not delivered to
        // these (unsynced) watchers; read them now, under the lock, so the
        // watchers can turn synced without a gap.
        if covered >= cur && notified > covered && notified - covered <= self.config.max_locked_catchup_revisions {
            match self.kv.history(ALL, ALL, covered + 1, notified, usize::MAX) {
                Ok((tail, c)) => {
                    events.extend(tail.into_iter().map(Arc::new));
                    covered = c;
                }
                Err(e) => tracing::debug!(error = %e, "watch catch-up tail read failed; retrying"),
            }
        }
        let header_rev = cur.max(covered);
        for (serial, seen) in chosen {
            let Some(w) = st.watchers.get(&serial) else { continue };
            if w.state != WatcherState::Unsynced || w.min_rev != seen {
                continue;
            }
            let (batch, more) = collect(&events, &w.key, &w.end, w.min_rev, self.config.max_revisions_per_response);
            let next = if more != 0 { more } else { w.min_rev.max(covered + 1) };
            if !batch.is_empty() {
                match st.send(serial, batch, header_rev) {
                    SendOutcome::Full | SendOutcome::Closed => continue,
                    SendOutcome::Sent | SendOutcome::Filtered => {}
                }
            }
            if next != seen {
                progressed = true;
            }
            if let Some(w) = st.watchers.get_mut(&serial) {
                w.min_rev = next;
            }
            if more == 0 && covered >= notified {
                st.make_synced(serial);
                progressed = true;
            }
        }
        progressed
    }
}

/// The events of `[key, end)` from revision `min_rev` on, at most `max_revs`
/// distinct revisions (etcd `eventBatch`). Returns them and the first
/// revision left out (0 if none).
fn collect(events: &[Arc<Event>], key: &[u8], end: &[u8], min_rev: i64, max_revs: usize) -> (Vec<Arc<Event>>, i64) {
    let start = events.partition_point(|e| mod_revision(e) < min_rev);
    let mut out = Vec::new();
    let mut revs = 0usize;
    let mut last = i64::MIN;
    for e in &events[start..] {
        let Some(kv) = e.kv.as_ref() else { continue };
        if !key_in_range(&kv.key, key, end) {
            continue;
        }
        if kv.mod_revision != last {
            revs += 1;
            if revs > max_revs.max(1) {
                return (out, kv.mod_revision);
            }
            last = kv.mod_revision;
        }
        out.push(e.clone());
    }
    (out, 0)
}
