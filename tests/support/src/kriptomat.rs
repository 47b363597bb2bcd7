//! Simulator of the Kriptomat partners API login, a real HTTP server on
//! 127.0.0.1.
//!
//! It serves `POST /api/v1/partners/auth/login` only. The body is validated
//! the way a Laravel application does it, the credentials are checked, and
//! the TOTP code is verified against the account's seed at the current step
//! plus or minus a window, with a replay guard per account. Every other path,
//! the older `/v1/auth/login` included, gets a 404, so a test can prove that
//! the client uses the current endpoint.
//!
//! Status codes and body shapes:
//! - 422 `{"message": "...", "errors": {"field": ["..."]}}` for a missing or
//!   mistyped field, a wrong code or a replayed step;
//! - 401 `{"message": "..."}` for a wrong email, password, client ID or
//!   client secret;
//! - 200 `{"access_token": "kpt_...", "expires_in": 3600}` on success.
//!
//! A test can also queue [`ScriptedResponse`]s (429, 5xx HTML, bodies that are
//! not JSON, slow responses) that are sent before normal handling. Every
//! response carries a `Date` header taken from the simulator's [`TestClock`],
//! so a client that measures clock skew sees the simulated time.

mod login;
mod server;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::TestClock;

/// Path of the login endpoint, relative to [`Simulator::url`].
pub const LOGIN_PATH: &str = "/api/v1/partners/auth/login";

/// Prefix of every access token the simulator issues.
pub const TOKEN_PREFIX: &str = "kpt_";

/// Session length in seconds when the request sets no `expires_in`, and the
/// default cap on a requested one. The provider documents 60-minute sessions.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;

/// HMAC algorithm of an account's TOTP codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// Partner account known to the simulator: login credentials and TOTP
/// parameters.
#[derive(Clone)]
pub struct Account {
    pub email: String,
    pub password: String,
    pub client_id: u64,
    pub client_secret: String,
    /// Raw seed bytes, after base32 decoding.
    pub seed: Vec<u8>,
    /// Code length: 6 or 8.
    pub digits: u32,
    /// Step length in seconds.
    pub period: u64,
    pub algorithm: Algorithm,
}

impl Account {
    /// Creates an account with the provider's TOTP parameters: HMAC-SHA-1,
    /// 6 digits, 30-second steps.
    pub fn new(
        email: impl Into<String>,
        password: impl Into<String>,
        client_id: u64,
        client_secret: impl Into<String>,
        seed: Vec<u8>,
    ) -> Account {
        Account {
            email: email.into(),
            password: password.into(),
            client_id,
            client_secret: client_secret.into(),
            seed,
            digits: 6,
            period: 30,
            algorithm: Algorithm::Sha1,
        }
    }

    /// Sets the code length (6 or 8).
    pub fn with_digits(mut self, digits: u32) -> Account {
        self.digits = digits;
        self
    }

    /// Sets the step length in seconds.
    pub fn with_period(mut self, period: u64) -> Account {
        self.period = period;
        self
    }

    /// Sets the HMAC algorithm.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Account {
        self.algorithm = algorithm;
        self
    }

    /// Returns the TOTP step that contains `unix_secs`.
    pub fn step_at(&self, unix_secs: u64) -> u64 {
        unix_secs / self.period
    }

    /// Computes the code for the step that contains `unix_secs`, zero-padded
    /// to `digits` characters.
    pub fn code_at(&self, unix_secs: u64) -> String {
        let algorithm = match self.algorithm {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        };
        let totp = totp_rs::Builder::new()
            .with_algorithm(algorithm)
            .with_digits(self.digits as u8)
            .with_step_duration(self.period)
            .with_secret(self.seed.clone())
            .build_noncompliant();
        totp.generate(unix_secs).to_string()
    }

    fn check_parameters(&self) {
        assert!(
            (6..=8).contains(&self.digits),
            "account {}: digits must be 6 to 8, got {}",
            self.email,
            self.digits
        );
        assert!(
            self.period > 0,
            "account {}: period must be at least 1 second",
            self.email
        );
    }
}

// Hand-written so that a test printing an account shows no secret.
impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("seed", &format_args!("<{} bytes>", self.seed.len()))
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// How a successful login returns `expires_in`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpiresInFormat {
    /// A JSON integer: `"expires_in": 3600`.
    #[default]
    Number,
    /// A string of digits: `"expires_in": "3600"`.
    String,
    /// No `expires_in` field at all.
    Missing,
}

/// Canned response sent in place of normal handling.
#[derive(Clone, Debug)]
pub struct ScriptedResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// Extra response headers. A `Date` header here replaces the one from the
    /// simulator's clock.
    pub headers: Vec<(String, String)>,
    /// Time to wait before sending the response.
    pub delay: Duration,
}

impl ScriptedResponse {
    /// Creates a response with the given status, an empty body and no extra
    /// headers.
    pub fn new(status: u16) -> ScriptedResponse {
        ScriptedResponse {
            status,
            body: Vec::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Creates a response whose body is `value` serialized as JSON.
    pub fn json(status: u16, value: serde_json::Value) -> ScriptedResponse {
        ScriptedResponse {
            body: value.to_string().into_bytes(),
            ..ScriptedResponse::new(status)
        }
        .with_header("content-type", "application/json")
    }

    /// Creates a response with an HTML body, as a proxy in front of the API
    /// sends for a 502 or 503.
    pub fn html(status: u16, text: &str) -> ScriptedResponse {
        ScriptedResponse {
            body: text.as_bytes().to_vec(),
            ..ScriptedResponse::new(status)
        }
        .with_header("content-type", "text/html; charset=UTF-8")
    }

    /// Creates a response with a plain-text body.
    pub fn text(status: u16, text: &str) -> ScriptedResponse {
        ScriptedResponse {
            body: text.as_bytes().to_vec(),
            ..ScriptedResponse::new(status)
        }
        .with_header("content-type", "text/plain; charset=UTF-8")
    }

    /// Creates a 429 response with a `Retry-After` header in seconds and the
    /// rate-limit headers of Laravel's throttle middleware.
    pub fn rate_limited(retry_after_secs: u64) -> ScriptedResponse {
        ScriptedResponse::json(
            429,
            serde_json::json!({ "message": "Too many login attempts." }),
        )
        .with_header("retry-after", &retry_after_secs.to_string())
        .with_header("x-ratelimit-limit", "60")
        .with_header("x-ratelimit-remaining", "0")
    }

    /// Creates a 502 response with a proxy's HTML error page.
    pub fn bad_gateway() -> ScriptedResponse {
        ScriptedResponse::html(
            502,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
             <body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        )
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> ScriptedResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the time to wait before sending the response.
    pub fn with_delay(mut self, delay: Duration) -> ScriptedResponse {
        self.delay = delay;
        self
    }

    /// Panics, in the test's thread, on a status or header that HTTP cannot
    /// carry, because a panic in the server thread would only drop the
    /// connection.
    fn check(&self) {
        assert!(
            axum::http::StatusCode::from_u16(self.status).is_ok(),
            "scripted status {} is not a valid HTTP status",
            self.status
        );
        for (name, value) in &self.headers {
            assert!(
                axum::http::HeaderName::try_from(name.as_str()).is_ok(),
                "scripted header name {name:?} is invalid"
            );
            assert!(
                axum::http::HeaderValue::try_from(value.as_str()).is_ok(),
                "scripted header {name} has an invalid value"
            );
        }
    }
}

/// Request as the simulator received it, whatever its method or path.
#[derive(Clone)]
pub struct LoginRecord {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string without the `?`, if the URL had one.
    pub query: Option<String>,
    /// Headers with lower-case names. Repeated headers are joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, whatever the `Content-Type`. `None` if it is
    /// not valid JSON.
    pub json: Option<serde_json::Value>,
    /// Simulator time, in unix seconds, when the request arrived.
    pub at_unix: u64,
}

// Hand-written because the body contains the password and client secret: it
// shows only the body's length and the top-level JSON field names.
impl fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json_fields: Option<Vec<&String>> = self
            .json
            .as_ref()
            .and_then(|value| value.as_object())
            .map(|object| object.keys().collect());
        f.debug_struct("LoginRecord")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("json_fields", &json_fields)
            .field("at_unix", &self.at_unix)
            .finish()
    }
}

/// Account and the last TOTP step the simulator accepted for it.
struct AccountState {
    account: Account,
    last_step: Option<u64>,
}

/// Mutable state shared by the HTTP handlers and the test's [`Simulator`].
struct State {
    accounts: BTreeMap<String, AccountState>,
    window: u64,
    max_expires_in: u64,
    expires_in_format: ExpiresInFormat,
    response_delay: Duration,
    script: VecDeque<ScriptedResponse>,
    requests: Vec<LoginRecord>,
    logins_attempted: usize,
    logins_succeeded: usize,
    issued_tokens: Vec<String>,
}

struct Shared {
    clock: TestClock,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the recorded requests from
        // the other threads, so a poisoned lock is still used.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Running simulator. Dropping it shuts the server down.
pub struct Simulator {
    shared: Arc<Shared>,
    address: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Simulator {
    /// Starts a simulator on a free port of 127.0.0.1, with no accounts, on
    /// its own Tokio runtime, so both plain and async tests can use it.
    ///
    /// # Panics
    ///
    /// Panics if the runtime cannot be built or the port cannot be bound.
    pub fn start(clock: TestClock) -> Simulator {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kriptomat-simulator")
            .enable_all()
            .build()
            .expect("failed to build the Tokio runtime of the Kriptomat simulator");

        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("failed to bind the Kriptomat simulator to 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("failed to make the Kriptomat simulator's socket non-blocking");
        let address = listener
            .local_addr()
            .expect("failed to read the Kriptomat simulator's address");

        let shared = Arc::new(Shared {
            clock,
            state: Mutex::new(State {
                accounts: BTreeMap::new(),
                window: 1,
                max_expires_in: DEFAULT_EXPIRES_IN,
                expires_in_format: ExpiresInFormat::Number,
                response_delay: Duration::ZERO,
                script: VecDeque::new(),
                requests: Vec::new(),
                logins_attempted: 0,
                logins_succeeded: 0,
                issued_tokens: Vec::new(),
            }),
        });

        let router = server::router(Arc::clone(&shared));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .expect("failed to register the Kriptomat simulator's socket");
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("kriptomat simulator on {address} stopped: {error}");
            }
        });

        Simulator {
            shared,
            address,
            runtime: Some(runtime),
        }
    }

    /// Returns the base URL, `http://127.0.0.1:PORT`, without a trailing
    /// slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns the full URL of the login endpoint.
    pub fn login_url(&self) -> String {
        format!("{}{LOGIN_PATH}", self.url())
    }

    /// Returns the simulator's clock.
    pub fn clock(&self) -> TestClock {
        self.shared.clock
    }

    /// Adds an account, replacing one with the same email together with its
    /// replay-guard state.
    ///
    /// # Panics
    ///
    /// Panics if `digits` is outside 6 to 8 or `period` is 0.
    pub fn add_account(&self, account: Account) {
        account.check_parameters();
        let email = account.email.clone();
        self.shared.lock().accounts.insert(
            email,
            AccountState {
                account,
                last_step: None,
            },
        );
    }

    /// Sets how many steps either side of the current one a code may come
    /// from (default 1). With 0 only the current step is accepted.
    pub fn set_window(&self, steps: u64) {
        self.shared.lock().window = steps;
    }

    /// Sets the cap on a requested `expires_in`, in seconds (default 3600).
    /// A login that requests none gets 3600 or the cap, whichever is lower.
    pub fn set_max_expires_in(&self, secs: u64) {
        self.shared.lock().max_expires_in = secs;
    }

    /// Sets how successful logins return `expires_in`.
    pub fn set_expires_in_format(&self, format: ExpiresInFormat) {
        self.shared.lock().expires_in_format = format;
    }

    /// Sets a wait before every normally handled response (default none).
    /// The request is checked when it arrives, before the wait.
    pub fn set_response_delay(&self, delay: Duration) {
        self.shared.lock().response_delay = delay;
    }

    /// Records `step` as used for the account, as if a login with that
    /// step's code had succeeded. A later code for this step or an older one
    /// is rejected as a replay.
    ///
    /// # Panics
    ///
    /// Panics if no account has that email.
    pub fn mark_step_used(&self, email: &str, step: u64) {
        let mut state = self.shared.lock();
        let entry = state
            .accounts
            .get_mut(email)
            .unwrap_or_else(|| panic!("mark_step_used: no account with email {email}"));
        entry.last_step = Some(entry.last_step.map_or(step, |last| last.max(step)));
    }

    /// Returns the newest step accepted or marked used for the account, or
    /// `None` if there is none or no account has that email.
    pub fn last_used_step(&self, email: &str) -> Option<u64> {
        self.shared
            .lock()
            .accounts
            .get(email)
            .and_then(|entry| entry.last_step)
    }

    /// Queues a response for the next request that has no earlier scripted
    /// response. Scripted responses are sent in order, each once, to any
    /// method and path, before normal handling.
    ///
    /// # Panics
    ///
    /// Panics if the status or a header is not valid HTTP.
    pub fn push_response(&self, response: ScriptedResponse) {
        response.check();
        self.shared.lock().script.push_back(response);
    }

    /// Queues the same response for the next `count` requests.
    ///
    /// # Panics
    ///
    /// Panics if the status or a header is not valid HTTP.
    pub fn push_response_times(&self, response: ScriptedResponse, count: usize) {
        response.check();
        let mut state = self.shared.lock();
        for _ in 0..count {
            state.script.push_back(response.clone());
        }
    }

    /// Returns how many scripted responses are still queued.
    pub fn pending_responses(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Returns every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<LoginRecord> {
        self.shared.lock().requests.clone()
    }

    /// Returns how many `POST` requests reached the login path, including
    /// those that got a scripted response.
    pub fn logins_attempted(&self) -> usize {
        self.shared.lock().logins_attempted
    }

    /// Returns how many logins returned a new access token. Scripted 200
    /// responses do not count.
    pub fn logins_succeeded(&self) -> usize {
        self.shared.lock().logins_succeeded
    }

    /// Returns the access tokens issued so far, oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.lock().issued_tokens.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // Waiting for the runtime is not allowed inside an async context, so
        // a simulator dropped by an async test stops in the background.
        if tokio::runtime::Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
