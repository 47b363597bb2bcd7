//! Kubernetes and AppRole logins, revoke-self, the `sys/auth` table and
//! the namespace-required mode, over HTTP and through vaultrs 0.8.

use std::time::{SystemTime, UNIX_EPOCH};

use kriptomat_testkit::vault::{service_account_jwt, unsigned_jwt, FakeVault, FakeVaultOptions};
use serde_json::{json, Value};
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{auth, kv2, token};

const PERMISSION_DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";
const INVALID_TOKEN: &str = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";
const SECRET_READER_POLICY: &str = r#"path "secret/data/partners/*" { capabilities = ["read"] }"#;
/// Vault's default token TTL (768h), which the helper-made roles use.
const DEFAULT_TTL_SECONDS: u64 = 2_764_800;

/// A response read in full.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn errors(&self) -> Vec<String> {
        serde_json::from_value(self.body["errors"].clone())
            .unwrap_or_else(|_| panic!("no errors list in {}", self.body))
    }
}

/// Sends one request; `token` and `namespace` become the Vault headers
/// when given.
async fn send(
    vault: &FakeVault,
    method: &str,
    path: &str,
    token: Option<&str>,
    namespace: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
    let mut request = reqwest::Client::new().request(method, format!("{}/v1/{path}", vault.addr()));
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    if let Some(namespace) = namespace {
        request = request.header("X-Vault-Namespace", namespace);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Answer { status, body }
}

async fn root(vault: &FakeVault, method: &str, path: &str, body: Option<Value>) -> Answer {
    send(vault, method, path, Some(vault.root_token()), None, body).await
}

fn client(vault: &FakeVault, namespace: Option<&str>) -> VaultClient {
    let settings = VaultClientSettingsBuilder::default()
        .address(vault.addr())
        .namespace(namespace.map(str::to_string))
        .build()
        .expect("valid vaultrs settings");
    VaultClient::new(settings).expect("vaultrs client builds")
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn in_one_hour() -> i64 {
    now_unix() + 3600
}

/// Asserts that `result` is a vaultrs API error with `code` and a message
/// containing `message`.
fn assert_api_error<T: std::fmt::Debug>(result: Result<T, ClientError>, code: u16, message: &str) {
    match result {
        Err(ClientError::APIError { code: got, errors }) => {
            assert_eq!(got, code, "status for errors {errors:?}");
            assert!(
                errors.iter().any(|error| error.contains(message)),
                "expected {message:?} in {errors:?}"
            );
        }
        other => panic!("expected APIError {code}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- Kubernetes

#[tokio::test]
async fn kubernetes_login_parsed_by_vaultrs() {
    let vault = FakeVault::start();
    vault.write("secret", "partners/acme", json!({ "client_id": "acme" }));
    vault.add_kubernetes_role(
        "kubernetes",
        "kriptomat-cli",
        "kriptomat-cron",
        "jobs",
        Some("vault"),
        SECRET_READER_POLICY,
    );
    let jwt = service_account_jwt("kriptomat-cron", "jobs", Some("vault"), in_one_hour());
    let mut client = client(&vault, None);

    let login = auth::kubernetes::login(&client, "kubernetes", "kriptomat-cli", &jwt)
        .await
        .expect("kubernetes login");

    assert!(login.client_token.starts_with("hvs."));
    assert!(login.policies.contains(&"default".to_string()));
    assert_eq!(login.policies.len(), 2, "role policy plus default");
    assert_eq!(login.token_policies, login.policies);
    assert_eq!(login.lease_duration, DEFAULT_TTL_SECONDS);
    assert!(login.renewable);
    assert!(login.orphan);
    assert_eq!(login.token_type, "service");
    let metadata = login.metadata.clone().expect("login metadata");
    assert_eq!(metadata["role"], "kriptomat-cli");
    assert_eq!(metadata["service_account_name"], "kriptomat-cron");
    assert_eq!(metadata["service_account_namespace"], "jobs");
    assert_eq!(metadata["service_account_secret_name"], "");
    assert_eq!(metadata["service_account_uid"].len(), 36);

    client.set_token(&login.client_token);
    let lookup = token::lookup_self(&client).await.expect("lookup-self");
    assert_eq!(lookup.id, login.client_token);
    assert_eq!(lookup.path, "auth/kubernetes/login");
    assert_eq!(lookup.display_name, "kubernetes-jobs-kriptomat-cron");
    assert_eq!(lookup.policies, login.policies);
    let secret: Value = kv2::read(&client, "secret", "partners/acme")
        .await
        .expect("the role policy grants the read");
    assert_eq!(secret["client_id"], "acme");
    assert!(vault.token_is_valid(&login.client_token));
}

#[tokio::test]
async fn kubernetes_role_configured_over_http() {
    let vault = FakeVault::start();
    let enabled = root(
        &vault,
        "POST",
        "sys/auth/k8s",
        Some(json!({ "type": "kubernetes" })),
    )
    .await;
    assert_eq!(enabled.status, 204);
    let policy = root(
        &vault,
        "PUT",
        "sys/policies/acl/kriptomat",
        Some(json!({ "policy": SECRET_READER_POLICY })),
    )
    .await;
    assert_eq!(policy.status, 204);
    let role = root(
        &vault,
        "POST",
        "auth/k8s/role/cron",
        Some(json!({
            "bound_service_account_names": ["kriptomat-cron"],
            "bound_service_account_namespaces": "jobs,batch",
            "token_policies": ["kriptomat"],
            "token_ttl": "1h",
            "audience": "vault",
        })),
    )
    .await;
    assert_eq!(role.status, 204, "{}", role.body);

    let read = root(&vault, "GET", "auth/k8s/role/cron", None).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body["data"]["bound_service_account_namespaces"],
        json!(["jobs", "batch"])
    );
    assert_eq!(read.body["data"]["token_ttl"], 3600);
    assert_eq!(read.body["data"]["audience"], "vault");

    let jwt = service_account_jwt("kriptomat-cron", "batch", Some("vault"), in_one_hour());
    let login = send(
        &vault,
        "POST",
        "auth/k8s/login",
        None,
        None,
        Some(json!({ "role": "cron", "jwt": jwt })),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["auth"]["lease_duration"], 3600);
    assert_eq!(
        login.body["auth"]["policies"],
        json!(["default", "kriptomat"])
    );
    assert_eq!(
        login.body["auth"]["token_policies"],
        json!(["default", "kriptomat"])
    );
    assert_eq!(login.body["data"], Value::Null);
    assert_eq!(login.body["lease_duration"], 0);

    let listing = root(&vault, "GET", "sys/auth", None).await;
    assert_eq!(listing.status, 200);
    assert_eq!(listing.body["data"]["k8s/"]["type"], "kubernetes");
    assert_eq!(listing.body["data"]["token/"]["type"], "token");
}

#[tokio::test]
async fn kubernetes_login_input_errors() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let jwt = service_account_jwt("cron", "jobs", None, in_one_hour());
    let cases = [
        (json!({ "jwt": jwt }), "missing role"),
        (json!({ "role": "cli" }), "missing jwt"),
        (json!({ "role": "cli", "jwt": "" }), "missing jwt"),
        (
            json!({ "role": "nope", "jwt": jwt }),
            "invalid role name \"nope\"",
        ),
    ];
    for (body, message) in cases {
        let answer = send(
            &vault,
            "POST",
            "auth/kubernetes/login",
            None,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(answer.status, 400, "body {body}");
        assert_eq!(answer.errors(), [message], "body {body}");
    }
}

#[tokio::test]
async fn kubernetes_login_claim_mismatches() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        Some("vault"),
        SECRET_READER_POLICY,
    );
    let client = client(&vault, None);
    let expiry = in_one_hour();
    let cases = [
        (
            service_account_jwt("other", "jobs", Some("vault"), expiry),
            "service account name not authorized",
        ),
        (
            service_account_jwt("cron", "default", Some("vault"), expiry),
            "namespace not authorized",
        ),
        (
            service_account_jwt(
                "cron",
                "jobs",
                Some("https://kubernetes.default.svc"),
                expiry,
            ),
            "invalid audience (aud) claim",
        ),
        (
            service_account_jwt("cron", "jobs", None, expiry),
            "invalid audience (aud) claim",
        ),
        (
            service_account_jwt("cron", "jobs", Some("vault"), now_unix() - 3600),
            "token is expired",
        ),
        ("not-a-jwt".to_string(), "invalid JWT"),
        ("a.%%%.c".to_string(), "invalid JWT"),
    ];
    for (jwt, message) in cases {
        let result = auth::kubernetes::login(&client, "kubernetes", "cli", &jwt).await;
        assert_api_error(result, 403, message);
    }
}

#[tokio::test]
async fn kubernetes_expiry_allows_clock_skew() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let client = client(&vault, None);

    let just_expired = service_account_jwt("cron", "jobs", None, now_unix() - 60);
    auth::kubernetes::login(&client, "kubernetes", "cli", &just_expired)
        .await
        .expect("60 s past exp is inside Vault's 150 s leeway");
}

#[tokio::test]
async fn kubernetes_role_without_audience_accepts_any() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let client = client(&vault, None);

    for audience in [None, Some("vault"), Some("https://kubernetes.default.svc")] {
        let jwt = service_account_jwt("cron", "jobs", audience, in_one_hour());
        auth::kubernetes::login(&client, "kubernetes", "cli", &jwt)
            .await
            .unwrap_or_else(|error| panic!("audience {audience:?}: {error:?}"));
    }
}

#[tokio::test]
async fn kubernetes_legacy_flat_claims() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let client = client(&vault, None);
    let jwt = unsigned_jwt(&json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "jobs",
        "kubernetes.io/serviceaccount/secret.name": "cron-token-x7k2p",
        "kubernetes.io/serviceaccount/service-account.name": "cron",
        "kubernetes.io/serviceaccount/service-account.uid": "0b7a4f1e-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
        "sub": "system:serviceaccount:jobs:cron",
    }));

    let login = auth::kubernetes::login(&client, "kubernetes", "cli", &jwt)
        .await
        .expect("legacy token without exp logs in");

    let metadata = login.metadata.expect("login metadata");
    assert_eq!(metadata["service_account_secret_name"], "cron-token-x7k2p");
    assert_eq!(
        metadata["service_account_uid"],
        "0b7a4f1e-2c3d-4e5f-8a9b-1c2d3e4f5a6b"
    );
}

#[tokio::test]
async fn kubernetes_role_glob_bindings() {
    let vault = FakeVault::start();
    root(
        &vault,
        "POST",
        "sys/auth/kubernetes",
        Some(json!({ "type": "kubernetes" })),
    )
    .await;
    let role = root(
        &vault,
        "POST",
        "auth/kubernetes/role/any",
        Some(json!({
            "bound_service_account_names": "kriptomat-*",
            "bound_service_account_namespaces": "*",
        })),
    )
    .await;
    assert_eq!(role.status, 204, "{}", role.body);
    let client = client(&vault, None);

    let allowed = service_account_jwt("kriptomat-cron", "anywhere", None, in_one_hour());
    let login = auth::kubernetes::login(&client, "kubernetes", "any", &allowed)
        .await
        .expect("glob matches");
    assert_eq!(login.policies, ["default"]);
    let denied = service_account_jwt("other-cron", "anywhere", None, in_one_hour());
    assert_api_error(
        auth::kubernetes::login(&client, "kubernetes", "any", &denied).await,
        403,
        "service account name not authorized",
    );
}

#[tokio::test]
async fn kubernetes_role_requires_bindings() {
    let vault = FakeVault::start();
    root(
        &vault,
        "POST",
        "sys/auth/kubernetes",
        Some(json!({ "type": "kubernetes" })),
    )
    .await;

    let no_names = root(
        &vault,
        "POST",
        "auth/kubernetes/role/bad",
        Some(json!({ "bound_service_account_namespaces": ["jobs"] })),
    )
    .await;
    assert_eq!(no_names.status, 400);
    assert_eq!(
        no_names.errors(),
        ["\"bound_service_account_names\" can not be empty"]
    );

    let no_namespaces = root(
        &vault,
        "POST",
        "auth/kubernetes/role/bad",
        Some(json!({ "bound_service_account_names": ["cron"] })),
    )
    .await;
    assert_eq!(no_namespaces.status, 400);
    assert_eq!(
        no_namespaces.errors(),
        ["\"bound_service_account_namespaces\" can not be empty"]
    );
}

#[tokio::test]
async fn login_ignores_stale_token() {
    let vault = FakeVault::start();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let jwt = service_account_jwt("cron", "jobs", None, in_one_hour());

    let answer = send(
        &vault,
        "POST",
        "auth/kubernetes/login",
        Some("hvs.revoked-long-ago"),
        None,
        Some(json!({ "role": "cli", "jwt": jwt })),
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
}

// ------------------------------------------------------------------- AppRole

#[tokio::test]
async fn approle_login_parsed_by_vaultrs() {
    let vault = FakeVault::start();
    vault.write("secret", "partners/acme", json!({ "client_id": "acme" }));
    let (role_id, secret_id) = vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);
    let mut client = client(&vault, None);

    let login = auth::approle::login(&client, "approle", &role_id, &secret_id)
        .await
        .expect("approle login");

    assert_eq!(login.policies.len(), 2, "role policy plus default");
    assert_eq!(login.token_policies, login.policies);
    assert_eq!(login.lease_duration, DEFAULT_TTL_SECONDS);
    let metadata = login.metadata.clone().expect("login metadata");
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata["role_name"], "kriptomat");

    client.set_token(&login.client_token);
    let lookup = token::lookup_self(&client).await.expect("lookup-self");
    assert_eq!(lookup.path, "auth/approle/login");
    assert_eq!(lookup.display_name, "approle");
    let secret: Value = kv2::read(&client, "secret", "partners/acme")
        .await
        .expect("the role policy grants the read");
    assert_eq!(secret["client_id"], "acme");
}

#[tokio::test]
async fn approle_configured_over_http() {
    let vault = FakeVault::start();
    let enabled = root(
        &vault,
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    )
    .await;
    assert_eq!(enabled.status, 204);
    let role = root(
        &vault,
        "POST",
        "auth/approle/role/kriptomat",
        Some(json!({ "token_policies": "kriptomat", "token_ttl": 600, "secret_id_num_uses": 2 })),
    )
    .await;
    assert_eq!(role.status, 204, "{}", role.body);

    let role_id = root(&vault, "GET", "auth/approle/role/kriptomat/role-id", None).await;
    assert_eq!(role_id.status, 200);
    let role_id = role_id.body["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_string();
    let generated = root(
        &vault,
        "POST",
        "auth/approle/role/kriptomat/secret-id",
        None,
    )
    .await;
    assert_eq!(generated.status, 200);
    let data = &generated.body["data"];
    assert!(data["secret_id_accessor"].is_string());
    assert_eq!(data["secret_id_num_uses"], 2);
    let secret_id = data["secret_id"].as_str().expect("secret_id").to_string();
    assert_ne!(secret_id, role_id);

    let body = json!({ "role_id": role_id, "secret_id": secret_id });
    for attempt in 1..=2 {
        let login = send(
            &vault,
            "POST",
            "auth/approle/login",
            None,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(login.status, 200, "attempt {attempt}: {}", login.body);
        assert_eq!(login.body["auth"]["lease_duration"], 600);
        assert_eq!(
            login.body["auth"]["policies"],
            json!(["default", "kriptomat"])
        );
        assert_eq!(
            login.body["auth"]["metadata"],
            json!({ "role_name": "kriptomat" })
        );
    }
    let used_up = send(&vault, "POST", "auth/approle/login", None, None, Some(body)).await;
    assert_eq!(used_up.status, 400);
    assert_eq!(used_up.errors(), ["invalid role or secret ID"]);
}

#[tokio::test]
async fn approle_single_use_secret_id() {
    let vault = FakeVault::start();
    let (role_id, _) = vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);
    let generated = root(
        &vault,
        "POST",
        "auth/approle/role/kriptomat/secret-id",
        Some(json!({ "num_uses": 1 })),
    )
    .await;
    let secret_id = generated.body["data"]["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_string();
    let client = client(&vault, None);

    auth::approle::login(&client, "approle", &role_id, &secret_id)
        .await
        .expect("first use");
    assert_api_error(
        auth::approle::login(&client, "approle", &role_id, &secret_id).await,
        400,
        "invalid role or secret ID",
    );
}

#[tokio::test]
async fn approle_login_errors() {
    let vault = FakeVault::start();
    let (role_id, secret_id) = vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);
    let cases = [
        (
            json!({ "role_id": role_id, "secret_id": "wrong" }),
            "invalid role or secret ID",
        ),
        (
            json!({ "role_id": "wrong", "secret_id": secret_id }),
            "invalid role or secret ID",
        ),
        (json!({ "secret_id": secret_id }), "missing role_id"),
        (json!({ "role_id": role_id }), "missing secret_id"),
    ];
    for (body, message) in cases {
        let answer = send(
            &vault,
            "POST",
            "auth/approle/login",
            None,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(answer.status, 400, "body {body}");
        assert_eq!(answer.errors(), [message], "body {body}");
    }

    let client = client(&vault, None);
    assert_api_error(
        auth::approle::login(&client, "approle", &role_id, "wrong").await,
        400,
        "invalid role or secret ID",
    );
    auth::approle::login(&client, "approle", &role_id, &secret_id)
        .await
        .expect("failed attempts leave the secret ID usable");
}

#[tokio::test]
async fn approle_without_secret_id_binding() {
    let vault = FakeVault::start();
    root(
        &vault,
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    )
    .await;

    let unconstrained = root(
        &vault,
        "POST",
        "auth/approle/role/open",
        Some(json!({ "bind_secret_id": false })),
    )
    .await;
    assert_eq!(unconstrained.status, 400);
    assert_eq!(
        unconstrained.errors(),
        ["at least one constraint should be enabled on the role"]
    );

    let role = root(
        &vault,
        "POST",
        "auth/approle/role/open",
        Some(json!({ "bind_secret_id": false, "token_bound_cidrs": ["127.0.0.1/32"] })),
    )
    .await;
    assert_eq!(role.status, 204, "{}", role.body);
    let role_id = root(&vault, "GET", "auth/approle/role/open/role-id", None).await;
    let role_id = role_id.body["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_string();

    let login = send(
        &vault,
        "POST",
        "auth/approle/login",
        None,
        None,
        Some(json!({ "role_id": role_id })),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
}

#[tokio::test]
async fn approle_unknown_role_endpoints() {
    let vault = FakeVault::start();
    vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);

    let role_id = root(&vault, "GET", "auth/approle/role/absent/role-id", None).await;
    assert_eq!(role_id.status, 404);
    let secret_id = root(&vault, "POST", "auth/approle/role/absent/secret-id", None).await;
    assert_eq!(secret_id.status, 400);
    assert_eq!(secret_id.errors(), ["role \"absent\" does not exist"]);
}

#[tokio::test]
async fn approle_role_management_needs_policy() {
    let vault = FakeVault::start();
    vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);
    vault.add_token("reader", SECRET_READER_POLICY);

    let answer = send(
        &vault,
        "GET",
        "auth/approle/role/kriptomat/role-id",
        Some("reader"),
        None,
        None,
    )
    .await;

    assert_eq!(answer.status, 403);
    assert_eq!(answer.errors(), [PERMISSION_DENIED]);
}

// ---------------------------------------------------------------- revocation

#[tokio::test]
async fn revoke_self_is_recorded() {
    let vault = FakeVault::start();
    let (role_id, secret_id) = vault.add_approle("approle", "kriptomat", SECRET_READER_POLICY);
    let mut client = client(&vault, None);
    let login = auth::approle::login(&client, "approle", &role_id, &secret_id)
        .await
        .expect("approle login");
    assert!(vault.revoked_tokens().is_empty());

    client.set_token(&login.client_token);
    token::revoke_self(&client).await.expect("revoke-self");

    assert!(vault.is_revoked(&login.client_token));
    assert!(!vault.is_revoked(vault.root_token()));
    assert_eq!(vault.revoked_tokens(), vec![login.client_token.clone()]);
    assert!(!vault.token_is_valid(&login.client_token));
    let lookup = send(
        &vault,
        "GET",
        "auth/token/lookup-self",
        Some(&login.client_token),
        None,
        None,
    )
    .await;
    assert_eq!(lookup.status, 403);
    assert_eq!(lookup.errors(), [INVALID_TOKEN]);
}

// ------------------------------------------------------------------ sys/auth

#[tokio::test]
async fn sys_auth_table() {
    let vault = FakeVault::start();

    let listing = root(&vault, "GET", "sys/auth", None).await;
    assert_eq!(listing.status, 200);
    let mounts = listing.body["data"].as_object().expect("mount map");
    assert_eq!(mounts.keys().collect::<Vec<_>>(), ["token/"]);

    let unknown = root(
        &vault,
        "POST",
        "sys/auth/ldap",
        Some(json!({ "type": "ldap" })),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.errors(), ["plugin not found in the catalog: ldap"]);

    let enabled = root(
        &vault,
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    )
    .await;
    assert_eq!(enabled.status, 204);
    let again = root(
        &vault,
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    )
    .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.errors(), ["path is already in use at auth/approle/"]);

    let token_disable = root(&vault, "DELETE", "sys/auth/token", None).await;
    assert_eq!(token_disable.status, 400);
    let disabled = root(&vault, "DELETE", "sys/auth/approle", None).await;
    assert_eq!(disabled.status, 204);
    let login = send(
        &vault,
        "POST",
        "auth/approle/login",
        None,
        None,
        Some(json!({ "role_id": "x", "secret_id": "y" })),
    )
    .await;
    assert_eq!(login.status, 403, "without the mount a login needs a token");
}

// ---------------------------------------------------------------- namespaces

fn namespaced_vault() -> FakeVault {
    FakeVault::start_with(FakeVaultOptions {
        require_namespace: Some("partners/".to_string()),
        ..FakeVaultOptions::default()
    })
}

#[tokio::test]
async fn namespace_required_rejects_other_headers() {
    let vault = namespaced_vault();
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        SECRET_READER_POLICY,
    );
    let jwt = service_account_jwt("cron", "jobs", None, in_one_hour());
    let login = json!({ "role": "cli", "jwt": jwt });

    for namespace in [None, Some("other"), Some("partners/extra"), Some("")] {
        let answer = send(
            &vault,
            "POST",
            "auth/kubernetes/login",
            None,
            namespace,
            Some(login.clone()),
        )
        .await;
        assert_eq!(answer.status, 403, "namespace {namespace:?}");
        assert_eq!(
            answer.errors(),
            [PERMISSION_DENIED],
            "namespace {namespace:?}"
        );
        let read = send(
            &vault,
            "GET",
            "secret/data/partners/acme",
            Some(vault.root_token()),
            namespace,
            None,
        )
        .await;
        assert_eq!(read.status, 403, "namespace {namespace:?}");
    }
    for namespace in ["partners", "partners/"] {
        let answer = send(
            &vault,
            "POST",
            "auth/kubernetes/login",
            None,
            Some(namespace),
            Some(login.clone()),
        )
        .await;
        assert_eq!(
            answer.status, 200,
            "namespace {namespace:?}: {}",
            answer.body
        );
    }

    let health = send(&vault, "GET", "sys/health", None, None, None).await;
    assert_eq!(health.status, 200, "sys/health needs no namespace");
}

#[tokio::test]
async fn namespace_sent_by_vaultrs_everywhere() {
    let vault = namespaced_vault();
    vault.write("secret", "partners/acme", json!({ "client_id": "acme" }));
    vault.add_kubernetes_role(
        "kubernetes",
        "cli",
        "cron",
        "jobs",
        None,
        r#"path "secret/data/partners/*" { capabilities = ["read", "create", "update"] }"#,
    );
    let jwt = service_account_jwt("cron", "jobs", None, in_one_hour());

    let without = client(&vault, None);
    assert_api_error(
        auth::kubernetes::login(&without, "kubernetes", "cli", &jwt).await,
        403,
        "permission denied",
    );

    vault.clear_requests();
    let mut with = client(&vault, Some("partners"));
    let login = auth::kubernetes::login(&with, "kubernetes", "cli", &jwt)
        .await
        .expect("login inside the namespace");
    with.set_token(&login.client_token);
    let secret: Value = kv2::read(&with, "secret", "partners/acme")
        .await
        .expect("read");
    assert_eq!(secret["client_id"], "acme");
    kv2::set(
        &with,
        "secret",
        "partners/acme",
        &json!({ "client_id": "acme-2" }),
    )
    .await
    .expect("write");
    assert_eq!(
        vault.read("secret", "partners/acme"),
        Some(json!({ "client_id": "acme-2" }))
    );
    let requests = vault.requests();
    assert_eq!(requests.len(), 3, "login, read and write");
    for request in requests {
        assert_eq!(
            request.header("x-vault-namespace"),
            Some("partners"),
            "{} {}",
            request.method,
            request.path
        );
    }
}

#[tokio::test]
async fn namespace_header_ignored_by_default() {
    let vault = FakeVault::start();

    for namespace in [None, Some("anything"), Some("a/b/")] {
        let answer = send(
            &vault,
            "GET",
            "auth/token/lookup-self",
            Some(vault.root_token()),
            namespace,
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "namespace {namespace:?}");
    }
}
