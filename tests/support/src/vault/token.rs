//! The token store: `auth/token/*` endpoints and token entries.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::duration::{format_go_duration, parse_seconds, rfc3339};
use super::kv1::SYSTEM_DEFAULT_LEASE_TTL;
use super::policy::Capability;
use super::reply::{bad_request, random_alphanumeric, unsupported_path, Envelope, Reply};
use super::state::{Call, Operation, State};

/// Vault's system maximum lease TTL (768h), the cap for every token TTL.
pub const SYSTEM_MAX_LEASE_TTL: i64 = 2_764_800;

#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub id: String,
    pub accessor: String,
    /// Sorted, without duplicates.
    pub policies: Vec<String>,
    pub creation_time: OffsetDateTime,
    /// Seconds; zero for a token that never expires.
    pub creation_ttl: i64,
    pub expire_time: Option<OffsetDateTime>,
    pub explicit_max_ttl: i64,
    pub renewable: bool,
    pub display_name: String,
    pub path: String,
    pub meta: Option<Map<String, Value>>,
    pub orphan: bool,
    pub num_uses: i64,
}

impl TokenEntry {
    /// Builds the initial root token: no expiry, no lease, the `root` policy.
    pub fn root(id: &str) -> TokenEntry {
        TokenEntry {
            id: id.to_string(),
            accessor: random_alphanumeric(24),
            policies: vec!["root".to_string()],
            creation_time: OffsetDateTime::now_utc(),
            creation_ttl: 0,
            expire_time: None,
            explicit_max_ttl: 0,
            renewable: false,
            display_name: "root".to_string(),
            path: "auth/token/root".to_string(),
            meta: None,
            orphan: true,
            num_uses: 0,
        }
    }

    /// Builds a renewable service token with the given policies and TTL in
    /// seconds (zero for no expiry).
    pub fn service(id: String, policies: Vec<String>, ttl: i64, now: OffsetDateTime) -> TokenEntry {
        TokenEntry {
            id,
            accessor: random_alphanumeric(24),
            policies,
            creation_time: now,
            creation_ttl: ttl,
            expire_time: (ttl > 0).then(|| now + time::Duration::seconds(ttl)),
            explicit_max_ttl: 0,
            renewable: ttl > 0,
            display_name: "token".to_string(),
            path: "auth/token/create".to_string(),
            meta: None,
            orphan: false,
            num_uses: 0,
        }
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expire_time.is_some_and(|at| at <= now)
    }

    fn remaining_ttl(&self, now: OffsetDateTime) -> i64 {
        self.expire_time
            .map_or(0, |at| (at - now).whole_seconds().max(0))
    }

    /// Renders the `data` of `lookup-self`. Tokens without expiry omit
    /// `renewable` and `issue_time`, as Vault does for root tokens.
    fn lookup_json(&self, now: OffsetDateTime) -> Value {
        let mut data = json!({
            "accessor": self.accessor,
            "creation_time": self.creation_time.unix_timestamp(),
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": "",
            "expire_time": self.expire_time.map(rfc3339),
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": self.id,
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": self.policies,
            "ttl": self.remaining_ttl(now),
            "type": "service",
        });
        if self.expire_time.is_some() {
            data["renewable"] = json!(self.renewable);
            data["issue_time"] = json!(rfc3339(self.creation_time));
        }
        data
    }

    /// Renders an `auth` block with every field vaultrs's `AuthInfo`
    /// requires, `token_policies` included.
    pub fn auth_json(&self, lease_duration: i64) -> Value {
        json!({
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": self.meta,
            "lease_duration": lease_duration,
            "renewable": self.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": null,
            "num_uses": self.num_uses,
        })
    }
}

/// Generates a service token ID in Vault's `hvs.` format.
pub fn new_token_id() -> String {
    format!("hvs.{}", random_alphanumeric(24))
}

/// Sorts and deduplicates policy names, as Vault stores them.
pub fn normalize_policies(mut policies: Vec<String>) -> Vec<String> {
    policies.sort();
    policies.dedup();
    policies
}

pub fn handle(state: &mut State, call: &Call) -> Reply {
    let endpoint = call.path.trim_start_matches("auth/token/");
    match (endpoint, call.operation) {
        ("create" | "create-orphan", Operation::Write) => {
            create(state, call, endpoint == "create-orphan")
        }
        ("lookup-self", Operation::Read | Operation::Write) => {
            if let Err(reply) = call.require(call.path, call.operation.capability(true)) {
                return reply;
            }
            let entry = &state.tokens[call.token];
            Envelope::new(entry.lookup_json(call.now))
                .mount_type("token")
                .ok()
        }
        ("renew-self", Operation::Write) => renew_self(state, call),
        ("revoke-self", Operation::Write) => {
            if let Err(reply) = call.require(call.path, Capability::Update) {
                return reply;
            }
            state.tokens.remove(call.token);
            state.revoked_tokens.push(call.token.to_string());
            Reply::NoContent
        }
        _ => match call.require(call.path, call.operation.capability(true)) {
            Ok(()) => unsupported_path(),
            Err(reply) => reply,
        },
    }
}

fn create(state: &mut State, call: &Call, orphan: bool) -> Reply {
    // Vault treats token creation as an update, but `create` is accepted
    // too because policies commonly grant both.
    if !(call.acl.allows(call.path, Capability::Update)
        || call.acl.allows(call.path, Capability::Create))
    {
        return super::reply::permission_denied();
    }
    let parent = state.tokens[call.token].clone();
    let parent_is_root = call.acl.is_root();
    let body = &call.body;

    let mut policies = match string_list(body.get("policies")) {
        Some(policies) => policies,
        None => {
            return bad_request(
                "error converting input for field \"policies\": expected a list of strings",
            )
        }
    };
    if policies.is_empty() {
        policies = parent.policies.clone();
    }
    let no_default_policy = body
        .get("no_default_policy")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    policies.retain(|name| name != "default");
    if !parent_is_root && policies.iter().any(|name| !parent.policies.contains(name)) {
        return bad_request("child policies must be subset of parent");
    }
    if !no_default_policy {
        policies.push("default".to_string());
    }
    let policies = normalize_policies(policies);

    let requested_ttl = match body.get("ttl").or_else(|| body.get("period")) {
        None | Some(Value::Null) => None,
        Some(value) => match parse_seconds(value) {
            Some(seconds) => Some(seconds),
            None => {
                return bad_request("error converting input for field \"ttl\": invalid duration")
            }
        },
    };
    let explicit_max_ttl = body
        .get("explicit_max_ttl")
        .and_then(parse_seconds)
        .unwrap_or(0);
    let has_root = policies.iter().any(|name| name == "root");
    let mut ttl = match requested_ttl {
        Some(ttl) => ttl,
        None if has_root => 0,
        None => SYSTEM_DEFAULT_LEASE_TTL,
    };
    if !has_root || ttl > 0 {
        ttl = ttl.min(SYSTEM_MAX_LEASE_TTL);
    }
    if explicit_max_ttl > 0 && (ttl == 0 || ttl > explicit_max_ttl) {
        ttl = explicit_max_ttl;
    }

    let id = match body.get("id").and_then(Value::as_str) {
        Some(id) if parent_is_root && !id.is_empty() => id.to_string(),
        Some(_) if !parent_is_root => {
            return bad_request("root or sudo privileges required to specify token id")
        }
        _ => new_token_id(),
    };
    if state.tokens.contains_key(&id) {
        return bad_request("cannot create a token with a duplicate ID");
    }

    let mut entry = TokenEntry::service(id.clone(), policies, ttl, call.now);
    entry.explicit_max_ttl = explicit_max_ttl;
    entry.orphan = orphan;
    if let Some(renewable) = body.get("renewable").and_then(Value::as_bool) {
        entry.renewable = renewable && ttl > 0;
    }
    if let Some(name) = body.get("display_name").and_then(Value::as_str) {
        entry.display_name = format!("token-{name}");
    }
    if let Some(Value::Object(meta)) = body.get("meta") {
        entry.meta = Some(meta.clone());
    }
    if let Some(uses) = body.get("num_uses").and_then(Value::as_i64) {
        entry.num_uses = uses;
    }
    let auth = entry.auth_json(ttl);
    state.tokens.insert(id, entry);
    Envelope::new(Value::Null)
        .auth(auth)
        .mount_type("token")
        .ok()
}

fn renew_self(state: &mut State, call: &Call) -> Reply {
    if let Err(reply) = call.require(call.path, Capability::Update) {
        return reply;
    }
    let entry = state
        .tokens
        .get_mut(call.token)
        .expect("authenticated token exists");

    if entry.expire_time.is_none() {
        return bad_request("invalid lease ID");
    }
    if !entry.renewable {
        return bad_request("lease is not renewable");
    }
    let increment = match call.body.get("increment") {
        None | Some(Value::Null) => entry.creation_ttl,
        Some(value) => match parse_seconds(value) {
            Some(0) => entry.creation_ttl,
            Some(seconds) => seconds,
            None => {
                return bad_request(
                    "error converting input for field \"increment\": invalid duration",
                )
            }
        },
    };

    // Vault counts the max TTL from the token's creation, not from now.
    let max_ttl = if entry.explicit_max_ttl > 0 {
        entry.explicit_max_ttl
    } else {
        SYSTEM_MAX_LEASE_TTL
    };
    let elapsed = (call.now - entry.creation_time).whole_seconds();
    let remaining_max = (max_ttl - elapsed).max(0);
    let mut envelope = Envelope::new(Value::Null).mount_type("token");
    let ttl = if increment > remaining_max {
        envelope = envelope.warning(format!(
            "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped accordingly",
            format_go_duration(increment),
            format_go_duration(remaining_max)
        ));
        remaining_max
    } else {
        increment
    };

    entry.expire_time = Some(call.now + time::Duration::seconds(ttl));
    envelope.auth(entry.auth_json(ttl)).ok()
}

/// Reads a list of strings given as a JSON list or a comma-separated
/// string. A missing value is an empty list.
pub fn string_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(text)) => Some(
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_lowercase)
                .collect(),
        ),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(|name| name.trim().to_lowercase()))
            .collect(),
        Some(_) => None,
    }
}
