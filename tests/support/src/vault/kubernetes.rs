//! The Kubernetes auth method: roles, backend config and logins with a
//! service-account JWT.
//!
//! Real Vault sends the JWT to the Kubernetes TokenReview API to check
//! that it is genuine. The fake has no cluster, so it never checks the signature: any
//! `header.payload.signature` string whose payload carries the right claims
//! is accepted. It does check the claims against the role: service account
//! name, namespace, audience (when the role sets one) and expiry.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::auth::{LoginGrant, TokenSettings};
use super::reply::{bad_request, errors, not_found, unsupported_path, Envelope, Reply};
use super::state::{Call, Operation};
use super::token::string_list;

/// Clock skew Vault's JWT validator (hashicorp/cap `DefaultLeewaySeconds`)
/// allows on `exp`, so a token expired this recently still logs in.
const EXPIRY_LEEWAY_SECONDS: i64 = 150;

/// Claim names of legacy (secret-based) service-account tokens.
const LEGACY_NAME_CLAIM: &str = "kubernetes.io/serviceaccount/service-account.name";
const LEGACY_NAMESPACE_CLAIM: &str = "kubernetes.io/serviceaccount/namespace";
const LEGACY_UID_CLAIM: &str = "kubernetes.io/serviceaccount/service-account.uid";
const LEGACY_SECRET_NAME_CLAIM: &str = "kubernetes.io/serviceaccount/secret.name";

#[derive(Debug, Default)]
pub struct KubernetesBackend {
    /// The body last written to `auth/<mount>/config`. Logins work without it.
    pub config: Option<Map<String, Value>>,
    pub roles: BTreeMap<String, KubernetesRole>,
}

#[derive(Debug, Clone, Default)]
pub struct KubernetesRole {
    /// Allowed service account names. `*`, or a glob with a leading or
    /// trailing `*`, matches several.
    pub bound_names: Vec<String>,
    pub bound_namespaces: Vec<String>,
    /// Required member of the JWT's `aud` claim, or empty for none.
    pub audience: String,
    pub token: TokenSettings,
}

impl KubernetesRole {
    fn to_json(&self) -> Value {
        let mut data = json!({
            "bound_service_account_names": self.bound_names,
            "bound_service_account_namespaces": self.bound_namespaces,
            "audience": self.audience,
            "alias_name_source": "serviceaccount_uid",
        });
        self.token.write_json(&mut data);
        data
    }

    /// Applies a role write. A new role must bind names and namespaces, as
    /// Vault requires.
    fn update_from(&mut self, body: &Map<String, Value>, is_new: bool) -> Result<(), Reply> {
        for (field, target) in [
            ("bound_service_account_names", &mut self.bound_names),
            (
                "bound_service_account_namespaces",
                &mut self.bound_namespaces,
            ),
        ] {
            if let Some(value) = body.get(field) {
                let Some(list) = string_list(Some(value)) else {
                    return Err(bad_request(&format!(
                        "error converting input for field {field:?}: expected a list of strings"
                    )));
                };
                *target = list;
            }
        }
        if let Some(audience) = body.get("audience") {
            self.audience = audience.as_str().unwrap_or("").trim().to_string();
        }
        self.token.update_from(body)?;

        let names_checked = is_new || body.contains_key("bound_service_account_names");
        if names_checked && self.bound_names.is_empty() {
            return Err(bad_request(
                "\"bound_service_account_names\" can not be empty",
            ));
        }
        let namespaces_checked = is_new || body.contains_key("bound_service_account_namespaces");
        if namespaces_checked && self.bound_namespaces.is_empty() {
            return Err(bad_request(
                "\"bound_service_account_namespaces\" can not be empty",
            ));
        }
        Ok(())
    }
}

/// The claims of a service-account JWT that the login checks.
#[derive(Debug, Default)]
struct ServiceAccountClaims {
    name: String,
    namespace: String,
    uid: String,
    secret_name: String,
    audiences: Vec<String>,
    expires_at: Option<i64>,
}

impl KubernetesBackend {
    /// Serves `config`, `role/` and `role/<name>` below the mount.
    pub fn handle(&mut self, sub: &str, call: &Call) -> Reply {
        if sub == "config" {
            return self.handle_config(call);
        }
        if sub == "role/" && call.operation == Operation::List {
            if let Err(reply) = call.require(call.path, super::policy::Capability::List) {
                return reply;
            }
            if self.roles.is_empty() {
                return not_found();
            }
            let keys: Vec<&String> = self.roles.keys().collect();
            return Envelope::new(json!({ "keys": keys })).ok();
        }
        let Some(name) = sub
            .strip_prefix("role/")
            .filter(|name| !name.is_empty() && !name.contains('/'))
        else {
            return match call.require(call.path, call.operation.capability(true)) {
                Ok(()) => unsupported_path(),
                Err(reply) => reply,
            };
        };
        let exists = self.roles.contains_key(name);
        if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
            return reply;
        }
        match call.operation {
            Operation::Read => match self.roles.get(name) {
                Some(role) => Envelope::new(role.to_json()).ok(),
                None => not_found(),
            },
            Operation::Write => {
                let mut role = self.roles.get(name).cloned().unwrap_or_default();
                if let Err(reply) = role.update_from(&call.body, !exists) {
                    return reply;
                }
                self.roles.insert(name.to_string(), role);
                Reply::NoContent
            }
            Operation::Delete => {
                self.roles.remove(name);
                Reply::NoContent
            }
            _ => super::reply::unsupported_operation(),
        }
    }

    fn handle_config(&mut self, call: &Call) -> Reply {
        let exists = self.config.is_some();
        if let Err(reply) = call.require(call.path, call.operation.capability(exists)) {
            return reply;
        }
        match call.operation {
            Operation::Read => match &self.config {
                Some(config) => Envelope::new(Value::Object(config.clone())).ok(),
                None => not_found(),
            },
            Operation::Write => {
                let mut config = call.body.clone();
                // Vault never returns the reviewer JWT.
                config.remove("token_reviewer_jwt");
                self.config = Some(config);
                Reply::NoContent
            }
            _ => super::reply::unsupported_operation(),
        }
    }

    /// Checks a login body against the role it names. Error texts and
    /// statuses follow Vault's Kubernetes plugin: bad input is 400, and a
    /// JWT that does not fit the role is 403.
    pub fn login(
        &mut self,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<LoginGrant, Reply> {
        let role_name = body.get("role").and_then(Value::as_str).unwrap_or("");
        if role_name.is_empty() {
            return Err(bad_request("missing role"));
        }
        let jwt = body.get("jwt").and_then(Value::as_str).unwrap_or("");
        if jwt.is_empty() {
            return Err(bad_request("missing jwt"));
        }
        let Some(role) = self.roles.get(role_name) else {
            return Err(bad_request(&format!("invalid role name {role_name:?}")));
        };

        let claims = parse_claims(jwt).map_err(|problem| errors(403, &[&problem]))?;
        if let Some(expires_at) = claims.expires_at {
            if now.unix_timestamp() > expires_at + EXPIRY_LEEWAY_SECONDS {
                return Err(errors(403, &["token is expired"]));
            }
        }
        if !role.audience.is_empty() && !claims.audiences.contains(&role.audience) {
            return Err(errors(
                403,
                &["invalid audience (aud) claim: audience claim does not match any expected audience"],
            ));
        }
        let name_allowed = role
            .bound_names
            .iter()
            .any(|pattern| pattern == "*" || glob_matches(pattern, &claims.name));
        if !name_allowed {
            return Err(errors(403, &["service account name not authorized"]));
        }
        let namespace_allowed = role
            .bound_namespaces
            .iter()
            .any(|pattern| pattern == "*" || glob_matches(pattern, &claims.namespace));
        if !namespace_allowed {
            return Err(errors(403, &["namespace not authorized"]));
        }
        if claims.uid.is_empty() {
            return Err(errors(500, &["could not parse UID from claims"]));
        }

        let metadata = Map::from_iter([
            ("role".to_string(), json!(role_name)),
            ("service_account_name".to_string(), json!(claims.name)),
            (
                "service_account_namespace".to_string(),
                json!(claims.namespace),
            ),
            (
                "service_account_secret_name".to_string(),
                json!(claims.secret_name),
            ),
            ("service_account_uid".to_string(), json!(claims.uid)),
        ]);
        Ok(LoginGrant {
            policies: role.token.policies.clone(),
            ttl: role.token.ttl,
            metadata,
            display_suffix: format!("{}-{}", claims.namespace, claims.name),
        })
    }
}

/// Matches Vault's `StrListContainsGlob` for one pattern: a leading and/or
/// trailing `*` matches any text at that end.
fn glob_matches(pattern: &str, value: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) if pattern.len() >= 2 => value.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        _ => pattern == value,
    }
}

/// Decodes the payload of a JWT without verifying its signature and reads
/// the service-account claims in either the projected (nested
/// `kubernetes.io`) or the legacy (flat) form. The nested form wins when
/// both are present, as in Vault.
fn parse_claims(jwt: &str) -> Result<ServiceAccountClaims, String> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err("invalid JWT: expected three dot-separated parts".to_string());
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| URL_SAFE.decode(payload))
        .map_err(|_| "invalid JWT: the payload is not base64url".to_string())?;
    let Ok(Value::Object(payload)) = serde_json::from_slice::<Value>(&decoded) else {
        return Err("invalid JWT: the payload is not a JSON object".to_string());
    };

    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or("").to_string();
    let mut claims = ServiceAccountClaims {
        name: text(payload.get(LEGACY_NAME_CLAIM)),
        namespace: text(payload.get(LEGACY_NAMESPACE_CLAIM)),
        uid: text(payload.get(LEGACY_UID_CLAIM)),
        secret_name: text(payload.get(LEGACY_SECRET_NAME_CLAIM)),
        ..ServiceAccountClaims::default()
    };
    if let Some(Value::Object(projected)) = payload.get("kubernetes.io") {
        claims.namespace = text(projected.get("namespace"));
        if let Some(account) = projected.get("serviceaccount") {
            claims.name = text(account.get("name"));
            claims.uid = text(account.get("uid"));
        }
    }
    claims.audiences = match payload.get("aud") {
        Some(Value::String(audience)) => vec![audience.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    claims.expires_at = match payload.get("exp") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .or_else(|| value.as_f64().map(|seconds| seconds as i64))
                .ok_or_else(|| "invalid JWT: exp is not a number".to_string())?,
        ),
    };
    Ok(claims)
}

/// Encodes `claims` as an unsigned JWT: an RS256 header, the base64url
/// JSON payload and a placeholder signature. Only a fake that skips
/// signature checks accepts it.
pub fn unsigned_jwt(claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "kid": "kriptomat-testkit", "typ": "JWT" });
    let encode = |value: &Value| {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON values always serialize"))
    };
    let signature = URL_SAFE_NO_PAD.encode(b"not-a-real-signature");
    format!("{}.{}.{signature}", encode(&header), encode(claims))
}

/// Builds the claims of a projected service-account token as the kubelet
/// mounts it, with a UID derived from the namespace and name so repeated
/// calls give the same account.
pub fn projected_token_claims(
    name: &str,
    namespace: &str,
    audience: Option<&str>,
    expires_at_unix: i64,
) -> Value {
    let mut claims = json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "iat": expires_at_unix - 3600,
        "nbf": expires_at_unix - 3600,
        "exp": expires_at_unix,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": { "name": name, "uid": stable_uid(namespace, name) },
            "pod": { "name": format!("{name}-0"), "uid": stable_uid(namespace, &format!("{name}-0")) },
        },
    });
    if let Some(audience) = audience {
        claims["aud"] = json!([audience]);
    }
    claims
}

/// Derives a UUID-shaped identifier from a namespace and name (FNV-1a, not
/// a real UUID version 5).
fn stable_uid(namespace: &str, name: &str) -> String {
    let mut hashes = [0xcbf2_9ce4_8422_2325_u64, 0x8422_2325_cbf2_9ce4_u64];
    for (index, hash) in hashes.iter_mut().enumerate() {
        for byte in format!("{index}/{namespace}/{name}").bytes() {
            *hash ^= u64::from(byte);
            *hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let hex = format!("{:016x}{:016x}", hashes[0], hashes[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
