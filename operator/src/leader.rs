//! Leader election through a `coordination.k8s.io/v1` Lease, so that only one
//! operator replica changes membership at a time.
//!
//! The algorithm is client-go's: the holder renews `renewTime` every
//! `renew_every`; anyone may take the lease once `renewTime +
//! leaseDurationSeconds` has passed. Every write is a replace carrying the
//! `resourceVersion` that was read, so two candidates racing for an expired
//! lease cannot both win (the loser gets 409 Conflict). A holder that cannot
//! renew within the lease duration stops leading (the caller exits), because
//! by then another replica may have taken over.
//!
//! The decision itself ([`decide`]) is a pure function, tested below.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

/// Errors of the elector.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// A Lease API call failed.
    #[error("lease API: {0}")]
    Kube(#[from] kube::Error),
    /// The lease could not be renewed in time; leadership is lost.
    #[error("lost the lease {0}: not renewed within its duration")]
    Lost(String),
}

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// This candidate's identity (the pod name).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews.
    pub renew_every: Duration,
}

/// What to do with the lease as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it (or the holder let it expire): take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live lease.
    Follow(String),
}

/// Decides from the lease's spec (`None`: no lease yet).
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else { return Decision::Acquire };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == identity {
        return Decision::Renew;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    match spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) {
        Some(MicroTime(renewed)) if *renewed + duration > now => Decision::Follow(holder),
        _ => Decision::Acquire,
    }
}

/// The elector for one lease in one namespace.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl Elector {
    /// An elector using `api` (namespaced Lease API).
    pub fn new(api: Api<Lease>, config: LeaseConfig) -> Elector {
        Elector { api, config }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp, acquire: bool) -> LeaseSpec {
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.duration.as_secs() as i32),
            acquire_time: if acquire { Some(MicroTime(now)) } else { previous.and_then(|s| s.acquire_time.clone()) },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if acquire && previous.is_some() { transitions + 1 } else { transitions }),
            ..LeaseSpec::default()
        }
    }

    /// One attempt; true when we hold the lease afterwards.
    pub async fn try_once(&self) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.config.name).await?;
        let decision = decide(current.as_ref().and_then(|l| l.spec.as_ref()), &self.config.identity, now);
        let acquire = match decision {
            Decision::Follow(_) => return Ok(false),
            Decision::Acquire => true,
            Decision::Renew => false,
        };
        let result = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.config.name.clone()), ..ObjectMeta::default() },
                    spec: Some(self.spec(None, now, true)),
                };
                self.api.create(&PostParams::default(), &lease).await.map(|_| ())
            }
            Some(mut lease) => {
                lease.spec = Some(self.spec(lease.spec.as_ref(), now, acquire));
                // metadata.resourceVersion is kept: the replace fails on a race.
                self.api.replace(&self.config.name, &PostParams::default(), &lease).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            match self.try_once().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.renew_every).await;
        }
    }

    /// Renews until a renewal has failed for the whole lease duration;
    /// returns why leadership ended.
    pub async fn hold(&self) -> LeaderError {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            match self.try_once().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => return LeaderError::Lost(self.config.name.clone()),
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
            if last_ok.elapsed() >= self.config.duration {
                return LeaderError::Lost(self.config.name.clone());
            }
        }
    }

    /// Gives the lease up on shutdown so a successor need not wait for expiry.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.acquire_time = None;
        spec.renew_time = None;
        if let Err(e) = self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn held(by: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn no_lease_or_no_holder_is_acquired() {
        assert_eq!(decide(None, "me", at(100)), Decision::Acquire);
        assert_eq!(decide(Some(&LeaseSpec::default()), "me", at(100)), Decision::Acquire);
    }

    #[test]
    fn own_lease_is_renewed() {
        assert_eq!(decide(Some(&held("me", 10)), "me", at(100)), Decision::Renew);
    }

    #[test]
    fn live_foreign_lease_is_respected_until_it_expires() {
        let spec = held("other", 100);
        assert_eq!(decide(Some(&spec), "me", at(110)), Decision::Follow("other".into()));
        assert_eq!(decide(Some(&spec), "me", at(114)), Decision::Follow("other".into()));
        assert_eq!(decide(Some(&spec), "me", at(115)), Decision::Acquire);
        assert_eq!(decide(Some(&spec), "me", at(200)), Decision::Acquire);
    }
}
