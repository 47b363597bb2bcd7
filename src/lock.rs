//! One login at a time across processes and pods: a lock record in Vault.
//!
//! The record sits next to the token secret (`<token path>.lock`) and has
//! an owner and an expiry, so a run that crashed blocks the next ones only
//! until the expiry. On KV v2 the record is taken with a check-and-set
//! write, so of two runs that read a free lock only one can take it. KV v1
//! has no check-and-set, so a run writes the record and reads it back. That
//! narrows the race without closing it, and the TOTP step guard remains.

use crate::clock::Clock;
use crate::error::Error;
use crate::vault::kv::{self, SecretData, Stored};
use crate::vault::path::{KvLocation, KvVersion};
use crate::vault::Vault;
use serde_json::Value;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::{debug, info, warn};

/// How long a taken lock stays valid when its holder never releases it.
/// The holder extends it before each login attempt, so this only bounds
/// how long a crashed run blocks the next ones.
pub const LOCK_TTL: Duration = Duration::from_secs(180);

/// A lock this run holds.
pub struct Lock {
    location: KvLocation,
    owner: String,
    version: u64,
    /// Expiry of the record this run wrote, unix seconds.
    expires: u64,
}

/// Returns an owner name unique to this process: host, process ID and a
/// random suffix.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Tries once to take the lock; `Ok(None)` when another run holds it.
pub async fn try_acquire(
    vault: &Vault,
    location: &KvLocation,
    owner: &str,
    clock: &Clock,
) -> Result<Option<Lock>, Error> {
    let now = clock.now_secs();
    let (current, version) = match kv::read(vault, location).await? {
        Stored::Present { data, version } => (Some(data), version),
        Stored::Absent { version } => (None, version),
    };
    if let Some(holder) = current.as_ref().and_then(|data| live_owner(data, now)) {
        if holder != owner {
            debug!(path = %location.display(), "lock held by another run");
            return Ok(None);
        }
    }
    let record = record(owner, now, now + LOCK_TTL.as_secs());
    match kv::write(vault, location, &record, version).await {
        Ok(written) => {
            if location.version == KvVersion::V1 && !still_ours(vault, location, owner, now).await?
            {
                return Ok(None);
            }
            info!(path = %location.display(), ttl_secs = LOCK_TTL.as_secs(), "took the refresh lock");
            Ok(Some(Lock {
                location: location.clone(),
                owner: owner.to_owned(),
                version: written,
                expires: now + LOCK_TTL.as_secs(),
            }))
        }
        Err(Error::WriteConflict { .. }) => {
            debug!(path = %location.display(), "another run took the lock first");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

async fn still_ours(
    vault: &Vault,
    location: &KvLocation,
    owner: &str,
    now: u64,
) -> Result<bool, Error> {
    Ok(match kv::read(vault, location).await? {
        Stored::Present { data, .. } => live_owner(&data, now).as_deref() == Some(owner),
        Stored::Absent { .. } => false,
    })
}

/// Returns the owner of a lock record that has not expired.
fn live_owner(data: &SecretData, now: u64) -> Option<String> {
    let owner = data
        .0
        .get("owner")
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty())?;
    let expires = data.0.get("expires_at").and_then(Value::as_str)?;
    let expires = OffsetDateTime::parse(expires, &Rfc3339)
        .ok()?
        .unix_timestamp();
    (expires > now as i64).then(|| owner.to_owned())
}

fn record(owner: &str, now: u64, expires: u64) -> SecretData {
    let mut data = SecretData::default();
    data.0
        .insert("owner".to_owned(), Value::String(owner.to_owned()));
    data.0
        .insert("acquired_at".to_owned(), Value::String(rfc3339(now)));
    data.0
        .insert("expires_at".to_owned(), Value::String(rfc3339(expires)));
    data
}

/// Formats a unix time as RFC 3339 UTC.
pub fn rfc3339(unix: u64) -> String {
    OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl Lock {
    /// Extends the lock when less than `needed` is left of it, so that it
    /// cannot expire during the next step. Fails when another run took it
    /// over, which on KV v2 the check-and-set write detects.
    pub async fn keep(
        &mut self,
        vault: &Vault,
        clock: &Clock,
        needed: Duration,
    ) -> Result<(), Error> {
        let now = clock.now_secs();
        if self.expires > now + needed.as_secs() {
            return Ok(());
        }
        let expires = now + LOCK_TTL.as_secs().max(needed.as_secs() * 2);
        let renewed = record(&self.owner, now, expires);
        match kv::write(vault, &self.location, &renewed, self.version).await {
            Ok(version) => {
                debug!(path = %self.location.display(), "extended the refresh lock");
                self.version = version;
                self.expires = expires;
                Ok(())
            }
            Err(Error::WriteConflict { .. }) => Err(Error::LockLost {
                path: self.location.display(),
            }),
            Err(error) => Err(error),
        }
    }

    /// Releases the lock by writing an expired record; best effort, because
    /// an unreleased lock expires by itself. On KV v1, where the write
    /// cannot be conditional, a lock that another run has taken over since
    /// is left alone.
    pub async fn release(self, vault: &Vault, clock: &Clock) {
        let now = clock.now_secs();
        if self.location.version == KvVersion::V1 {
            match still_ours(vault, &self.location, &self.owner, now).await {
                Ok(true) => {}
                _ => {
                    return debug!(path = %self.location.display(), "lock no longer ours; not releasing it")
                }
            }
        }
        let mut released = record("", now, now);
        released
            .0
            .insert("released_by".to_owned(), Value::String(self.owner.clone()));
        match kv::write(vault, &self.location, &released, self.version).await {
            Ok(_) => debug!(path = %self.location.display(), "released the refresh lock"),
            Err(error) => {
                warn!(path = %self.location.display(), error = %error, "could not release the refresh lock; it expires by itself")
            }
        }
    }
}
