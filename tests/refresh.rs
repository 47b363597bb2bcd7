//! End-to-end runs of the binary against the in-process fake Vault and the
//! API simulator: the shared case table, then cases that need the fake's
//! fault injection, sealing or request log, which a real Vault cannot give.

mod common;

use common::admin::VaultAdmin;
use common::{run_binary, Scenario, ROOT_TOKEN};
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions, Fault};
use serde_json::json;

fn fake() -> (FakeVault, VaultAdmin) {
    let vault = FakeVault::start_with(FakeVaultOptions {
        root_token: ROOT_TOKEN.to_owned(),
        ..FakeVaultOptions::default()
    });
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    (vault, admin)
}

#[test]
fn shared_cases_against_fake_vault() {
    let (_vault, admin) = fake();
    common::cases::run_all(&admin);
}

#[test]
fn no_double_slash_with_trailing_slash_addr() {
    let (vault, admin) = fake();
    let mut scenario = Scenario::new(&admin, 2, true);
    scenario.set_env("VAULT_ADDR", &format!("{}/", vault.addr()));
    vault.clear_requests();
    let run = scenario.run(&["--credentials", &format!("/{}/kriptomat/partner/", scenario.mount)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = vault.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(!request.path.contains("//"), "{}", request.path);
        assert_eq!(request.header("x-vault-token"), Some(ROOT_TOKEN));
    }
}

#[test]
fn explicit_mount_and_version_skip_lookup() {
    let (vault, admin) = fake();
    let mut scenario = Scenario::new(&admin, 2, true);
    scenario.set_env("KRIPTOMAT_CREDENTIALS_PATH", "kriptomat/partner");
    scenario.set_env("KRIPTOMAT_TOKEN_PATH", "kriptomat/token");
    scenario.set_env("KRIPTOMAT_KV_MOUNT", &scenario.mount.clone());
    scenario.set_env("KRIPTOMAT_KV_VERSION", "2");
    vault.clear_requests();
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let paths: Vec<String> = vault.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let cred = format!("GET /v1/{}/data/kriptomat/partner", scenario.mount);
    let token_read = format!("GET /v1/{}/data/kriptomat/token", scenario.mount);
    let token_write = format!("POST /v1/{}/data/kriptomat/token", scenario.mount);
    assert_eq!(paths, vec![token_read, cred, token_write]);
}

#[test]
fn kv1_version_on_kv2_mount_named() {
    let (_vault, admin) = fake();
    let scenario = Scenario::new(&admin, 2, false);
    let run = scenario.run(&["--kv-version", "1"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("is KV v2"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

#[test]
fn mounts_lookup_denied_falls_back_to_flags() {
    let (vault, admin) = fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    let policy = format!(
        "path \"{m}/data/kriptomat/partner\" {{ capabilities = [\"read\"] }}\npath \"{m}/data/kriptomat/token\" {{ capabilities = [\"read\", \"create\", \"update\"] }}\n",
        m = scenario.mount
    );
    let token = admin.token_with_policy("narrow", &policy);
    scenario.set_env("VAULT_TOKEN", &token);
    vault.inject(Fault::errors(None::<&str>, "/v1/sys/internal/ui/mounts/", 403, &["permission denied"]).times(4));
    let denied = scenario.run(&[]);
    assert_eq!(denied.code, 77, "{}", denied.stderr);
    assert!(denied.stderr.contains("--kv-version"), "{}", denied.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    let run = scenario.run(&["--kv-version", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

#[test]
fn sealed_vault_exit_69() {
    let (vault, admin) = fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario.set_env("VAULT_MAX_RETRIES", "1");
    vault.set_sealed(true);
    vault.clear_requests();
    let run = scenario.run(&[]);
    vault.set_sealed(false);
    assert_eq!(run.code, 69, "{}", run.stderr);
    assert!(run.stderr.contains("sealed"), "{}", run.stderr);
    assert_eq!(vault.requests().len(), 2, "one try and one retry");
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

#[test]
fn vault_unreachable_exit_69() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let env = vec![
        ("VAULT_ADDR".to_owned(), addr.clone()),
        ("VAULT_TOKEN".to_owned(), ROOT_TOKEN.to_owned()),
        ("VAULT_MAX_RETRIES".to_owned(), "0".to_owned()),
        ("KRIPTOMAT_CREDENTIALS_PATH".to_owned(), "secret/kriptomat/partner".to_owned()),
        ("KRIPTOMAT_TOKEN_PATH".to_owned(), "secret/kriptomat/token".to_owned()),
    ];
    let run = run_binary(&env, &["refresh"]);
    assert_eq!(run.code, 69, "{}", run.stderr);
    assert!(run.stderr.contains(&addr), "{}", run.stderr);
    run.assert_no_secret(&[ROOT_TOKEN]);
}

#[test]
fn transient_vault_error_retried() {
    let (vault, admin) = fake();
    let scenario = Scenario::new(&admin, 2, false);
    let path = format!("/v1/{}/data/kriptomat/partner", scenario.mount);
    vault.inject(Fault::errors("GET", &path, 500, &["internal error"]).times(1));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

#[test]
fn write_conflict_exit_75() {
    let (vault, admin) = fake();
    let scenario = Scenario::new(&admin, 2, false);
    let path = format!("/v1/{}/data/kriptomat/token", scenario.mount);
    let body = br#"{"errors":["check-and-set parameter did not match the current version"]}"#;
    vault.inject(Fault::status("POST", &path, 400, body.to_vec()).times(1));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 75, "{}", run.stderr);
    assert!(run.stderr.contains("write conflict"), "{}", run.stderr);
    assert_eq!(scenario.stored_token(), None);
}

#[test]
fn soft_deleted_credentials_exit_65() {
    let (_vault, admin) = fake();
    let scenario = Scenario::new(&admin, 2, false);
    admin.soft_delete(&scenario.mount, &scenario.credentials);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(run.stderr.contains("deleted"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

#[test]
fn cas_names_version_read() {
    let (vault, admin) = fake();
    let scenario = Scenario::new(&admin, 2, false);
    scenario.put_token(json!({"access_token": "a"}));
    scenario.put_token(json!({"access_token": "b"}));
    vault.clear_requests();
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let write = vault
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/data/kriptomat/token"))
        .expect("token write");
    assert_eq!(write.json().unwrap()["options"]["cas"], 2);
}
