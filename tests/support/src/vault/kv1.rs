//! KV version 1, Vault's passthrough engine.
//!
//! A write replaces the whole object; a read hands it back verbatim with a
//! `lease_duration` taken from its `ttl` (or the deprecated `lease`) key
//! when that parses as a duration, else from the mount's default lease TTL.
//! No lease is registered, so `lease_id` stays empty and the value is not
//! capped by the mount's max TTL.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::duration::parse_seconds;
use super::reply::{bad_request, not_found, unsupported_operation, Envelope, Reply};
use super::state::Operation;

/// Vault's system default lease TTL, 768h, used when a mount is not tuned.
pub const SYSTEM_DEFAULT_LEASE_TTL: i64 = 2_764_800;

/// The secrets of one KV v1 mount, by path relative to the mount.
#[derive(Debug, Default)]
pub struct Kv1Store {
    secrets: BTreeMap<String, Map<String, Value>>,
    /// Successful writes per path, kept after the secret is deleted.
    writes: HashMap<String, u64>,
}

impl Kv1Store {
    /// Returns whether a secret exists at `sub`, which decides between
    /// `create` and `update` for a write.
    pub fn exists(&self, sub: &str) -> bool {
        self.secrets.contains_key(sub)
    }

    /// Returns the stored object at `sub`.
    pub fn get(&self, sub: &str) -> Option<&Map<String, Value>> {
        self.secrets.get(sub)
    }

    /// Stores `data` at `sub`, replacing what was there.
    pub fn put(&mut self, sub: &str, data: Map<String, Value>) {
        self.secrets.insert(sub.to_string(), data);
        *self.writes.entry(sub.to_string()).or_default() += 1;
    }

    /// Counts the writes to `sub` since the mount was created.
    pub fn writes(&self, sub: &str) -> u64 {
        self.writes.get(sub).copied().unwrap_or(0)
    }

    /// Removes the secret at `sub`, if any.
    pub fn remove(&mut self, sub: &str) {
        self.secrets.remove(sub);
    }

    /// Serves one request on the mount. `sub` is the path below the mount
    /// (with a trailing `/` for lists); `default_ttl` is the mount's
    /// default lease TTL in seconds.
    pub fn handle(
        &mut self,
        operation: Operation,
        sub: &str,
        body: Map<String, Value>,
        default_ttl: i64,
    ) -> Reply {
        match operation {
            Operation::Read => match self.secrets.get(sub) {
                Some(data) => Envelope::new(Value::Object(data.clone()))
                    .lease_duration(lease_duration(data, default_ttl))
                    .mount_type("kv")
                    .ok(),
                None => not_found(),
            },
            Operation::List => {
                let names = child_names(self.secrets.keys().map(String::as_str), sub);
                if names.is_empty() {
                    return not_found();
                }
                Envelope::new(json!({ "keys": names }))
                    .mount_type("kv")
                    .ok()
            }
            Operation::Write => {
                if body.is_empty() {
                    return bad_request("missing data fields");
                }
                self.put(sub, body);
                Reply::NoContent
            }
            Operation::Delete => {
                self.remove(sub);
                Reply::NoContent
            }
            Operation::Patch => unsupported_operation(),
        }
    }
}

/// The lease hint of a stored secret: `ttl`, else `lease`, when it parses
/// as a duration; unparseable values fall back to the mount default, as
/// Vault ignores them silently.
fn lease_duration(data: &Map<String, Value>, default_ttl: i64) -> i64 {
    data.get("ttl")
        .or_else(|| data.get("lease"))
        .and_then(parse_seconds)
        .unwrap_or(default_ttl)
}

/// The immediate children of `prefix` (empty, or ending in `/`) among
/// `keys`, sorted and without repeats; a child with entries below it is
/// listed with a trailing `/`, as Vault lists folders.
pub fn child_names<'a>(keys: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = keys
        .filter_map(|key| key.strip_prefix(prefix))
        .filter(|rest| !rest.is_empty())
        .map(|rest| match rest.find('/') {
            Some(slash) => rest[..=slash].to_string(),
            None => rest.to_string(),
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn ttl_key_sets_the_lease_else_the_mount_default() {
        let default = SYSTEM_DEFAULT_LEASE_TTL;
        assert_eq!(lease_duration(&object(json!({"ttl": "1h"})), default), 3600);
        assert_eq!(lease_duration(&object(json!({"ttl": 300})), default), 300);
        assert_eq!(lease_duration(&object(json!({"ttl": "300"})), default), 300);
        assert_eq!(
            lease_duration(&object(json!({"lease": "90m"})), default),
            5400
        );
        assert_eq!(
            lease_duration(&object(json!({"ttl": "soon"})), default),
            default
        );
        assert_eq!(lease_duration(&object(json!({"a": 1})), 60), 60);
    }

    #[test]
    fn children_are_listed_once_with_folders_marked() {
        let keys = ["a", "a/b", "a/c/d", "b", "ab"];
        assert_eq!(child_names(keys.into_iter(), ""), ["a", "a/", "ab", "b"]);
        assert_eq!(child_names(keys.into_iter(), "a/"), ["b", "c/"]);
        assert!(child_names(keys.into_iter(), "z/").is_empty());
    }

    #[test]
    fn write_replaces_and_empty_write_is_refused() {
        let mut store = Kv1Store::default();
        let reply = store.handle(Operation::Write, "app", object(json!({"a": 1, "b": 2})), 0);
        assert!(matches!(reply, Reply::NoContent));
        store.handle(Operation::Write, "app", object(json!({"c": 3})), 0);
        assert_eq!(store.get("app"), Some(&object(json!({"c": 3}))));
        let reply = store.handle(Operation::Write, "app", Map::new(), 0);
        assert!(matches!(reply, Reply::Json { status: 400, .. }));
    }
}
