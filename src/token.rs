//! The token secret's content: the fields written after a login, the
//! remaining life of a stored token, and the `ttl` re-read interval.

use crate::api::Session;
use crate::lock::rfc3339;
use crate::vault::kv::{self, SecretData};
use serde_json::Value;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Longest `ttl` written: Vault Agent re-reads a KV v1 secret within this.
pub const MAX_REREAD_INTERVAL: Duration = Duration::from_secs(300);

/// Returns how long the stored token has left, or `None` when there is no
/// usable token or expiry.
pub fn remaining_life(stored: &SecretData, now: f64) -> Option<Duration> {
    let left = expires_at(stored)? as f64 - now;
    (left > 0.0).then(|| Duration::from_secs_f64(left))
}

/// Returns the stored token's expiry as unix seconds, when it has a token.
pub fn expires_at(stored: &SecretData) -> Option<i64> {
    let has_token = stored
        .0
        .get("access_token")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let text = stored.0.get("expires_at").and_then(Value::as_str)?;
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?.unix_timestamp();
    has_token.then_some(at)
}

/// Sets the token fields in `data`, keeping every other key. Returns the
/// expiry as written.
pub fn set_fields(
    data: &mut SecretData,
    session: &Session,
    issued_at: u64,
    min_remaining: Duration,
) -> String {
    let expires_at = rfc3339(issued_at + session.expires_in);
    let ttl = reread_interval(session.expires_in, min_remaining);
    let fields: [(&str, Value); 6] = [
        (
            "access_token",
            Value::String(session.access_token.expose().to_owned()),
        ),
        ("token_type", Value::String("Bearer".to_owned())),
        ("expires_in", Value::from(session.expires_in)),
        ("issued_at", Value::String(rfc3339(issued_at))),
        ("expires_at", Value::String(expires_at.clone())),
        ("ttl", Value::String(format!("{}s", ttl.as_secs()))),
    ];
    for (key, value) in fields {
        if let Some(mut old) = data.0.insert(key.to_owned(), value) {
            kv::wipe(&mut old);
        }
    }
    expires_at
}

/// Chooses the `ttl` written for Vault Agent on KV v1, which re-reads a
/// secret after 85 to 95 percent of its lease. A twelfth of the token's
/// life, and at most a quarter of `min_remaining`, means an agent that reads
/// this token at any moment until it is replaced reads again well before it
/// expires. Five minutes caps the re-read load.
pub fn reread_interval(expires_in: u64, min_remaining: Duration) -> Duration {
    let mut seconds = (expires_in / 12).min(MAX_REREAD_INTERVAL.as_secs());
    if min_remaining.as_secs() >= 4 {
        seconds = seconds.min(min_remaining.as_secs() / 4);
    }
    Duration::from_secs(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    fn data(value: Value) -> SecretData {
        SecretData(value.as_object().unwrap().clone())
    }

    #[test]
    fn reread_interval_for_one_hour_token() {
        assert_eq!(
            reread_interval(3600, Duration::from_secs(1200)),
            Duration::from_secs(300)
        );
        assert_eq!(
            reread_interval(600, Duration::from_secs(1200)),
            Duration::from_secs(50)
        );
        assert_eq!(
            reread_interval(3600, Duration::from_secs(240)),
            Duration::from_secs(60)
        );
        assert_eq!(reread_interval(5, Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn remaining_life_needs_token_and_expiry() {
        let stored = data(json!({"access_token": "t", "expires_at": "2027-01-15T08:30:00Z"}));
        let expires = OffsetDateTime::parse("2027-01-15T08:30:00Z", &Rfc3339)
            .unwrap()
            .unix_timestamp() as f64;
        assert_eq!(
            remaining_life(&stored, expires - 600.0),
            Some(Duration::from_secs(600))
        );
        assert_eq!(remaining_life(&stored, expires + 1.0), None);
        assert_eq!(
            remaining_life(&data(json!({"expires_at": "2027-01-15T08:30:00Z"})), 0.0),
            None
        );
        assert_eq!(
            remaining_life(
                &data(json!({"access_token": "t", "expires_at": "soon"})),
                0.0
            ),
            None
        );
    }

    #[test]
    fn fields_set_and_other_keys_kept() {
        let mut record = data(json!({"owner": "team-a", "access_token": "old"}));
        let session = Session {
            access_token: Secret::from("new"),
            expires_in: 3600,
        };
        let expires_at = set_fields(&mut record, &session, 1234567890, Duration::from_secs(1200));
        assert_eq!(record.0["owner"], "team-a");
        assert_eq!(record.0["access_token"], "new");
        assert_eq!(record.0["token_type"], "Bearer");
        assert_eq!(record.0["expires_in"], 3600);
        assert_eq!(record.0["issued_at"], "2009-02-13T23:31:30Z");
        assert_eq!(record.0["expires_at"], "2009-02-14T00:31:30Z");
        assert_eq!(record.0["ttl"], "300s");
        assert_eq!(expires_at, "2009-02-14T00:31:30Z");
    }
}
