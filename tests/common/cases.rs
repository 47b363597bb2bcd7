//! End-to-end cases written once and run against any Vault: the in-process
//! fake in `tests/refresh.rs`, and a real or standalone one in
//! `tests/conformance.rs`.
//!
//! Each case sets up its own KV mount through the HTTP API, runs the real
//! binary, and checks the exit code, what the simulated API received and
//! what Vault contains afterwards.

use super::admin::VaultAdmin;
use super::{seed_bytes, Run, Scenario, CLIENT_ID, EMAIL, MAX_VERBOSITY, RFC_SEED, SEED};
use kriptomat_testkit::kriptomat::{Algorithm, ExpiresInFormat, ScriptedResponse};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use vault_kriptomat::contract::TOKEN_FIELDS;

/// A named end-to-end case.
pub type Case = (&'static str, fn(&VaultAdmin));

/// Every case, in a table.
pub const CASES: &[Case] = &[
    (
        "kv2 refresh writes token fields",
        kv2_refresh_writes_token_fields,
    ),
    ("kv1 refresh writes ttl lease", kv1_refresh_writes_ttl_lease),
    ("nested kv2 mount", nested_kv2_mount),
    ("nested kv1 mount", nested_kv1_mount),
    ("seed forms", seed_forms),
    ("otpauth uri parameters", otpauth_uri_parameters),
    ("leading zero code", leading_zero_code),
    ("code near step end waits", code_near_step_end_waits),
    ("client id as digit string", client_id_as_digit_string),
    ("expires_in as string", expires_in_as_string),
    ("expires_in missing", expires_in_missing),
    ("session ttl requested", session_ttl_requested),
    ("other keys kept", other_keys_kept),
    ("soft-deleted token version", soft_deleted_token_version),
    ("fresh token skipped", fresh_token_skipped),
    ("missing fields exit 65", missing_fields_exit_65),
    ("malformed fields exit 65", malformed_fields_exit_65),
    ("credentials absent exit 65", credentials_absent_exit_65),
    ("api 401 keeps token", api_401_keeps_token),
    ("api 422 keeps token", api_422_keeps_token),
    ("api 5xx and html exit 69", api_5xx_and_html_exit_69),
    ("vault policy denied exit 77", vault_policy_denied_exit_77),
    ("write denied before login", write_denied_before_login),
    ("approle login revoked", approle_login_revoked),
    ("token file with newline", token_file_with_newline),
];

/// Runs every case and reports all failures at once.
pub fn run_all(admin: &VaultAdmin) {
    let mut failed = Vec::new();
    for (name, case) in CASES {
        eprintln!("case: {name}");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(admin))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

fn assert_success(scenario: &Scenario, run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    scenario.assert_quiet_about_secrets(run);
}

fn assert_failure(scenario: &Scenario, run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("vault-kriptomat: error: "),
        "{}",
        run.stderr
    );
    assert!(last.contains(needle), "error line lacks {needle:?}: {last}");
    if !MAX_VERBOSITY.load(Ordering::SeqCst) {
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "one stderr line expected: {}",
            run.stderr
        );
    }
    scenario.assert_quiet_about_secrets(run);
}

/// Returns the JSON body of the only login the simulator received.
fn single_login(scenario: &Scenario) -> Value {
    let requests = scenario.sim.requests();
    assert_eq!(requests.len(), 1, "expected one login");
    requests[0].json.clone().expect("JSON body")
}

fn check_token(scenario: &Scenario, expires_in: u64) -> Value {
    let stored = scenario.stored_token().expect("token written");
    let issued = scenario.sim.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(stored["access_token"], issued[0].as_str());
    assert_eq!(stored["token_type"], "Bearer");
    assert_eq!(stored["expires_in"], expires_in);
    let issued_at = time::OffsetDateTime::parse(
        stored["issued_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_at = time::OffsetDateTime::parse(
        stored["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires_at - issued_at).whole_seconds(), expires_in as i64);
    assert!(stored["expires_at"].as_str().unwrap().ends_with('Z'));
    stored
}

fn kv2_refresh_writes_token_fields(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    let body = single_login(&scenario);
    let record = &scenario.sim.requests()[0];
    assert_eq!(record.path, "/api/v1/partners/auth/login");
    assert_eq!(record.headers["content-type"], "application/json");
    assert_eq!(record.headers["accept"], "application/json");
    assert_eq!(record.headers["x-requested-with"], "XMLHttpRequest");
    assert!(!record.headers.contains_key("authorization"));
    assert_eq!(body["email"], EMAIL);
    assert_eq!(body["client_id"], json!(CLIENT_ID));
    assert!(body["security_code"].is_string());
    assert_eq!(body["security_code"].as_str().unwrap().len(), 6);
    assert!(body.get("expires_in").is_none());
    let stored = check_token(&scenario, 3600);
    assert_eq!(stored["ttl"], "300s");
    let mut keys: Vec<&str> = stored
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    let mut expected: Vec<&str> = TOKEN_FIELDS.to_vec();
    expected.extend(["login_failures", "totp_last_step", "totp_period"]);
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(stored["login_failures"], 0);
    let step = scenario.sim.requests()[0].at_unix / 30;
    assert!(stored["totp_last_step"].as_u64().unwrap().abs_diff(step) <= 1);
    assert!(run.stdout.contains("wrote a new token"), "{}", run.stdout);
}

fn kv1_refresh_writes_ttl_lease(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 1, false);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    let stored = check_token(&scenario, 3600);
    assert_eq!(stored["ttl"], "300s");
    assert_eq!(
        admin.lease_duration(&scenario.mount, &scenario.token),
        Some(300)
    );
}

fn nested_kv2_mount(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, true);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    check_token(&scenario, 3600);
}

fn nested_kv1_mount(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 1, true);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    check_token(&scenario, 3600);
}

fn seed_forms(admin: &VaultAdmin) {
    let spaced: String = SEED
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let forms = [
        SEED.to_lowercase(),
        format!("{spaced}\n"),
        format!("{}\n{}", &SEED[..16], &SEED[16..]),
    ];
    for form in forms {
        let scenario = Scenario::new(admin, 2, false);
        let mut credentials = scenario.default_credentials();
        credentials["totp_secret"] = json!(form);
        scenario.put_credentials(credentials);
        let run = scenario.run(&[]);
        assert_success(&scenario, &run);
        assert_eq!(scenario.sim.logins_succeeded(), 1, "{form:?}");
    }
    // A 26-character seed of 128 bits, padded and not, in both cases.
    for form in [
        "GEZDGNBVGY3TQOJQGEZDGNBVGY======",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY",
        "gezdgnbvgy3tqojqgezdgnbvgy",
    ] {
        let scenario = Scenario::new(admin, 2, false);
        let mut account = scenario.account.clone();
        account.seed = seed_bytes("GEZDGNBVGY3TQOJQGEZDGNBVGY");
        scenario.sim.add_account(account);
        let mut credentials = scenario.default_credentials();
        credentials["totp_secret"] = json!(form);
        scenario.put_credentials(credentials);
        let run = scenario.run(&[]);
        assert_success(&scenario, &run);
        assert_eq!(scenario.sim.logins_succeeded(), 1, "{form}");
    }
}

fn otpauth_uri_parameters(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let account = scenario
        .account
        .clone()
        .with_digits(8)
        .with_period(60)
        .with_algorithm(Algorithm::Sha256);
    scenario.sim.add_account(account);
    let uri = format!(
        "otpauth://totp/TeamA:ops%40example.test?secret={}&issuer=OtherCo&digits=8&period=60&algorithm=SHA256",
        SEED.to_lowercase()
    );
    let mut credentials = scenario.default_credentials();
    credentials["totp_secret"] = json!(uri);
    scenario.put_credentials(credentials);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    assert_eq!(
        single_login(&scenario)["security_code"]
            .as_str()
            .unwrap()
            .len(),
        8
    );
}

/// Stores the RFC 6238 seed and puts both clocks at `start`.
fn rfc_scenario(admin: &VaultAdmin, start: u64) -> Scenario<'_> {
    let scenario = Scenario::with_clock(admin, 2, false, Some(start));
    let mut account = scenario.account.clone();
    account.seed = seed_bytes(RFC_SEED);
    scenario.sim.add_account(account);
    let mut credentials = scenario.default_credentials();
    credentials["totp_secret"] = json!(RFC_SEED);
    scenario.put_credentials(credentials);
    scenario
}

fn leading_zero_code(admin: &VaultAdmin) {
    let scenario = rfc_scenario(admin, 1234567890);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    assert_eq!(single_login(&scenario)["security_code"], json!("005924"));
    let raw = String::from_utf8(scenario.sim.requests()[0].body.clone()).unwrap();
    assert!(raw.contains(r#""security_code":"005924""#), "{raw}");
}

fn code_near_step_end_waits(admin: &VaultAdmin) {
    let scenario = rfc_scenario(admin, 1234567888);
    scenario.sim.set_window(0);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    assert_eq!(single_login(&scenario)["security_code"], json!("005924"));
}

fn client_id_as_digit_string(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let mut account = scenario.account.clone();
    account.client_id = 123456789012345678;
    scenario.sim.add_account(account);
    let mut credentials = scenario.default_credentials();
    credentials["client_id"] = json!("123456789012345678");
    scenario.put_credentials(credentials);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    let raw = String::from_utf8(scenario.sim.requests()[0].body.clone()).unwrap();
    assert!(raw.contains(r#""client_id":123456789012345678"#), "{raw}");
}

fn expires_in_as_string(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.sim.set_expires_in_format(ExpiresInFormat::String);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    check_token(&scenario, 3600);
}

fn expires_in_missing(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.sim.set_expires_in_format(ExpiresInFormat::Missing);
    let run = scenario.run(&["--session-ttl", "45m"]);
    assert_success(&scenario, &run);
    check_token(&scenario, 2700);
}

fn session_ttl_requested(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let run = scenario.run(&["--session-ttl", "30m"]);
    assert_success(&scenario, &run);
    assert_eq!(single_login(&scenario)["expires_in"], json!(1800));
    let stored = check_token(&scenario, 1800);
    assert_eq!(stored["ttl"], "150s");
}

fn other_keys_kept(admin: &VaultAdmin) {
    for version in [1, 2] {
        let scenario = Scenario::new(admin, version, false);
        scenario
            .put_token(json!({"owner": "team-a", "note": {"nested": true}, "access_token": "old"}));
        let run = scenario.run(&[]);
        assert_success(&scenario, &run);
        let stored = check_token(&scenario, 3600);
        assert_eq!(stored["owner"], "team-a");
        assert_eq!(stored["note"], json!({"nested": true}));
    }
}

fn soft_deleted_token_version(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.put_token(json!({"access_token": "old"}));
    scenario.put_token(json!({"access_token": "older"}));
    admin.soft_delete(&scenario.mount, &scenario.token);
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    check_token(&scenario, 3600);
    assert_eq!(admin.current_version(&scenario.mount, &scenario.token), 3);
}

pub fn future(seconds: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    at.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn fresh_token_skipped(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.put_token(json!({"access_token": "still-good", "expires_at": future(3000)}));
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    assert!(run.stdout.contains("still fresh"), "{}", run.stdout);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    assert_eq!(admin.current_version(&scenario.mount, &scenario.token), 1);

    let soon = Scenario::new(admin, 2, false);
    soon.put_token(json!({"access_token": "expiring", "expires_at": future(600)}));
    let run = soon.run(&[]);
    assert_success(&soon, &run);
    assert_eq!(soon.sim.logins_succeeded(), 1);

    let run = scenario.run(&["--force"]);
    assert_success(&scenario, &run);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
    assert_eq!(admin.current_version(&scenario.mount, &scenario.token), 2);
}

/// Asserts the token fields are as before; bookkeeping keys may change.
fn assert_untouched(scenario: &Scenario, before: &Option<Value>) {
    let strip = |value: Option<Value>| {
        value.map(|mut v| {
            for key in vault_kriptomat::bookkeeping::BOOKKEEPING_KEYS {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        })
    };
    assert_eq!(
        strip(scenario.stored_token()),
        strip(before.clone()),
        "token fields changed"
    );
}

fn missing_fields_exit_65(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.put_token(json!({"access_token": "previous"}));
    let before = scenario.stored_token();
    for field in [
        "email",
        "password",
        "client_id",
        "client_secret",
        "totp_secret",
    ] {
        for replacement in [None, Some(json!("")), Some(json!("  "))] {
            let mut credentials = scenario.default_credentials();
            match &replacement {
                None => {
                    credentials.as_object_mut().unwrap().remove(field);
                }
                Some(value) => credentials[field] = value.clone(),
            }
            scenario.put_credentials(credentials);
            let run = scenario.run(&[]);
            assert_failure(&scenario, &run, 65, &format!("field `{field}`"));
            assert!(
                run.stderr
                    .contains(&format!("{}/{}", scenario.mount, scenario.credentials)),
                "{}",
                run.stderr
            );
        }
    }
    assert_eq!(scenario.sim.logins_attempted(), 0);
    assert_untouched(&scenario, &before);
}

fn malformed_fields_exit_65(admin: &VaultAdmin) {
    let scenario = Scenario::new(admin, 2, false);
    let cases = [
        ("totp_secret", json!("GEZDGNBVGY3TQOJ1"), "position 16"),
        (
            "totp_secret",
            json!("otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ"),
            "totp",
        ),
        ("client_id", json!("12ab"), "client_id"),
        ("client_id", json!(12.5), "client_id"),
        ("password", json!(12345), "must be a string"),
    ];
    for (field, value, needle) in cases {
        let mut credentials = scenario.default_credentials();
        credentials[field] = value;
        scenario.put_credentials(credentials);
        let run = scenario.run(&[]);
        assert_failure(&scenario, &run, 65, needle);
        assert!(!run.stderr.contains("GEZDGNBVGY3TQOJ"), "{}", run.stderr);
    }
    assert_eq!(scenario.sim.logins_attempted(), 0);
}

fn credentials_absent_exit_65(admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let other = format!("{}/kriptomat/nobody", scenario.mount);
    scenario.set_env("KRIPTOMAT_CREDENTIALS_PATH", &other);
    let run = scenario.run(&[]);
    assert_failure(&scenario, &run, 65, &other);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    assert_eq!(scenario.stored_token(), None);
}

fn rejected_keeps_token(
    admin: &VaultAdmin,
    response: ScriptedResponse,
    times: usize,
    needle: &str,
) {
    let scenario = Scenario::new(admin, 2, false);
    scenario.put_token(json!({"access_token": "previous", "expires_at": future(60)}));
    let before = scenario.stored_token();
    scenario.sim.push_response_times(response, times);
    let run = scenario.run(&[]);
    assert_failure(&scenario, &run, 77, needle);
    assert!(
        run.stderr.contains("/api/v1/partners/auth/login"),
        "{}",
        run.stderr
    );
    assert_untouched(&scenario, &before);
    assert_eq!(scenario.sim.logins_attempted(), times);
    assert_eq!(scenario.stored_token().unwrap()["login_failures"], times);
}

fn api_401_keeps_token(admin: &VaultAdmin) {
    let body = json!({"message": "Invalid credentials."});
    rejected_keeps_token(
        admin,
        ScriptedResponse::json(401, body),
        1,
        "HTTP 401: Invalid credentials.",
    );
}

fn api_422_keeps_token(admin: &VaultAdmin) {
    let body = json!({"message": "The given data was invalid.", "errors": {"security_code": ["The security code is invalid."]}});
    // A rejected code is retried once with the next step, never more.
    rejected_keeps_token(admin, ScriptedResponse::json(422, body), 2, "security_code");
}

fn api_5xx_and_html_exit_69(admin: &VaultAdmin) {
    // Transient responses are retried with a fresh TOTP step each time; a
    // 2-second period keeps the step waits short.
    let responses = [
        (
            ScriptedResponse::json(500, json!({"message": "Server Error"})),
            3,
            "HTTP 500: Server Error",
        ),
        (
            ScriptedResponse::html(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            3,
            "HTTP 502",
        ),
        (
            ScriptedResponse::text(200, "<html>maintenance</html>"),
            1,
            "not JSON",
        ),
        (
            ScriptedResponse::json(200, json!({"access_token": 123})),
            1,
            "access_token",
        ),
    ];
    for (response, attempts, needle) in responses {
        let mut scenario = Scenario::new(admin, 2, false);
        scenario.use_short_totp_period();
        scenario.put_token(json!({"access_token": "previous"}));
        let before = scenario.stored_token();
        scenario.sim.push_response_times(response, attempts);
        let run = scenario.run(&[]);
        assert_failure(&scenario, &run, 69, needle);
        assert!(!run.stderr.contains("<html"), "{}", run.stderr);
        assert_eq!(scenario.sim.logins_attempted(), attempts, "{needle}");
        assert_untouched(&scenario, &before);
        let steps: Vec<u64> = scenario
            .sim
            .requests()
            .iter()
            .map(|r| r.at_unix / 2)
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "a retry reused a TOTP step: {steps:?}"
        );
    }
}

fn vault_policy_denied_exit_77(admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let name = format!("{}-token-only", scenario.mount);
    let policy = format!(
        "path \"{}/data/{}\" {{ capabilities = [\"read\", \"create\", \"update\"] }}\n",
        scenario.mount, scenario.token
    );
    let token = admin.token_with_policy(&name, &policy);
    scenario.set_env("VAULT_TOKEN", &token);
    let run = scenario.run(&[]);
    let denied = format!("/v1/{}/data/{}", scenario.mount, scenario.credentials);
    assert_failure(&scenario, &run, 77, &denied);
    assert!(run.stderr.contains("data/"), "{}", run.stderr);
    assert!(!run.stderr.contains(&token), "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 0);
    admin.delete_policy(&name);
}

fn write_denied_before_login(admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let name = format!("{}-read-only", scenario.mount);
    let policy = format!(
        "path \"{}/data/kriptomat/*\" {{ capabilities = [\"read\"] }}\n",
        scenario.mount
    );
    let token = admin.token_with_policy(&name, &policy);
    scenario.set_env("VAULT_TOKEN", &token);
    let run = scenario.run(&[]);
    // The lock write is the first write, and it fails before any login.
    assert_failure(&scenario, &run, 77, "create and update");
    assert_eq!(scenario.sim.logins_attempted(), 0);
    admin.delete_policy(&name);

    // With the lock writable but not the token, Vault's capabilities
    // check stops the run before the login.
    let name = format!("{}-lock-only", scenario.mount);
    let policy = format!(
        "path \"{m}/data/kriptomat/*\" {{ capabilities = [\"read\"] }}\npath \"{m}/data/kriptomat/token.lock\" {{ capabilities = [\"read\", \"create\", \"update\"] }}\n",
        m = scenario.mount
    );
    let token = admin.token_with_policy(&name, &policy);
    scenario.set_env("VAULT_TOKEN", &token);
    let run = scenario.run(&[]);
    assert_failure(&scenario, &run, 77, "checked before logging in");
    assert_eq!(scenario.sim.logins_attempted(), 0);
    admin.delete_policy(&name);
}

fn approle_login_revoked(admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let policy = format!("{}-approle", scenario.mount);
    admin.token_with_policy(&policy, &scenario.least_privilege_policy());
    let mount = format!("{}-approle", scenario.mount);
    let (role_id, secret_id) = admin.approle(&mount, "kriptomat", &policy);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&secret_file, format!("{secret_id}\n")).unwrap();
    scenario.remove_env("VAULT_TOKEN");
    scenario.set_env("KRIPTOMAT_VAULT_AUTH", "approle");
    scenario.set_env("KRIPTOMAT_VAULT_AUTH_MOUNT", &mount);
    scenario.set_env("KRIPTOMAT_VAULT_ROLE_ID", &role_id);
    scenario.set_env(
        "KRIPTOMAT_VAULT_SECRET_ID_FILE",
        &secret_file.display().to_string(),
    );
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    run.assert_no_secret(&[&role_id, &secret_id]);
    check_token(&scenario, 3600);
    admin.disable_auth(&mount);
    admin.delete_policy(&policy);
}

fn token_file_with_newline(admin: &VaultAdmin) {
    let mut scenario = Scenario::new(admin, 2, false);
    let name = format!("{}-file", scenario.mount);
    let token = admin.token_with_policy(&name, &scenario.least_privilege_policy());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("  {token}\n")).unwrap();
    scenario.remove_env("VAULT_TOKEN");
    scenario.set_env(
        "KRIPTOMAT_VAULT_TOKEN_FILE",
        &file.path().display().to_string(),
    );
    let run = scenario.run(&[]);
    assert_success(&scenario, &run);
    run.assert_no_secret(&[&token]);
    assert!(admin.token_valid(&token), "a given token is never revoked");
    admin.delete_policy(&name);
}
