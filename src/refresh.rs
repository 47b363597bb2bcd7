//! The `refresh` command: read, lock, log in, write back.
//!
//! The order guards the stored token, the partner account and the TOTP
//! step:
//!
//! 1. A fresh stored token ends the run without a login or a write.
//! 2. The credentials are read and checked, and the failure count decides
//!    whether the API may be called at all.
//! 3. The lock is taken, or the run that has it is waited for. After taking
//!    it, the token is read again, because that run may have refreshed it.
//! 4. The login uses a TOTP step later than any used before, retries
//!    transient failures within a bound, and retries a rejected code once
//!    with the next step.
//! 5. The token is written with check-and-set. A lost race keeps whichever
//!    token expires later. A failed run writes only its bookkeeping, never
//!    over the token fields.

use crate::api::{Api, FailureClass, LoginFailure, Session};
use crate::bookkeeping::{Bookkeeping, CredentialsId};
use crate::clock::Clock;
use crate::config::Config;
use crate::contract::lock_location;
use crate::credentials::{self, Credentials};
use crate::error::Error;
use crate::lock::{self, Lock};
use crate::shutdown::Stop;
use crate::token;
use crate::totp;
use crate::vault::client::backoff;
use crate::vault::kv::{self, SecretData, Stored};
use crate::vault::path::KvLocation;
use crate::vault::{auth, Vault};
use std::time::Duration;
use tracing::{info, warn};

/// Login attempts per run for transient failures (connection errors,
/// timeouts, 429 and 5xx), the first included.
pub const MAX_LOGIN_ATTEMPTS: u32 = 3;
/// Time within which every retry of the login must end, counted from the
/// first attempt: backoff, the wait for a new TOTP step and the request.
pub const LOGIN_RETRY_BUDGET: Duration = Duration::from_secs(120);
/// Longest `Retry-After` honoured; a longer one ends the run with 75.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Half the first login retry delay: retries wait about 1 s, then 2 s.
const LOGIN_BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Interval at which a run waiting for the lock looks for a fresh token.
pub const LOCK_POLL: Duration = Duration::from_secs(2);
/// Token writes tried per run when other writers win the race.
const WRITE_ATTEMPTS: u32 = 3;

/// Result of a successful run.
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
    /// Another run wrote a token that expires later than this run's, so it
    /// was kept.
    KeptNewer { path: String },
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
            Outcome::KeptNewer { path } => {
                format!("another run wrote a newer token to {path} at the same time; kept it")
            }
        }
    }
}

/// Runs one refresh: connects, logs in to Vault, refreshes, and revokes a
/// Vault token that came from a login. A SIGTERM or SIGINT ends the run
/// early, with the lock released and the Vault token revoked.
pub async fn run(config: &Config, clock: &Clock) -> Result<Outcome, Error> {
    let stop = Stop::listen();
    let mut vault = Vault::connect(&config.vault)?;
    let api = Api::new(&config.api)?;
    info!(
        addr = vault.addr(),
        auth = config.vault.auth.method(),
        "connecting to Vault"
    );
    let session = tokio::select! {
        session = auth::login(&mut vault, &config.vault.auth) => session?,
        _ = stop.requested() => return Err(Error::Interrupted),
    };
    let result = refresh(&vault, &api, config, clock, &stop).await;
    session.end(&vault).await;
    result
}

/// The token secret as read: its data and the version to check-and-set.
struct StoredToken {
    data: SecretData,
    version: u64,
}

async fn read_token(vault: &Vault, location: &KvLocation) -> Result<StoredToken, Error> {
    Ok(match kv::read(vault, location).await? {
        Stored::Present { data, version } => StoredToken { data, version },
        Stored::Absent { version } => StoredToken {
            data: SecretData::default(),
            version,
        },
    })
}

/// Returns the outcome of a run that need not log in.
fn fresh(
    stored: &StoredToken,
    location: &KvLocation,
    config: &Config,
    clock: &Clock,
) -> Option<Outcome> {
    let remaining = token::remaining_life(&stored.data, clock.now())?;
    if remaining.as_secs() > crate::api::MAX_EXPIRES_IN {
        warn!(path = %location.display(), remaining_secs = remaining.as_secs(), "stored expires_at is further away than any session lasts; logging in");
        return None;
    }
    if config.force || remaining < config.min_remaining {
        info!(
            remaining_secs = remaining.as_secs(),
            "stored token expires soon or --force is set; logging in"
        );
        return None;
    }
    info!(path = %location.display(), remaining_secs = remaining.as_secs(), "stored token is fresh; skipping the login");
    Some(Outcome::Fresh {
        path: location.display(),
        remaining,
    })
}

async fn refresh(
    vault: &Vault,
    api: &Api,
    config: &Config,
    clock: &Clock,
    stop: &Stop,
) -> Result<Outcome, Error> {
    let prepared = tokio::select! {
        prepared = prepare(vault, config, clock) => prepared?,
        _ = stop.requested() => return Err(Error::Interrupted),
    };
    let (mut lock, credentials, token_location) = match prepared {
        Prepared::Done(outcome) => return Ok(outcome),
        Prepared::Locked(run) => {
            let LockedRun {
                lock,
                credentials,
                token_location,
            } = *run;
            (lock, credentials, token_location)
        }
    };
    let mut book = Bookkeeping::default();
    let phase = tokio::select! {
        phase = login_locked(vault, api, config, clock, &token_location, &credentials, &mut lock, &mut book) => phase,
        _ = stop.requested() => Err(Error::Interrupted),
    };
    let result = match phase {
        Ok(LoginPhase::Done(outcome)) => Ok(outcome),
        // Once the API issued a token, a signal no longer stops the run:
        // the write is what keeps that token, and it is bounded by Vault's
        // timeouts.
        Ok(LoginPhase::LoggedIn {
            stored,
            session,
            issued_at,
        }) => {
            write_token(
                vault,
                &token_location,
                stored,
                &session,
                &mut book,
                issued_at,
                config,
            )
            .await
        }
        Err(error) => Err(error),
    };
    // The steps sent are used even if the run failed or was interrupted
    // after sending them, so the next run must not send them again.
    if result.is_err() && book.sent {
        record_attempts(vault, &token_location, &book).await;
    }
    lock.release(vault, clock).await;
    result
}

/// Inputs of the locked phase: the lock, the checked credentials and the
/// token's location.
struct LockedRun {
    lock: Lock,
    credentials: Credentials,
    token_location: KvLocation,
}

/// The state of a run once it may log in, or its outcome when it need not.
enum Prepared {
    Done(Outcome),
    Locked(Box<LockedRun>),
}

/// Everything before the login: mounts, the stored token, the credentials,
/// the lockout guard and the lock.
async fn prepare(vault: &Vault, config: &Config, clock: &Clock) -> Result<Prepared, Error> {
    let token_location = kv::resolve(vault, &config.token_path, config.kv_version).await?;
    let credentials_location = kv::resolve(vault, &config.credentials, config.kv_version).await?;

    let stored = read_token(vault, &token_location).await?;
    if config.reset_failures && Bookkeeping::read(&stored.data).failures > 0 {
        info!(path = %token_location.display(), "failure count reset by --reset-failures");
        save_bookkeeping(vault, &token_location, |book| book.clear_failures()).await?;
    }
    if let Some(outcome) = fresh(&stored, &token_location, config, clock) {
        return Ok(Prepared::Done(outcome));
    }
    let credentials = credentials::read(vault, &credentials_location).await?;
    check_lockout(
        &Bookkeeping::read(&stored.data),
        &credentials,
        config,
        &token_location,
    )?;
    let first_expiry = token::expires_at(&stored.data);
    drop(stored);

    match acquire_or_wait(vault, &token_location, first_expiry, config, clock).await? {
        Acquired::Lock(lock) => Ok(Prepared::Locked(Box::new(LockedRun {
            lock,
            credentials,
            token_location,
        }))),
        Acquired::Done(outcome) => Ok(Prepared::Done(outcome)),
    }
}

/// Fails when the API rejected too many logins with these credentials.
fn check_lockout(
    book: &Bookkeeping,
    credentials: &Credentials,
    config: &Config,
    token_location: &KvLocation,
) -> Result<(), Error> {
    let failures = book.failures_for(&credentials.id);
    if failures >= config.max_failures && !config.reset_failures {
        return Err(Error::LockedOut {
            path: token_location.display(),
            credentials: config.credentials.full().to_owned(),
            failures,
        });
    }
    Ok(())
}

enum Acquired {
    Lock(Lock),
    Done(Outcome),
}

/// Takes the lock, or waits for the run that holds it. Ends early when a
/// fresh token appears, or with `--force` any token newer than the one
/// this run first saw.
async fn acquire_or_wait(
    vault: &Vault,
    token_location: &KvLocation,
    first_expiry: Option<i64>,
    config: &Config,
    clock: &Clock,
) -> Result<Acquired, Error> {
    let location = lock_location(token_location);
    let owner = lock::owner_id();
    let started = clock.now();
    loop {
        if let Some(lock) = lock::try_acquire(vault, &location, &owner, clock).await? {
            return Ok(Acquired::Lock(lock));
        }
        if clock.now() - started >= config.lock_wait.as_secs_f64() {
            return Err(Error::LockHeld {
                path: location.display(),
                waited: config.lock_wait.as_secs(),
            });
        }
        info!(path = %location.display(), "refresh lock held by another run; waiting");
        clock.sleep(LOCK_POLL).await;
        let stored = read_token(vault, token_location).await?;
        let newer = token::expires_at(&stored.data).is_some_and(|at| Some(at) > first_expiry);
        let remaining = token::remaining_life(&stored.data, clock.now()).unwrap_or_default();
        if newer && (config.force || remaining >= config.min_remaining) {
            info!(
                remaining_secs = remaining.as_secs(),
                "the run holding the lock wrote a fresh token"
            );
            return Ok(Acquired::Done(Outcome::Fresh {
                path: token_location.display(),
                remaining,
            }));
        }
    }
}

/// The result of the locked phase before the token write.
enum LoginPhase {
    /// No login was needed after all.
    Done(Outcome),
    /// The API issued a token; it is to be written over `stored`.
    LoggedIn {
        stored: StoredToken,
        session: Session,
        issued_at: u64,
    },
}

/// Reads the token again under the lock, checks the guards and logs in.
/// `book` is kept up to date as steps are sent, so the caller can record
/// them however this phase ends.
#[allow(clippy::too_many_arguments)]
async fn login_locked(
    vault: &Vault,
    api: &Api,
    config: &Config,
    clock: &Clock,
    location: &KvLocation,
    credentials: &Credentials,
    lock: &mut Lock,
    book: &mut Bookkeeping,
) -> Result<LoginPhase, Error> {
    let stored = read_token(vault, location).await?;
    if !config.force {
        if let Some(outcome) = fresh(&stored, location, config, clock) {
            return Ok(LoginPhase::Done(outcome));
        }
    }
    *book = Bookkeeping::read(&stored.data);
    check_lockout(book, credentials, config, location)?;
    let exists = stored.version > 0 || !stored.data.0.is_empty();
    kv::check_write_access(vault, location, exists).await?;

    let (session, issued_at) = login(vault, api, credentials, book, config, clock, lock)
        .await
        .map_err(|failure| failure.error)?;
    Ok(LoginPhase::LoggedIn {
        stored,
        session,
        issued_at,
    })
}

/// Saves the steps used and the failures counted by this run, best effort:
/// the run's own error is what the operator needs to see.
async fn record_attempts(vault: &Vault, location: &KvLocation, ours: &Bookkeeping) {
    let update = |current: &mut Bookkeeping| {
        if let Some(step) = ours.last_step {
            current.record_step(step, ours.period.unwrap_or(30));
        }
        // A count is kept only against the credentials it was made with,
        // so this run's count replaces one made with other credentials.
        if let Some(fingerprint) = &ours.fingerprint {
            let id = CredentialsId {
                version: ours.credentials_version,
                fingerprint: fingerprint.clone(),
            };
            current.failures = current.failures_for(&id).max(ours.failures);
            current.credentials_version = id.version;
            current.fingerprint = Some(id.fingerprint);
        }
    };
    if let Err(error) = save_bookkeeping(vault, location, update).await {
        warn!(error = %error, "could not record this run's login attempts");
    }
}

/// Logs in, retrying transient failures and one rejected code, and returns
/// the session with the time of the successful attempt. Every attempt uses
/// a new TOTP step, and the lock is extended before each one so that it
/// cannot expire while the API is called.
async fn login(
    vault: &Vault,
    api: &Api,
    credentials: &Credentials,
    book: &mut Bookkeeping,
    config: &Config,
    clock: &Clock,
    lock: &mut Lock,
) -> Result<(Session, u64), LoginFailure> {
    let period = credentials.seed.period;
    let started = clock.now();
    if let Some(until) = book.used_until() {
        // A step from a host with a fast clock would otherwise be waited
        // for, or, being the newest, never replaced.
        if until as f64 > started + period as f64 + 1.0 {
            warn!(
                ahead_secs = until as f64 - started,
                "stored totp_last_step is ahead of this host's clock; ignoring it"
            );
            book.forget_step();
        }
    }
    let attempt_time = config.api.timeout + config.totp_margin;
    let mut attempts = 0;
    let mut code_retried = false;
    loop {
        lock.keep(vault, clock, attempt_time + Duration::from_secs(period))
            .await
            .map_err(LoginFailure::fatal)?;
        let code = totp::code_after(
            &credentials.seed,
            clock,
            config.totp_margin,
            book.used_until(),
        )
        .await;
        book.record_step(code.step, period);
        attempts += 1;
        let issued_at = clock.now_secs();
        info!(
            step = code.step,
            attempt = attempts,
            "logging in to the partners API"
        );
        let failure = match api.login(&credentials.login, &code.code, clock).await {
            Ok(session) => return Ok((session, issued_at)),
            Err(failure) => failure,
        };
        let wait = match failure.class {
            FailureClass::CodeRejected | FailureClass::Rejected => {
                book.record_failure(&credentials.id);
                let again = failure.class == FailureClass::CodeRejected
                    && !code_retried
                    && book.failures < config.max_failures;
                if !again {
                    return Err(failure);
                }
                // The one code retry is not subject to the retry budget.
                code_retried = true;
                info!("the API rejected the TOTP code; trying once more with the next step");
                continue;
            }
            FailureClass::RateLimited(Some(after)) if after > MAX_RETRY_AFTER => {
                return Err(failure)
            }
            FailureClass::RateLimited(after) => {
                backoff(LOGIN_BACKOFF_BASE, attempts).max(after.unwrap_or_default())
            }
            FailureClass::Transient => backoff(LOGIN_BACKOFF_BASE, attempts),
            FailureClass::Final => return Err(failure),
        };
        // The budget covers the backoff, the wait for the next step and the
        // request itself.
        let retry_at = clock.now() + wait.as_secs_f64();
        let step_wait = (code.step + 1) as f64 * period as f64 - retry_at;
        let retry_ends = retry_at + step_wait.max(0.0) + attempt_time.as_secs_f64();
        if attempts >= MAX_LOGIN_ATTEMPTS || retry_ends - started > LOGIN_RETRY_BUDGET.as_secs_f64()
        {
            return Err(failure);
        }
        info!(
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            "login failed in a transient way; retrying"
        );
        clock.sleep(wait).await;
    }
}

/// Writes the token of a successful login with check-and-set. On a lost
/// race it re-reads and keeps whichever token expires later.
async fn write_token(
    vault: &Vault,
    location: &KvLocation,
    stored: StoredToken,
    session: &Session,
    book: &mut Bookkeeping,
    issued_at: u64,
    config: &Config,
) -> Result<Outcome, Error> {
    book.clear_failures();
    if config.min_remaining.as_secs() >= session.expires_in {
        warn!(
            min_remaining_secs = config.min_remaining.as_secs(),
            expires_in = session.expires_in,
            "--min-remaining is not shorter than the token's life, so every run will log in"
        );
    }
    let StoredToken {
        mut data,
        mut version,
    } = stored;
    let ours = (issued_at + session.expires_in) as i64;
    for _ in 0..WRITE_ATTEMPTS {
        let expires_at = token::set_fields(&mut data, session, issued_at, config.min_remaining);
        book.store(&mut data);
        match kv::write(vault, location, &data, version).await {
            Ok(_) => {
                return Ok(Outcome::Refreshed {
                    path: location.display(),
                    expires_at,
                    expires_in: session.expires_in,
                });
            }
            Err(Error::WriteConflict { .. }) => {
                let current = read_token(vault, location).await?;
                if token::expires_at(&current.data).is_some_and(|theirs| theirs >= ours) {
                    info!(path = %location.display(), "another writer stored a token that expires later; keeping it");
                    return Ok(Outcome::KeptNewer {
                        path: location.display(),
                    });
                }
                info!(path = %location.display(), "another writer changed the token path; writing again");
                let theirs = Bookkeeping::read(&current.data);
                if let Some(step) = theirs.last_step {
                    book.record_step(step, theirs.period.unwrap_or(30));
                }
                (data, version) = (current.data, current.version);
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::WriteConflict {
        path: location.display(),
    })
}

/// Updates the bookkeeping keys of the token secret as read just before
/// the write, so the token fields written by any other run are kept (KV v1
/// has no check-and-set to catch a stale copy). Conflicts on KV v2 are
/// re-read and retried.
async fn save_bookkeeping(
    vault: &Vault,
    location: &KvLocation,
    update: impl Fn(&mut Bookkeeping),
) -> Result<(), Error> {
    for _ in 0..WRITE_ATTEMPTS {
        let StoredToken { mut data, version } = read_token(vault, location).await?;
        let mut book = Bookkeeping::read(&data);
        update(&mut book);
        book.store(&mut data);
        match kv::write(vault, location, &data, version).await {
            Ok(_) => return Ok(()),
            Err(Error::WriteConflict { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(Error::WriteConflict {
        path: location.display(),
    })
}
