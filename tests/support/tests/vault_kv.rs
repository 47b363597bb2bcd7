//! KV v1 and KV v2 over HTTP: status codes and bodies as real Vault sends
//! them.

use kriptomat_testkit::vault::FakeVault;
use serde_json::{json, Value};

/// A response read in full.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one request with the root token.
fn call(vault: &FakeVault, method: &str, path: &str, body: Option<Value>) -> Answer {
    call_with(vault, method, path, body, "application/json")
}

fn call_with(
    vault: &FakeVault,
    method: &str,
    path: &str,
    body: Option<Value>,
    content_type: &str,
) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", vault.addr()))
            .header("X-Vault-Token", vault.root_token())
            .header("X-Vault-Request", "true");
        if let Some(body) = body {
            request = request
                .header("Content-Type", content_type)
                .body(serde_json::to_vec(&body).expect("serializable"));
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().expect("ascii").to_string());
        let body = response.bytes().await.expect("body read").to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    })
}

fn assert_envelope(body: &Value) {
    assert!(
        body["request_id"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    assert_eq!(body["lease_id"], "");
    assert_eq!(body["renewable"], false);
    assert!(body["lease_duration"].is_i64(), "{body}");
    assert_eq!(body["wrap_info"], Value::Null);
    assert_eq!(body["auth"], Value::Null);
    assert!(body.get("warnings").is_some(), "{body}");
}

const INVALID_PATH_WARNING_GET: &str = "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";

#[test]
fn kv1_write_is_204_and_read_has_envelope() {
    let vault = FakeVault::start();
    vault.mount_kv("kv", 1);

    let write = call(
        &vault,
        "POST",
        "/v1/kv/app",
        Some(json!({"access_token": "x", "ttl": "1h"})),
    );
    assert_eq!(write.status, 204);
    assert!(write.body.is_empty());
    assert_eq!(write.content_type.as_deref(), Some("application/json"));

    let read = call(&vault, "GET", "/v1/kv/app", None);
    assert_eq!(read.status, 200);
    let body = read.json();
    assert_envelope(&body);
    assert_eq!(body["data"], json!({"access_token": "x", "ttl": "1h"}));
    assert_eq!(body["lease_duration"], 3600);
    assert_eq!(body["mount_type"], "kv");
}

#[test]
fn kv1_ttl_forms_set_lease_duration() {
    let vault = FakeVault::start();
    vault.mount_kv("kv/", 1);
    let cases = [
        (json!({"a": 1}), 2_764_800),
        (json!({"ttl": 90}), 90),
        (json!({"ttl": "3600"}), 3600),
        (json!({"ttl": "300s"}), 300),
        (json!({"ttl": "90m"}), 5400),
        (json!({"lease": "1h"}), 3600),
        (json!({"ttl": "soon"}), 2_764_800),
    ];
    for (data, expected) in cases {
        let write = call(&vault, "PUT", "/v1/kv/lease", Some(data.clone()));
        assert_eq!(write.status, 204, "{data}");

        let body = call(&vault, "GET", "/v1/kv/lease", None).json();

        assert_eq!(body["lease_duration"], expected, "{data}");
    }
}

#[test]
fn kv1_replace_list_delete() {
    let vault = FakeVault::start();
    vault.mount_kv("kv", 1);
    call(&vault, "POST", "/v1/kv/app/one", Some(json!({"a": 1})));
    call(&vault, "POST", "/v1/kv/app/one", Some(json!({"b": 2})));
    call(&vault, "POST", "/v1/kv/app/sub/two", Some(json!({"c": 3})));

    assert_eq!(
        call(&vault, "GET", "/v1/kv/app/one", None).json()["data"],
        json!({"b": 2})
    );
    let empty = call(&vault, "POST", "/v1/kv/app/one", Some(json!({})));
    assert_eq!(empty.status, 400);
    assert_eq!(empty.json(), json!({"errors": ["missing data fields"]}));

    let listed = call(&vault, "LIST", "/v1/kv/app", None);
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["data"]["keys"], json!(["one", "sub/"]));
    let listed_by_query = call(&vault, "GET", "/v1/kv/app/?list=true", None);
    assert_eq!(
        listed_by_query.json()["data"]["keys"],
        json!(["one", "sub/"])
    );

    assert_eq!(call(&vault, "DELETE", "/v1/kv/app/one", None).status, 204);
    let missing = call(&vault, "GET", "/v1/kv/app/one", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json(), json!({"errors": []}));
    let empty_list = call(&vault, "LIST", "/v1/kv/nothing/", None);
    assert_eq!(empty_list.status, 404);
    assert_eq!(empty_list.json(), json!({"errors": []}));
    assert_eq!(vault.versions_written("kv", "app/one"), 2);
}

#[test]
fn kv2_write_and_read() {
    let vault = FakeVault::start();

    let write = call(
        &vault,
        "POST",
        "/v1/secret/data/app/creds",
        Some(json!({"data": {"password": "p"}})),
    );
    assert_eq!(write.status, 200);
    let written = write.json();
    assert_envelope(&written);
    assert_eq!(written["mount_type"], "kv");
    assert_eq!(written["data"]["version"], 1);
    assert_eq!(written["data"]["deletion_time"], "");
    assert_eq!(written["data"]["destroyed"], false);
    assert_eq!(written["data"]["custom_metadata"], Value::Null);
    assert!(written["data"]["created_time"]
        .as_str()
        .is_some_and(|time| time.ends_with('Z')));

    let read = call(&vault, "GET", "/v1/secret/data/app/creds", None);
    assert_eq!(read.status, 200);
    let body = read.json();
    assert_envelope(&body);
    assert_eq!(body["lease_duration"], 0);
    assert_eq!(body["data"]["data"], json!({"password": "p"}));
    assert_eq!(body["data"]["metadata"]["version"], 1);
    assert_eq!(
        vault.read("secret", "app/creds"),
        Some(json!({"password": "p"}))
    );
}

#[test]
fn kv2_missing_data_is_rejected() {
    let vault = FakeVault::start();

    let answer = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"password": "p"})),
    );

    assert_eq!(answer.status, 400);
    assert_eq!(answer.json(), json!({"errors": ["no data provided"]}));
}

#[test]
fn kv2_cas_match_and_mismatch() {
    let vault = FakeVault::start();
    let new_key = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 1}, "options": {"cas": 0}})),
    );
    assert_eq!(new_key.status, 200);

    let stale = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 2}, "options": {"cas": 0}})),
    );
    assert_eq!(stale.status, 400);
    assert_eq!(
        stale.json(),
        json!({"errors": ["check-and-set parameter did not match the current version"]})
    );
    let current = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 2}, "options": {"cas": 1}})),
    );
    assert_eq!(current.status, 200);
    assert_eq!(current.json()["data"]["version"], 2);
    let garbage = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {}, "options": {"cas": "x"}})),
    );
    assert_eq!(
        garbage.json(),
        json!({"errors": ["error parsing check-and-set parameter"]})
    );
}

#[test]
fn kv2_cas_required_and_soft_deleted_current() {
    let vault = FakeVault::start();
    let config = call(
        &vault,
        "POST",
        "/v1/secret/config",
        Some(json!({"cas_required": true})),
    );
    assert_eq!(config.status, 204);
    let no_cas = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 1}})),
    );
    assert_eq!(no_cas.status, 400);
    assert_eq!(
        no_cas.json(),
        json!({"errors": ["check-and-set parameter required for this call"]})
    );

    call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 1}, "options": {"cas": 0}})),
    );
    vault.soft_delete_latest("secret", "app");
    let zero = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 2}, "options": {"cas": 0}})),
    );
    assert_eq!(
        zero.status, 400,
        "a soft-deleted latest version still counts as current"
    );
    let one = call(
        &vault,
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 2}, "options": {"cas": 1}})),
    );
    assert_eq!(one.status, 200);
    assert_eq!(
        call(&vault, "GET", "/v1/secret/config", None).json()["data"]["cas_required"],
        true
    );
}

#[test]
fn kv2_soft_deleted_read_is_raw_404() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));
    vault.write("secret", "app", json!({"v": 2}));

    assert_eq!(
        call(&vault, "DELETE", "/v1/secret/data/app", None).status,
        204
    );
    let deleted = call(&vault, "GET", "/v1/secret/data/app", None);
    assert_eq!(deleted.status, 404);
    let body = deleted.json();
    assert!(body.get("errors").is_none(), "{body}");
    assert_envelope(&body);
    assert_eq!(body["data"]["data"], Value::Null);
    assert_eq!(body["data"]["metadata"]["version"], 2);
    assert_eq!(body["data"]["metadata"]["destroyed"], false);
    assert!(body["data"]["metadata"]["deletion_time"]
        .as_str()
        .is_some_and(|time| !time.is_empty()));
    assert_eq!(vault.read("secret", "app"), None);

    let older = call(&vault, "GET", "/v1/secret/data/app?version=1", None);
    assert_eq!(older.status, 200);
    assert_eq!(older.json()["data"]["data"], json!({"v": 1}));

    let undelete = call(
        &vault,
        "POST",
        "/v1/secret/undelete/app",
        Some(json!({"versions": [2]})),
    );
    assert_eq!(undelete.status, 204);
    assert_eq!(call(&vault, "GET", "/v1/secret/data/app", None).status, 200);
}

#[test]
fn kv2_destroyed_and_unknown_versions() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));

    let destroy = call(
        &vault,
        "PUT",
        "/v1/secret/destroy/app",
        Some(json!({"versions": [1]})),
    );
    assert_eq!(destroy.status, 204);
    let destroyed = call(&vault, "GET", "/v1/secret/data/app?version=1", None);
    assert_eq!(destroyed.status, 404);
    let body = destroyed.json();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["metadata"]["destroyed"], true);

    let never = call(&vault, "GET", "/v1/secret/data/app?version=7", None);
    assert_eq!(never.status, 404);
    assert_eq!(never.json(), json!({"errors": []}));
    let empty = call(
        &vault,
        "POST",
        "/v1/secret/destroy/app",
        Some(json!({"versions": []})),
    );
    assert_eq!(
        empty.json(),
        json!({"errors": ["no version number provided"]})
    );
    let empty_delete = call(&vault, "POST", "/v1/secret/delete/app", Some(json!({})));
    assert_eq!(
        empty_delete.json(),
        json!({"errors": ["No version number provided"]})
    );
}

#[test]
fn kv2_v1_style_paths_warn() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));

    let get = call(&vault, "GET", "/v1/secret/app", None);
    assert_eq!(get.status, 404);
    let body = get.json();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["warnings"], json!([INVALID_PATH_WARNING_GET]));

    let put = call(&vault, "PUT", "/v1/secret/app", Some(json!({"v": 2})));
    assert_eq!(put.status, 404);
    let warning = put.json()["warnings"][0].as_str().unwrap().to_string();
    assert!(warning.contains("'vault kv put'"), "{warning}");

    let root = call(&vault, "GET", "/v1/secret/data", None);
    assert_eq!(
        root.json()["warnings"],
        json!(["Non-listing operations on the root of a K/V v2 mount are not supported."])
    );
}

#[test]
fn kv2_pruning_metadata_and_list() {
    let vault = FakeVault::start();
    for round in 1..=12 {
        vault.write("secret", "team/app", json!({"round": round}));
    }
    vault.write("secret", "team/other", json!({"x": 1}));

    let metadata = call(&vault, "GET", "/v1/secret/metadata/team/app", None);
    assert_eq!(metadata.status, 200);
    let data = metadata.json()["data"].clone();
    assert_eq!(data["current_version"], 12);
    assert_eq!(data["oldest_version"], 3);
    assert_eq!(data["max_versions"], 0);
    assert_eq!(data["delete_version_after"], "0s");
    let versions = data["versions"].as_object().unwrap();
    assert_eq!(versions.len(), 10);
    assert!(versions.contains_key("3"));
    assert!(versions.contains_key("12"));
    assert_eq!(
        call(&vault, "GET", "/v1/secret/data/team/app?version=2", None).status,
        404
    );

    let listed = call(&vault, "LIST", "/v1/secret/metadata/team", None);
    assert_eq!(listed.json()["data"]["keys"], json!(["app", "other"]));
    let top = call(&vault, "LIST", "/v1/secret/metadata/", None);
    assert_eq!(top.json()["data"]["keys"], json!(["team/"]));
    let missing = call(&vault, "GET", "/v1/secret/metadata/nothing", None);
    assert_eq!(missing.json(), json!({"errors": []}));
    assert_eq!(vault.versions_written("secret", "team/app"), 12);
}

#[test]
fn kv2_custom_metadata_limits() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"v": 1}));

    let write = call(
        &vault,
        "POST",
        "/v1/secret/metadata/app",
        Some(json!({"custom_metadata": {"owner": "ops"}})),
    );
    assert_eq!(write.status, 204);
    let read = call(&vault, "GET", "/v1/secret/data/app", None).json();
    assert_eq!(
        read["data"]["metadata"]["custom_metadata"],
        json!({"owner": "ops"})
    );

    let too_many: serde_json::Map<String, Value> = (0..65)
        .map(|index| (format!("k{index}"), json!("v")))
        .collect();
    let rejected = call(
        &vault,
        "POST",
        "/v1/secret/metadata/app",
        Some(json!({"custom_metadata": too_many})),
    );
    assert_eq!(rejected.status, 400);
    let message = rejected.json()["errors"][0].as_str().unwrap().to_string();
    assert!(
        message.starts_with("1 error occurred:\n\t* custom_metadata validation failed"),
        "{message}"
    );
    let empty_value = call(
        &vault,
        "POST",
        "/v1/secret/metadata/app",
        Some(json!({"custom_metadata": {"k": ""}})),
    );
    assert_eq!(empty_value.status, 400);
}

#[test]
fn kv2_patch_needs_merge_patch_type() {
    let vault = FakeVault::start();
    vault.write("secret", "app", json!({"a": 1, "b": 2}));

    let wrong_type = call(
        &vault,
        "PATCH",
        "/v1/secret/data/app",
        Some(json!({"data": {"a": 3}})),
    );
    assert_eq!(wrong_type.status, 415);
    let patched = call_with(
        &vault,
        "PATCH",
        "/v1/secret/data/app",
        Some(json!({"data": {"a": 3, "b": null}})),
        "application/merge-patch+json",
    );
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["data"]["version"], 2);
    assert_eq!(vault.read("secret", "app"), Some(json!({"a": 3})));

    let missing = call_with(
        &vault,
        "PATCH",
        "/v1/secret/data/absent",
        Some(json!({"data": {"a": 1}})),
        "application/merge-patch+json",
    );
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
}
