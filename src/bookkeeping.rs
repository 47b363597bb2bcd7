//! State the tool keeps between runs, as keys of its own in the token
//! secret next to the token fields:
//!
//! | key | meaning |
//! | --- | --- |
//! | `totp_last_step` | newest TOTP step sent to the API; no later login reuses it |
//! | `totp_period` | period of that step in seconds |
//! | `login_failures` | consecutive logins the API rejected |
//! | `credentials_version` | KV v2 version of the credentials those failures used |
//! | `credentials_fingerprint` | keyed hash of the credentials those failures used |
//!
//! A rewrite of the credentials secret (a new version or a changed value)
//! resets the failure count, so fixing the password is the whole recovery.

use crate::api::LoginCredentials;
use crate::secret::Secret;
use crate::vault::kv::SecretData;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Key of the newest TOTP step sent.
pub const KEY_LAST_STEP: &str = "totp_last_step";
/// Key of the TOTP period, in seconds, that `totp_last_step` counts in.
pub const KEY_PERIOD: &str = "totp_period";
/// Key of the consecutive rejected logins.
pub const KEY_FAILURES: &str = "login_failures";
/// Key of the credentials version the failures were counted against.
pub const KEY_CREDENTIALS_VERSION: &str = "credentials_version";
/// Key of the credentials fingerprint the failures were counted against.
pub const KEY_FINGERPRINT: &str = "credentials_fingerprint";

/// Every bookkeeping key.
pub const BOOKKEEPING_KEYS: [&str; 5] = [
    KEY_LAST_STEP,
    KEY_PERIOD,
    KEY_FAILURES,
    KEY_CREDENTIALS_VERSION,
    KEY_FINGERPRINT,
];

/// The bookkeeping read from, and written to, the token secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bookkeeping {
    pub last_step: Option<u64>,
    /// Period of `last_step` in seconds. Missing means 30, the default period.
    pub period: Option<u64>,
    pub failures: u32,
    pub credentials_version: Option<u64>,
    pub fingerprint: Option<String>,
    /// Whether this run sent a step, so that there is something to record.
    pub sent: bool,
}

/// Identity of the credentials a run uses, to tell whether they were
/// rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsId {
    pub version: Option<u64>,
    pub fingerprint: String,
}

impl Bookkeeping {
    /// Reads the keys from the token secret; absent or odd values count as unset.
    pub fn read(data: &SecretData) -> Bookkeeping {
        let number = |key: &str| match data.0.get(key) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Bookkeeping {
            last_step: number(KEY_LAST_STEP),
            period: number(KEY_PERIOD).filter(|p| (1..=300).contains(p)),
            failures: number(KEY_FAILURES).unwrap_or(0).min(u64::from(u32::MAX)) as u32,
            credentials_version: number(KEY_CREDENTIALS_VERSION),
            fingerprint: data
                .0
                .get(KEY_FINGERPRINT)
                .and_then(Value::as_str)
                .map(str::to_owned),
            sent: false,
        }
    }

    /// Sets the keys in a token secret about to be written.
    pub fn store(&self, data: &mut SecretData) {
        let map = &mut data.0;
        match self.last_step {
            Some(step) => {
                map.insert(KEY_LAST_STEP.to_owned(), Value::from(step));
                map.insert(
                    KEY_PERIOD.to_owned(),
                    Value::from(self.period.unwrap_or(30)),
                );
            }
            None => {
                map.remove(KEY_LAST_STEP);
                map.remove(KEY_PERIOD);
            }
        }
        map.insert(KEY_FAILURES.to_owned(), Value::from(self.failures));
        match (&self.credentials_version, &self.fingerprint) {
            (version, Some(fingerprint)) if self.failures > 0 => {
                match version {
                    Some(v) => map.insert(KEY_CREDENTIALS_VERSION.to_owned(), Value::from(*v)),
                    None => map.remove(KEY_CREDENTIALS_VERSION),
                };
                map.insert(
                    KEY_FINGERPRINT.to_owned(),
                    Value::String(fingerprint.clone()),
                );
            }
            _ => {
                map.remove(KEY_CREDENTIALS_VERSION);
                map.remove(KEY_FINGERPRINT);
            }
        }
    }

    /// Returns the failures that count against these credentials: zero once
    /// the credentials secret was rewritten.
    pub fn failures_for(&self, id: &CredentialsId) -> u32 {
        let same_version = self.credentials_version == id.version;
        let same_value = self.fingerprint.as_deref() == Some(id.fingerprint.as_str());
        if same_version && same_value {
            self.failures
        } else {
            0
        }
    }

    /// Counts one rejected login against these credentials.
    pub fn record_failure(&mut self, id: &CredentialsId) {
        self.failures = self.failures_for(id) + 1;
        self.credentials_version = id.version;
        self.fingerprint = Some(id.fingerprint.clone());
    }

    /// Clears the failure count after a successful login or a reset.
    pub fn clear_failures(&mut self) {
        self.failures = 0;
        self.credentials_version = None;
        self.fingerprint = None;
    }

    /// Returns the unix time at which the newest sent step ends; no code
    /// from before then may be sent again.
    pub fn used_until(&self) -> Option<u64> {
        let period = self.period.unwrap_or(30);
        self.last_step
            .map(|step| step.saturating_add(1).saturating_mul(period))
    }

    /// Remembers a sent step of the given period. Steps are compared by the
    /// time they end, so a change of period keeps the guard working.
    pub fn record_step(&mut self, step: u64, period: u64) {
        let until = step.saturating_add(1).saturating_mul(period);
        self.sent = true;
        if self.used_until().is_none_or(|used| until >= used) {
            self.last_step = Some(step);
            self.period = Some(period);
        }
    }

    /// Forgets the sent step, for a value that cannot be right.
    pub fn forget_step(&mut self) {
        self.last_step = None;
        self.period = None;
    }
}

/// Computes a fingerprint of the credentials: HMAC-SHA-256 keyed with the
/// client secret over every field, cut to 16 bytes. Readers of the token
/// secret see it, so it is keyed: without the client secret it cannot be
/// used to test password guesses.
pub fn fingerprint(credentials: &LoginCredentials, seed: &Secret) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(credentials.client_secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    for part in [credentials.email.expose(), credentials.password.expose()] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.update(credentials.client_id.to_string().as_bytes());
    mac.update(&[0]);
    mac.update(seed.expose().as_bytes());
    let digest = mac.finalize().into_bytes();
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn credentials(password: &str) -> LoginCredentials {
        LoginCredentials {
            email: Secret::from("a@example.test"),
            password: Secret::from(password),
            client_id: 7,
            client_secret: Secret::from("cs"),
        }
    }

    #[test]
    fn round_trip_through_secret() {
        let mut kept = Bookkeeping {
            last_step: Some(41152263),
            period: Some(30),
            ..Bookkeeping::default()
        };
        let id = CredentialsId {
            version: Some(3),
            fingerprint: "ab".into(),
        };
        kept.record_failure(&id);
        let mut data = SecretData(json!({"other": 1}).as_object().unwrap().clone());
        kept.store(&mut data);
        assert_eq!(data.0["totp_last_step"], 41152263);
        assert_eq!(data.0["totp_period"], 30);
        assert_eq!(data.0["login_failures"], 1);
        assert_eq!(data.0["credentials_version"], 3);
        assert_eq!(Bookkeeping::read(&data), kept);
    }

    #[test]
    fn rewritten_credentials_reset_count() {
        let id = CredentialsId {
            version: Some(3),
            fingerprint: "ab".into(),
        };
        let mut kept = Bookkeeping::default();
        kept.record_failure(&id);
        kept.record_failure(&id);
        assert_eq!(kept.failures_for(&id), 2);
        assert_eq!(
            kept.failures_for(&CredentialsId {
                version: Some(4),
                fingerprint: "ab".into()
            }),
            0
        );
        assert_eq!(
            kept.failures_for(&CredentialsId {
                version: Some(3),
                fingerprint: "cd".into()
            }),
            0
        );
    }

    #[test]
    fn fingerprint_changes_with_password() {
        assert_ne!(
            fingerprint(&credentials("one"), &Secret::from("SEED")),
            fingerprint(&credentials("two"), &Secret::from("SEED"))
        );
        assert_eq!(
            fingerprint(&credentials("one"), &Secret::from("SEED")),
            fingerprint(&credentials("one"), &Secret::from("SEED"))
        );
        assert_eq!(
            fingerprint(&credentials("one"), &Secret::from("SEED")).len(),
            32
        );
    }

    #[test]
    fn newest_step_kept() {
        let mut kept = Bookkeeping::default();
        kept.record_step(10, 30);
        kept.record_step(8, 30);
        assert_eq!(kept.last_step, Some(10));
        assert_eq!(kept.used_until(), Some(330));
    }

    #[test]
    fn steps_compared_across_periods() {
        let mut kept = Bookkeeping::default();
        kept.record_step(100, 30);
        kept.record_step(50, 60);
        assert_eq!((kept.last_step, kept.period), (Some(50), Some(60)));
        kept.record_step(99, 30);
        assert_eq!(kept.used_until(), Some(3060));
    }
}
