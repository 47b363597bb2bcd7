//! The Vault HTTP client: TLS, timeouts, namespace, retries and the
//! classification of every failure.

use crate::config::{TlsConfig, VaultConfig};
use crate::error::{colon_detail, Error};
use rand::Rng;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;
use tracing::{debug, info, warn};
use url::Url;
use vaultrs::client::{VaultClient, VaultClientSettings};
use zeroize::Zeroizing;

/// A connection to one Vault server with the run's settings.
pub struct Vault {
    client: VaultClient,
    /// Address as the operator gave it, for messages.
    addr: String,
    max_retries: u32,
    retry_base: Duration,
    /// Description of the CAs that verify Vault's certificate and of the
    /// name checked, for TLS error messages.
    trust: String,
}

/// One Vault request that failed, before the caller adds its meaning.
#[derive(Debug)]
pub struct Failure {
    pub method: &'static str,
    pub path: String,
    pub kind: FailureKind,
}

/// Cause of a failed Vault request.
#[derive(Debug)]
pub enum FailureKind {
    /// Vault responded with an error status.
    Status {
        code: u16,
        errors: Vec<String>,
        /// The body when it was JSON without `errors`, such as the raw 404
        /// envelope of a soft-deleted KV v2 version.
        body: Option<serde_json::Value>,
    },
    /// No response: refused connection, timeout, TLS failure.
    Transport { detail: String, tls: bool },
    /// A response that is not what the endpoint returns.
    Unexpected(String),
}

impl Vault {
    /// Builds the client. Reads CA and client certificate files, but makes
    /// no network call.
    pub fn connect(config: &VaultConfig) -> Result<Vault, Error> {
        let addr = config.addr.as_str().trim_end_matches('/').to_owned();
        let mut base = config.addr.clone();
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(1))
            .user_agent(concat!("vault-kriptomat/", env!("CARGO_PKG_VERSION")));
        if config.addr.scheme() == "https" {
            builder = configure_tls(builder, &config.tls)?;
            if let Some(name) = &config.tls.server_name {
                builder = route_server_name(builder, &mut base, name)?;
            }
        }
        let http = builder.build().map_err(|e| Error::VaultUnavailable {
            addr: addr.clone(),
            detail: format!("cannot build the HTTP client ({e})"),
            hint: "check the TLS settings".to_owned(),
        })?;
        debug!(%addr, namespace = ?config.namespace, timeout = ?config.timeout, "Vault client ready");
        let settings = VaultClientSettings {
            address: base.clone(),
            ca_certs: Vec::new(),
            identity: None,
            timeout: Some(config.timeout),
            token: String::new(),
            verify: !config.tls.skip_verify,
            version: 1,
            wrapping: false,
            namespace: config.namespace.clone(),
            proxy: None,
        };
        let client = VaultClient {
            http: rustify::clients::reqwest::Client::new(base.as_str().trim_end_matches('/'), http),
            middle: vaultrs::api::EndpointMiddleware {
                token: String::new(),
                version: "v1".to_owned(),
                wrap: None,
                namespace: config.namespace.clone(),
            },
            settings,
        };
        Ok(Vault {
            client,
            addr,
            max_retries: config.max_retries,
            retry_base: Duration::from_millis(500),
            trust: describe_trust(config),
        })
    }

    /// Sets the token sent on every later request.
    /// The token goes only into vaultrs's request middleware, which sends
    /// it; `Client::set_token` would also copy it into the settings.
    pub fn set_token(&mut self, token: &crate::secret::Secret) {
        zeroize::Zeroize::zeroize(&mut self.client.middle.token);
        self.client.middle.token = token.expose().to_owned();
    }

    /// Returns Vault's address as configured, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Returns the vaultrs client for endpoint calls.
    pub fn inner(&self) -> &VaultClient {
        &self.client
    }

    /// Sets the first retry delay; tests shorten it.
    pub fn set_retry_base(&mut self, base: Duration) {
        self.retry_base = base;
    }

    /// Runs one request, retrying transient failures (connection errors,
    /// 412, 429 and 5xx except 501) with exponential backoff and jitter.
    pub async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        path: &str,
        request: F,
    ) -> Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, vaultrs::error::ClientError>>,
    {
        let mut attempt = 0;
        loop {
            let result = request().await;
            let kind = match result {
                Ok(value) => {
                    debug!(method, path, "Vault request succeeded");
                    return Ok(value);
                }
                Err(error) => classify(error),
            };
            let transient = is_transient(&kind);
            debug!(method, path, status = ?status_of(&kind), transient, attempt, "Vault request failed");
            if !transient || attempt >= self.max_retries {
                return Err(Failure {
                    method,
                    path: path.to_owned(),
                    kind,
                });
            }
            attempt += 1;
            let delay = backoff(self.retry_base, attempt);
            info!(
                method,
                path,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying Vault request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Turns a failure with no specific meaning for the caller into the
    /// tool's error: 403 denied, 503 sealed or unavailable, and so on.
    pub fn error(&self, failure: Failure, hint_403: &str) -> Error {
        let Failure { method, path, kind } = failure;
        match kind {
            FailureKind::Status {
                code: 403, errors, ..
            } => {
                let invalid = errors.iter().any(|e| e.contains("invalid token"));
                Error::VaultDenied {
                    method: method.to_owned(),
                    path: format!("/v1/{path}"),
                    reason: if invalid {
                        " (the Vault token is invalid, expired or revoked)".to_owned()
                    } else {
                        " (permission denied)".to_owned()
                    },
                    hint: if invalid {
                        "log in to Vault again or check the token source".to_owned()
                    } else {
                        hint_403.to_owned()
                    },
                }
            }
            FailureKind::Status {
                code: 503, errors, ..
            } if errors.iter().any(|e| e.contains("sealed")) => Error::VaultUnavailable {
                addr: self.addr.clone(),
                detail: "Vault is sealed".to_owned(),
                hint: "unseal Vault, then run again".to_owned(),
            },
            FailureKind::Status { code, errors, .. }
                if code >= 500 || code == 429 || code == 412 =>
            {
                Error::VaultUnavailable {
                    addr: self.addr.clone(),
                    detail: format!(
                        "{method} /v1/{path} answered HTTP {code}{}",
                        colon_detail(&vault_messages(&errors))
                    ),
                    hint: "check Vault's health and run again".to_owned(),
                }
            }
            FailureKind::Status { code, errors, .. } => Error::VaultRequestFailed {
                method: method.to_owned(),
                path: format!("/v1/{path}"),
                detail: format!("HTTP {code}{}", colon_detail(&vault_messages(&errors))),
                hint: "check the path and the Vault server version".to_owned(),
            },
            FailureKind::Transport { detail, tls } => Error::VaultUnavailable {
                addr: self.addr.clone(),
                detail: format!("{method} /v1/{path} failed: {detail}"),
                hint: if tls {
                    format!("TLS with {}: check that this CA signed the server certificate and that the certificate names the host (VAULT_TLS_SERVER_NAME)", self.trust)
                } else {
                    "check VAULT_ADDR and that Vault is running".to_owned()
                },
            },
            FailureKind::Unexpected(detail) => Error::VaultRequestFailed {
                method: method.to_owned(),
                path: format!("/v1/{path}"),
                detail: format!("unexpected response ({detail})"),
                hint: "check that VAULT_ADDR points at Vault and not at a proxy page".to_owned(),
            },
        }
    }
}

/// Describes the trust settings in use: the CA file or directory (or the
/// system roots) and the name verified.
fn describe_trust(config: &VaultConfig) -> String {
    let tls = &config.tls;
    let roots = match (&tls.ca_cert, &tls.ca_path) {
        (Some(file), _) => format!("CA file {} (VAULT_CACERT)", file.display()),
        (None, Some(dir)) => format!("CA directory {} (VAULT_CAPATH)", dir.display()),
        (None, None) => "the system's CA roots".to_owned(),
    };
    let host = config.addr.host_str().unwrap_or_default();
    let name = tls.server_name.as_deref().unwrap_or(host);
    format!("{roots}, verifying the name {name}")
}

/// Joins Vault's error messages on one line. Core errors arrive wrapped as
/// "1 error occurred:\n\t* permission denied\n\n"; only the items are kept.
pub fn vault_messages(errors: &[String]) -> String {
    let mut items = Vec::new();
    for error in errors {
        for line in error.lines() {
            let line = line.trim().trim_start_matches("* ").trim();
            let wrapper = line.ends_with("occurred:")
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|n| n.parse::<u32>().is_ok());
            if !line.is_empty() && !wrapper {
                items.push(
                    line.chars()
                        .filter(|c| !c.is_control())
                        .take(200)
                        .collect::<String>(),
                );
            }
        }
    }
    items.join("; ")
}

/// Returns the HTTP status of a failure, if Vault responded.
pub fn status_of(kind: &FailureKind) -> Option<u16> {
    match kind {
        FailureKind::Status { code, .. } => Some(*code),
        _ => None,
    }
}

fn is_transient(kind: &FailureKind) -> bool {
    match kind {
        FailureKind::Status { code, .. } => {
            matches!(code, 412 | 429) || (*code >= 500 && *code != 501)
        }
        FailureKind::Transport { tls, .. } => !tls,
        FailureKind::Unexpected(_) => false,
    }
}

/// Returns the delay before retry `attempt` (from 1): `base` doubled per
/// attempt, capped at 5 s, with 25 percent jitter either way.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponential = base
        .saturating_mul(1 << attempt.min(6))
        .min(Duration::from_secs(5));
    let jitter = rand::rng().random_range(0.75..1.25);
    exponential.mul_f64(jitter)
}

/// Sorts a vaultrs error into status, transport or unexpected response.
fn classify(error: vaultrs::error::ClientError) -> FailureKind {
    use rustify::errors::ClientError as Http;
    use vaultrs::error::ClientError as V;
    match error {
        V::APIError { code, errors } => FailureKind::Status {
            code,
            errors,
            body: None,
        },
        V::RestClientError { source } => match source {
            Http::ServerResponseError { code, content } => {
                let body: Option<serde_json::Value> = content
                    .as_deref()
                    .and_then(|c| serde_json::from_str(c).ok());
                // Vault always responds with JSON, so a page from a proxy or
                // another server is reported as such. It is retried only
                // where a status from Vault would be.
                if body.is_none() && !(code >= 500 || code == 429 || code == 412) {
                    return FailureKind::Unexpected(format!(
                        "HTTP {code} with a body that is not JSON"
                    ));
                }
                let errors = body
                    .as_ref()
                    .and_then(|b| b.get("errors"))
                    .and_then(|e| e.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                FailureKind::Status { code, errors, body }
            }
            Http::RequestError { source, .. } => transport(&*source),
            Http::ResponseParseError { .. } => {
                FailureKind::Unexpected("the body is not the JSON Vault sends".to_owned())
            }
            other => FailureKind::Unexpected(other.to_string()),
        },
        V::ResponseEmptyError | V::ResponseDataEmptyError => {
            FailureKind::Unexpected("the answer has no data".to_owned())
        }
        other => FailureKind::Unexpected(other.to_string()),
    }
}

/// Describes a transport error by its causes, without the URL.
pub fn transport(error: &(dyn std::error::Error + 'static)) -> FailureKind {
    let mut causes = Vec::new();
    let mut timeout = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(reqwest_error) = cause.downcast_ref::<reqwest::Error>() {
            timeout |= reqwest_error.is_timeout();
            causes.push(
                reqwest_error
                    .to_string()
                    .split(" for url")
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        } else {
            causes.push(cause.to_string());
        }
        current = cause.source();
    }
    let text = causes.join(": ");
    let lower = text.to_lowercase();
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
    ]
    .iter()
    .any(|word| lower.contains(word));
    let detail = if timeout {
        "timed out".to_owned()
    } else {
        causes
            .last()
            .cloned()
            .unwrap_or_else(|| "connection failed".to_owned())
    };
    FailureKind::Transport { detail, tls }
}

fn configure_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsConfig,
) -> Result<reqwest::ClientBuilder, Error> {
    // As the Vault CLI: VAULT_CACERT wins over VAULT_CAPATH, and either
    // replaces the system roots instead of adding to them.
    let mut roots = Vec::new();
    if let Some(file) = &tls.ca_cert {
        roots = read_certificates(file, "--vault-cacert (VAULT_CACERT)")?;
    } else if let Some(dir) = &tls.ca_path {
        for file in pem_files(dir)? {
            roots.extend(read_certificates(&file, "--vault-capath (VAULT_CAPATH)")?);
        }
    }
    if !roots.is_empty() {
        builder = builder.tls_certs_only(roots);
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = Zeroizing::new(
            read_file(
                cert,
                "client certificate",
                "--vault-client-cert (VAULT_CLIENT_CERT)",
            )?
            .to_vec(),
        );
        pem.push(b'\n');
        pem.extend_from_slice(&read_file(
            key,
            "client key",
            "--vault-client-key (VAULT_CLIENT_KEY)",
        )?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| Error::FileUnreadable {
            what: "client certificate or key".to_owned(),
            path: format!("{} / {}", cert.display(), key.display()),
            problem: "not a PEM certificate and private key".to_owned(),
            setting: "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY".to_owned(),
        })?;
        builder = builder.identity(identity);
    }
    if tls.skip_verify {
        warn!("VAULT_SKIP_VERIFY is set: Vault's TLS certificate is not verified");
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

/// Sends requests to the name in VAULT_TLS_SERVER_NAME, so that it is the
/// SNI and the verified name, while connecting to the configured address.
fn route_server_name(
    builder: reqwest::ClientBuilder,
    base: &mut Url,
    name: &str,
) -> Result<reqwest::ClientBuilder, Error> {
    let host = base
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = base.port_or_known_default().unwrap_or(8200);
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| Error::VaultUnavailable {
            addr: base.as_str().to_owned(),
            detail: format!("cannot resolve {host} ({e})"),
            hint: "check VAULT_ADDR".to_owned(),
        })?
        .collect();
    base.set_host(Some(name)).map_err(|_| {
        Error::invalid(
            "--vault-tls-server-name (VAULT_TLS_SERVER_NAME)",
            format!("`{name}` is not a host name"),
            "a DNS name",
        )
    })?;
    Ok(builder.resolve_to_addrs(name, &addrs))
}

fn read_file(path: &Path, what: &str, setting: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::FileUnreadable {
            what: what.to_owned(),
            path: path.display().to_string(),
            problem: e.to_string(),
            setting: setting.to_owned(),
        })
}

fn read_certificates(path: &Path, setting: &str) -> Result<Vec<reqwest::Certificate>, Error> {
    let pem = read_file(path, "CA certificate", setting)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .ok()
        .filter(|c| !c.is_empty());
    certs.ok_or_else(|| Error::FileUnreadable {
        what: "CA certificate".to_owned(),
        path: path.display().to_string(),
        problem: "no PEM certificate in it".to_owned(),
        setting: setting.to_owned(),
    })
}

/// Lists the files below a CA directory, recursively as the Vault CLI does.
fn pem_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let unreadable = |e: std::io::Error| Error::FileUnreadable {
        what: "CA directory".to_owned(),
        path: dir.display().to_string(),
        problem: e.to_string(),
        setting: "--vault-capath (VAULT_CAPATH)".to_owned(),
    };
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            files.extend(pem_files(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_match_vault_cli() {
        for code in [412, 429, 500, 502, 503] {
            let kind = FailureKind::Status {
                code,
                errors: vec![],
                body: None,
            };
            assert!(is_transient(&kind), "{code}");
        }
        for code in [400, 401, 403, 404, 501] {
            let kind = FailureKind::Status {
                code,
                errors: vec![],
                body: None,
            };
            assert!(!is_transient(&kind), "{code}");
        }
    }

    #[test]
    fn multierror_text_on_one_line() {
        let errors =
            vec!["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n".to_owned()];
        assert_eq!(vault_messages(&errors), "permission denied; invalid token");
        assert_eq!(
            vault_messages(&["invalid role or secret ID".to_owned()]),
            "invalid role or secret ID"
        );
    }

    #[test]
    fn tls_failures_are_not_retried() {
        let kind = FailureKind::Transport {
            detail: "x".into(),
            tls: true,
        };
        assert!(!is_transient(&kind));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        assert!(backoff(base, 1) >= Duration::from_millis(750));
        assert!(backoff(base, 10) <= Duration::from_millis(6250));
    }
}
