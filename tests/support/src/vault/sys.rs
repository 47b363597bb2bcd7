//! System endpoints: health, seal status, mounts, the UI mount lookup and
//! ACL policies.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::policy::{parse_policy, Capability};
use super::reply::{
    bad_request, errors, not_found, raw_json, unsupported_operation, Envelope, Reply,
};
use super::state::{mount_path, Call, Mount, Operation, Request, State, StoredPolicy};

/// The Vault version the fake reports in health and seal status.
pub const REPORTED_VERSION: &str = "1.19.0";

/// Mount paths that belong to Vault itself and cannot hold an engine.
const RESERVED_MOUNT_PATHS: [&str; 4] = ["sys/", "auth/", "cubbyhole/", "identity/"];

/// Serves `GET sys/health`: 200 when unsealed and 503 when sealed unless
/// the `activecode`/`sealedcode` query parameters pick other codes.
pub fn health(state: &State, request: &Request, now: OffsetDateTime) -> Reply {
    let code = |name: &str, default: u16| {
        request
            .query
            .get(name)
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or(default)
    };
    let mut body = json!({
        "initialized": true,
        "sealed": state.sealed,
        "standby": state.sealed,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now.unix_timestamp(),
        "version": REPORTED_VERSION,
        "enterprise": false,
    });
    if state.sealed {
        return raw_json(code("sealedcode", 503), &body);
    }
    body["cluster_name"] = json!("vault-cluster-fake");
    body["cluster_id"] = json!("00000000-0000-4000-8000-000000000000");
    body["echo_duration_ms"] = json!(0);
    body["clock_skew_ms"] = json!(0);
    raw_json(code("activecode", 200), &body)
}

pub fn seal_status(state: &State) -> Reply {
    let mut body = json!({
        "type": "shamir",
        "initialized": true,
        "sealed": state.sealed,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": REPORTED_VERSION,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": "inmem",
    });
    if !state.sealed {
        body["cluster_name"] = json!("vault-cluster-fake");
        body["cluster_id"] = json!("00000000-0000-4000-8000-000000000000");
    }
    raw_json(200, &body)
}

fn mount_json(mount: &Mount) -> Value {
    json!({
        "accessor": mount.accessor,
        "config": {
            "default_lease_ttl": mount.default_lease_ttl,
            "force_no_cache": false,
            "max_lease_ttl": mount.max_lease_ttl,
        },
        "description": mount.description,
        "external_entropy_access": false,
        "local": false,
        "options": mount.options,
        "plugin_version": "",
        "running_plugin_version": "v0.21.0+builtin",
        "running_sha256": "",
        "seal_wrap": false,
        "type": mount.kind,
        "uuid": mount.uuid,
    })
}

/// Serves `sys/mounts` (list) and `sys/mounts/<path>` (enable, read,
/// disable).
pub fn mounts(state: &mut State, call: &Call) -> Reply {
    let Some(target) = call
        .path
        .strip_prefix("sys/mounts/")
        .filter(|rest| !rest.is_empty())
    else {
        if call.operation != Operation::Read {
            return unsupported_operation();
        }
        if let Err(reply) = call.require("sys/mounts", Capability::Read) {
            return reply;
        }
        // NOTE: only KV mounts are listed. Vault also lists `sys/`,
        // `cubbyhole/` and `identity/`, and repeats the map at the top level.
        let listing: Map<String, Value> = state
            .mounts
            .values()
            .map(|mount| (mount.path.clone(), mount_json(mount)))
            .collect();
        return Envelope::new(Value::Object(listing))
            .mount_type("system")
            .ok();
    };
    let key = mount_path(target);
    let exists = state.mounts.contains_key(&key);
    if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
        return reply;
    }
    match call.operation {
        Operation::Read => match state.mounts.get(&key) {
            Some(mount) => Envelope::new(mount_json(mount)).mount_type("system").ok(),
            None => bad_request(&format!("No secret engine mount at {key}")),
        },
        Operation::Write => enable_mount(state, &key, &call.body),
        Operation::Delete => {
            state.mounts.remove(&key);
            Reply::NoContent
        }
        _ => unsupported_operation(),
    }
}

fn enable_mount(state: &mut State, key: &str, body: &Map<String, Value>) -> Reply {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return bad_request("type is required for mounts");
    }
    let mut options: Option<BTreeMap<String, String>> = match body.get("options") {
        Some(Value::Object(options)) => Some(
            options
                .iter()
                .map(|(name, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (name.clone(), text)
                })
                .collect(),
        ),
        _ => None,
    };
    let requested_version = options
        .as_ref()
        .and_then(|options| options.get("version"))
        .map(String::as_str);
    let (kind, version) = match (kind, requested_version) {
        ("kv-v2", _) => {
            options
                .get_or_insert_with(BTreeMap::new)
                .insert("version".into(), "2".into());
            ("kv", 2)
        }
        ("kv" | "generic", Some("2")) => (kind, 2),
        ("kv" | "generic", None | Some("") | Some("1")) => (kind, 1),
        ("kv" | "generic", Some(other)) => {
            return bad_request(&format!("invalid KV version {other:?}: use 1 or 2"))
        }
        (other, _) => return bad_request(&format!("plugin not found in the catalog: {other}")),
    };

    if RESERVED_MOUNT_PATHS
        .iter()
        .any(|reserved| key.starts_with(reserved))
    {
        return bad_request(&format!("cannot mount under reserved path {key:?}"));
    }
    if let Some(existing) = state
        .mounts
        .keys()
        .find(|existing| key.starts_with(existing.as_str()) || existing.starts_with(key))
    {
        return bad_request(&format!("path is already in use at {existing}"));
    }

    let mut mount = Mount::new(key, kind, version, options);
    if let Some(description) = body.get("description").and_then(Value::as_str) {
        mount.description = description.to_string();
    }
    if let Some(Value::Object(config)) = body.get("config") {
        let seconds = |name: &str| config.get(name).and_then(super::duration::parse_seconds);
        if let Some(ttl) = seconds("default_lease_ttl") {
            mount.default_lease_ttl = ttl;
        }
        if let Some(ttl) = seconds("max_lease_ttl") {
            mount.max_lease_ttl = ttl;
        }
    }
    state.mounts.insert(key.to_string(), mount);
    Reply::NoContent
}

/// Serves `sys/internal/ui/mounts[/<path>]`. It needs no policy of its own,
/// but the token must have some capability on the mount or below it. An
/// unknown mount gets the same 403, so mounts cannot be enumerated.
pub fn ui_mounts(state: &State, call: &Call) -> Reply {
    if call.operation != Operation::Read {
        return unsupported_operation();
    }
    let requested = call
        .path
        .trim_start_matches("sys/internal/ui/mounts")
        .trim_matches('/');
    if requested.is_empty() {
        let visible: Map<String, Value> = state
            .mounts
            .values()
            .filter(|mount| call.acl.has_access_under(&mount.path))
            .map(|mount| (mount.path.clone(), mount_json(mount)))
            .collect();
        return Envelope::new(json!({ "auth": {}, "secret": visible }))
            .mount_type("system")
            .ok();
    }
    let preflight_denied = || {
        let message = format!(
            "preflight capability check returned 403, please ensure client's policies grant access to path \"{requested}/\""
        );
        errors(403, &[&message])
    };
    let Some(mount) = state.find_mount(requested) else {
        return preflight_denied();
    };
    if !call.acl.has_access_under(&mount.path) {
        return preflight_denied();
    }
    let mut data = mount_json(mount);
    data["path"] = json!(mount.path);
    Envelope::new(data).mount_type("system").ok()
}

/// Serves `sys/policies/acl/` (list) and `sys/policies/acl/<name>`.
/// Serves `POST sys/capabilities-self`: the calling token's capabilities on
/// each path of `paths` (or the older single `path`), keyed by path, plus
/// `capabilities` for the first one, as Vault's response has both.
pub fn capabilities_self(call: &Call) -> Reply {
    if call.operation != Operation::Write {
        return unsupported_operation();
    }
    if let Err(reply) = call.require("sys/capabilities-self", Capability::Update) {
        return reply;
    }
    let paths: Vec<String> = match (call.body.get("paths"), call.body.get("path")) {
        (Some(Value::Array(items)), _) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        (Some(Value::String(one)), _) | (None, Some(Value::String(one))) => vec![one.clone()],
        _ => Vec::new(),
    };
    if paths.is_empty() {
        return bad_request("missing paths");
    }
    let mut data = Map::new();
    for path in &paths {
        let key = path.trim_start_matches('/');
        data.insert(path.clone(), json!(call.acl.capabilities(key)));
    }
    data.insert(
        "capabilities".to_string(),
        json!(call.acl.capabilities(paths[0].trim_start_matches('/'))),
    );
    Envelope::new(Value::Object(data)).mount_type("system").ok()
}

pub fn policies(state: &mut State, call: &Call) -> Reply {
    let name = call
        .path
        .trim_start_matches("sys/policies/acl/")
        .to_lowercase();
    if name.is_empty() {
        if call.operation != Operation::List {
            return unsupported_operation();
        }
        if let Err(reply) = call.require(call.path, Capability::List) {
            return reply;
        }
        let mut keys: Vec<String> = state.policies.keys().cloned().collect();
        keys.push("root".to_string());
        keys.sort();
        return Envelope::new(json!({ "keys": keys, "policies": keys }))
            .mount_type("system")
            .ok();
    }
    let exists = name == "root" || state.policies.contains_key(&name);
    if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
        return reply;
    }
    match call.operation {
        Operation::Read => {
            let text = match (name.as_str(), state.policies.get(&name)) {
                ("root", _) => String::new(),
                (_, Some(policy)) => policy.text.clone(),
                (_, None) => return not_found(),
            };
            Envelope::new(json!({ "name": name, "policy": text }))
                .mount_type("system")
                .ok()
        }
        Operation::Write => {
            if name == "root" {
                return bad_request("cannot update \"root\" policy");
            }
            let text = call
                .body
                .get("policy")
                .and_then(Value::as_str)
                .unwrap_or("");
            if text.trim().is_empty() {
                return bad_request("'policy' parameter not supplied or empty");
            }
            match parse_policy(text) {
                Ok(rules) => {
                    let policy = StoredPolicy {
                        text: text.to_string(),
                        rules,
                    };
                    state.policies.insert(name, policy);
                    Reply::NoContent
                }
                Err(problem) => bad_request(&format!("failed to parse policy: {problem}")),
            }
        }
        Operation::Delete => {
            if name == "root" || name == "default" {
                return bad_request(&format!("cannot delete {name:?} policy"));
            }
            state.policies.remove(&name);
            Reply::NoContent
        }
        _ => unsupported_operation(),
    }
}
