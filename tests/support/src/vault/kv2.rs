//! KV version 2: versioned secrets with metadata, check-and-set, soft
//! deletion and destruction.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::duration::{format_go_duration, parse_seconds, rfc3339};
use super::kv1::child_names;
use super::reply::{bad_request, errors, not_found, unsupported_operation, Envelope, Reply};
use super::state::{Operation, Request};

/// Versions kept per key when neither the key nor the mount sets a limit.
pub const DEFAULT_MAX_VERSIONS: u64 = 10;

const MAX_CUSTOM_METADATA_KEYS: usize = 64;
const MAX_CUSTOM_METADATA_KEY_BYTES: usize = 128;
const MAX_CUSTOM_METADATA_VALUE_BYTES: usize = 512;

const ROOT_WARNING: &str =
    "Non-listing operations on the root of a K/V v2 mount are not supported.";

#[derive(Debug, Default)]
pub struct Kv2Store {
    pub config: Kv2Config,
    pub keys: BTreeMap<String, KeyMetadata>,
    /// Versions ever written per key, kept after the key is deleted.
    pub writes: HashMap<String, u64>,
}

/// The mount-wide settings of `<mount>/config`.
#[derive(Debug, Default)]
pub struct Kv2Config {
    pub max_versions: u64,
    pub cas_required: bool,
    pub delete_version_after: i64,
}

#[derive(Debug)]
pub struct KeyMetadata {
    pub created_time: OffsetDateTime,
    pub updated_time: OffsetDateTime,
    pub current_version: u64,
    pub oldest_version: u64,
    /// Zero means the mount setting applies.
    pub max_versions: u64,
    pub cas_required: bool,
    /// Seconds; zero means the mount setting applies.
    pub delete_version_after: i64,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub versions: BTreeMap<u64, Version>,
}

#[derive(Debug)]
pub struct Version {
    /// `None` once the version is destroyed.
    pub data: Option<Map<String, Value>>,
    pub created_time: OffsetDateTime,
    pub deletion_time: Option<OffsetDateTime>,
    pub destroyed: bool,
}

impl Version {
    /// A deletion time in the future only schedules deletion, so the
    /// version stays readable until then.
    pub fn is_deleted(&self, now: OffsetDateTime) -> bool {
        self.deletion_time.is_some_and(|at| at <= now)
    }

    fn is_live(&self, now: OffsetDateTime) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

impl KeyMetadata {
    fn new(now: OffsetDateTime) -> KeyMetadata {
        KeyMetadata {
            created_time: now,
            updated_time: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            versions: BTreeMap::new(),
        }
    }

    fn custom_metadata_json(&self) -> Value {
        match &self.custom_metadata {
            Some(map) => json!(map),
            None => Value::Null,
        }
    }

    /// Renders the per-version metadata that data reads and writes return.
    fn version_json(&self, number: u64) -> Value {
        let version = &self.versions[&number];
        json!({
            "created_time": rfc3339(version.created_time),
            "custom_metadata": self.custom_metadata_json(),
            "deletion_time": version.deletion_time.map(rfc3339).unwrap_or_default(),
            "destroyed": version.destroyed,
            "version": number,
        })
    }

    fn is_latest_deleted(&self, now: OffsetDateTime) -> bool {
        self.versions
            .get(&self.current_version)
            .is_some_and(|version| !version.is_live(now))
    }
}

impl Kv2Store {
    /// Returns whether a create/update on `sub` (the path below the mount)
    /// touches an existing key. Vault makes the same check to decide
    /// between the `create` and `update` capabilities.
    pub fn exists(&self, sub: &str) -> bool {
        match sub.split_once('/') {
            Some(("data" | "metadata", key)) => self.keys.contains_key(key),
            _ => true,
        }
    }

    fn effective_max_versions(&self, meta: &KeyMetadata) -> u64 {
        [meta.max_versions, self.config.max_versions]
            .into_iter()
            .find(|limit| *limit > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Adds a new version of `key` without any check-and-set test and
    /// returns its number.
    pub fn put(&mut self, key: &str, data: Map<String, Value>, now: OffsetDateTime) -> u64 {
        let mount_delete_after = self.config.delete_version_after;
        let meta = self
            .keys
            .entry(key.to_string())
            .or_insert_with(|| KeyMetadata::new(now));
        meta.current_version += 1;
        meta.updated_time = now;
        let delete_after = if meta.delete_version_after != 0 {
            meta.delete_version_after
        } else {
            mount_delete_after
        };
        let deletion_time = (delete_after > 0).then(|| now + time::Duration::seconds(delete_after));
        let number = meta.current_version;
        meta.versions.insert(
            number,
            Version {
                data: Some(data),
                created_time: now,
                deletion_time,
                destroyed: false,
            },
        );

        // Prune oldest-first, keeping exactly the newest `max_versions`.
        let max_versions = self.effective_max_versions(&self.keys[key]);
        let meta = self.keys.get_mut(key).expect("inserted above");
        if meta.current_version - meta.oldest_version >= max_versions {
            let new_oldest = meta.current_version - max_versions + 1;
            meta.versions.retain(|number, _| *number >= new_oldest);
            meta.oldest_version = new_oldest;
        }

        *self.writes.entry(key.to_string()).or_default() += 1;
        number
    }

    /// Returns the data of the current version unless it is deleted or
    /// destroyed.
    pub fn latest_live(&self, key: &str, now: OffsetDateTime) -> Option<&Map<String, Value>> {
        let meta = self.keys.get(key)?;
        let version = meta.versions.get(&meta.current_version)?;
        if version.is_live(now) {
            version.data.as_ref()
        } else {
            None
        }
    }

    pub fn soft_delete_latest(&mut self, key: &str, now: OffsetDateTime) {
        if let Some(meta) = self.keys.get_mut(key) {
            let current = meta.current_version;
            if let Some(version) = meta.versions.get_mut(&current) {
                if version.is_live(now) {
                    version.deletion_time = Some(now);
                }
            }
        }
    }

    pub fn destroy_latest(&mut self, key: &str) {
        if let Some(meta) = self.keys.get_mut(key) {
            let current = meta.current_version;
            if let Some(version) = meta.versions.get_mut(&current) {
                version.destroyed = true;
                version.data = None;
            }
        }
    }

    /// Serves one request, where `sub` is the path below the mount.
    pub fn handle(
        &mut self,
        operation: Operation,
        sub: &str,
        request: &Request,
        body: Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        let (section, key) = match sub.split_once('/') {
            Some((section, key)) => (section, Some(key)),
            None => (sub, None),
        };
        let is_versioned_section = matches!(
            section,
            "data" | "metadata" | "delete" | "undelete" | "destroy" | "subkeys"
        );
        let listing_root = operation == Operation::List && section == "metadata";
        match (section, key) {
            ("config", None) => self.handle_config(operation, &body),
            (_, None) if is_versioned_section => raw_warning(ROOT_WARNING),
            (_, Some("")) if is_versioned_section && !listing_root => raw_warning(ROOT_WARNING),
            ("data", Some(key)) => self.handle_data(operation, key, request, &body, now),
            ("metadata", Some(key)) => self.handle_metadata(operation, key, request, &body, now),
            ("delete" | "undelete" | "destroy", Some(key)) => {
                if operation != Operation::Write {
                    return unsupported_operation();
                }
                self.handle_versions(section, key, &body, now)
            }
            ("subkeys", Some(key)) => {
                if operation != Operation::Read {
                    return unsupported_operation();
                }
                self.read_subkeys(key, request, now)
            }
            _ => raw_warning(&format!(
                "Invalid path for a versioned K/V secrets engine. See the API docs for the \
                 appropriate API endpoints to use. If using the Vault CLI, use 'vault kv {}' \
                 for this operation.",
                operation.cli_verb()
            )),
        }
    }

    fn handle_config(&mut self, operation: Operation, body: &Map<String, Value>) -> Reply {
        match operation {
            Operation::Read => Envelope::new(json!({
                "cas_required": self.config.cas_required,
                "delete_version_after": format_go_duration(self.config.delete_version_after),
                "max_versions": self.config.max_versions,
            }))
            .mount_type("kv")
            .ok(),
            Operation::Write => {
                let settings = match KeySettings::parse(body) {
                    Ok(settings) => settings,
                    Err(reply) => return reply,
                };
                if let Some(max_versions) = settings.max_versions {
                    self.config.max_versions = max_versions;
                }
                if let Some(cas_required) = settings.cas_required {
                    self.config.cas_required = cas_required;
                }
                if let Some(delete_after) = settings.delete_version_after {
                    self.config.delete_version_after = delete_after;
                }
                Reply::NoContent
            }
            _ => unsupported_operation(),
        }
    }

    fn handle_data(
        &mut self,
        operation: Operation,
        key: &str,
        request: &Request,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        // Since KV plugin v0.13.1 a data path ending in `/` is not a key.
        if key.ends_with('/') {
            return not_found();
        }
        match operation {
            Operation::Read => self.read_data(key, request, now),
            Operation::Write => self.write_data(key, body, now),
            Operation::Patch => self.patch_data(key, body, now),
            Operation::Delete => {
                self.soft_delete_latest(key, now);
                Reply::NoContent
            }
            Operation::List => unsupported_operation(),
        }
    }

    fn read_data(&self, key: &str, request: &Request, now: OffsetDateTime) -> Reply {
        let Some(meta) = self.keys.get(key) else {
            return not_found();
        };
        let number = match requested_version(request) {
            Ok(Some(number)) => number,
            Ok(None) => meta.current_version,
            Err(reply) => return reply,
        };
        let Some(version) = meta.versions.get(&number) else {
            return not_found();
        };
        let data = json!({
            "data": if version.is_live(now) { json!(version.data) } else { Value::Null },
            "metadata": meta.version_json(number),
        });
        if version.is_live(now) {
            Envelope::new(data).mount_type("kv").ok()
        } else {
            Envelope::new(data).reply(404)
        }
    }

    /// Applies the check-and-set rules: `options.cas` must equal the current
    /// version (0 for a key without versions, and a deleted latest version
    /// still counts), and is mandatory when the mount or key requires it.
    fn check_cas(&self, key: &str, body: &Map<String, Value>) -> Result<(), Reply> {
        let meta = self.keys.get(key);
        let current = meta.map_or(0, |meta| meta.current_version);
        let required = self.config.cas_required || meta.is_some_and(|meta| meta.cas_required);
        let cas = body
            .get("options")
            .and_then(Value::as_object)
            .and_then(|options| options.get("cas"))
            .filter(|cas| !cas.is_null());
        match cas {
            None if required => Err(bad_request(
                "check-and-set parameter required for this call",
            )),
            None => Ok(()),
            Some(cas) => match parse_integer(cas) {
                Some(cas) if cas == current => Ok(()),
                Some(_) => Err(bad_request(
                    "check-and-set parameter did not match the current version",
                )),
                None => Err(bad_request("error parsing check-and-set parameter")),
            },
        }
    }

    fn write_data(&mut self, key: &str, body: &Map<String, Value>, now: OffsetDateTime) -> Reply {
        let Some(Value::Object(data)) = body.get("data") else {
            return bad_request("no data provided");
        };
        if let Err(reply) = self.check_cas(key, body) {
            return reply;
        }
        let number = self.put(key, data.clone(), now);
        Envelope::new(self.keys[key].version_json(number))
            .mount_type("kv")
            .ok()
    }

    fn patch_data(&mut self, key: &str, body: &Map<String, Value>, now: OffsetDateTime) -> Reply {
        let Some(meta) = self.keys.get(key).filter(|meta| meta.current_version > 0) else {
            return Reply::EmptyBody { status: 404 };
        };
        if let Err(reply) = self.check_cas(key, body) {
            return reply;
        }
        if meta.is_latest_deleted(now) {
            return Envelope::new(meta.version_json(meta.current_version)).reply(404);
        }
        let Some(patch @ Value::Object(_)) = body.get("data") else {
            return bad_request("no data provided");
        };
        let latest = meta.versions[&meta.current_version].data.clone();
        let mut merged = Value::Object(latest.unwrap_or_default());
        merge_patch(&mut merged, patch);
        let Value::Object(merged) = merged else {
            unreachable!("merging an object patch always yields an object")
        };
        let number = self.put(key, merged, now);
        Envelope::new(self.keys[key].version_json(number))
            .mount_type("kv")
            .ok()
    }

    fn handle_metadata(
        &mut self,
        operation: Operation,
        key: &str,
        request: &Request,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        if operation == Operation::List {
            return self.list_metadata(key, request, now);
        }
        if key.ends_with('/') {
            return not_found();
        }
        match operation {
            Operation::Read => match self.keys.get(key) {
                Some(meta) => Envelope::new(self.metadata_json(meta))
                    .mount_type("kv")
                    .ok(),
                None => not_found(),
            },
            Operation::Write => self.write_metadata(key, body, now),
            Operation::Patch => self.patch_metadata(key, body, now),
            Operation::Delete => {
                self.keys.remove(key);
                Reply::NoContent
            }
            Operation::List => unreachable!("handled above"),
        }
    }

    fn metadata_json(&self, meta: &KeyMetadata) -> Value {
        let versions: Map<String, Value> = meta
            .versions
            .iter()
            .map(|(number, version)| {
                let entry = json!({
                    "created_time": rfc3339(version.created_time),
                    "deletion_time": version.deletion_time.map(rfc3339).unwrap_or_default(),
                    "destroyed": version.destroyed,
                });
                (number.to_string(), entry)
            })
            .collect();
        json!({
            "cas_required": meta.cas_required,
            "created_time": rfc3339(meta.created_time),
            "current_version": meta.current_version,
            "custom_metadata": meta.custom_metadata_json(),
            "delete_version_after": format_go_duration(meta.delete_version_after),
            "max_versions": meta.max_versions,
            "oldest_version": meta.oldest_version,
            "updated_time": rfc3339(meta.updated_time),
            "versions": versions,
        })
    }

    fn write_metadata(
        &mut self,
        key: &str,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        let settings = match KeySettings::parse(body) {
            Ok(settings) => settings,
            Err(reply) => return reply,
        };
        let custom_metadata = match body.get("custom_metadata") {
            None => None,
            Some(value) => match parse_custom_metadata(value) {
                Ok(map) => Some(map),
                Err(reply) => return reply,
            },
        };
        let mount_requires_cas = self.config.cas_required;
        let meta = self
            .keys
            .entry(key.to_string())
            .or_insert_with(|| KeyMetadata::new(now));
        settings.apply(meta);
        if custom_metadata.is_some() {
            meta.custom_metadata = custom_metadata;
        }
        meta.updated_time = now;
        if settings.cas_required == Some(false) && mount_requires_cas {
            return Envelope::new(Value::Null)
                .warning(
                    "\"cas_required\" set to false, but is mandated by backend config. \
                     This value will be ignored.",
                )
                .mount_type("kv")
                .ok();
        }
        Reply::NoContent
    }

    fn patch_metadata(
        &mut self,
        key: &str,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        let settings = match KeySettings::parse(body) {
            Ok(settings) => settings,
            Err(reply) => return reply,
        };
        let Some(meta) = self.keys.get_mut(key) else {
            return Reply::EmptyBody { status: 404 };
        };
        let mut custom_metadata = meta.custom_metadata.clone().unwrap_or_default();
        match body.get("custom_metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(patch)) => {
                // Merge-patch semantics: `null` removes a key.
                let mut merged: Map<String, Value> = custom_metadata
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                    .collect();
                for (name, value) in patch {
                    if value.is_null() {
                        merged.remove(name);
                    } else {
                        merged.insert(name.clone(), value.clone());
                    }
                }
                custom_metadata = match parse_custom_metadata(&Value::Object(merged)) {
                    Ok(map) => map,
                    Err(reply) => return reply,
                };
            }
            Some(_) => return bad_request("custom_metadata must be an object"),
        }
        settings.apply(meta);
        if body.contains_key("custom_metadata") {
            meta.custom_metadata = Some(custom_metadata);
        }
        meta.updated_time = now;
        Reply::NoContent
    }

    fn list_metadata(&self, prefix: &str, request: &Request, now: OffsetDateTime) -> Reply {
        let exclude_deleted = request
            .query
            .get("exclude_deleted")
            .is_some_and(|value| value == "true" || value == "1");
        let keys = self
            .keys
            .iter()
            .filter(|(_, meta)| !(exclude_deleted && meta.is_latest_deleted(now)))
            .map(|(key, _)| key.as_str());
        let names = child_names(keys, prefix);
        if names.is_empty() {
            return not_found();
        }
        Envelope::new(json!({ "keys": names }))
            .mount_type("kv")
            .ok()
    }

    /// Serves `delete/`, `undelete/` and `destroy/`, which act on a list of
    /// version numbers.
    fn handle_versions(
        &mut self,
        action: &str,
        key: &str,
        body: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Reply {
        let numbers = match parse_versions(body.get("versions")) {
            Some(numbers) if !numbers.is_empty() => numbers,
            Some(_) if action == "destroy" => return bad_request("no version number provided"),
            Some(_) => return bad_request("No version number provided"),
            None => return bad_request("invalid versions: expected a list of integers"),
        };
        let Some(meta) = self.keys.get_mut(key) else {
            return Reply::NoContent;
        };
        for number in numbers {
            let Some(version) = meta.versions.get_mut(&number) else {
                continue;
            };
            match action {
                "delete" if !version.destroyed && !version.is_deleted(now) => {
                    version.deletion_time = Some(now);
                }
                "undelete" if !version.destroyed => version.deletion_time = None,
                "destroy" => {
                    version.destroyed = true;
                    version.data = None;
                }
                _ => {}
            }
        }
        Reply::NoContent
    }

    fn read_subkeys(&self, key: &str, request: &Request, now: OffsetDateTime) -> Reply {
        let Some(meta) = self.keys.get(key) else {
            return not_found();
        };
        let number = match requested_version(request) {
            Ok(Some(number)) => number,
            Ok(None) => meta.current_version,
            Err(reply) => return reply,
        };
        let Some(version) = meta.versions.get(&number) else {
            return not_found();
        };
        let depth = request
            .query
            .get("depth")
            .and_then(|depth| depth.parse::<u64>().ok())
            .unwrap_or(0);
        if !version.is_live(now) {
            let data = json!({ "subkeys": null, "metadata": meta.version_json(number) });
            return Envelope::new(data).reply(404);
        }
        let stored = Value::Object(version.data.clone().unwrap_or_default());
        let data = json!({
            "subkeys": subkeys(&stored, depth, 1),
            "metadata": meta.version_json(number),
        });
        Envelope::new(data).mount_type("kv").ok()
    }
}

/// The key-level or mount-level settings a metadata or config write may
/// carry; `None` leaves a setting unchanged.
#[derive(Debug, Default)]
struct KeySettings {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<i64>,
}

impl KeySettings {
    fn parse(body: &Map<String, Value>) -> Result<KeySettings, Reply> {
        let mut settings = KeySettings::default();
        if let Some(value) = body.get("max_versions").filter(|value| !value.is_null()) {
            settings.max_versions = Some(parse_integer(value).ok_or_else(|| {
                bad_request(
                    "error converting input for field \"max_versions\": expected an integer",
                )
            })?);
        }
        if let Some(value) = body.get("cas_required").filter(|value| !value.is_null()) {
            settings.cas_required = Some(match value {
                Value::Bool(flag) => *flag,
                Value::String(text) if text == "true" => true,
                Value::String(text) if text == "false" => false,
                _ => {
                    return Err(bad_request(
                        "error converting input for field \"cas_required\": expected a boolean",
                    ))
                }
            });
        }
        if let Some(value) = body
            .get("delete_version_after")
            .filter(|value| !value.is_null())
        {
            settings.delete_version_after = Some(parse_seconds(value).ok_or_else(|| {
                bad_request("error converting input for field \"delete_version_after\": expected a duration")
            })?);
        }
        Ok(settings)
    }

    fn apply(&self, meta: &mut KeyMetadata) {
        if let Some(max_versions) = self.max_versions {
            meta.max_versions = max_versions;
        }
        if let Some(cas_required) = self.cas_required {
            meta.cas_required = cas_required;
        }
        if let Some(delete_after) = self.delete_version_after {
            meta.delete_version_after = delete_after;
        }
    }
}

/// Builds the 404 raw envelope (no `errors` key) that KV v2 sends for paths
/// it does not serve.
fn raw_warning(warning: &str) -> Reply {
    Envelope::new(Value::Null).warning(warning).reply(404)
}

fn requested_version(request: &Request) -> Result<Option<u64>, Reply> {
    match request.query.get("version").map(String::as_str) {
        None | Some("") | Some("0") => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(number) => Ok(Some(number)),
            Err(_) => Err(bad_request(&format!(
                "error converting input {text:?} for field \"version\": expected an integer"
            ))),
        },
    }
}

fn parse_integer(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Reads `versions` as Vault's comma-separated integer list type does: a
/// JSON list, a single integer, or a string like `"1,2"`.
fn parse_versions(value: Option<&Value>) -> Option<Vec<u64>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(parse_integer).collect(),
        Some(Value::String(text)) if text.trim().is_empty() => Some(Vec::new()),
        Some(Value::String(text)) => text
            .split(',')
            .map(|part| part.trim().parse().ok())
            .collect(),
        Some(number @ Value::Number(_)) => parse_integer(number).map(|number| vec![number]),
        Some(_) => None,
    }
}

/// Validates `custom_metadata` with Vault's limits: at most 64 keys, keys of
/// 1 to 128 bytes, values of 1 to 512 bytes, printable characters only.
/// Non-string values are turned into strings, as Vault does.
fn parse_custom_metadata(value: &Value) -> Result<BTreeMap<String, String>, Reply> {
    let Value::Object(entries) = value else {
        return Err(validation_failed(&[
            "custom_metadata must be an object".to_string()
        ]));
    };
    let mut problems = Vec::new();
    if entries.len() > MAX_CUSTOM_METADATA_KEYS {
        problems.push(format!(
            "payload must contain at most {MAX_CUSTOM_METADATA_KEYS} keys, provided {}",
            entries.len()
        ));
    }
    let mut map = BTreeMap::new();
    for (name, value) in entries {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if name.is_empty() || name.len() > MAX_CUSTOM_METADATA_KEY_BYTES {
            problems.push(format!(
                "length of key {name:?} is {} but must be 1 to {MAX_CUSTOM_METADATA_KEY_BYTES} bytes",
                name.len()
            ));
        }
        if text.is_empty() || text.len() > MAX_CUSTOM_METADATA_VALUE_BYTES {
            problems.push(format!(
                "length of value for key {name:?} is {} but must be 1 to {MAX_CUSTOM_METADATA_VALUE_BYTES} bytes",
                text.len()
            ));
        }
        if name.chars().any(char::is_control) {
            problems.push(format!("key {name:?} contains unprintable characters"));
        }
        if text.chars().any(char::is_control) {
            problems.push(format!(
                "value for key {name:?} contains unprintable characters"
            ));
        }
        map.insert(name.clone(), text);
    }
    if problems.is_empty() {
        Ok(map)
    } else {
        Err(validation_failed(&problems))
    }
}

fn validation_failed(problems: &[String]) -> Reply {
    let message = format!(
        "1 error occurred:\n\t* custom_metadata validation failed: {}\n\n",
        problems.join("; ")
    );
    errors(400, &[&message])
}

/// Applies an RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Replaces every leaf with `null`, keeping nested objects down to `depth`
/// levels (0 means no limit).
fn subkeys(value: &Value, depth: u64, level: u64) -> Value {
    let Value::Object(entries) = value else {
        return Value::Null;
    };
    let reached_limit = depth != 0 && level >= depth;
    let mapped = entries
        .iter()
        .map(|(name, child)| {
            let child = if child.is_object() && !reached_limit {
                subkeys(child, depth, level + 1)
            } else {
                Value::Null
            };
            (name.clone(), child)
        })
        .collect();
    Value::Object(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn put_prunes_to_max_versions() {
        let mut store = Kv2Store::default();
        let now = OffsetDateTime::now_utc();
        for round in 0..12 {
            store.put("k", Map::from_iter([("n".to_string(), json!(round))]), now);
        }
        let meta = &store.keys["k"];
        assert_eq!(meta.current_version, 12);
        assert_eq!(meta.oldest_version, 3);
        assert_eq!(meta.versions.len(), 10);
    }

    #[test]
    fn subkeys_respects_depth() {
        let value = json!({"a": {"b": {"c": 1}}, "d": 2});
        assert_eq!(
            subkeys(&value, 0, 1),
            json!({"a": {"b": {"c": null}}, "d": null})
        );
        assert_eq!(subkeys(&value, 1, 1), json!({"a": null, "d": null}));
    }
}
