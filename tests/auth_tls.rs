//! Vault authentication methods, TLS and the Vault client environment:
//! Kubernetes and AppRole logins with token revocation, token files,
//! namespaces on every request, private CAs, skip-verify parsing, the TLS
//! server name and client certificates. Each case also runs at trace
//! verbosity and checks that no JWT, secret ID, key or Vault token leaks.

mod common;

use common::admin::VaultAdmin;
use common::{Run, Scenario, ROOT_TOKEN};
use kriptomat_testkit::tls::TestPki;
use kriptomat_testkit::vault::{service_account_jwt, FakeVault, FakeVaultOptions};

fn fake(options: FakeVaultOptions) -> FakeVault {
    FakeVault::start_with(FakeVaultOptions {
        root_token: ROOT_TOKEN.to_owned(),
        ..options
    })
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Asserts the run printed none of `extra` (and none of the scenario's secrets).
fn assert_secret_free(scenario: &Scenario, run: &Run, extra: &[&str]) {
    scenario.assert_quiet_about_secrets(run);
    run.assert_no_secret(extra);
}

fn in_the_far_future() -> i64 {
    4_102_444_800
}

fn kubernetes_login(verbose: bool) {
    let vault = fake(FakeVaultOptions::default());
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario.verbose = verbose;
    vault.add_kubernetes_role(
        "k8s-prod",
        "kriptomat",
        "kriptomat-cron",
        "jobs",
        Some("vault"),
        &scenario.least_privilege_policy(),
    );
    let dir = tempfile::tempdir().unwrap();
    let jwt = service_account_jwt("kriptomat-cron", "jobs", Some("vault"), in_the_far_future());
    let jwt_file = write_file(&dir, "token", &format!("{jwt}\n"));
    scenario.remove_env("VAULT_TOKEN");
    for (name, value) in [
        ("KRIPTOMAT_VAULT_AUTH", "kubernetes"),
        ("KRIPTOMAT_VAULT_AUTH_MOUNT", "k8s-prod"),
        ("KRIPTOMAT_VAULT_ROLE", "kriptomat"),
        ("KRIPTOMAT_VAULT_JWT_FILE", &jwt_file),
    ] {
        scenario.set_env(name, value);
    }
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let revoked = vault.revoked_tokens();
    assert_eq!(revoked.len(), 1, "the login token is revoked at the end");
    assert_secret_free(&scenario, &run, &[&jwt, &revoked[0]]);

    scenario.set_env("KRIPTOMAT_VAULT_ROLE", "other-role");
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 77, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.contains("kubernetes login failed for role other-role"),
        "{last}"
    );
    assert!(last.contains("/v1/auth/k8s-prod/login"), "{last}");
    assert_secret_free(&scenario, &run, &[&jwt]);

    let wrong_namespace = service_account_jwt(
        "kriptomat-cron",
        "default",
        Some("vault"),
        in_the_far_future(),
    );
    let other_file = write_file(&dir, "other", &wrong_namespace);
    scenario.set_env("KRIPTOMAT_VAULT_ROLE", "kriptomat");
    scenario.set_env("KRIPTOMAT_VAULT_JWT_FILE", &other_file);
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 77, "{}", run.stderr);
    assert_secret_free(&scenario, &run, &[&wrong_namespace]);

    scenario.set_env(
        "KRIPTOMAT_VAULT_JWT_FILE",
        &dir.path().join("missing").display().to_string(),
    );
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

#[test]
fn kubernetes_login_and_revoke() {
    kubernetes_login(false);
}

fn approle_login(verbose: bool) {
    let vault = fake(FakeVaultOptions::default());
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario.verbose = verbose;
    let (role_id, secret_id) =
        vault.add_approle("approle", "kriptomat", &scenario.least_privilege_policy());
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_file(&dir, "secret-id", &format!("{secret_id}\n"));
    scenario.remove_env("VAULT_TOKEN");
    scenario.set_env("KRIPTOMAT_VAULT_AUTH", "approle");
    scenario.set_env("KRIPTOMAT_VAULT_ROLE_ID", &role_id);
    scenario.set_env("KRIPTOMAT_VAULT_SECRET_ID_FILE", &secret_file);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let revoked = vault.revoked_tokens();
    assert_eq!(revoked.len(), 1);
    assert_secret_free(&scenario, &run, &[&secret_id, &role_id, &revoked[0]]);

    let wrong_file = write_file(&dir, "wrong", "not-the-secret-id-0000");
    scenario.set_env("KRIPTOMAT_VAULT_SECRET_ID_FILE", &wrong_file);
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 77, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(last.contains("approle login failed"), "{last}");
    assert!(last.contains("invalid role or secret ID"), "{last}");
    assert_secret_free(
        &scenario,
        &run,
        &[&secret_id, &role_id, "not-the-secret-id-0000"],
    );
    assert_eq!(scenario.sim.logins_succeeded(), 1);
}

#[test]
fn approle_login_and_revoke() {
    approle_login(false);
}

#[test]
fn auth_methods_quiet_at_trace() {
    kubernetes_login(true);
    approle_login(true);
}

#[test]
fn given_token_never_revoked() {
    let vault = fake(FakeVaultOptions::default());
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    let mut scenario = Scenario::new(&admin, 2, false);
    let token = admin.token_with_policy("given", &scenario.least_privilege_policy());
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_file(&dir, "sink", &format!("{token}\n"));
    scenario.remove_env("VAULT_TOKEN");
    scenario.set_env("KRIPTOMAT_VAULT_TOKEN_FILE", &token_file);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(vault.revoked_tokens().is_empty());
    assert!(vault.token_is_valid(&token));
    assert_secret_free(&scenario, &run, &[&token]);
}

#[test]
fn namespace_sent_on_every_request() {
    let vault = fake(FakeVaultOptions {
        require_namespace: Some("team-a".to_owned()),
        ..FakeVaultOptions::default()
    });
    let (role_id, secret_id) = vault.add_approle(
        "approle",
        "kriptomat",
        "path \"*\" { capabilities = [\"read\", \"create\", \"update\"] }",
    );
    // Set-up goes around the namespace check through the fake's own API.
    vault.mount_kv("kv", 2);
    let sim = kriptomat_testkit::kriptomat::Simulator::start(
        kriptomat_testkit::clock::TestClock::system(),
    );
    let account = kriptomat_testkit::kriptomat::Account::new(
        common::EMAIL,
        common::PASSWORD,
        common::CLIENT_ID,
        common::CLIENT_SECRET,
        common::seed_bytes(common::SEED),
    );
    sim.add_account(account);
    vault.write(
        "kv",
        "kriptomat/partner",
        serde_json::json!({"email": common::EMAIL, "password": common::PASSWORD, "client_id": common::CLIENT_ID, "client_secret": common::CLIENT_SECRET, "totp_secret": common::SEED}),
    );
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_file(&dir, "secret-id", &secret_id);
    let env: Vec<(String, String)> = [
        ("VAULT_ADDR", vault.addr()),
        ("VAULT_NAMESPACE", "team-a/".to_owned()),
        ("KRIPTOMAT_VAULT_AUTH", "approle".to_owned()),
        ("KRIPTOMAT_VAULT_ROLE_ID", role_id.clone()),
        ("KRIPTOMAT_VAULT_SECRET_ID_FILE", secret_file),
        ("KRIPTOMAT_API_URL", sim.url()),
        (
            "KRIPTOMAT_CREDENTIALS_PATH",
            "kv/kriptomat/partner".to_owned(),
        ),
        ("KRIPTOMAT_TOKEN_PATH", "kv/kriptomat/token".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let run = common::run_binary(&env, &["refresh"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = vault.requests();
    assert!(requests.iter().any(|r| r.path == "/v1/auth/approle/login"));
    for request in &requests {
        assert_eq!(
            request.header("x-vault-namespace"),
            Some("team-a/"),
            "{} {}",
            request.method,
            request.path
        );
    }
    let without: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k != "VAULT_NAMESPACE")
        .collect();
    let run = common::run_binary(&without, &["refresh", "--force"]);
    assert_eq!(run.code, 77, "{}", run.stderr);
}

/// Starts a TLS fake Vault with a certificate for `names`, and an admin
/// that trusts its CA.
fn tls_fake(pki: &TestPki, names: &[&str], client_ca: bool) -> (FakeVault, VaultAdmin) {
    let (cert_chain_pem, key_pem) = pki.server_cert(names);
    let tls = kriptomat_testkit::vault::TlsOptions {
        cert_chain_pem,
        key_pem,
        client_ca_pem: client_ca.then(|| pki.ca_pem()),
    };
    let vault = fake(FakeVaultOptions {
        tls: Some(tls),
        ..FakeVaultOptions::default()
    });
    let admin = if client_ca {
        // The admin needs a client certificate too; it goes through the
        // fake's Rust API instead, see `tls_client_certificate`.
        VaultAdmin::new(&vault.addr(), ROOT_TOKEN)
    } else {
        VaultAdmin::with_ca(&vault.addr(), ROOT_TOKEN, &pki.ca_pem())
    };
    (vault, admin)
}

#[test]
fn tls_private_ca_file_and_directory() {
    let pki = TestPki::new();
    let (_vault, admin) = tls_fake(&pki, &["127.0.0.1", "localhost"], false);
    let mut scenario = Scenario::new(&admin, 2, false);
    let files = pki.write_files("kriptomat");
    scenario.set_env("VAULT_CACERT", &files.ca_cert.display().to_string());
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let ca_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(ca_dir.path().join("nested")).unwrap();
    std::fs::write(ca_dir.path().join("nested/ca.pem"), pki.ca_pem()).unwrap();
    scenario.remove_env("VAULT_CACERT");
    scenario.set_env("VAULT_CAPATH", &ca_dir.path().display().to_string());
    let run = scenario.run(&["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 2);
}

#[test]
fn tls_untrusted_certificate() {
    let pki = TestPki::new();
    let stranger = TestPki::new();
    let (vault, admin) = tls_fake(&pki, &["127.0.0.1"], false);
    let mut scenario = Scenario::new(&admin, 2, false);
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), stranger.ca_pem()).unwrap();
    let ca_path = ca_file.path().display().to_string();
    scenario.set_env("VAULT_CACERT", &ca_path);
    for skip in [None, Some(""), Some("false"), Some("0")] {
        match skip {
            Some(value) => scenario.set_env("VAULT_SKIP_VERIFY", value),
            None => scenario.remove_env("VAULT_SKIP_VERIFY"),
        }
        let run = scenario.run(&[]);
        assert_eq!(run.code, 69, "{skip:?}: {}", run.stderr);
        let last = run.stderr.lines().last().unwrap();
        assert!(last.contains(&ca_path), "{last}");
        assert!(last.contains("127.0.0.1"), "{last}");
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "no retries of a TLS failure: {}",
            run.stderr
        );
    }
    assert_eq!(scenario.sim.logins_attempted(), 0);
    let before = vault.requests().len();
    scenario.set_env("VAULT_SKIP_VERIFY", "true");
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("not verified"),
        "a warning is printed: {}",
        run.stderr
    );
    assert!(vault.requests().len() > before);
}

#[test]
fn tls_server_name_override() {
    let pki = TestPki::new();
    let (vault, admin) = tls_fake(&pki, &["vault.test"], false);
    let named_admin = admin_for_name(&admin, &pki);
    let mut scenario = Scenario::new(&named_admin, 2, false);
    scenario.set_env("VAULT_ADDR", &vault.addr());
    let files = pki.write_files("kriptomat");
    scenario.set_env("VAULT_CACERT", &files.ca_cert.display().to_string());
    let run = scenario.run(&[]);
    assert_eq!(
        run.code, 69,
        "the certificate does not name 127.0.0.1: {}",
        run.stderr
    );
    scenario.set_env("VAULT_TLS_SERVER_NAME", "vault.test");
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Builds an admin that connects by the certificate's name, mapped to the
/// fake's address, because it cannot verify a certificate for another name.
fn admin_for_name(admin: &VaultAdmin, pki: &TestPki) -> VaultAdmin {
    let port = admin
        .addr
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    let http = reqwest::blocking::Client::builder()
        .tls_certs_only([ca])
        .resolve(
            "vault.test",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .unwrap();
    VaultAdmin::from_parts(
        &admin.addr,
        ROOT_TOKEN,
        http,
        &format!("https://vault.test:{port}"),
    )
}

#[test]
fn tls_client_certificate() {
    let pki = TestPki::new();
    let (vault, _) = tls_fake(&pki, &["127.0.0.1"], true);
    vault.write(
        "secret",
        "kriptomat/partner",
        serde_json::json!({"email": common::EMAIL, "password": common::PASSWORD, "client_id": common::CLIENT_ID, "client_secret": common::CLIENT_SECRET, "totp_secret": common::SEED}),
    );
    let sim = kriptomat_testkit::kriptomat::Simulator::start(
        kriptomat_testkit::clock::TestClock::system(),
    );
    sim.add_account(kriptomat_testkit::kriptomat::Account::new(
        common::EMAIL,
        common::PASSWORD,
        common::CLIENT_ID,
        common::CLIENT_SECRET,
        common::seed_bytes(common::SEED),
    ));
    let files = pki.write_files("kriptomat");
    let key_pem = std::fs::read_to_string(&files.client_key).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap().to_owned();
    let mut env: Vec<(String, String)> = vec![
        ("VAULT_ADDR".into(), vault.addr()),
        ("VAULT_TOKEN".into(), ROOT_TOKEN.into()),
        ("VAULT_CACERT".into(), files.ca_cert.display().to_string()),
        ("KRIPTOMAT_API_URL".into(), sim.url()),
        (
            "KRIPTOMAT_CREDENTIALS_PATH".into(),
            "secret/kriptomat/partner".into(),
        ),
        (
            "KRIPTOMAT_TOKEN_PATH".into(),
            "secret/kriptomat/token".into(),
        ),
    ];
    let run = common::run_binary(&env, &["refresh"]);
    assert_eq!(run.code, 69, "no client certificate: {}", run.stderr);
    env.push((
        "VAULT_CLIENT_CERT".into(),
        files.client_cert.display().to_string(),
    ));
    env.push((
        "VAULT_CLIENT_KEY".into(),
        files.client_key.display().to_string(),
    ));
    let mut traced = env.clone();
    traced.push(("RUST_LOG".into(), "trace".into()));
    let run = common::run_binary(&traced, &["refresh", "-vvv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_no_secret(&[&key_line, ROOT_TOKEN, common::PASSWORD]);
    assert_eq!(sim.logins_succeeded(), 1);

    env.retain(|(k, _)| k != "VAULT_CLIENT_KEY");
    let run = common::run_binary(&env, &["refresh"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("VAULT_CLIENT_KEY"), "{}", run.stderr);
}

#[test]
fn api_private_ca() {
    // The TLS fake Vault plays an HTTPS API here. Only the handshake matters,
    // not how it responds to the login.
    let pki = TestPki::new();
    let (https_server, _) = tls_fake(&pki, &["127.0.0.1"], false);
    let (_vault, admin) = common::start_fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario.set_env("KRIPTOMAT_API_URL", &https_server.addr());
    let untrusted = scenario.run(&[]);
    assert_eq!(untrusted.code, 69, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.to_lowercase().contains("certificate"),
        "{}",
        untrusted.stderr
    );

    let files = pki.write_files("kriptomat");
    scenario.set_env("KRIPTOMAT_API_CACERT", &files.ca_cert.display().to_string());
    let trusted = scenario.run(&[]);
    assert_eq!(trusted.code, 69, "{}", trusted.stderr);
    assert!(
        trusted.stderr.contains("HTTP 404"),
        "the handshake succeeded: {}",
        trusted.stderr
    );

    scenario.set_env("KRIPTOMAT_API_CACERT", "/nonexistent/ca.pem");
    let missing = scenario.run(&[]);
    assert_eq!(missing.code, 64, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("/nonexistent/ca.pem"),
        "{}",
        missing.stderr
    );
}
