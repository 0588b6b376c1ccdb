//! etcd's `simple` tokens (`server/auth/simple_token.go`): 16 random
//! letters, a dot and the Raft index of the Authenticate entry that made
//! them. Every member applies that entry and so learns the token; each
//! member expires it on its own after `--auth-token-ttl` without use (the
//! TTL slides: every use restarts it). Tokens live in memory only: a
//! restarted member has none, as in etcd.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

const PREFIX_LEN: usize = 16;
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

#[derive(Debug)]
struct Entry {
    user: String,
    expires: Instant,
}

#[derive(Debug)]
pub struct SimpleTokens {
    ttl: Duration,
    tokens: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    by_token: HashMap<String, Entry>,
    last_sweep: Option<Instant>,
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> Self {
        SimpleTokens { ttl, tokens: Default::default() }
    }

    /// The random part of a new token, chosen by the member that proposes
    /// the Authenticate entry (so every member assigns the same token).
    pub fn new_prefix() -> String {
        let mut rng = rand::rng();
        (0..PREFIX_LEN).map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char).collect()
    }

    /// The token an Authenticate entry at `index` with `prefix` assigns.
    pub fn token(prefix: &str, index: u64) -> String {
        format!("{prefix}.{index}")
    }

    /// The Raft index a token was made at, if it is one of ours.
    pub fn index_of(token: &str) -> Option<u64> {
        token.rsplit_once('.').and_then(|(_, index)| index.parse().ok())
    }

    pub fn assign(&self, token: String, user: &str, now: Instant) {
        let mut tokens = self.tokens.lock();
        // Expired tokens are dropped here at most once a second, so memory
        // stays bounded by the tokens made within one TTL.
        if tokens.last_sweep.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tokens.by_token.retain(|_, e| e.expires > now);
            tokens.last_sweep = Some(now);
        }
        tokens.by_token.insert(token, Entry { user: user.to_owned(), expires: now + self.ttl });
    }

    /// The user of a live token; the use restarts its TTL.
    pub fn user(&self, token: &str, now: Instant) -> Option<String> {
        let mut tokens = self.tokens.lock();
        let entry = tokens.by_token.get_mut(token)?;
        if entry.expires <= now {
            tokens.by_token.remove(token);
            return None;
        }
        entry.expires = now + self.ttl;
        Some(entry.user.clone())
    }

    /// Forgets every token of `user` (deleted, or a new password).
    pub fn invalidate_user(&self, user: &str) {
        self.tokens.lock().by_token.retain(|_, e| e.user != user);
    }

    /// Forgets every token (auth disabled).
    pub fn clear(&self) {
        self.tokens.lock().by_token.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_after_the_ttl_without_use_and_slide_with_use() {
        let t = SimpleTokens::new(Duration::from_secs(10));
        let now = Instant::now();
        let token = SimpleTokens::token(&SimpleTokens::new_prefix(), 42);
        assert_eq!(SimpleTokens::index_of(&token), Some(42));
        t.assign(token.clone(), "alice", now);
        assert_eq!(t.user(&token, now + Duration::from_secs(9)).as_deref(), Some("alice"));
        // The use at 9 s moved the expiry to 19 s.
        assert_eq!(t.user(&token, now + Duration::from_secs(18)).as_deref(), Some("alice"));
        assert_eq!(t.user(&token, now + Duration::from_secs(29)), None);
        assert_eq!(t.user("nope.1", now), None);
    }

    #[test]
    fn invalidation_by_user_and_all_at_once() {
        let t = SimpleTokens::new(Duration::from_secs(300));
        let now = Instant::now();
        t.assign("a.1".into(), "alice", now);
        t.assign("b.2".into(), "bob", now);
        t.invalidate_user("alice");
        assert_eq!(t.user("a.1", now), None);
        assert_eq!(t.user("b.2", now).as_deref(), Some("bob"));
        t.clear();
        assert_eq!(t.user("b.2", now), None);
    }

    #[test]
    fn prefixes_are_sixteen_letters() {
        let p = SimpleTokens::new_prefix();
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| b.is_ascii_alphabetic()));
    }
}
