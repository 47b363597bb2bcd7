//! The fake's whole state and the dispatch from a parsed request to the
//! engine that serves it.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::auth::{self, AuthBackend, AuthMount};
use super::kv1::{Kv1Store, SYSTEM_DEFAULT_LEASE_TTL};
use super::kv2::Kv2Store;
use super::policy::{parse_policy, Acl, Capability, Rule, DEFAULT_POLICY};
use super::reply::{
    bad_request, errors, invalid_token, permission_denied, random_alphanumeric, unsupported_path,
    Reply,
};
use super::token::TokenEntry;
use super::{sys, token, Fault, RecordedRequest};

/// The logical operation Vault derives from the HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    /// POST or PUT; whether it is a create or an update depends on whether
    /// the target exists.
    Write,
    Delete,
    List,
    Patch,
}

impl Operation {
    /// Maps a method to an operation; `GET ?list=true` is a list.
    fn from_method(method: &str, query: &BTreeMap<String, String>) -> Option<Operation> {
        Some(match method {
            "GET"
                if query
                    .get("list")
                    .is_some_and(|value| value == "true" || value == "1") =>
            {
                Operation::List
            }
            "GET" => Operation::Read,
            "POST" | "PUT" => Operation::Write,
            "DELETE" => Operation::Delete,
            "LIST" => Operation::List,
            "PATCH" => Operation::Patch,
            _ => return None,
        })
    }

    /// Returns the Vault CLI verb for this operation, which KV v2 warnings
    /// quote.
    pub fn cli_verb(self) -> &'static str {
        match self {
            Operation::Read => "get",
            Operation::Write => "put",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Patch => "patch",
        }
    }

    /// Returns the ACL capability this operation needs. For a write,
    /// `exists` selects `update` over `create`.
    pub fn capability(self, exists: bool) -> Capability {
        match self {
            Operation::Read => Capability::Read,
            Operation::Write if exists => Capability::Update,
            Operation::Write => Capability::Create,
            Operation::Delete => Capability::Delete,
            Operation::List => Capability::List,
            Operation::Patch => Capability::Patch,
        }
    }
}

/// An HTTP request after the transport layer has checked and decoded it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The percent-decoded path after `/v1/`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    /// Returns the client token: `X-Vault-Token` wins over
    /// `Authorization: Bearer`, as in Vault.
    fn token(&self) -> Option<&str> {
        if let Some(token) = self
            .headers
            .get("x-vault-token")
            .filter(|token| !token.is_empty())
        {
            return Some(token);
        }
        self.headers
            .get("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
    }

    /// Parses the JSON body of a write or patch. Other methods carry their
    /// parameters in the query string, so their bodies are ignored.
    ///
    /// NOTE: Vault also reads form-encoded bodies, which this fake rejects
    /// as invalid JSON.
    fn body_object(&self, operation: Operation) -> Result<Map<String, Value>, Reply> {
        if !matches!(operation, Operation::Write | Operation::Patch) {
            return Ok(Map::new());
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(Value::Null) => Ok(Map::new()),
            _ => Err(bad_request("error parsing JSON")),
        }
    }
}

#[derive(Debug)]
pub enum Engine {
    Kv1(Kv1Store),
    Kv2(Kv2Store),
}

#[derive(Debug)]
pub struct Mount {
    /// Mount path with a trailing `/`.
    pub path: String,
    /// `kv` or `generic`, as given when the mount was enabled.
    pub kind: String,
    pub description: String,
    /// `None` for a KV v1 mount enabled without options.
    pub options: Option<BTreeMap<String, String>>,
    pub accessor: String,
    pub uuid: String,
    /// Seconds; zero means the system default.
    pub default_lease_ttl: i64,
    pub max_lease_ttl: i64,
    pub engine: Engine,
}

impl Mount {
    pub fn new(
        path: &str,
        kind: &str,
        version: u8,
        options: Option<BTreeMap<String, String>>,
    ) -> Mount {
        let engine = if version == 2 {
            Engine::Kv2(Kv2Store::default())
        } else {
            Engine::Kv1(Kv1Store::default())
        };
        Mount {
            path: mount_path(path),
            kind: kind.to_string(),
            description: String::new(),
            options,
            accessor: format!("kv_{}", random_alphanumeric(8).to_lowercase()),
            uuid: super::reply::request_id(),
            default_lease_ttl: 0,
            max_lease_ttl: 0,
            engine,
        }
    }

    fn exists(&self, sub: &str) -> bool {
        match &self.engine {
            Engine::Kv1(store) => store.exists(sub),
            Engine::Kv2(store) => store.exists(sub),
        }
    }
}

/// Normalizes a mount path to `name/` without a leading slash.
pub fn mount_path(path: &str) -> String {
    format!("{}/", path.trim_matches('/'))
}

#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub text: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug)]
pub struct State {
    pub sealed: bool,
    pub mounts: BTreeMap<String, Mount>,
    pub policies: BTreeMap<String, StoredPolicy>,
    pub tokens: HashMap<String, TokenEntry>,
    /// Auth methods by mount path below `auth/`. `token/` is always there.
    pub auth_mounts: BTreeMap<String, AuthMount>,
    /// Tokens revoked through `auth/token/revoke-self`, in order.
    pub revoked_tokens: Vec<String>,
    /// When set, every request except `sys/health` must send this
    /// namespace in `X-Vault-Namespace`. It is stored without slashes at
    /// the ends.
    pub required_namespace: Option<String>,
    pub faults: Vec<Fault>,
    pub requests: Vec<RecordedRequest>,
    next_policy_number: u64,
}

impl State {
    pub fn new(root_token: &str) -> State {
        let default_policy = StoredPolicy {
            text: DEFAULT_POLICY.to_string(),
            rules: parse_policy(DEFAULT_POLICY).expect("the built-in default policy parses"),
        };
        let mut state = State {
            sealed: false,
            mounts: BTreeMap::new(),
            policies: BTreeMap::from([("default".to_string(), default_policy)]),
            tokens: HashMap::new(),
            auth_mounts: BTreeMap::from([(
                "token/".to_string(),
                AuthMount::new("token/", AuthBackend::Token),
            )]),
            revoked_tokens: Vec::new(),
            required_namespace: None,
            faults: Vec::new(),
            requests: Vec::new(),
            next_policy_number: 1,
        };
        state
            .tokens
            .insert(root_token.to_string(), TokenEntry::root(root_token));
        state
    }

    /// Finds the mount owning `path` by longest prefix. The mount path
    /// itself without its trailing slash also matches.
    pub fn find_mount(&self, path: &str) -> Option<&Mount> {
        let key = self.find_mount_key(path)?;
        self.mounts.get(&key)
    }

    pub fn find_mount_key(&self, path: &str) -> Option<String> {
        let with_slash = format!("{path}/");
        self.mounts
            .keys()
            .filter(|mount| path.starts_with(mount.as_str()) || with_slash == **mount)
            .max_by_key(|mount| mount.len())
            .cloned()
    }

    /// Stores a policy under a generated name and returns the name.
    pub fn add_generated_policy(&mut self, text: &str) -> Result<String, String> {
        let rules = parse_policy(text)?;
        let name = format!("testkit-policy-{}", self.next_policy_number);
        self.next_policy_number += 1;
        self.policies.insert(
            name.clone(),
            StoredPolicy {
                text: text.to_string(),
                rules,
            },
        );
        Ok(name)
    }

    /// Builds the ACL of a set of policy names; `root` grants everything
    /// and unknown names grant nothing, as in Vault.
    pub fn acl_for(&self, policies: &[String]) -> Acl {
        if policies.iter().any(|name| name == "root") {
            return Acl::root();
        }
        let rule_sets = policies
            .iter()
            .filter_map(|name| self.policies.get(name))
            .map(|policy| policy.rules.as_slice());
        Acl::from_rules(rule_sets)
    }

    /// Resolves the request's token, dropping it first if it has expired.
    fn authenticate(&mut self, request: &Request, now: OffsetDateTime) -> Result<String, Reply> {
        let Some(token) = request.token() else {
            return Err(permission_denied());
        };
        let expired = match self.tokens.get(token) {
            None => return Err(invalid_token()),
            Some(entry) => entry.is_expired(now),
        };
        if expired {
            self.tokens.remove(token);
            return Err(invalid_token());
        }
        Ok(token.to_string())
    }

    /// Rejects the request with 403 when a namespace is required and the
    /// `X-Vault-Namespace` header is missing or names another one. A
    /// trailing slash on the header is accepted, as Vault accepts it.
    fn check_namespace(&self, request: &Request) -> Result<(), Reply> {
        let Some(required) = &self.required_namespace else {
            return Ok(());
        };
        let sent = request
            .headers
            .get("x-vault-namespace")
            .map(|namespace| namespace.trim().trim_matches('/'));
        if sent == Some(required.as_str()) {
            Ok(())
        } else {
            Err(permission_denied())
        }
    }

    /// Serves one request that passed the transport checks.
    pub fn handle(&mut self, request: &Request) -> Reply {
        let now = OffsetDateTime::now_utc();
        let Some(operation) = Operation::from_method(&request.method, &request.query) else {
            return errors(405, &[]);
        };
        let mut path = request.path.clone();
        if operation == Operation::List && !path.ends_with('/') {
            path.push('/');
        }

        // A sealed Vault still serves its health and seal status.
        if (path.as_str(), operation) == ("sys/health", Operation::Read) {
            return sys::health(self, request, now);
        }
        if let Err(reply) = self.check_namespace(request) {
            return reply;
        }
        if (path.as_str(), operation) == ("sys/seal-status", Operation::Read) {
            return sys::seal_status(self);
        }
        if self.sealed {
            return errors(503, &["Vault is sealed"]);
        }

        // Vault checks the PATCH media type while building the request,
        // before it looks at the token.
        if operation == Operation::Patch {
            let content_type = request
                .headers
                .get("content-type")
                .map_or("", String::as_str);
            let media_type = content_type.split(';').next().unwrap_or("").trim();
            if media_type != "application/merge-patch+json" {
                let message = format!(
                    "PATCH requires Content-Type of application/merge-patch+json, provided {content_type:?}"
                );
                return errors(415, &[&message]);
            }
        }

        let body = match request.body_object(operation) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        if operation == Operation::Write {
            if let Some(reply) = auth::try_login(self, &path, &body, now) {
                return reply;
            }
        }
        let token = match self.authenticate(request, now) {
            Ok(token) => token,
            Err(reply) => return reply,
        };
        let acl = self.acl_for(&self.tokens[&token].policies);
        let call = Call {
            operation,
            path: &path,
            request,
            body,
            token: &token,
            acl: &acl,
            now,
        };

        if path == "sys/mounts" || path.starts_with("sys/mounts/") {
            return sys::mounts(self, &call);
        }
        if path.starts_with("sys/internal/ui/mounts") {
            return sys::ui_mounts(self, &call);
        }
        if path.starts_with("sys/policies/acl/") {
            return sys::policies(self, &call);
        }
        if path == "sys/capabilities-self" {
            return sys::capabilities_self(&call);
        }
        if path == "sys/auth" || path.starts_with("sys/auth/") {
            return auth::sys_auth(self, &call);
        }
        if path.starts_with("auth/token/") {
            return token::handle(self, &call);
        }
        if path.starts_with("auth/") {
            if let Some(reply) = auth::handle(self, &call) {
                return reply;
            }
        }
        if path.starts_with("sys/") || path == "sys" {
            return match call.require(&path, operation.capability(true)) {
                Ok(()) => unsupported_path(),
                Err(reply) => reply,
            };
        }
        self.handle_mounted(&call)
    }

    fn handle_mounted(&mut self, call: &Call) -> Reply {
        let path = call.path;
        let Some(mount_key) = self
            .find_mount_key(path)
            .filter(|_| !path.starts_with("auth/"))
        else {
            if let Err(reply) = call.require(path, call.operation.capability(false)) {
                return reply;
            }
            let route = path.trim_end_matches('/');
            return errors(
                404,
                &[&format!(
                    "no handler for route \"{route}\". route entry not found."
                )],
            );
        };
        let mount = self.mounts.get_mut(&mount_key).expect("key found above");
        let sub = path.strip_prefix(mount_key.as_str()).unwrap_or("");
        if let Err(reply) = call.require(path, call.operation.capability(mount.exists(sub))) {
            return reply;
        }
        let default_ttl = match mount.default_lease_ttl {
            0 => SYSTEM_DEFAULT_LEASE_TTL,
            ttl => ttl,
        };
        match &mut mount.engine {
            Engine::Kv1(store) => store.handle(call.operation, sub, call.body.clone(), default_ttl),
            Engine::Kv2(store) => store.handle(
                call.operation,
                sub,
                call.request,
                call.body.clone(),
                call.now,
            ),
        }
    }
}

/// One authenticated request on its way to a handler.
pub struct Call<'a> {
    pub operation: Operation,
    /// The request path, with a trailing `/` added for lists.
    pub path: &'a str,
    pub request: &'a Request,
    pub body: Map<String, Value>,
    pub token: &'a str,
    pub acl: &'a Acl,
    pub now: OffsetDateTime,
}

impl Call<'_> {
    /// Checks the token's ACL and returns a 403 reply when it lacks
    /// `capability`.
    pub fn require(&self, path: &str, capability: Capability) -> Result<(), Reply> {
        if self.acl.allows(path, capability) {
            Ok(())
        } else {
            Err(permission_denied())
        }
    }
}
