//! Drives the fake Vault with vaultrs 0.8, the client vault-kriptomat uses,
//! to prove the response envelopes satisfy its parsers.

use std::collections::HashMap;

use kriptomat_testkit::vault::FakeVault;
use serde_json::{json, Value};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{kv1, kv2, token};

fn client(vault: &FakeVault, token: &str) -> VaultClient {
    let settings = VaultClientSettingsBuilder::default()
        .address(vault.addr())
        .token(token)
        .build()
        .expect("valid vaultrs settings");
    VaultClient::new(settings).expect("vaultrs client builds")
}

#[tokio::test]
async fn vaultrs_kv2_set_and_read() {
    let vault = FakeVault::start();
    let client = client(&vault, vault.root_token());
    let secret = HashMap::from([("client_id", "partner-1"), ("client_secret", "s3cr3t")]);

    let first = kv2::set(&client, "secret", "app/creds", &secret)
        .await
        .expect("kv2::set");
    assert_eq!(first.version, 1);
    assert_eq!(first.deletion_time, "");
    assert!(!first.destroyed);
    let second = kv2::set(&client, "secret", "app/creds", &secret)
        .await
        .expect("kv2::set");
    assert_eq!(second.version, 2);

    let read: HashMap<String, String> = kv2::read(&client, "secret", "app/creds")
        .await
        .expect("kv2::read");
    assert_eq!(read["client_id"], "partner-1");
    assert_eq!(read["client_secret"], "s3cr3t");
    assert_eq!(vault.version("secret", "app/creds"), Some(2));

    let metadata = kv2::read_metadata(&client, "secret", "app/creds")
        .await
        .expect("kv2::read_metadata");
    assert_eq!(metadata.current_version, 2);
    assert_eq!(metadata.versions.len(), 2);

    let keys = kv2::list(&client, "secret", "app")
        .await
        .expect("kv2::list");
    assert_eq!(keys, ["creds"]);
}

#[tokio::test]
async fn vaultrs_kv2_read_missing_is_api_error_404() {
    let vault = FakeVault::start();
    let client = client(&vault, vault.root_token());

    let error = kv2::read::<Value>(&client, "secret", "absent")
        .await
        .unwrap_err();

    match error {
        ClientError::APIError { code, errors } => {
            assert_eq!(code, 404);
            assert!(errors.is_empty());
        }
        other => panic!("expected APIError 404, got {other:?}"),
    }
}

#[tokio::test]
async fn vaultrs_kv1_set_get_and_lease() {
    let vault = FakeVault::start();
    vault.mount_kv("kv", 1);
    let client = client(&vault, vault.root_token());
    let secret = HashMap::from([("access_token", json!("tok")), ("ttl", json!("1h"))]);

    kv1::set(&client, "kv", "kriptomat/token", &secret)
        .await
        .expect("kv1::set");

    let read: HashMap<String, Value> = kv1::get(&client, "kv", "kriptomat/token")
        .await
        .expect("kv1::get");
    assert_eq!(read["access_token"], "tok");
    assert_eq!(read["ttl"], "1h");
    let raw = kv1::get_raw(&client, "kv", "kriptomat/token")
        .await
        .expect("kv1::get_raw");
    assert_eq!(raw.lease_duration, 3600);
    assert_eq!(raw.lease_id, "");
    assert!(!raw.renewable);
    let listed = kv1::list(&client, "kv", "kriptomat")
        .await
        .expect("kv1::list");
    assert_eq!(listed.data.keys, ["token"]);
    assert_eq!(vault.versions_written("kv", "kriptomat/token"), 1);
}

#[tokio::test]
async fn vaultrs_token_create_lookup_renew() {
    let vault = FakeVault::start();
    vault.add_policy(
        "kriptomat",
        r#"path "secret/data/*" { capabilities = ["read"] }"#,
    );
    let root = client(&vault, vault.root_token());
    let mut request = vaultrs::api::token::requests::CreateTokenRequest::builder();
    request.policies(vec!["kriptomat".to_string()]).ttl("1h");

    let auth = token::new(&root, Some(&mut request))
        .await
        .expect("token::new");
    assert_eq!(auth.policies, ["default", "kriptomat"]);
    assert_eq!(auth.token_policies, ["default", "kriptomat"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable);

    let child = client(&vault, &auth.client_token);
    let lookup = token::lookup_self(&child)
        .await
        .expect("token::lookup_self");
    assert_eq!(lookup.policies, ["default", "kriptomat"]);
    assert!(
        lookup.ttl <= 3600 && lookup.ttl > 3500,
        "ttl {}",
        lookup.ttl
    );
    let renewed = token::renew_self(&child, Some("30m"))
        .await
        .expect("token::renew_self");
    assert_eq!(renewed.lease_duration, 1800);

    token::revoke_self(&child)
        .await
        .expect("token::revoke_self");
    let error = token::lookup_self(&child).await.unwrap_err();
    match error {
        ClientError::APIError { code, errors } => {
            assert_eq!(code, 403);
            assert_eq!(
                errors,
                ["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]
            );
        }
        other => panic!("expected APIError 403, got {other:?}"),
    }
}

#[tokio::test]
async fn vaultrs_root_token_lookup() {
    let vault = FakeVault::start();
    let root = client(&vault, vault.root_token());

    let lookup = token::lookup_self(&root).await.expect("token::lookup_self");

    assert_eq!(lookup.policies, ["root"]);
    assert_eq!(lookup.ttl, 0);
    assert_eq!(lookup.expire_time, None);
    assert_eq!(lookup.path, "auth/token/root");
}
