//! Mount lookup, mount management, policies and tokens over HTTP.

use kriptomat_testkit::vault::FakeVault;
use serde_json::{json, Value};

const PERMISSION_DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";
const INVALID_TOKEN: &str = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";

/// A response read in full.
struct Answer {
    status: u16,
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

/// How the request carries its token.
enum Auth<'a> {
    None,
    Header(&'a str),
    Bearer(&'a str),
}

fn call(vault: &FakeVault, auth: Auth, method: &str, path: &str, body: Option<Value>) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", vault.addr()));
        request = match auth {
            Auth::None => request,
            Auth::Header(token) => request.header("X-Vault-Token", token),
            Auth::Bearer(token) => request.header("Authorization", format!("Bearer {token}")),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body read").to_vec();
        Answer { status, body }
    })
}

fn root(vault: &FakeVault, method: &str, path: &str, body: Option<Value>) -> Answer {
    call(vault, Auth::Header(vault.root_token()), method, path, body)
}

fn preflight_error(path: &str) -> Value {
    json!({"errors": [format!(
        "preflight capability check returned 403, please ensure client's policies grant access to path \"{path}\""
    )]})
}

#[test]
fn ui_mounts_resolves_owning_mount() {
    let vault = FakeVault::start();
    vault.mount_kv("team-a/kv", 2);
    vault.mount_kv("legacy", 1);

    let secret = root(
        &vault,
        "GET",
        "/v1/sys/internal/ui/mounts/secret/app/creds",
        None,
    );
    assert_eq!(secret.status, 200);
    let data = secret.json()["data"].clone();
    assert_eq!(data["path"], "secret/");
    assert_eq!(data["type"], "kv");
    assert_eq!(data["options"], json!({"version": "2"}));

    let nested = root(
        &vault,
        "GET",
        "/v1/sys/internal/ui/mounts/team-a/kv/data/app",
        None,
    )
    .json();
    assert_eq!(nested["data"]["path"], "team-a/kv/");
    assert_eq!(nested["data"]["options"]["version"], "2");

    let legacy = root(&vault, "GET", "/v1/sys/internal/ui/mounts/legacy/app", None).json();
    assert_eq!(legacy["data"]["path"], "legacy/");
    assert_eq!(legacy["data"]["options"], Value::Null);
}

#[test]
fn ui_mounts_unknown_mount_is_preflight_403() {
    let vault = FakeVault::start();

    let unknown = root(&vault, "GET", "/v1/sys/internal/ui/mounts/nomount/x", None);

    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.json(), preflight_error("nomount/x/"));
}

#[test]
fn ui_mounts_needs_access_under_mount() {
    let vault = FakeVault::start();
    vault.mount_kv("team-a/kv", 2);
    vault.add_token(
        "app-token",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    );

    let allowed = call(
        &vault,
        Auth::Header("app-token"),
        "GET",
        "/v1/sys/internal/ui/mounts/secret/app",
        None,
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.json()["data"]["path"], "secret/");

    let denied = call(
        &vault,
        Auth::Header("app-token"),
        "GET",
        "/v1/sys/internal/ui/mounts/team-a/kv",
        None,
    );
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json(), preflight_error("team-a/kv/"));
}

#[test]
fn policy_denied_and_invalid_token_differ() {
    let vault = FakeVault::start();
    vault.write("secret", "app/creds", json!({"a": 1}));
    vault.write("secret", "other", json!({"a": 1}));
    vault.add_token(
        "app-token",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    );

    let allowed = call(
        &vault,
        Auth::Header("app-token"),
        "GET",
        "/v1/secret/data/app/creds",
        None,
    );
    assert_eq!(allowed.status, 200);
    let bearer = call(
        &vault,
        Auth::Bearer("app-token"),
        "GET",
        "/v1/secret/data/app/creds",
        None,
    );
    assert_eq!(bearer.status, 200);

    let denied = call(
        &vault,
        Auth::Header("app-token"),
        "GET",
        "/v1/secret/data/other",
        None,
    );
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json(), json!({"errors": [PERMISSION_DENIED]}));
    let write_denied = call(
        &vault,
        Auth::Header("app-token"),
        "POST",
        "/v1/secret/data/app/creds",
        Some(json!({"data": {}})),
    );
    assert_eq!(write_denied.status, 403);

    let unknown = call(
        &vault,
        Auth::Header("no-such-token"),
        "GET",
        "/v1/secret/data/app/creds",
        None,
    );
    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.json(), json!({"errors": [INVALID_TOKEN]}));
    let missing = call(&vault, Auth::None, "GET", "/v1/secret/data/app/creds", None);
    assert_eq!(missing.status, 403);
}

#[test]
fn create_and_update_capabilities_differ() {
    let vault = FakeVault::start();
    vault.add_token(
        "creator",
        r#"path "secret/data/out" { capabilities = ["create"] }"#,
    );

    let first = call(
        &vault,
        Auth::Header("creator"),
        "POST",
        "/v1/secret/data/out",
        Some(json!({"data": {"v": 1}})),
    );
    assert_eq!(first.status, 200);
    let second = call(
        &vault,
        Auth::Header("creator"),
        "POST",
        "/v1/secret/data/out",
        Some(json!({"data": {"v": 2}})),
    );
    assert_eq!(second.status, 403);
    assert_eq!(vault.versions_written("secret", "out"), 1);
}

#[test]
fn policy_api_and_token_lifecycle() {
    let vault = FakeVault::start();
    let policy = r#"path "secret/data/app" { capabilities = ["read", "update", "create"] }"#;
    assert_eq!(
        root(
            &vault,
            "PUT",
            "/v1/sys/policies/acl/app",
            Some(json!({"policy": policy}))
        )
        .status,
        204
    );
    let stored = root(&vault, "GET", "/v1/sys/policies/acl/app", None).json();
    assert_eq!(stored["data"]["policy"], policy);
    let broken = root(
        &vault,
        "PUT",
        "/v1/sys/policies/acl/bad",
        Some(json!({"policy": "path {"})),
    );
    assert_eq!(broken.status, 400);

    let created = root(
        &vault,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["app"], "ttl": "1h"})),
    );
    assert_eq!(created.status, 200);
    let auth = created.json()["auth"].clone();
    assert_eq!(auth["policies"], json!(["app", "default"]));
    assert_eq!(auth["token_policies"], json!(["app", "default"]));
    assert_eq!(auth["lease_duration"], 3600);
    let token = auth["client_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hvs."));

    let write = call(
        &vault,
        Auth::Header(&token),
        "POST",
        "/v1/secret/data/app",
        Some(json!({"data": {"v": 1}})),
    );
    assert_eq!(write.status, 200);
    let lookup = call(
        &vault,
        Auth::Header(&token),
        "GET",
        "/v1/auth/token/lookup-self",
        None,
    )
    .json();
    assert_eq!(lookup["data"]["policies"], json!(["app", "default"]));
    assert_eq!(lookup["data"]["creation_ttl"], 3600);
    assert_eq!(lookup["data"]["renewable"], true);

    let no_default = root(
        &vault,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["app"], "no_default_policy": true})),
    );
    let bare_token = no_default.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bare_lookup = call(
        &vault,
        Auth::Header(&bare_token),
        "GET",
        "/v1/auth/token/lookup-self",
        None,
    );
    assert_eq!(bare_lookup.status, 403);

    assert_eq!(
        call(
            &vault,
            Auth::Header(&token),
            "POST",
            "/v1/auth/token/revoke-self",
            None
        )
        .status,
        204
    );
    let revoked = call(
        &vault,
        Auth::Header(&token),
        "GET",
        "/v1/secret/data/app",
        None,
    );
    assert_eq!(revoked.json(), json!({"errors": [INVALID_TOKEN]}));
}

#[test]
fn mounts_enable_list_disable() {
    let vault = FakeVault::start();

    let enable = root(
        &vault,
        "POST",
        "/v1/sys/mounts/conf/kv",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    assert_eq!(enable.status, 204);
    let enable_v2_type = root(
        &vault,
        "POST",
        "/v1/sys/mounts/other",
        Some(json!({"type": "kv-v2"})),
    );
    assert_eq!(enable_v2_type.status, 204);
    let enable_generic = root(
        &vault,
        "POST",
        "/v1/sys/mounts/old",
        Some(json!({"type": "generic"})),
    );
    assert_eq!(enable_generic.status, 204);
    let clash = root(
        &vault,
        "POST",
        "/v1/sys/mounts/conf/kv",
        Some(json!({"type": "kv"})),
    );
    assert_eq!(clash.status, 400);

    let listed = root(&vault, "GET", "/v1/sys/mounts", None).json();
    assert_eq!(listed["data"]["conf/kv/"]["options"]["version"], "2");
    assert_eq!(listed["data"]["other/"]["options"]["version"], "2");
    assert_eq!(listed["data"]["old/"]["type"], "generic");
    let write = root(
        &vault,
        "POST",
        "/v1/conf/kv/data/app",
        Some(json!({"data": {"v": 1}})),
    );
    assert_eq!(write.status, 200);
    let v1_write = root(&vault, "POST", "/v1/old/app", Some(json!({"v": 1})));
    assert_eq!(v1_write.status, 204);

    assert_eq!(
        root(&vault, "DELETE", "/v1/sys/mounts/conf/kv", None).status,
        204
    );
    let gone = root(&vault, "GET", "/v1/conf/kv/data/app", None);
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json(),
        json!({"errors": ["no handler for route \"conf/kv/data/app\". route entry not found."]})
    );
}
