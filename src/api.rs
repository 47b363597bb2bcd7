//! The Kriptomat partners API login.
//!
//! The login is `POST {base}/api/v1/partners/auth/login` with a JSON body of
//! email, password, TOTP code (a string, so leading zeros survive), client
//! ID (a JSON integer), client secret and, when a session length is set,
//! `expires_in`. Responses are sorted into the tool's error classes. An
//! error carries the status and the API's `message`, never the request or an
//! HTML page.

use crate::clock::Clock;
use crate::config::ApiConfig;
use crate::error::{colon_detail, Error};
use crate::secret::Secret;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};
use tracing::{debug, info, warn};
use url::Url;
use zeroize::Zeroizing;

/// Path of the login below the base URL.
pub const LOGIN_PATH: &str = "api/v1/partners/auth/login";
/// Session length when the API does not say and none was requested.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Maximum session length accepted from the API: 31 days. Sessions last an hour;
/// a larger value is a broken response, and would overflow expiry arithmetic.
pub const MAX_EXPIRES_IN: u64 = 31 * 24 * 3600;
/// A clock this far from the API's `Date` header is reported.
const SKEW_WARNING: Duration = Duration::from_secs(15);
/// Longest API message quoted in an error.
const MAX_MESSAGE: usize = 200;

/// The login fields read from Vault.
#[derive(Debug)]
pub struct LoginCredentials {
    pub email: Secret,
    pub password: Secret,
    pub client_id: u64,
    pub client_secret: Secret,
}

/// A successful login.
#[derive(Debug)]
pub struct Session {
    pub access_token: Secret,
    pub expires_in: u64,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    email: &'a str,
    password: &'a str,
    security_code: &'a str,
    client_id: u64,
    client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
}

/// Retry class of a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The API rejected the TOTP code: one retry with the next step.
    CodeRejected,
    /// The API rejected the credentials: no retry, and the failure counts.
    Rejected,
    /// HTTP 429, with the `Retry-After` wait when the API sent one.
    RateLimited(Option<Duration>),
    /// No response, a timeout or a 5xx: retried with backoff.
    Transient,
    /// A response that a retry would not change.
    Final,
}

/// A failed login: the error to report and how it may be retried.
#[derive(Debug)]
pub struct LoginFailure {
    pub error: Error,
    pub class: FailureClass,
}

impl LoginFailure {
    /// Wraps an error that a retry would not change.
    pub fn fatal(error: Error) -> Self {
        LoginFailure {
            error,
            class: FailureClass::Final,
        }
    }

    fn transient(error: Error) -> Self {
        LoginFailure {
            error,
            class: FailureClass::Transient,
        }
    }
}

/// Reads `Retry-After`: whole seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// A client for the partners API.
pub struct Api {
    http: reqwest::Client,
    login_url: Url,
    /// `POST <url>` for messages; the URL has no query or credentials.
    endpoint: String,
    session_ttl: Option<u64>,
}

impl Api {
    /// Builds the client; reads the CA file but makes no network call.
    pub fn new(config: &ApiConfig) -> Result<Api, Error> {
        let mut login_url = config.base.clone();
        let base_path = config.base.path().trim_end_matches('/').to_owned();
        login_url.set_path(&format!("{base_path}/{LOGIN_PATH}"));
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vault-kriptomat/", env!("CARGO_PKG_VERSION")));
        if let Some(file) = &config.ca_cert {
            let setting = "--api-cacert (KRIPTOMAT_API_CACERT)";
            let unreadable = |problem: String| Error::FileUnreadable {
                what: "API CA certificate".to_owned(),
                path: file.display().to_string(),
                problem,
                setting: setting.to_owned(),
            };
            let pem = std::fs::read(file).map_err(|e| unreadable(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| unreadable("no PEM certificate in it".to_owned()))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| Error::ApiUnavailable {
            endpoint: login_url.to_string(),
            detail: format!("cannot build the HTTP client ({e})"),
            hint: "check --api-cacert".to_owned(),
        })?;
        Ok(Api {
            http,
            endpoint: format!("POST {login_url}"),
            login_url,
            session_ttl: config.session_ttl.map(|t| t.as_secs()),
        })
    }

    /// Returns the session length this client requests, if any.
    pub fn session_ttl(&self) -> Option<u64> {
        self.session_ttl
    }

    /// Logs in with a TOTP code and returns the session.
    pub async fn login(
        &self,
        credentials: &LoginCredentials,
        code: &Secret,
        clock: &Clock,
    ) -> Result<Session, LoginFailure> {
        let body = LoginBody {
            email: credentials.email.expose(),
            password: credentials.password.expose(),
            security_code: code.expose(),
            client_id: credentials.client_id,
            client_secret: credentials.client_secret.expose(),
            expires_in: self.session_ttl,
        };
        // The serialised body contains the password and code. reqwest takes
        // the buffer and frees it unwiped once sent, so it is moved in and no
        // second copy stays here.
        let json = serde_json::to_vec(&body).expect("the login body serialises");
        debug!(endpoint = %self.endpoint, session_ttl = ?self.session_ttl, "sending login");
        let response = self
            .http
            .post(self.login_url.clone())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .header("X-Requested-With", "XMLHttpRequest")
            .body(json)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let skew = clock_skew(response.headers(), clock.now());
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Zeroizing::new(
            response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?
                .to_vec(),
        );
        info!(status, "login response received");
        let mut parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        drop(bytes);
        if !(200..300).contains(&status) {
            // An error body may echo the request; nothing sent may be shown.
            let sent = [
                credentials.password.expose(),
                credentials.client_secret.expose(),
                credentials.email.expose(),
                code.expose(),
            ];
            if let Some(value) = parsed.as_mut() {
                redact(value, &sent);
            }
        }
        let result = self.interpret(status, parsed.as_ref(), retry_after, skew);
        if let Some(value) = parsed.as_mut() {
            crate::vault::kv::wipe(value);
        }
        result
    }

    fn interpret(
        &self,
        status: u16,
        body: Option<&Value>,
        retry_after: Option<String>,
        skew: Option<i64>,
    ) -> Result<Session, LoginFailure> {
        let endpoint = self.endpoint.clone();
        match status {
            200..=299 => {
                let body = body.ok_or_else(|| {
                    self.unavailable(format!("HTTP {status} with a body that is not JSON"))
                });
                body.and_then(|body| self.session(body))
                    .map_err(LoginFailure::fatal)
            }
            400 | 401 | 403 | 422 => {
                let code_rejected = status == 422
                    && body
                        .and_then(|b| b.pointer("/errors/security_code"))
                        .is_some();
                let error = Error::ApiRejected {
                    endpoint,
                    status,
                    message: colon_detail(&describe_rejection(body)),
                    hint: rejection_hint(status, body, skew),
                };
                let class = if code_rejected {
                    FailureClass::CodeRejected
                } else {
                    FailureClass::Rejected
                };
                Err(LoginFailure { error, class })
            }
            429 => {
                let wait = retry_after.as_deref().and_then(parse_retry_after);
                let error = Error::ApiRateLimited {
                    endpoint,
                    retry: retry_after
                        .map(|r| format!(", Retry-After {}", clean(&r)))
                        .unwrap_or_default(),
                };
                Err(LoginFailure {
                    error,
                    class: FailureClass::RateLimited(wait),
                })
            }
            _ => {
                let message = body.and_then(api_message).unwrap_or_else(|| match body {
                    Some(_) => String::new(),
                    None => "a body that is not JSON (an HTML page or a proxy error)".to_owned(),
                });
                let error = self.unavailable(format!("HTTP {status}{}", colon_detail(&message)));
                let class = if status >= 500 {
                    FailureClass::Transient
                } else {
                    FailureClass::Final
                };
                Err(LoginFailure { error, class })
            }
        }
    }

    fn session(&self, body: &Value) -> Result<Session, Error> {
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(
                self.unavailable("a success answer without a string access_token".to_owned())
            );
        };
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(self.unavailable(
                "an access_token with spaces or control characters inside".to_owned(),
            ));
        }
        let expires_in = match body.get("expires_in") {
            None | Some(Value::Null) => self.session_ttl.unwrap_or(DEFAULT_EXPIRES_IN),
            Some(Value::Number(n)) => n.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                self.unavailable("an expires_in that is not a positive integer".to_owned())
            })?,
            Some(Value::String(s)) => {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        self.unavailable("an expires_in that is not a positive integer".to_owned())
                    })?
            }
            Some(_) => {
                return Err(self.unavailable("an expires_in that is not a number".to_owned()))
            }
        };
        if expires_in > MAX_EXPIRES_IN {
            return Err(self.unavailable(format!(
                "an expires_in of {expires_in}s, more than the {MAX_EXPIRES_IN}s this tool accepts"
            )));
        }
        Ok(Session {
            access_token: Secret::from(token),
            expires_in,
        })
    }

    fn unavailable(&self, detail: String) -> Error {
        Error::ApiUnavailable {
            endpoint: self.endpoint.clone(),
            detail,
            hint: "check --api-url and the API's status, then run again".to_owned(),
        }
    }

    /// Describes a failed request without its URL (reqwest's own text
    /// includes it). A TLS failure is final: a retry meets the same
    /// certificate.
    fn transport_error(&self, error: &reqwest::Error) -> LoginFailure {
        let (detail, tls) = match crate::vault::client::transport(error) {
            crate::vault::client::FailureKind::Transport { detail, tls } => (detail, tls),
            _ => ("request failed".to_owned(), false),
        };
        if tls {
            let error = Error::ApiUnavailable {
                endpoint: self.endpoint.clone(),
                detail: format!("TLS failed: {detail}"),
                hint: "check --api-cacert (KRIPTOMAT_API_CACERT) and the API's certificate"
                    .to_owned(),
            };
            return LoginFailure::fatal(error);
        }
        LoginFailure::transient(self.unavailable(detail))
    }
}

/// Replaces every occurrence of the given secrets in a JSON value, keys
/// included, with `***`.
fn redact(value: &mut Value, secrets: &[&str]) {
    let scrub = |text: &str| {
        secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .fold(text.to_owned(), |acc, s| acc.replace(s, "***"))
    };
    match value {
        Value::String(text) => {
            let clean = scrub(text);
            crate::vault::kv::wipe(value);
            *value = Value::String(clean);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, secrets)),
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut item) in entries {
                redact(&mut item, secrets);
                map.insert(scrub(&key), item);
            }
        }
        _ => {}
    }
}

/// Returns the API's `message`, cleaned and shortened.
fn api_message(body: &Value) -> Option<String> {
    body.get("message")
        .and_then(Value::as_str)
        .map(clean)
        .filter(|m| !m.is_empty())
}

/// Describes a rejection: the message and, for validation errors, the
/// fields named (not their values).
fn describe_rejection(body: Option<&Value>) -> String {
    let Some(body) = body else {
        return "a body that is not JSON".to_owned();
    };
    let mut text = api_message(body).unwrap_or_default();
    if let Some(fields) = body.get("errors").and_then(Value::as_object) {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        if !names.is_empty() {
            text = format!("{text} (fields: {})", names.join(", "))
                .trim()
                .to_owned();
        }
    }
    text
}

fn rejection_hint(status: u16, body: Option<&Value>, skew: Option<i64>) -> String {
    let code_rejected = body
        .and_then(|b| b.pointer("/errors/security_code"))
        .is_some();
    match skew {
        Some(seconds) if seconds.unsigned_abs() >= SKEW_WARNING.as_secs() => format!(
            "probable clock skew: this host's clock is {seconds} s off the API's; synchronise it (NTP) and run again"
        ),
        _ if code_rejected => "check the totp_secret field and this host's clock, then run again after the next TOTP step".to_owned(),
        _ if status == 422 => "check the credential fields named above".to_owned(),
        _ => "check email, password, client_id and client_secret in the credentials secret, and the API's IP allow-list".to_owned(),
    }
}

/// Returns local time minus the server's `Date` header, in seconds.
fn clock_skew(headers: &reqwest::header::HeaderMap, now: f64) -> Option<i64> {
    let date = headers.get("date")?.to_str().ok()?;
    let server = httpdate::parse_http_date(date).ok()?;
    let server = server.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    let skew = now as i64 - server;
    if skew.unsigned_abs() >= SKEW_WARNING.as_secs() {
        warn!(
            skew_secs = skew,
            "this host's clock differs from the API's Date header"
        );
    }
    Some(skew)
}

fn clean(text: &str) -> String {
    let single: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = single.trim();
    if trimmed.chars().count() > MAX_MESSAGE {
        format!("{}…", trimmed.chars().take(MAX_MESSAGE).collect::<String>())
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_keeps_code_string_and_integer_client_id() {
        let body = LoginBody {
            email: "ops@example.test",
            password: "pw",
            security_code: "005924",
            client_id: 123456789012345678,
            client_secret: "cs",
            expires_in: None,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert!(text.contains(r#""security_code":"005924""#), "{text}");
        assert!(text.contains(r#""client_id":123456789012345678"#), "{text}");
        assert!(!text.contains("expires_in"), "{text}");
    }

    #[test]
    fn rejection_lists_field_names() {
        let body =
            json!({"message": "The given data was invalid.", "errors": {"security_code": ["bad"]}});
        assert_eq!(
            describe_rejection(Some(&body)),
            "The given data was invalid. (fields: security_code)"
        );
    }

    #[test]
    fn skew_named_in_hint() {
        let hint = rejection_hint(401, None, Some(-45));
        assert!(hint.contains("-45 s"), "{hint}");
    }

    #[test]
    fn echoed_secrets_redacted() {
        let mut body =
            json!({"message": "bad password pw-123456 for x", "errors": {"pw-123456": ["x"]}});
        redact(&mut body, &["pw-123456", "ab"]);
        assert_eq!(
            body,
            json!({"message": "bad password *** for x", "errors": {"***": ["x"]}})
        );
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(500);
        assert_eq!(clean(&long).chars().count(), MAX_MESSAGE + 1);
    }
}
