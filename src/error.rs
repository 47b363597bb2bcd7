//! The one error type of the tool and its mapping to exit codes.
//!
//! Every failure ends as one [`Error`]. Its `Display` is the single line
//! printed on stderr: what failed, on which path, field or endpoint, and
//! what to do next. No variant carries a secret value. [`Error::exit_code`]
//! is the only place where a failure becomes an exit code. The codes come
//! from `sysexits.h`, so schedulers and alerting can tell the classes apart.

use std::process::ExitCode;

/// Exit code for invalid flags, paths, URLs or durations (`EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
/// Exit code for missing, empty or malformed stored credentials (`EX_DATAERR`).
pub const EXIT_DATA: u8 = 65;
/// Exit code for an unreachable, sealed or failing Vault or API (`EX_UNAVAILABLE`).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code for an internal error, a bug (`EX_SOFTWARE`).
pub const EXIT_SOFTWARE: u8 = 70;
/// Exit code for rate limits, held locks and lost write races (`EX_TEMPFAIL`).
pub const EXIT_TEMPFAIL: u8 = 75;
/// Exit code for denied Vault access and rejected logins (`EX_NOPERM`).
pub const EXIT_NOPERM: u8 = 77;

/// Every way a run can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or environment variable has an invalid value.
    #[error("invalid {name}: {problem}; expected {expected}")]
    InvalidSetting {
        name: String,
        problem: String,
        expected: String,
    },

    /// A required setting is missing.
    #[error("missing {name}: {hint}")]
    MissingSetting { name: String, hint: String },

    /// A local file named by a setting cannot be read.
    #[error("cannot read {what} file {path}: {problem}; check {setting}")]
    FileUnreadable {
        what: String,
        path: String,
        problem: String,
        setting: String,
    },

    /// A stored secret is absent or a field in it is missing or malformed.
    #[error("{path}: {problem}; {hint}")]
    BadStoredData {
        path: String,
        problem: String,
        hint: String,
    },

    /// Vault could not be reached, timed out or responded with a server error.
    #[error("Vault at {addr} is unavailable: {detail}; {hint}")]
    VaultUnavailable {
        addr: String,
        detail: String,
        hint: String,
    },

    /// Vault responded to a request with an error the tool cannot act on.
    #[error("Vault rejected {method} {path}: {detail}; {hint}")]
    VaultRequestFailed {
        method: String,
        path: String,
        /// The status and Vault's messages, or what was wrong with the response.
        detail: String,
        hint: String,
    },

    /// Vault denied access (403) to a path or rejected a login.
    #[error("Vault denied {method} {path}{reason}; {hint}")]
    VaultDenied {
        method: String,
        path: String,
        reason: String,
        hint: String,
    },

    /// A check-and-set write lost the race against another writer.
    #[error("write conflict at {path}: another writer changed it since it was read; run again")]
    WriteConflict { path: String },

    /// Another run holds the refresh lock and no fresh token appeared.
    #[error("another refresh holds the lock at {path} and no fresh token appeared within {waited}s; run again later")]
    LockHeld { path: String, waited: u64 },

    /// Another run took the lock over after it expired.
    #[error("lost the refresh lock at {path} to another run before logging in; run again later")]
    LockLost { path: String },

    /// A signal stopped the run before it finished.
    #[error("interrupted by a signal before a new token was written; the stored token is unchanged and the lock released, so the next run retries")]
    Interrupted,

    /// Too many consecutive logins were rejected with these credentials.
    #[error("login disabled after {failures} rejected login(s) with the credentials at {credentials} (count kept at {path}); fix the credentials (writing a new version resets the count) or run with --reset-failures")]
    LockedOut {
        path: String,
        credentials: String,
        failures: u32,
    },

    /// The partners API could not be reached or responded with a server error.
    #[error("Kriptomat API {endpoint} is unavailable: {detail}; {hint}")]
    ApiUnavailable {
        endpoint: String,
        detail: String,
        hint: String,
    },

    /// The partners API throttled the login.
    #[error("Kriptomat API {endpoint} rate-limited the login (HTTP 429{retry}); run again later")]
    ApiRateLimited { endpoint: String, retry: String },

    /// The partners API rejected the login.
    #[error("Kriptomat API {endpoint} rejected the login: HTTP {status}{message}; {hint}")]
    ApiRejected {
        endpoint: String,
        status: u16,
        message: String,
        hint: String,
    },
}

impl Error {
    /// Maps the failure to its exit code; the only such mapping in the tool.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidSetting { .. }
            | Error::MissingSetting { .. }
            | Error::FileUnreadable { .. } => EXIT_USAGE,
            Error::BadStoredData { .. } => EXIT_DATA,
            Error::VaultUnavailable { .. }
            | Error::VaultRequestFailed { .. }
            | Error::ApiUnavailable { .. } => EXIT_UNAVAILABLE,
            Error::WriteConflict { .. }
            | Error::ApiRateLimited { .. }
            | Error::LockHeld { .. }
            | Error::LockLost { .. }
            | Error::Interrupted => EXIT_TEMPFAIL,
            Error::VaultDenied { .. } | Error::ApiRejected { .. } | Error::LockedOut { .. } => {
                EXIT_NOPERM
            }
        }
    }

    /// Returns the exit status for `main`.
    pub fn exit_status(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }

    /// Builds an [`Error::InvalidSetting`] for a flag and its variable.
    pub fn invalid(name: &str, problem: impl Into<String>, expected: &str) -> Self {
        Error::InvalidSetting {
            name: name.to_owned(),
            problem: problem.into(),
            expected: expected.to_owned(),
        }
    }

    /// Builds an [`Error::BadStoredData`] for a field of a stored secret.
    pub fn bad_field(path: &str, field: &str, problem: &str) -> Self {
        Error::BadStoredData {
            path: path.to_owned(),
            problem: format!("field `{field}` {problem}"),
            hint: "fix the field with `vault kv patch` and run again".to_owned(),
        }
    }
}

/// Formats an optional detail as `": detail"`, or nothing when empty.
pub fn colon_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_64() {
        let error = Error::invalid("--vault-addr", "no scheme", "an http or https URL");
        assert_eq!(error.exit_code(), 64);
        assert_eq!(
            error.to_string(),
            "invalid --vault-addr: no scheme; expected an http or https URL"
        );
    }

    #[test]
    fn classes_map_to_contract_codes() {
        let cases: Vec<(Error, u8)> = vec![
            (Error::bad_field("secret/a", "email", "is missing"), 65),
            (
                Error::VaultUnavailable {
                    addr: "a".into(),
                    detail: "d".into(),
                    hint: "h".into(),
                },
                69,
            ),
            (Error::WriteConflict { path: "p".into() }, 75),
            (
                Error::ApiRateLimited {
                    endpoint: "e".into(),
                    retry: String::new(),
                },
                75,
            ),
            (
                Error::VaultDenied {
                    method: "GET".into(),
                    path: "p".into(),
                    reason: String::new(),
                    hint: "h".into(),
                },
                77,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }
}
