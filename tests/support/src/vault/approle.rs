//! The AppRole auth method: roles, role IDs, secret IDs and logins.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::auth::{LoginGrant, TokenSettings};
use super::duration::parse_seconds;
use super::policy::Capability;
use super::reply::{
    bad_request, not_found, request_id, unsupported_operation, unsupported_path, Envelope, Reply,
};
use super::state::{Call, Operation};

/// Vault's error for every login whose role ID or secret ID does not
/// match, so a caller cannot tell which of the two was wrong.
const INVALID_CREDENTIALS: &str = "invalid role or secret ID";

#[derive(Debug, Default)]
pub struct AppRoleBackend {
    /// Roles by lowercase name, because Vault stores AppRole names in
    /// lowercase.
    pub roles: BTreeMap<String, AppRole>,
}

#[derive(Debug, Clone)]
pub struct AppRole {
    pub role_id: String,
    pub bind_secret_id: bool,
    /// Logins each new secret ID allows, or zero for unlimited.
    pub secret_id_num_uses: i64,
    /// Lifetime of each new secret ID in seconds, or zero for no expiry.
    pub secret_id_ttl: i64,
    /// NOTE: CIDR lists are stored and reported, but logins from any
    /// address succeed.
    pub secret_id_bound_cidrs: Vec<String>,
    pub token_bound_cidrs: Vec<String>,
    pub token: TokenSettings,
    /// Secret IDs of this role by value.
    pub secret_ids: HashMap<String, SecretId>,
}

impl Default for AppRole {
    fn default() -> AppRole {
        AppRole {
            role_id: request_id(),
            bind_secret_id: true,
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            secret_id_bound_cidrs: Vec::new(),
            token_bound_cidrs: Vec::new(),
            token: TokenSettings::default(),
            secret_ids: HashMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretId {
    pub accessor: String,
    /// Logins left, or zero for unlimited.
    pub remaining_uses: i64,
    pub expires_at: Option<OffsetDateTime>,
}

impl AppRole {
    fn to_json(&self) -> Value {
        let mut data = json!({
            "bind_secret_id": self.bind_secret_id,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "local_secret_ids": false,
        });
        self.token.write_json(&mut data);
        data["token_bound_cidrs"] = json!(self.token_bound_cidrs);
        data
    }

    fn update_from(&mut self, body: &Map<String, Value>) -> Result<(), Reply> {
        if let Some(value) = body.get("bind_secret_id") {
            let Some(bind) = as_bool(value) else {
                return Err(bad_request(
                    "error converting input for field \"bind_secret_id\": expected a boolean",
                ));
            };
            self.bind_secret_id = bind;
        }
        if let Some(value) = body.get("secret_id_num_uses") {
            match as_integer(value) {
                Some(uses) if uses >= 0 => self.secret_id_num_uses = uses,
                Some(_) => return Err(bad_request("secret_id_num_uses cannot be negative")),
                None => return Err(bad_request(
                    "error converting input for field \"secret_id_num_uses\": expected an integer",
                )),
            }
        }
        if let Some(value) = body.get("secret_id_ttl") {
            let Some(seconds) = parse_seconds(value).filter(|seconds| *seconds >= 0) else {
                return Err(bad_request(
                    "error converting input for field \"secret_id_ttl\": invalid duration",
                ));
            };
            self.secret_id_ttl = seconds;
        }
        for (field, target) in [
            ("secret_id_bound_cidrs", &mut self.secret_id_bound_cidrs),
            ("token_bound_cidrs", &mut self.token_bound_cidrs),
        ] {
            if let Some(value) = body.get(field) {
                *target = super::token::string_list(Some(value)).unwrap_or_default();
            }
        }
        self.token.update_from(body)?;

        let has_constraint = self.bind_secret_id
            || !self.secret_id_bound_cidrs.is_empty()
            || !self.token_bound_cidrs.is_empty();
        if !has_constraint {
            return Err(bad_request(
                "at least one constraint should be enabled on the role",
            ));
        }
        Ok(())
    }

    /// Creates a secret ID and returns its value and accessor. `num_uses`
    /// and `ttl` override the role's defaults when given.
    fn generate_secret_id(
        &mut self,
        num_uses: Option<i64>,
        ttl: Option<i64>,
        now: OffsetDateTime,
    ) -> (String, SecretId) {
        let ttl = ttl.unwrap_or(self.secret_id_ttl);
        let entry = SecretId {
            accessor: request_id(),
            remaining_uses: num_uses.unwrap_or(self.secret_id_num_uses),
            expires_at: (ttl > 0).then(|| now + time::Duration::seconds(ttl)),
        };
        let value = request_id();
        self.secret_ids.insert(value.clone(), entry.clone());
        (value, entry)
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

impl AppRoleBackend {
    /// Creates or replaces a role with default settings and the given
    /// policies, then returns its role ID and one new secret ID.
    pub fn add_role(&mut self, name: &str, policies: Vec<String>) -> (String, String) {
        let mut role = AppRole::default();
        role.token.policies = policies;
        let role_id = role.role_id.clone();
        let (secret_id, _) = role.generate_secret_id(None, None, OffsetDateTime::now_utc());
        self.roles.insert(name.to_lowercase(), role);
        (role_id, secret_id)
    }

    /// Serves `role/`, `role/<name>`, `role/<name>/role-id` and
    /// `role/<name>/secret-id` below the mount.
    pub fn handle(&mut self, sub: &str, call: &Call) -> Reply {
        if sub == "role/" && call.operation == Operation::List {
            if let Err(reply) = call.require(call.path, Capability::List) {
                return reply;
            }
            if self.roles.is_empty() {
                return not_found();
            }
            let keys: Vec<&String> = self.roles.keys().collect();
            return Envelope::new(json!({ "keys": keys })).ok();
        }
        let Some(rest) = sub.strip_prefix("role/") else {
            return deny_or_unsupported(call);
        };
        let (name, endpoint) = rest.split_once('/').unwrap_or((rest, ""));
        let name = name.to_lowercase();
        if name.is_empty() {
            return deny_or_unsupported(call);
        }
        let exists = self.roles.contains_key(&name);
        if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
            return reply;
        }
        match endpoint {
            "" => self.handle_role(&name, call),
            "role-id" => self.handle_role_id(&name, call),
            "secret-id" | "secret-id/" => self.handle_secret_id(&name, call),
            _ => unsupported_path(),
        }
    }

    fn handle_role(&mut self, name: &str, call: &Call) -> Reply {
        match call.operation {
            Operation::Read => match self.roles.get(name) {
                Some(role) => Envelope::new(role.to_json()).ok(),
                None => not_found(),
            },
            Operation::Write => {
                let mut role = self.roles.get(name).cloned().unwrap_or_default();
                if let Err(reply) = role.update_from(&call.body) {
                    return reply;
                }
                self.roles.insert(name.to_string(), role);
                Reply::NoContent
            }
            Operation::Delete => {
                self.roles.remove(name);
                Reply::NoContent
            }
            _ => unsupported_operation(),
        }
    }

    fn handle_role_id(&mut self, name: &str, call: &Call) -> Reply {
        let Some(role) = self.roles.get_mut(name) else {
            return match call.operation {
                Operation::Write => bad_request(&format!("role {name:?} does not exist")),
                _ => not_found(),
            };
        };
        match call.operation {
            Operation::Read => Envelope::new(json!({ "role_id": role.role_id })).ok(),
            Operation::Write => {
                let role_id = call
                    .body
                    .get("role_id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if role_id.is_empty() {
                    return bad_request("missing role_id");
                }
                role.role_id = role_id.to_string();
                Reply::NoContent
            }
            _ => unsupported_operation(),
        }
    }

    fn handle_secret_id(&mut self, name: &str, call: &Call) -> Reply {
        let Some(role) = self.roles.get_mut(name) else {
            return bad_request(&format!("role {name:?} does not exist"));
        };
        match call.operation {
            Operation::Write => {
                let num_uses =
                    match call.body.get("num_uses").map(as_integer) {
                        None => None,
                        Some(Some(uses)) if uses < 0 => {
                            return bad_request("num_uses cannot be negative")
                        }
                        Some(Some(uses)) => Some(uses),
                        Some(None) => return bad_request(
                            "error converting input for field \"num_uses\": expected an integer",
                        ),
                    };
                // Vault lets a secret ID narrow the role's use limit but not
                // widen it.
                if let Some(uses) = num_uses {
                    if role.secret_id_num_uses > 0 && (uses == 0 || uses > role.secret_id_num_uses)
                    {
                        return bad_request(
                            "num_uses cannot be higher than the role's secret_id_num_uses",
                        );
                    }
                }
                let ttl = match call.body.get("ttl").map(parse_seconds) {
                    None => None,
                    Some(Some(seconds)) if seconds >= 0 => Some(seconds),
                    Some(_) => {
                        return bad_request(
                            "error converting input for field \"ttl\": invalid duration",
                        )
                    }
                };
                let (value, entry) = role.generate_secret_id(num_uses, ttl, call.now);
                let ttl = entry
                    .expires_at
                    .map_or(0, |at| (at - call.now).whole_seconds());
                Envelope::new(json!({
                    "secret_id": value,
                    "secret_id_accessor": entry.accessor,
                    "secret_id_num_uses": entry.remaining_uses,
                    "secret_id_ttl": ttl,
                }))
                .ok()
            }
            Operation::List => {
                if role.secret_ids.is_empty() {
                    return not_found();
                }
                let mut accessors: Vec<&String> = role
                    .secret_ids
                    .values()
                    .map(|entry| &entry.accessor)
                    .collect();
                accessors.sort();
                Envelope::new(json!({ "keys": accessors })).ok()
            }
            _ => unsupported_operation(),
        }
    }

    /// Checks a login body. Every role ID or secret ID mismatch, including
    /// an expired or used-up secret ID, gets the same 400 as in Vault.
    pub fn login(
        &mut self,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<LoginGrant, Reply> {
        let role_id = body.get("role_id").and_then(Value::as_str).unwrap_or("");
        if role_id.is_empty() {
            return Err(bad_request("missing role_id"));
        }
        let Some((name, role)) = self
            .roles
            .iter_mut()
            .find(|(_, role)| role.role_id == role_id)
        else {
            return Err(bad_request(INVALID_CREDENTIALS));
        };

        if role.bind_secret_id {
            let secret_id = body.get("secret_id").and_then(Value::as_str).unwrap_or("");
            if secret_id.is_empty() {
                return Err(bad_request("missing secret_id"));
            }
            let Some(entry) = role.secret_ids.get_mut(secret_id) else {
                return Err(bad_request(INVALID_CREDENTIALS));
            };
            if entry.expires_at.is_some_and(|at| at <= now) {
                role.secret_ids.remove(secret_id);
                return Err(bad_request(INVALID_CREDENTIALS));
            }
            // A limited secret ID is deleted by the login that uses it up.
            if entry.remaining_uses > 0 {
                entry.remaining_uses -= 1;
                if entry.remaining_uses == 0 {
                    role.secret_ids.remove(secret_id);
                }
            }
        }

        Ok(LoginGrant {
            policies: role.token.policies.clone(),
            ttl: role.token.ttl,
            metadata: Map::from_iter([("role_name".to_string(), json!(name))]),
            display_suffix: String::new(),
        })
    }
}

fn deny_or_unsupported(call: &Call) -> Reply {
    match call.require(call.path, call.operation.capability(true)) {
        Ok(()) => unsupported_path(),
        Err(reply) => reply,
    }
}
