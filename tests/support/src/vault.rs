//! A stateful fake HashiCorp Vault served over real HTTP on 127.0.0.1.
//!
//! It responds like Vault Community Edition for the parts vault-kriptomat
//! and vaultrs 0.8 touch: KV v1 and v2 mounts (nested ones included), the
//! `sys/internal/ui/mounts` lookup, mount management, ACL policies, token
//! create/lookup/renew/revoke, Kubernetes and AppRole logins, sealing and
//! `sys/health`. Tests can also inject faults and read back every request
//! the server received.
//!
//! The server runs on its own Tokio runtime in a background thread, so
//! plain synchronous `#[test]` functions can use it; dropping the
//! [`FakeVault`] stops it. The `X-Vault-Namespace` header is recorded but
//! otherwise ignored, as Vault Community Edition does, unless
//! [`FakeVaultOptions::require_namespace`] is set. With
//! [`FakeVaultOptions::tls`] the server speaks HTTPS only.

mod approle;
mod auth;
mod duration;
mod https;
mod kubernetes;
mod kv1;
mod kv2;
mod policy;
mod reply;
mod server;
mod state;
mod sys;
mod token;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::watch;

use state::{mount_path, Engine, Mount, State};

/// TTL of tokens added with [`FakeVault::add_token`]: Vault's default
/// token TTL of 768h.
const ADDED_TOKEN_TTL_SECONDS: i64 = 2_764_800;

/// Settings for [`FakeVault::start_with`].
#[derive(Debug, Clone)]
pub struct FakeVaultOptions {
    /// Address to bind; it must be a loopback address. Port 0 picks a free
    /// port.
    pub listen: SocketAddr,
    /// Token with the `root` policy; it never expires.
    pub root_token: String,
    /// Mounts KV v2 at `secret/`, as `vault server -dev` does.
    pub dev_mount: bool,
    /// Namespace every request except `sys/health` must send in
    /// `X-Vault-Namespace`, or get 403 permission denied. A trailing `/` on
    /// either side is ignored. `None` ignores the header, as Vault Community
    /// Edition does.
    ///
    /// NOTE: this only checks the header. Vault Enterprise also accepts the
    /// namespace as a path prefix and keeps separate data per namespace,
    /// which the fake does not model.
    pub require_namespace: Option<String>,
    /// Certificate, key and optional client CA for serving HTTPS instead of
    /// plain HTTP.
    pub tls: Option<TlsOptions>,
}

impl Default for FakeVaultOptions {
    fn default() -> FakeVaultOptions {
        FakeVaultOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            root_token: "root".to_string(),
            dev_mount: true,
            require_namespace: None,
            tls: None,
        }
    }
}

/// Server certificate, key and optional client CA for an HTTPS fake Vault.
/// [`crate::tls::TestPki`] makes matching PEMs.
#[derive(Clone)]
pub struct TlsOptions {
    /// The server certificate followed by any intermediates, PEM.
    pub cert_chain_pem: String,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// CA certificates, PEM. When set, the server requires every client to
    /// present a certificate issued by one of them and ends the handshake
    /// otherwise.
    pub client_ca_pem: Option<String>,
}

impl std::fmt::Debug for TlsOptions {
    /// Leaves out the private key.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TlsOptions")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("key_pem", &"<redacted>")
            .field("client_ca_pem", &self.client_ca_pem)
            .finish()
    }
}

/// A running fake Vault. Dropping it shuts the server down.
pub struct FakeVault {
    address: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    root_token: String,
    state: Arc<Mutex<State>>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeVault {
    /// Starts on `127.0.0.1:0` with root token `root` and KV v2 at `secret/`.
    pub fn start() -> FakeVault {
        FakeVault::start_with(FakeVaultOptions::default())
    }

    /// Starts a server with the given options.
    ///
    /// # Panics
    /// Panics when `listen` is not a loopback address or cannot be bound,
    /// or when the TLS options do not parse.
    pub fn start_with(options: FakeVaultOptions) -> FakeVault {
        assert!(
            options.listen.ip().is_loopback(),
            "fake vault: refusing to listen on non-loopback address {}",
            options.listen
        );
        let tls = options.tls.as_ref().map(|tls| {
            https::acceptor(tls)
                .unwrap_or_else(|problem| panic!("fake vault: invalid TLS options: {problem}"))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = std::net::TcpListener::bind(options.listen)
            .unwrap_or_else(|error| panic!("fake vault: cannot bind {}: {error}", options.listen));
        listener
            .set_nonblocking(true)
            .expect("fake vault: cannot make the listener non-blocking");
        let address = listener
            .local_addr()
            .expect("fake vault: a bound listener has a local address");

        let mut initial = State::new(&options.root_token);
        initial.required_namespace = options
            .require_namespace
            .as_deref()
            .map(|namespace| namespace.trim().trim_matches('/').to_string());
        if options.dev_mount {
            let dev_mount = Mount::new("secret/", "kv", 2, Some(version_option(2)));
            initial.mounts.insert(dev_mount.path.clone(), dev_mount);
        }
        let state = Arc::new(Mutex::new(initial));
        let (shutdown, shutdown_signal) = watch::channel(false);

        let server_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("fake-vault-{}", address.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake vault: cannot build a Tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake vault: cannot register the listener with Tokio");
                    server::serve(listener, tls, server_state, shutdown_signal).await;
                });
            })
            .expect("fake vault: cannot spawn the server thread");

        FakeVault {
            address,
            scheme,
            root_token: options.root_token,
            state,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Returns the base URL without a trailing slash: `http://127.0.0.1:PORT`,
    /// or `https://127.0.0.1:PORT` when TLS is on.
    pub fn addr(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// Returns the bound socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.address
    }

    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mounts an empty KV engine (`version` 1 or 2) at `path`, replacing any
    /// mount already there. A v1 mount reports `options: null`, as one
    /// enabled without `-version` does.
    ///
    /// # Panics
    /// Panics when `version` is neither 1 nor 2.
    pub fn mount_kv(&self, path: &str, version: u8) {
        assert!(
            version == 1 || version == 2,
            "fake vault: KV version must be 1 or 2, got {version}"
        );
        let options = (version == 2).then(|| version_option(2));
        let mount = Mount::new(path, "kv", version, options);
        self.lock().mounts.insert(mount.path.clone(), mount);
    }

    /// Stores `data` (a JSON object) at `path` under `mount`, skipping
    /// check-and-set. Returns the new version on KV v2 and 0 on KV v1.
    ///
    /// # Panics
    /// Panics when there is no KV mount at `mount` or `data` is not an object.
    pub fn write(&self, mount: &str, path: &str, data: Value) -> u64 {
        let Value::Object(data) = data else {
            panic!("fake vault: secret data must be a JSON object");
        };
        let key = path.trim_matches('/');
        let mut state = self.lock();
        match &mut mount_engine(&mut state, mount) {
            Engine::Kv1(store) => {
                store.put(key, data);
                0
            }
            Engine::Kv2(store) => store.put(key, data, OffsetDateTime::now_utc()),
        }
    }

    /// Returns the latest live data at `path`, or `None` when the key is
    /// absent or its latest version is deleted or destroyed.
    pub fn read(&self, mount: &str, path: &str) -> Option<Value> {
        let key = path.trim_matches('/');
        let mut state = self.lock();
        match mount_engine(&mut state, mount) {
            Engine::Kv1(store) => store.get(key).cloned().map(Value::Object),
            Engine::Kv2(store) => store
                .latest_live(key, OffsetDateTime::now_utc())
                .cloned()
                .map(Value::Object),
        }
    }

    /// Returns the KV v2 `current_version` of `path` (0 for a key that only
    /// has metadata), or `None` when the key is unknown or the mount is v1.
    pub fn version(&self, mount: &str, path: &str) -> Option<u64> {
        let key = path.trim_matches('/');
        let mut state = self.lock();
        match mount_engine(&mut state, mount) {
            Engine::Kv1(_) => None,
            Engine::Kv2(store) => store.keys.get(key).map(|meta| meta.current_version),
        }
    }

    /// Counts every successful write of secret data to `path` since the
    /// mount was created, through HTTP or [`FakeVault::write`]. Metadata
    /// writes do not count, and deleting the key does not reset the count.
    pub fn versions_written(&self, mount: &str, path: &str) -> u64 {
        let key = path.trim_matches('/');
        let state = self.lock();
        match state
            .mounts
            .get(&mount_path(mount))
            .map(|mount| &mount.engine)
        {
            Some(Engine::Kv1(store)) => store.writes(key),
            Some(Engine::Kv2(store)) => store.writes.get(key).copied().unwrap_or(0),
            None => 0,
        }
    }

    /// Soft-deletes the latest KV v2 version of `path`; on KV v1 it removes
    /// the key.
    pub fn soft_delete_latest(&self, mount: &str, path: &str) {
        let key = path.trim_matches('/');
        let mut state = self.lock();
        match mount_engine(&mut state, mount) {
            Engine::Kv1(store) => store.remove(key),
            Engine::Kv2(store) => store.soft_delete_latest(key, OffsetDateTime::now_utc()),
        }
    }

    /// Destroys the latest KV v2 version of `path`; on KV v1 it removes the
    /// key.
    pub fn destroy_latest(&self, mount: &str, path: &str) {
        let key = path.trim_matches('/');
        let mut state = self.lock();
        match mount_engine(&mut state, mount) {
            Engine::Kv1(store) => store.remove(key),
            Engine::Kv2(store) => store.destroy_latest(key),
        }
    }

    /// Stores an ACL policy under `name`, as `PUT sys/policies/acl/<name>`
    /// would.
    ///
    /// # Panics
    /// Panics when `policy_hcl` does not parse.
    pub fn add_policy(&self, name: &str, policy_hcl: &str) {
        let rules = policy::parse_policy(policy_hcl)
            .unwrap_or_else(|problem| panic!("fake vault: invalid policy {name:?}: {problem}"));
        let stored = state::StoredPolicy {
            text: policy_hcl.to_string(),
            rules,
        };
        self.lock().policies.insert(name.to_lowercase(), stored);
    }

    /// Adds a renewable service token holding `policy_hcl` (stored under a
    /// generated policy name) plus the `default` policy, with a 768h TTL.
    ///
    /// # Panics
    /// Panics when `policy_hcl` does not parse.
    pub fn add_token(&self, token: &str, policy_hcl: &str) {
        let mut state = self.lock();
        let name = state
            .add_generated_policy(policy_hcl)
            .unwrap_or_else(|problem| {
                panic!("fake vault: invalid policy for a test token: {problem}")
            });
        let policies = token::normalize_policies(vec!["default".to_string(), name]);
        let entry = token::TokenEntry::service(
            token.to_string(),
            policies,
            ADDED_TOKEN_TTL_SECONDS,
            OffsetDateTime::now_utc(),
        );
        state.tokens.insert(token.to_string(), entry);
    }

    /// Seals or unseals the server. While sealed, every request except
    /// `sys/health` and `sys/seal-status` gets 503 `Vault is sealed`.
    pub fn set_sealed(&self, sealed: bool) {
        self.lock().sealed = sealed;
    }

    /// Enables Kubernetes auth at `mount` unless it is already there, and
    /// creates or replaces `role`. The role binds one service account name
    /// and namespace, requires `audience` in the JWT when given, and issues
    /// tokens holding `policy_hcl` (stored under a generated policy name)
    /// plus `default`, with a 768h TTL. Log in with a JWT from
    /// [`service_account_jwt`].
    ///
    /// # Panics
    /// Panics when `policy_hcl` does not parse or `mount` contains another
    /// auth method.
    pub fn add_kubernetes_role(
        &self,
        mount: &str,
        role: &str,
        service_account_name: &str,
        service_account_namespace: &str,
        audience: Option<&str>,
        policy_hcl: &str,
    ) {
        let mut state = self.lock();
        let policy = state
            .add_generated_policy(policy_hcl)
            .unwrap_or_else(|problem| {
                panic!("fake vault: invalid policy for Kubernetes role {role:?}: {problem}")
            });
        auth::ensure_mounted(&mut state, mount, "kubernetes")
            .unwrap_or_else(|problem| panic!("fake vault: {problem}"));
        let key = mount_path(mount);
        let Some(auth::AuthBackend::Kubernetes(backend)) = state
            .auth_mounts
            .get_mut(&key)
            .map(|mount| &mut mount.backend)
        else {
            unreachable!("ensure_mounted checked the method type");
        };
        let role_entry = kubernetes::KubernetesRole {
            bound_names: vec![service_account_name.to_string()],
            bound_namespaces: vec![service_account_namespace.to_string()],
            audience: audience.unwrap_or("").to_string(),
            token: auth::TokenSettings {
                policies: vec![policy],
                ttl: 0,
            },
        };
        backend.roles.insert(role.to_string(), role_entry);
    }

    /// Enables AppRole auth at `mount` unless it is already there, creates
    /// or replaces `role` with Vault's defaults (`bind_secret_id` true, no
    /// use limit, no secret ID TTL) and returns `(role_id, secret_id)` for a
    /// new secret ID. Tokens from its logins hold `policy_hcl` (stored
    /// under a generated policy name) plus `default`, with a 768h TTL.
    ///
    /// # Panics
    /// Panics when `policy_hcl` does not parse or `mount` contains another
    /// auth method.
    pub fn add_approle(&self, mount: &str, role: &str, policy_hcl: &str) -> (String, String) {
        let mut state = self.lock();
        let policy = state
            .add_generated_policy(policy_hcl)
            .unwrap_or_else(|problem| {
                panic!("fake vault: invalid policy for AppRole {role:?}: {problem}")
            });
        auth::ensure_mounted(&mut state, mount, "approle")
            .unwrap_or_else(|problem| panic!("fake vault: {problem}"));
        let key = mount_path(mount);
        let Some(auth::AuthBackend::AppRole(backend)) = state
            .auth_mounts
            .get_mut(&key)
            .map(|mount| &mut mount.backend)
        else {
            unreachable!("ensure_mounted checked the method type");
        };
        backend.add_role(role, vec![policy])
    }

    /// Returns whether `token` was revoked through `auth/token/revoke-self`.
    pub fn is_revoked(&self, token: &str) -> bool {
        self.lock()
            .revoked_tokens
            .iter()
            .any(|revoked| revoked == token)
    }

    /// Returns every token revoked through `auth/token/revoke-self`, oldest
    /// first.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.lock().revoked_tokens.clone()
    }

    /// Returns whether `token` exists and has not expired, so a test can
    /// check that a login token is still usable.
    pub fn token_is_valid(&self, token: &str) -> bool {
        let now = OffsetDateTime::now_utc();
        self.lock()
            .tokens
            .get(token)
            .is_some_and(|entry| !entry.is_expired(now))
    }

    /// Queues a fault. Faults are checked in the order they were added and
    /// the first one matching a request is used.
    pub fn inject(&self, fault: Fault) {
        if fault.count > 0 {
            self.lock().faults.push(fault);
        }
    }

    /// Returns how many uses the queued faults have left in total.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.iter().map(|fault| fault.count).sum()
    }

    /// Drops every fault not yet used up.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Returns every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }
}

impl Drop for FakeVault {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Builds a service-account JWT in the projected-token form the kubelet
/// mounts (claims nested under `kubernetes.io`), for logging in to a fake
/// Kubernetes auth role. `audience` becomes the `aud` claim and
/// `expires_at_unix` the `exp` claim in Unix seconds. The service account
/// UID is derived from the namespace and name.
///
/// The signature is a placeholder: the fake does not verify signatures,
/// and real Vault would reject this token.
pub fn service_account_jwt(
    name: &str,
    namespace: &str,
    audience: Option<&str>,
    expires_at_unix: i64,
) -> String {
    kubernetes::unsigned_jwt(&kubernetes::projected_token_claims(
        name,
        namespace,
        audience,
        expires_at_unix,
    ))
}

/// Encodes arbitrary `claims` as an unsigned JWT with a placeholder
/// signature, for claim layouts [`service_account_jwt`] does not make, such
/// as the flat claims of legacy secret-based tokens
/// (`kubernetes.io/serviceaccount/service-account.name` and friends).
pub fn unsigned_jwt(claims: &Value) -> String {
    kubernetes::unsigned_jwt(claims)
}

fn version_option(version: u8) -> BTreeMap<String, String> {
    BTreeMap::from([("version".to_string(), version.to_string())])
}

fn mount_engine<'a>(state: &'a mut State, mount: &str) -> &'a mut Engine {
    let key = mount_path(mount);
    match state.mounts.get_mut(&key) {
        Some(mount) => &mut mount.engine,
        None => panic!("fake vault: no KV mount at {key:?}; call mount_kv first"),
    }
}

/// An injected failure, matched by method and URL path.
///
/// A matching request first waits `delay`. Then the connection is closed
/// without a response when `drop_connection` is set; otherwise `status`,
/// `headers` and `body` are sent. A fault with `status` 0 and no drop only
/// delays: the request is then served normally. Each fault is used `count`
/// times and then removed.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method to match (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// URL path including `/v1/`, matched as a prefix unless `exact` is set.
    pub path_prefix: String,
    /// Matches `path_prefix` as the whole path.
    pub exact: bool,
    pub status: u16,
    /// Raw body bytes, so HTML or malformed JSON is possible.
    pub body: Vec<u8>,
    /// Extra response headers. Without a `Content-Type` here the response
    /// uses `application/json`.
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// Number of matching requests the fault applies to. [`FakeVault::inject`]
    /// ignores a fault whose count is 0.
    pub count: usize,
    pub drop_connection: bool,
}

impl Default for Fault {
    fn default() -> Fault {
        Fault {
            method: None,
            path_prefix: String::new(),
            exact: false,
            status: 0,
            body: Vec::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            count: 1,
            drop_connection: false,
        }
    }
}

/// Accepts a method filter as `"GET"`, `Some("GET")` or `None`; `""` and
/// `"*"` match any method.
pub trait IntoMethodFilter {
    fn into_method_filter(self) -> Option<String>;
}

impl IntoMethodFilter for &str {
    fn into_method_filter(self) -> Option<String> {
        match self {
            "" | "*" => None,
            method => Some(method.to_ascii_uppercase()),
        }
    }
}

impl IntoMethodFilter for String {
    fn into_method_filter(self) -> Option<String> {
        self.as_str().into_method_filter()
    }
}

impl IntoMethodFilter for Option<&str> {
    fn into_method_filter(self) -> Option<String> {
        self.and_then(IntoMethodFilter::into_method_filter)
    }
}

impl IntoMethodFilter for Option<String> {
    fn into_method_filter(self) -> Option<String> {
        self.and_then(IntoMethodFilter::into_method_filter)
    }
}

impl Fault {
    /// Responds to one matching request with `status` and the raw `body`.
    pub fn status(
        method: impl IntoMethodFilter,
        path_prefix: &str,
        status: u16,
        body: impl Into<Vec<u8>>,
    ) -> Fault {
        Fault {
            method: method.into_method_filter(),
            path_prefix: path_prefix.to_string(),
            status,
            body: body.into(),
            ..Fault::default()
        }
    }

    /// Responds to one matching request with `status` and a Vault error body
    /// `{"errors":[...]}`.
    pub fn errors(
        method: impl IntoMethodFilter,
        path_prefix: &str,
        status: u16,
        messages: &[&str],
    ) -> Fault {
        let body = serde_json::to_vec(&serde_json::json!({ "errors": messages }))
            .expect("a list of strings always serializes");
        Fault::status(method, path_prefix, status, body)
    }

    /// Closes the connection of matching requests without responding.
    pub fn drop_connection(method: impl IntoMethodFilter, path_prefix: &str) -> Fault {
        Fault {
            method: method.into_method_filter(),
            path_prefix: path_prefix.to_string(),
            drop_connection: true,
            ..Fault::default()
        }
    }

    /// Delays matching requests by `delay`, then serves them normally.
    pub fn delay(method: impl IntoMethodFilter, path_prefix: &str, delay: Duration) -> Fault {
        Fault {
            method: method.into_method_filter(),
            path_prefix: path_prefix.to_string(),
            delay,
            ..Fault::default()
        }
    }

    /// Sets how many matching requests the fault applies to.
    pub fn times(mut self, count: usize) -> Fault {
        self.count = count;
        self
    }

    /// Waits `delay` before the fault takes effect.
    pub fn with_delay(mut self, delay: Duration) -> Fault {
        self.delay = delay;
        self
    }

    /// Adds a response header, such as `Retry-After`.
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Matches `path_prefix` as the whole path instead of a prefix.
    pub fn exact(mut self) -> Fault {
        self.exact = true;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_matches = self
            .method
            .as_deref()
            .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method));
        let path_matches = if self.exact {
            path == self.path_prefix
        } else {
            path.starts_with(&self.path_prefix)
        };
        method_matches && path_matches
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// URL path as sent, still percent-encoded, e.g. `/v1/secret/data/app`.
    pub path: String,
    /// Raw query string without `?`; empty when there is none.
    pub query: String,
    /// Header names in lowercase; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Parses the body as JSON; `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Returns a header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}
