//! The `refresh` command: read, log in, write back.
//!
//! The order guards the stored token and the TOTP step. The token path is
//! read first, so a fresh token ends the run without a login. Credentials
//! are read and validated next, and the code is computed right before the
//! login, after every Vault read. A failed login or write leaves the
//! previous token untouched.

use crate::api::{Api, LoginCredentials, Session};
use crate::clock::Clock;
use crate::config::Config;
use crate::contract::{
    FIELD_CLIENT_ID, FIELD_CLIENT_SECRET, FIELD_EMAIL, FIELD_PASSWORD, FIELD_TOTP_SECRET,
};
use crate::error::Error;
use crate::secret::Secret;
use crate::totp::{self, TotpParams};
use crate::vault::kv::{self, SecretData, Stored};
use crate::vault::path::KvLocation;
use crate::vault::{auth, Vault};
use serde_json::{Map, Value};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::info;

/// Longest `ttl` written: Vault Agent re-reads a KV v1 secret within this.
pub const MAX_REREAD_INTERVAL: Duration = Duration::from_secs(300);

/// How a successful run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The stored token had at least the minimum left; nothing was written.
    Fresh { path: String, remaining: Duration },
    /// A new token was written.
    Refreshed {
        path: String,
        expires_at: String,
        expires_in: u64,
    },
}

impl Outcome {
    /// Returns the one line printed on stdout.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Fresh { path, remaining } => format!(
                "token at {path} is still fresh: {} left; nothing to do",
                humantime::format_duration(Duration::from_secs(remaining.as_secs()))
            ),
            Outcome::Refreshed {
                path,
                expires_at,
                expires_in,
            } => {
                format!(
                    "wrote a new token to {path}; it expires at {expires_at} (in {expires_in}s)"
                )
            }
        }
    }
}

/// Runs one refresh: connects, logs in to Vault, refreshes, and revokes a
/// Vault token that came from a login.
pub async fn run(config: &Config, clock: &Clock) -> Result<Outcome, Error> {
    let mut vault = Vault::connect(&config.vault)?;
    let api = Api::new(&config.api)?;
    info!(
        addr = vault.addr(),
        auth = config.vault.auth.method(),
        "connecting to Vault"
    );
    let session = auth::login(&mut vault, &config.vault.auth).await?;
    let result = refresh(&vault, &api, config, clock).await;
    session.end(&vault).await;
    result
}

async fn refresh(
    vault: &Vault,
    api: &Api,
    config: &Config,
    clock: &Clock,
) -> Result<Outcome, Error> {
    let token_location = kv::resolve(vault, &config.token_path, config.kv_version).await?;
    let credentials_location = kv::resolve(vault, &config.credentials, config.kv_version).await?;

    let (previous, cas_version) = match kv::read(vault, &token_location).await? {
        Stored::Present { data, version } => (data, version),
        Stored::Absent { version } => (SecretData::default(), version),
    };
    if !config.force {
        if let Some(remaining) = remaining_life(&previous, clock.now()) {
            if remaining >= config.min_remaining {
                info!(path = %token_location.display(), remaining_secs = remaining.as_secs(), "stored token is fresh; skipping the login");
                return Ok(Outcome::Fresh {
                    path: token_location.display(),
                    remaining,
                });
            }
            info!(
                remaining_secs = remaining.as_secs(),
                "stored token expires soon; logging in"
            );
        }
    }

    let (credentials, seed) = read_credentials(vault, &credentials_location).await?;
    let code = totp::current_code(&seed, clock, config.totp_margin).await;
    drop(seed);
    let issued_at = clock.now_secs();
    info!(step = code.step, "logging in to the partners API");
    let session = api.login(&credentials, &code.code, clock).await?;
    drop(credentials);

    let (data, expires_at) = token_record(previous, &session, issued_at, config.min_remaining);
    kv::write(vault, &token_location, &data, cas_version).await?;
    Ok(Outcome::Refreshed {
        path: token_location.display(),
        expires_at,
        expires_in: session.expires_in,
    })
}

/// Returns how long the stored token has left, or `None` when there is no
/// usable token or expiry.
fn remaining_life(stored: &SecretData, now: f64) -> Option<Duration> {
    let has_token = stored
        .0
        .get("access_token")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let expires_at = stored.0.get("expires_at").and_then(Value::as_str)?;
    let expires_at = OffsetDateTime::parse(expires_at, &Rfc3339).ok()?;
    let left = expires_at.unix_timestamp() as f64 - now;
    (has_token && left > 0.0).then(|| Duration::from_secs_f64(left))
}

async fn read_credentials(
    vault: &Vault,
    location: &KvLocation,
) -> Result<(LoginCredentials, TotpParams), Error> {
    let path = location.display();
    let Stored::Present { mut data, .. } = kv::read(vault, location).await? else {
        return Err(Error::BadStoredData {
            path,
            problem: "no credentials secret there (absent, deleted or destroyed)".to_owned(),
            hint: "write email, password, client_id, client_secret and totp_secret with `vault kv put`".to_owned(),
        });
    };
    let credentials = LoginCredentials {
        email: take_string(&mut data, &path, FIELD_EMAIL)?,
        password: take_string(&mut data, &path, FIELD_PASSWORD)?,
        client_id: client_id(&data, &path)?,
        client_secret: take_string(&mut data, &path, FIELD_CLIENT_SECRET)?,
    };
    let seed_text = take_string(&mut data, &path, FIELD_TOTP_SECRET)?;
    let seed = totp::parse_seed(&seed_text, &path, FIELD_TOTP_SECRET)?;
    info!(%path, digits = seed.digits, period = seed.period, "read credentials");
    Ok((credentials, seed))
}

/// Moves a string field out of the secret, so no copy is left behind.
fn take_string(data: &mut SecretData, path: &str, field: &str) -> Result<Secret, Error> {
    match data.0.get_mut(field) {
        None | Some(Value::Null) => Err(Error::bad_field(path, field, "is missing")),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(Error::bad_field(path, field, "is empty"))
        }
        Some(Value::String(text)) => Ok(Secret::new(std::mem::take(text))),
        Some(_) => Err(Error::bad_field(path, field, "must be a string")),
    }
}

/// Reads the client ID from a JSON integer or a string of digits, never
/// through floating point, so every digit is kept.
fn client_id(data: &SecretData, path: &str) -> Result<u64, Error> {
    let invalid = || {
        Error::bad_field(
            path,
            FIELD_CLIENT_ID,
            "must be a whole number (a JSON integer or a string of digits) below 2^64",
        )
    };
    match data.0.get(FIELD_CLIENT_ID) {
        None | Some(Value::Null) => Err(Error::bad_field(path, FIELD_CLIENT_ID, "is missing")),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(invalid),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(Error::bad_field(path, FIELD_CLIENT_ID, "is empty"))
        }
        Some(Value::String(text)) => {
            let digits = text.trim();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            digits.parse().map_err(|_| invalid())
        }
        Some(_) => Err(invalid()),
    }
}

/// Builds the token secret: the previous keys, with the token fields set.
fn token_record(
    previous: SecretData,
    session: &Session,
    issued_at: u64,
    min_remaining: Duration,
) -> (SecretData, String) {
    let mut data = previous;
    let expires_at_secs = issued_at + session.expires_in;
    let issued = rfc3339(issued_at);
    let expires_at = rfc3339(expires_at_secs);
    let ttl = reread_interval(session.expires_in, min_remaining);
    let fields: [(&str, Value); 6] = [
        (
            "access_token",
            Value::String(session.access_token.expose().to_owned()),
        ),
        ("token_type", Value::String("Bearer".to_owned())),
        ("expires_in", Value::from(session.expires_in)),
        ("issued_at", Value::String(issued)),
        ("expires_at", Value::String(expires_at.clone())),
        ("ttl", Value::String(format!("{}s", ttl.as_secs()))),
    ];
    let map: &mut Map<String, Value> = &mut data.0;
    for (key, value) in fields {
        if let Some(mut old) = map.insert(key.to_owned(), value) {
            kv::wipe(&mut old);
        }
    }
    (data, expires_at)
}

/// Chooses the `ttl` written for Vault Agent on KV v1, which re-reads a
/// secret after 85 to 95 percent of its lease. A twelfth of the token's
/// life, and at most a quarter of `min_remaining`, means an agent that reads
/// this token at any moment until it is replaced reads again well before it
/// expires; five minutes caps the re-read load.
pub fn reread_interval(expires_in: u64, min_remaining: Duration) -> Duration {
    let mut seconds = (expires_in / 12).min(MAX_REREAD_INTERVAL.as_secs());
    if min_remaining.as_secs() >= 4 {
        seconds = seconds.min(min_remaining.as_secs() / 4);
    }
    Duration::from_secs(seconds.max(1))
}

fn rfc3339(unix: u64) -> String {
    OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn client_id_exact_digits() {
        let stored = data(json!({"client_id": "123456789012345678"}));
        assert_eq!(client_id(&stored, "p").unwrap(), 123456789012345678);
        let stored = data(json!({"client_id": 42}));
        assert_eq!(client_id(&stored, "p").unwrap(), 42);
    }

    #[test]
    fn client_id_rejects_non_integers() {
        for bad in [
            json!({"client_id": "12a"}),
            json!({"client_id": 1.5}),
            json!({"client_id": -3}),
            json!({"client_id": true}),
        ] {
            let error = client_id(&data(bad.clone()), "secret/p").unwrap_err();
            assert_eq!(error.exit_code(), 65, "{bad}");
            assert!(error.to_string().contains("client_id"), "{error}");
        }
    }

    #[test]
    fn remaining_life_needs_token_and_expiry() {
        let now = 1_800_000_000.0;
        let stored = data(json!({"access_token": "t", "expires_at": "2027-01-15T08:30:00Z"}));
        let expires = OffsetDateTime::parse("2027-01-15T08:30:00Z", &Rfc3339)
            .unwrap()
            .unix_timestamp() as f64;
        assert_eq!(
            remaining_life(&stored, expires - 600.0),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            remaining_life(&data(json!({"expires_at": "2027-01-15T08:30:00Z"})), now),
            None
        );
        assert_eq!(
            remaining_life(
                &data(json!({"access_token": "t", "expires_at": "soon"})),
                now
            ),
            None
        );
    }

    #[test]
    fn token_record_keeps_other_keys() {
        let previous = data(json!({"owner": "team-a", "access_token": "old"}));
        let session = Session {
            access_token: Secret::from("new"),
            expires_in: 3600,
        };
        let (record, expires_at) =
            token_record(previous, &session, 1234567890, Duration::from_secs(1200));
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
