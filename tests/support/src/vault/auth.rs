//! Auth methods: the `sys/auth` mount table, routing of `auth/<mount>/...`
//! requests to the Kubernetes and AppRole backends, and the tokens their
//! logins issue.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::approle::AppRoleBackend;
use super::duration::parse_seconds;
use super::kubernetes::KubernetesBackend;
use super::kv1::SYSTEM_DEFAULT_LEASE_TTL;
use super::policy::Capability;
use super::reply::{bad_request, random_alphanumeric, unsupported_operation, Envelope, Reply};
use super::state::{mount_path, Call, Operation, State};
use super::token::{
    new_token_id, normalize_policies, string_list, TokenEntry, SYSTEM_MAX_LEASE_TTL,
};

#[derive(Debug)]
pub enum AuthBackend {
    /// The built-in token store, always mounted at `token/`. Its endpoints
    /// are served by the token module.
    Token,
    Kubernetes(KubernetesBackend),
    AppRole(AppRoleBackend),
}

impl AuthBackend {
    fn kind(&self) -> &'static str {
        match self {
            AuthBackend::Token => "token",
            AuthBackend::Kubernetes(_) => "kubernetes",
            AuthBackend::AppRole(_) => "approle",
        }
    }
}

#[derive(Debug)]
pub struct AuthMount {
    /// Mount path below `auth/`, with a trailing `/`.
    pub path: String,
    pub description: String,
    pub accessor: String,
    pub uuid: String,
    pub backend: AuthBackend,
}

impl AuthMount {
    pub fn new(path: &str, backend: AuthBackend) -> AuthMount {
        let description = match backend {
            AuthBackend::Token => "token based credentials",
            _ => "",
        };
        AuthMount {
            path: mount_path(path),
            description: description.to_string(),
            accessor: format!(
                "auth_{}_{}",
                backend.kind(),
                random_alphanumeric(8).to_lowercase()
            ),
            uuid: super::reply::request_id(),
            backend,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": 0,
                "force_no_cache": false,
                "max_lease_ttl": 0,
                "token_type": "default-service",
            },
            "description": self.description,
            "external_entropy_access": false,
            "local": false,
            "options": null,
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
            "seal_wrap": false,
            "type": self.backend.kind(),
            "uuid": self.uuid,
        })
    }
}

/// Builds a backend for an auth method type, or `None` when the fake does
/// not implement that type.
fn new_backend(kind: &str) -> Option<AuthBackend> {
    match kind {
        "kubernetes" => Some(AuthBackend::Kubernetes(KubernetesBackend::default())),
        "approle" => Some(AuthBackend::AppRole(AppRoleBackend::default())),
        _ => None,
    }
}

/// Enables an auth method at `path` unless one is already mounted there.
/// Returns an error message when the type is unknown or the path is taken
/// by a method of another type.
pub fn ensure_mounted(state: &mut State, path: &str, kind: &str) -> Result<(), String> {
    let key = mount_path(path);
    if let Some(existing) = state.auth_mounts.get(&key) {
        if existing.backend.kind() == kind {
            return Ok(());
        }
        return Err(format!(
            "auth mount {key:?} already holds a {} method",
            existing.backend.kind()
        ));
    }
    let backend = new_backend(kind).ok_or_else(|| format!("unknown auth method type {kind:?}"))?;
    state
        .auth_mounts
        .insert(key.clone(), AuthMount::new(&key, backend));
    Ok(())
}

/// Serves `sys/auth` (list) and `sys/auth/<path>` (enable, read, disable).
pub fn sys_auth(state: &mut State, call: &Call) -> Reply {
    let Some(target) = call
        .path
        .strip_prefix("sys/auth/")
        .filter(|rest| !rest.is_empty())
    else {
        if call.operation != Operation::Read {
            return unsupported_operation();
        }
        if let Err(reply) = call.require("sys/auth", Capability::Read) {
            return reply;
        }
        // NOTE: Vault also repeats this map at the top level of the body for
        // old clients, but the fake sends it only in `data`.
        let listing: Map<String, Value> = state
            .auth_mounts
            .values()
            .map(|mount| (mount.path.clone(), mount.to_json()))
            .collect();
        return Envelope::new(Value::Object(listing))
            .mount_type("system")
            .ok();
    };
    let key = mount_path(target);
    let exists = state.auth_mounts.contains_key(&key);
    if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
        return reply;
    }
    match call.operation {
        Operation::Read => match state.auth_mounts.get(&key) {
            Some(mount) => Envelope::new(mount.to_json()).mount_type("system").ok(),
            None => bad_request(&format!("No auth engine at {key}")),
        },
        Operation::Write => enable(state, &key, &call.body),
        Operation::Delete => {
            if key == "token/" {
                return bad_request("token credential backend cannot be disabled");
            }
            state.auth_mounts.remove(&key);
            Reply::NoContent
        }
        _ => unsupported_operation(),
    }
}

fn enable(state: &mut State, key: &str, body: &Map<String, Value>) -> Reply {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return bad_request("backend type must be specified as a string");
    }
    let Some(backend) = new_backend(kind) else {
        return bad_request(&format!("plugin not found in the catalog: {kind}"));
    };
    if let Some(existing) = state
        .auth_mounts
        .keys()
        .find(|existing| key.starts_with(existing.as_str()) || existing.starts_with(key))
    {
        return bad_request(&format!("path is already in use at auth/{existing}"));
    }
    let mut mount = AuthMount::new(key, backend);
    if let Some(description) = body.get("description").and_then(Value::as_str) {
        mount.description = description.to_string();
    }
    state.auth_mounts.insert(key.to_string(), mount);
    Reply::NoContent
}

/// Finds the auth mount owning `path` (which starts with `auth/`) by
/// longest prefix and returns its key and the path below it.
fn find_auth_mount<'p>(state: &State, path: &'p str) -> Option<(String, &'p str)> {
    let below_auth = path.strip_prefix("auth/")?;
    let key = state
        .auth_mounts
        .keys()
        .filter(|mount| below_auth.starts_with(mount.as_str()))
        .max_by_key(|mount| mount.len())?
        .clone();
    let sub = &below_auth[key.len()..];
    Some((key, sub))
}

/// Serves a login when `path` is `auth/<mount>/login` of a Kubernetes or
/// AppRole mount. Returns `None` for every other path, which then goes
/// through token authentication as usual.
///
/// Logins run before the token check because they need no token, and
/// Vault ignores a stale token sent along with one.
pub fn try_login(
    state: &mut State,
    path: &str,
    body: &Map<String, Value>,
    now: OffsetDateTime,
) -> Option<Reply> {
    let (key, sub) = find_auth_mount(state, path)?;
    if sub != "login" {
        return None;
    }
    let mount = state.auth_mounts.get_mut(&key)?;
    let grant = match &mut mount.backend {
        AuthBackend::Token => return None,
        AuthBackend::Kubernetes(backend) => backend.login(body, now),
        AuthBackend::AppRole(backend) => backend.login(body, now),
    };
    Some(match grant {
        Ok(grant) => issue_token(state, &key, grant, now),
        Err(reply) => reply,
    })
}

/// Serves the non-login endpoints of an auth mount, such as roles. Returns
/// `None` when no Kubernetes or AppRole mount owns the path.
pub fn handle(state: &mut State, call: &Call) -> Option<Reply> {
    let (key, sub) = find_auth_mount(state, call.path)?;
    let mount = state.auth_mounts.get_mut(&key)?;
    match &mut mount.backend {
        AuthBackend::Token => None,
        AuthBackend::Kubernetes(backend) => Some(backend.handle(sub, call)),
        AuthBackend::AppRole(backend) => Some(backend.handle(sub, call)),
    }
}

/// What a successful login grants, before the token exists.
#[derive(Debug)]
pub struct LoginGrant {
    /// Policies from the role, without `default`.
    pub policies: Vec<String>,
    /// Requested token TTL in seconds, or zero for the system default.
    pub ttl: i64,
    pub metadata: Map<String, Value>,
    /// Appended to the mount name to form the token's display name, as
    /// Vault does, or empty for none.
    pub display_suffix: String,
}

/// Creates the service token a login returns and replies with its `auth`
/// block. The token carries the role's policies plus `default`.
fn issue_token(
    state: &mut State,
    mount_key: &str,
    grant: LoginGrant,
    now: OffsetDateTime,
) -> Reply {
    let mut policies = grant.policies;
    policies.push("default".to_string());
    let policies = normalize_policies(policies);
    let ttl = match grant.ttl {
        0 => SYSTEM_DEFAULT_LEASE_TTL,
        ttl => ttl.min(SYSTEM_MAX_LEASE_TTL),
    };

    let id = new_token_id();
    let mut entry = TokenEntry::service(id.clone(), policies, ttl, now);
    entry.path = format!("auth/{mount_key}login");
    entry.orphan = true;
    let mount_name = mount_key.trim_end_matches('/').replace('/', "-");
    entry.display_name = if grant.display_suffix.is_empty() {
        mount_name
    } else {
        format!("{mount_name}-{}", grant.display_suffix)
    };
    entry.meta = Some(grant.metadata);

    let auth = entry.auth_json(ttl);
    state.tokens.insert(id, entry);
    // Vault sends an empty mount type on login responses.
    Envelope::new(Value::Null).auth(auth).mount_type("").ok()
}

/// The `token_*` role fields that Vault's auth methods share.
#[derive(Debug, Clone, Default)]
pub struct TokenSettings {
    pub policies: Vec<String>,
    /// Seconds, or zero for the system default.
    pub ttl: i64,
}

impl TokenSettings {
    /// Applies `token_policies` and `token_ttl` from a role write, or the
    /// deprecated `policies` and `ttl` names when the new ones are absent.
    pub fn update_from(&mut self, body: &Map<String, Value>) -> Result<(), Reply> {
        let policies = body.get("token_policies").or_else(|| body.get("policies"));
        if policies.is_some() {
            let Some(list) = string_list(policies) else {
                return Err(bad_request(
                    "error converting input for field \"token_policies\": expected a list of strings",
                ));
            };
            self.policies = list;
        }
        if let Some(ttl) = body.get("token_ttl").or_else(|| body.get("ttl")) {
            let Some(seconds) = parse_seconds(ttl).filter(|seconds| *seconds >= 0) else {
                return Err(bad_request(
                    "error converting input for field \"token_ttl\": invalid duration",
                ));
            };
            self.ttl = seconds;
        }
        Ok(())
    }

    /// Adds the fields to a role's read response.
    pub fn write_json(&self, data: &mut Value) {
        data["token_policies"] = json!(self.policies);
        data["policies"] = json!(self.policies);
        data["token_ttl"] = json!(self.ttl);
        data["ttl"] = json!(self.ttl);
        data["token_max_ttl"] = json!(0);
        data["token_type"] = json!("default");
        data["token_num_uses"] = json!(0);
        data["token_bound_cidrs"] = json!([]);
    }
}
