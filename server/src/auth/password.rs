//! Password hashing and checking with bcrypt, as etcd (`$2a$`, cost
//! `--bcrypt-cost`). bcrypt is slow on purpose (cost 10 is tens of
//! milliseconds of CPU), so the work runs on the blocking pool and at most
//! [`Passwords::max_parallel`] hashes run at once: a burst of logins or
//! user changes queues here instead of taking every core from the requests
//! that need none.

use base64::Engine as _;
use tokio::sync::Semaphore;

/// Go's bcrypt refuses longer passwords when hashing.
const MAX_PASSWORD_BYTES: usize = 72;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt: password length exceeds 72 bytes")]
    TooLong,
    #[error("bcrypt: {0}")]
    Hash(String),
}

#[derive(Debug)]
pub struct Passwords {
    cost: u32,
    permits: Semaphore,
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Passwords { cost, permits: Semaphore::new(Self::max_parallel()) }
    }

    /// Half the cores, at least one.
    pub fn max_parallel() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    /// The bcrypt hash of `password`, base64-encoded as etcd's
    /// `hashedPassword` request field carries it.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let cost = self.cost;
        let hashed = self
            .run(move || {
                bcrypt::hash_with_result(password.as_bytes(), cost)
                    .map(|h| h.format_for_version(bcrypt::Version::TwoA))
                    .map_err(|e| PasswordError::Hash(e.to_string()))
            })
            .await?;
        Ok(base64::engine::general_purpose::STANDARD.encode(hashed))
    }

    /// Whether `password` matches the stored bcrypt `hash`.
    pub async fn matches(&self, hash: Vec<u8>, password: String) -> bool {
        let Ok(hash) = String::from_utf8(hash) else { return false };
        self.run(move || bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)).await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work).await.expect("bcrypt does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_look_like_gos() {
        let p = Passwords::new(4);
        let hashed = p.hash("secret".into()).await.unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(hashed).unwrap();
        assert!(raw.starts_with(b"$2a$04$"), "{}", String::from_utf8_lossy(&raw));
        assert!(p.matches(raw.clone(), "secret".into()).await);
        assert!(!p.matches(raw, "Secret".into()).await);
        assert_eq!(p.hash("x".repeat(73)).await, Err(PasswordError::TooLong));
    }
}
