//! Validation of the raw flags into one [`Config`], before any network call.
//!
//! Every invalid value becomes an [`Error`] that names the flag, its
//! environment variable and the accepted form, and exits 64. Files named by
//! settings (tokens, JWT, secret ID) are read here too, so a run that would
//! fail on them fails before it talks to Vault.

use crate::cli::{ApiArgs, AuthArgs, Cli, Command, PathArgs, VaultArgs};
use crate::error::Error;
use crate::secret::Secret;
use crate::vault::auth::{GivenSecrets, VaultAuth};
use crate::vault::path::{KvPath, KvVersionSetting};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Vault's address when VAULT_ADDR is unset, as the Vault CLI uses.
pub const DEFAULT_VAULT_ADDR: &str = "https://127.0.0.1:8200";
/// The partners API when KRIPTOMAT_API_URL is unset.
pub const DEFAULT_API_URL: &str = "https://api.kriptomat.io";
/// Skip the login when the stored token has at least this long left. With a
/// CronJob every 5 minutes and Vault Agent re-reading every 5 minutes, a
/// token is replaced with 15 to 20 minutes left and every agent has the
/// new one at least 10 minutes before the old one expires.
pub const DEFAULT_MIN_REMAINING: Duration = Duration::from_secs(20 * 60);
/// Timeout of one Vault request, as the Vault CLI's default.
pub const DEFAULT_VAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries of a transient Vault failure, as the Vault CLI's default.
pub const DEFAULT_VAULT_MAX_RETRIES: u32 = 2;
/// Timeout of the login request.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);
/// A code with less than this left in its step is not sent.
pub const DEFAULT_TOTP_MARGIN: Duration = Duration::from_secs(5);
/// Consecutive rejected logins after which the API is no longer called.
pub const DEFAULT_MAX_FAILURES: u32 = 3;
/// How long a run waits for another run that holds the lock. Below the
/// CronJob's deadline, and long enough for a login with one TOTP wait.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
/// Service-account token file that Kubernetes mounts in every pod.
pub const DEFAULT_JWT_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The validated settings of one run.
#[derive(Debug)]
pub struct Config {
    pub vault: VaultConfig,
    pub credentials: KvPath,
    pub token_path: KvPath,
    pub kv_version: KvVersionSetting,
    pub api: ApiConfig,
    pub min_remaining: Duration,
    pub force: bool,
    pub totp_margin: Duration,
    pub max_failures: u32,
    pub reset_failures: bool,
    pub lock_wait: Duration,
}

/// How to reach and authenticate to Vault.
#[derive(Debug)]
pub struct VaultConfig {
    /// Address without a trailing slash.
    pub addr: Url,
    pub auth: VaultAuth,
    pub namespace: Option<String>,
    pub tls: TlsConfig,
    pub timeout: Duration,
    pub max_retries: u32,
}

/// TLS settings for Vault, with the Vault CLI's meaning.
#[derive(Debug, Default)]
pub struct TlsConfig {
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub skip_verify: bool,
    pub server_name: Option<String>,
}

/// How to reach the partners API.
#[derive(Debug)]
pub struct ApiConfig {
    /// Base URL without a trailing slash, query or credentials.
    pub base: Url,
    pub session_ttl: Option<Duration>,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
}

impl Config {
    /// Validates the raw flags of `refresh`.
    /// The Vault token and role ID are moved out of `cli` into secrets.
    pub fn from_cli(cli: &mut Cli) -> Result<Config, Error> {
        let given = GivenSecrets {
            vault_token: cli.vault.vault_token.take().map(Secret::new),
            role_id: cli.auth.role_id.take().map(Secret::new),
        };
        let vault = vault_config(&cli.vault, &cli.auth, given)?;
        let Command::Refresh(refresh) = &cli.command;
        let (credentials, token_path) = paths(&cli.paths)?;
        let kv_version = match cli.paths.kv_version.as_deref().map(str::trim) {
            None | Some("auto") | Some("") => KvVersionSetting::Auto,
            Some("1") => KvVersionSetting::V1,
            Some("2") => KvVersionSetting::V2,
            Some(other) => {
                return Err(Error::invalid(
                    "--kv-version (KRIPTOMAT_KV_VERSION)",
                    format!("`{other}` is not a KV version"),
                    "auto, 1 or 2",
                ))
            }
        };
        let min_remaining = optional_duration(
            refresh.min_remaining.as_deref(),
            "--min-remaining (KRIPTOMAT_MIN_REMAINING)",
        )?
        .unwrap_or(DEFAULT_MIN_REMAINING);
        let totp_margin = optional_duration(
            refresh.totp_margin.as_deref(),
            "--totp-margin (KRIPTOMAT_TOTP_MARGIN)",
        )?
        .unwrap_or(DEFAULT_TOTP_MARGIN);
        if totp_margin >= Duration::from_secs(15) {
            return Err(Error::invalid(
                "--totp-margin (KRIPTOMAT_TOTP_MARGIN)",
                "the margin must leave time to send the code",
                "a duration below 15s",
            ));
        }
        let max_failures = match refresh.max_failures.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_MAX_FAILURES,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        "--max-failures (KRIPTOMAT_MAX_FAILURES)",
                        format!("`{text}` is not a count"),
                        "a whole number from 1 to 100",
                    )
                })?,
        };
        let lock_wait = optional_duration(
            refresh.lock_wait.as_deref(),
            "--lock-wait (KRIPTOMAT_LOCK_WAIT)",
        )?
        .unwrap_or(DEFAULT_LOCK_WAIT);
        Ok(Config {
            max_failures,
            reset_failures: refresh.reset_failures,
            lock_wait,
            vault,
            credentials,
            token_path,
            kv_version,
            api: api_config(&cli.api)?,
            min_remaining,
            force: refresh.force,
            totp_margin,
        })
    }
}

fn vault_config(
    args: &VaultArgs,
    auth: &AuthArgs,
    given: GivenSecrets,
) -> Result<VaultConfig, Error> {
    let addr = parse_base_url(
        args.vault_addr.as_deref().unwrap_or(DEFAULT_VAULT_ADDR),
        "--vault-addr (VAULT_ADDR)",
        false,
    )?;
    let skip_verify = match args.vault_skip_verify.as_deref() {
        None => false,
        Some(value) => parse_bool(value, "--vault-skip-verify (VAULT_SKIP_VERIFY)")?,
    };
    let tls = TlsConfig {
        ca_cert: nonempty_path(&args.vault_cacert),
        ca_path: nonempty_path(&args.vault_capath),
        client_cert: nonempty_path(&args.vault_client_cert),
        client_key: nonempty_path(&args.vault_client_key),
        skip_verify,
        server_name: nonempty(&args.vault_tls_server_name),
    };
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        return Err(Error::invalid(
            "--vault-client-cert/--vault-client-key (VAULT_CLIENT_CERT/VAULT_CLIENT_KEY)",
            "only one of the pair is set",
            "both a client certificate and its key, or neither",
        ));
    }
    let timeout = optional_duration(
        args.vault_client_timeout.as_deref(),
        "--vault-client-timeout (VAULT_CLIENT_TIMEOUT)",
    )?
    .unwrap_or(DEFAULT_VAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(Error::invalid(
            "--vault-client-timeout (VAULT_CLIENT_TIMEOUT)",
            "zero",
            "a positive duration such as 60s",
        ));
    }
    let max_retries = match args.vault_max_retries.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_VAULT_MAX_RETRIES,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| {
                Error::invalid(
                    "--vault-max-retries (VAULT_MAX_RETRIES)",
                    format!("`{text}` is not a retry count"),
                    "a whole number from 0 to 10",
                )
            })?,
    };
    let namespace = nonempty(&args.vault_namespace);
    if let Some(ns) = &namespace {
        if !ns.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(
                "--vault-namespace (VAULT_NAMESPACE)",
                "contains spaces or control characters",
                "a namespace path such as team-a/",
            ));
        }
    }
    Ok(VaultConfig {
        addr,
        auth: VaultAuth::from_args(auth, given)?,
        namespace,
        tls,
        timeout,
        max_retries,
    })
}

fn paths(args: &PathArgs) -> Result<(KvPath, KvPath), Error> {
    let mount = match nonempty(&args.kv_mount) {
        Some(mount) => Some(KvPath::clean(&mount, "--kv-mount (KRIPTOMAT_KV_MOUNT)")?),
        None => None,
    };
    let required = |value: &Option<String>, name: &str, example: &str| {
        let text = nonempty(value).ok_or_else(|| Error::MissingSetting {
            name: name.to_owned(),
            hint: format!("set it to the secret's path as `vault kv get` takes it, e.g. {example}"),
        })?;
        KvPath::new(&text, mount.as_deref(), name)
    };
    let credentials = required(
        &args.credentials,
        "--credentials (KRIPTOMAT_CREDENTIALS_PATH)",
        "secret/kriptomat/partner",
    )?;
    let token = required(
        &args.token_path,
        "--token-path (KRIPTOMAT_TOKEN_PATH)",
        "secret/kriptomat/token",
    )?;
    if credentials.full() == token.full() {
        return Err(Error::invalid(
            "--token-path (KRIPTOMAT_TOKEN_PATH)",
            "it is the credentials path",
            "a separate path, so a token write can never touch the credentials",
        ));
    }
    Ok((credentials, token))
}

fn api_config(args: &ApiArgs) -> Result<ApiConfig, Error> {
    let base = parse_base_url(
        args.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
        "--api-url (KRIPTOMAT_API_URL)",
        true,
    )?;
    let session_ttl = optional_duration(
        args.session_ttl.as_deref(),
        "--session-ttl (KRIPTOMAT_SESSION_TTL)",
    )?;
    if session_ttl.is_some_and(|ttl| ttl.as_secs() > crate::api::MAX_EXPIRES_IN) {
        return Err(Error::invalid(
            "--session-ttl (KRIPTOMAT_SESSION_TTL)",
            "longer than 31 days",
            "a duration such as 1h",
        ));
    }
    if session_ttl.is_some_and(|ttl| ttl.as_secs() == 0) {
        return Err(Error::invalid(
            "--session-ttl (KRIPTOMAT_SESSION_TTL)",
            "shorter than one second",
            "a duration such as 1h",
        ));
    }
    let timeout = optional_duration(
        args.api_timeout.as_deref(),
        "--api-timeout (KRIPTOMAT_API_TIMEOUT)",
    )?
    .unwrap_or(DEFAULT_API_TIMEOUT);
    if timeout.is_zero() {
        return Err(Error::invalid(
            "--api-timeout (KRIPTOMAT_API_TIMEOUT)",
            "zero",
            "a positive duration such as 30s",
        ));
    }
    Ok(ApiConfig {
        base,
        session_ttl,
        ca_cert: nonempty_path(&args.api_cacert),
        timeout,
    })
}

/// Parses an http or https base URL and drops a trailing slash. A path is
/// allowed only where `allow_path` is set: vaultrs puts `/v1` at the root.
fn parse_base_url(text: &str, name: &str, allow_path: bool) -> Result<Url, Error> {
    let form = if allow_path {
        "an http or https URL without credentials, query or fragment"
    } else {
        "an http or https URL such as https://vault.example.com:8200, with no path"
    };
    // The text is not echoed: a mistyped URL may carry credentials.
    let mut url = Url::parse(text.trim())
        .map_err(|e| Error::invalid(name, format!("not a valid URL ({e})"), form))?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some(format!("scheme `{}` is not supported", url.scheme()))
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("the URL has no host".to_owned())
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("the URL contains credentials".to_owned())
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("the URL has a query or fragment".to_owned())
    } else if !allow_path && !url.path().trim_matches('/').is_empty() {
        Some(format!("a path (`{}`) is not supported", url.path()))
    } else {
        None
    };
    if let Some(problem) = problem {
        // Credentials or a query may be secret, so only the host is echoed.
        return Err(Error::invalid(name, problem, form));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

/// Parses a boolean as Go's `strconv.ParseBool`, which the Vault CLI uses.
pub fn parse_bool(text: &str, name: &str) -> Result<bool, Error> {
    match text.trim() {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        other => Err(Error::invalid(
            name,
            format!("`{other}` is not a boolean"),
            "true, false, 1 or 0",
        )),
    }
}

/// Parses a duration: whole seconds (`300`) or units (`300s`, `20m`, `1h30m`).
pub fn parse_duration(text: &str, name: &str) -> Result<Duration, Error> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|_| {
        Error::invalid(
            name,
            format!("`{text}` is not a duration"),
            "whole seconds or a duration such as 300s, 20m or 1h30m",
        )
    })
}

fn optional_duration(text: Option<&str>, name: &str) -> Result<Option<Duration>, Error> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_duration(text, name).map(Some),
    }
}

fn nonempty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn nonempty_path(value: &Option<String>) -> Option<PathBuf> {
    nonempty(value).map(PathBuf::from)
}

/// Reads a secret from a file, trimming surrounding white space and a
/// trailing newline, as Vault Agent sinks and Kubernetes token files end.
pub fn read_secret_file(path: &Path, what: &str, setting: &str) -> Result<Secret, Error> {
    let unreadable = |problem: String| Error::FileUnreadable {
        what: what.to_owned(),
        path: path.display().to_string(),
        problem,
        setting: setting.to_owned(),
    };
    let bytes =
        zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| unreadable(e.to_string()))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| unreadable("not UTF-8 text".to_owned()))?;
    let secret = Secret::from(text.trim());
    if secret.is_blank() {
        return Err(unreadable("the file is empty".to_owned()));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_follows_go_parse_bool() {
        for (text, expected) in [
            ("true", true),
            ("1", true),
            ("T", true),
            ("false", false),
            ("0", false),
            ("", false),
        ] {
            assert_eq!(parse_bool(text, "x").unwrap(), expected, "{text}");
        }
        assert_eq!(parse_bool("no", "x").unwrap_err().exit_code(), 64);
        assert_eq!(parse_bool("yes", "x").unwrap_err().exit_code(), 64);
    }

    #[test]
    fn duration_accepts_seconds_and_units() {
        assert_eq!(
            parse_duration("300", "x").unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(
            parse_duration("20m", "x").unwrap(),
            Duration::from_secs(1200)
        );
        assert_eq!(
            parse_duration("1h30m", "x").unwrap(),
            Duration::from_secs(5400)
        );
        assert!(parse_duration("soon", "x").is_err());
    }

    #[test]
    fn vault_addr_trailing_slash_dropped() {
        let url = parse_base_url("http://127.0.0.1:8200/", "a", false).unwrap();
        assert_eq!(url.as_str().trim_end_matches('/'), "http://127.0.0.1:8200");
        assert_eq!(url.path(), "/");
    }

    #[test]
    fn vault_addr_with_path_rejected() {
        let error =
            parse_base_url("https://h/vault", "--vault-addr (VAULT_ADDR)", false).unwrap_err();
        assert!(error.to_string().contains("path"), "{error}");
    }

    #[test]
    fn api_url_with_query_not_echoed() {
        let error = parse_base_url("https://h/x?key=k-EXAMPLE", "--api-url", true).unwrap_err();
        assert!(!error.to_string().contains("k-EXAMPLE"), "{error}");
    }

    #[test]
    fn api_url_keeps_base_path() {
        let url = parse_base_url("https://h/staging/", "a", true).unwrap();
        assert_eq!(url.as_str(), "https://h/staging");
    }
}
