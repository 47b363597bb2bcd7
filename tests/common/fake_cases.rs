//! End-to-end cases that need the in-process fake Vault: fault injection,
//! sealing and the request log, which a real Vault cannot offer on demand.

use super::admin::VaultAdmin;
use super::{run_binary, Scenario, ROOT_TOKEN};
use kriptomat_testkit::vault::{FakeVault, Fault};
use serde_json::json;

/// A named case that drives the fake directly.
pub type FakeCase = (&'static str, fn(&FakeVault, &VaultAdmin));

/// Every fake-only case, in a table.
pub const FAKE_CASES: &[FakeCase] = &[
    (
        "no double slash with trailing slash addr",
        no_double_slash_with_trailing_slash_addr,
    ),
    (
        "explicit mount and version skip lookup",
        explicit_mount_and_version_skip_lookup,
    ),
    (
        "kv1 version on kv2 mount named",
        kv1_version_on_kv2_mount_named,
    ),
    (
        "mounts lookup denied falls back to flags",
        mounts_lookup_denied_falls_back_to_flags,
    ),
    ("sealed vault exit 69", sealed_vault_exit_69),
    ("vault unreachable exit 69", vault_unreachable_exit_69),
    (
        "transient vault error retried",
        transient_vault_error_retried,
    ),
    ("write conflict exit 75", write_conflict_exit_75),
    ("kv2 version on kv1 mount", kv2_version_on_kv1_mount),
    ("invalid token at lookup", invalid_token_at_lookup),
    ("credentials path is mount", credentials_path_is_mount),
    ("html 404 is not vault", html_404_is_not_vault),
    ("lost race keeps later token", lost_race_keeps_later_token),
    (
        "lost race rewrites older token",
        lost_race_rewrites_older_token,
    ),
    (
        "soft deleted credentials exit 65",
        soft_deleted_credentials_exit_65,
    ),
    ("cas names version read", cas_names_version_read),
];

/// Runs every fake-only case and reports all failures at once.
pub fn run_all(vault: &FakeVault, admin: &VaultAdmin) {
    let mut failed = Vec::new();
    for (name, case) in FAKE_CASES {
        eprintln!("fake case: {name}");
        vault.set_sealed(false);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(vault, admin))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

fn no_double_slash_with_trailing_slash_addr(vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, true);
    scenario.set_env("VAULT_ADDR", &format!("{}/", vault.addr()));
    vault.clear_requests();
    let run = scenario.run(&[
        "--credentials",
        &format!("/{}/kriptomat/partner/", scenario.mount),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = vault.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(!request.path.contains("//"), "{}", request.path);
        assert_eq!(request.header("x-vault-token"), Some(ROOT_TOKEN));
    }
}

fn explicit_mount_and_version_skip_lookup(vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, true);
    scenario.set_env("KRIPTOMAT_CREDENTIALS_PATH", "kriptomat/partner");
    scenario.set_env("KRIPTOMAT_TOKEN_PATH", "kriptomat/token");
    scenario.set_env("KRIPTOMAT_KV_MOUNT", &scenario.mount.clone());
    scenario.set_env("KRIPTOMAT_KV_VERSION", "2");
    vault.clear_requests();
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let paths: Vec<String> = vault
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let at =
        |method: &str, path: &str| format!("{method} /v1/{}/data/kriptomat/{path}", scenario.mount);
    let expected = vec![
        at("GET", "token"),
        at("GET", "partner"),
        at("GET", "token.lock"),
        at("POST", "token.lock"),
        at("GET", "token"),
        "POST /v1/sys/capabilities-self".to_owned(),
        at("POST", "token"),
        at("POST", "token.lock"),
    ];
    assert_eq!(paths, expected);
}

fn kv1_version_on_kv2_mount_named(_vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let run = scenario.run(&["--kv-version", "1"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("is KV v2"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

fn mounts_lookup_denied_falls_back_to_flags(vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let policy = scenario.least_privilege_policy();
    let token = admin.token_with_policy("narrow", &policy);
    scenario.set_env("VAULT_TOKEN", &token);
    vault.inject(
        Fault::errors(
            None::<&str>,
            "/v1/sys/internal/ui/mounts/",
            403,
            &["permission denied"],
        )
        .times(3),
    );
    let denied = scenario.run(&[]);
    assert_eq!(denied.code, 77, "{}", denied.stderr);
    assert!(denied.stderr.contains("--kv-version"), "{}", denied.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    let run = scenario.run(&["--kv-version", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

fn sealed_vault_exit_69(vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
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

fn vault_unreachable_exit_69(_vault: &FakeVault, _admin: &VaultAdmin) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let env = vec![
        ("VAULT_ADDR".to_owned(), addr.clone()),
        ("VAULT_TOKEN".to_owned(), ROOT_TOKEN.to_owned()),
        ("VAULT_MAX_RETRIES".to_owned(), "0".to_owned()),
        (
            "KRIPTOMAT_CREDENTIALS_PATH".to_owned(),
            "secret/kriptomat/partner".to_owned(),
        ),
        (
            "KRIPTOMAT_TOKEN_PATH".to_owned(),
            "secret/kriptomat/token".to_owned(),
        ),
    ];
    let run = run_binary(&env, &["refresh"]);
    assert_eq!(run.code, 69, "{}", run.stderr);
    assert!(run.stderr.contains(&addr), "{}", run.stderr);
    run.assert_no_secret(&[ROOT_TOKEN]);
}

fn transient_vault_error_retried(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let path = format!("/v1/{}/data/kriptomat/partner", scenario.mount);
    vault.inject(Fault::errors("GET", &path, 500, &["internal error"]).times(1));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

/// Rejects `count` writes to exactly `path` as a lost check-and-set.
fn cas_mismatch(path: &str, count: usize) -> Fault {
    let body = br#"{"errors":["check-and-set parameter did not match the current version"]}"#;
    Fault::status("POST", path, 400, body.to_vec())
        .exact()
        .times(count)
}

fn write_conflict_exit_75(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.put_token(json!({"access_token": "previous", "expires_at": "2000-01-01T00:00:00Z"}));
    let path = format!("/v1/{}/data/kriptomat/token", scenario.mount);
    vault.inject(cas_mismatch(&path, 3));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 75, "{}", run.stderr);
    assert!(run.stderr.contains("write conflict"), "{}", run.stderr);
    assert_eq!(scenario.stored_token().unwrap()["access_token"], "previous");
}

fn lost_race_keeps_later_token(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let later = json!({"access_token": "other-run", "expires_at": super::cases::future(7200)});
    scenario.put_token(later.clone());
    let path = format!("/v1/{}/data/kriptomat/token", scenario.mount);
    vault.inject(cas_mismatch(&path, 1));
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("kept it"), "{}", run.stdout);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
    assert_eq!(scenario.stored_token().unwrap(), later);
}

fn lost_race_rewrites_older_token(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let path = format!("/v1/{}/data/kriptomat/token", scenario.mount);
    vault.inject(cas_mismatch(&path, 1));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        scenario.stored_token().unwrap()["access_token"],
        scenario.sim.issued_tokens()[0].as_str()
    );
}

fn soft_deleted_credentials_exit_65(_vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    admin.soft_delete(&scenario.mount, &scenario.credentials);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(run.stderr.contains("deleted"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

fn cas_names_version_read(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
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

fn kv2_version_on_kv1_mount(_vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 1, false);
    let run = scenario.run(&["--kv-version", "2"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("is KV v1, not v2"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    assert_eq!(admin.get(&scenario.mount, "data/kriptomat/token", 1), None);
}

fn invalid_token_at_lookup(_vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    scenario.set_env("VAULT_TOKEN", "hvs.revoked-or-never-issued");
    let run = scenario.run(&[]);
    assert_eq!(run.code, 77, "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid, expired or revoked"),
        "{}",
        run.stderr
    );
    if !super::MAX_VERBOSITY.load(std::sync::atomic::Ordering::SeqCst) {
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

fn credentials_path_is_mount(_vault: &FakeVault, admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let mount = scenario.mount.clone();
    scenario.set_env("KRIPTOMAT_CREDENTIALS_PATH", &mount);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--credentials (KRIPTOMAT_CREDENTIALS_PATH)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("itself"), "{}", run.stderr);
}

fn html_404_is_not_vault(vault: &FakeVault, admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let path = format!("/v1/{}/data/kriptomat/partner", scenario.mount);
    let page = "<html><body>404 page not found</body></html>";
    vault.inject(
        Fault::status("GET", &path, 404, page)
            .with_header("content-type", "text/html")
            .exact(),
    );
    let run = scenario.run(&[]);
    assert_eq!(run.code, 69, "{}", run.stderr);
    assert!(run.stderr.contains("not JSON"), "{}", run.stderr);
    assert!(run.stderr.contains("VAULT_ADDR"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
}
