//! Login behaviour of the Kriptomat simulator over HTTP: TOTP verification,
//! the replay guard, validation, credentials and `expires_in`.
//!
//! The clock starts at 1234567890, the first second of step 41152263, so
//! each test has 29 real seconds before the step changes.

use kriptomat_testkit::clock::TestClock;
use kriptomat_testkit::kriptomat::{Account, Algorithm, ExpiresInFormat, Simulator};
use serde_json::{json, Value};

/// RFC 6238 test key for HMAC-SHA-1 (base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ).
const RFC_SEED: &[u8] = b"12345678901234567890";
const START: u64 = 1_234_567_890;
const START_STEP: u64 = 41_152_263;
/// Code of the RFC seed in step 41152263, which starts at 1234567890.
const CODE_AT_START: &str = "005924";
/// Code of the RFC seed in step 41152262, the one before.
const CODE_BEFORE_START: &str = "980357";

const EMAIL: &str = "ops@partner.example.test";
const PASSWORD: &str = "correct-horse-battery";
const CLIENT_ID: u64 = 5;
const CLIENT_SECRET: &str = "cs_test_0123456789";

struct Reply {
    status: u16,
    json: Value,
}

/// Posts `body` as JSON with the headers of the provider's examples.
fn post_login(simulator: &Simulator, body: &Value) -> Reply {
    post_raw(
        simulator,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
}

fn post_raw(simulator: &Simulator, content_type: &str, body: Vec<u8>) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(simulator.login_url())
            .header("content-type", content_type)
            .header("accept", "application/json")
            .header("x-requested-with", "XMLHttpRequest")
            .body(body)
            .send()
            .await
            .expect("request to the simulator failed");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("response body is not JSON ({error}): {text}"));
        Reply { status, json }
    })
}

fn account(email: &str) -> Account {
    Account::new(email, PASSWORD, CLIENT_ID, CLIENT_SECRET, RFC_SEED.to_vec())
}

fn simulator_at(start: u64) -> Simulator {
    let simulator = Simulator::start(TestClock::starting_at(start));
    simulator.add_account(account(EMAIL));
    simulator
}

fn login_body(email: &str, code: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "security_code": code,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    })
}

/// Returns the messages that a 422 body lists for `field`.
fn field_errors(reply: &Reply, field: &str) -> Vec<String> {
    reply.json["errors"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no errors for {field} in {}", reply.json))
        .iter()
        .map(|message| message.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn account_codes_match_rfc_vectors() {
    let sha1 = account(EMAIL).with_digits(8);
    let sha256 = account(EMAIL)
        .with_digits(8)
        .with_algorithm(Algorithm::Sha256);
    let sha256 = Account {
        seed: b"12345678901234567890123456789012".to_vec(),
        ..sha256
    };
    let sha512 = Account {
        seed: b"1234567890123456789012345678901234567890123456789012345678901234".to_vec(),
        ..account(EMAIL)
            .with_digits(8)
            .with_algorithm(Algorithm::Sha512)
    };

    assert_eq!(sha1.code_at(59), "94287082");
    assert_eq!(sha256.code_at(59), "46119246");
    assert_eq!(sha512.code_at(59), "90693936");
    assert_eq!(sha1.code_at(START), "89005924");
    assert_eq!(sha256.code_at(START), "91819424");
    assert_eq!(sha512.code_at(START), "93441116");

    let six_digits = account(EMAIL);
    assert_eq!(six_digits.code_at(59), "287082");
    assert_eq!(six_digits.code_at(START), CODE_AT_START);
    assert_eq!(six_digits.code_at(START - 1), CODE_BEFORE_START);
    assert_eq!(six_digits.code_at(1_111_111_109), "081804");
    assert_eq!(six_digits.step_at(START), START_STEP);
}

#[test]
fn rfc_code_accepted_with_token() {
    let simulator = simulator_at(START);

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));

    assert_eq!(reply.status, 200, "body: {}", reply.json);
    let token = reply.json["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("kpt_"), "token {token}");
    assert_eq!(token.len(), 44);
    assert!(token[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(reply.json["expires_in"], json!(3600));
    assert_eq!(simulator.issued_tokens(), vec![token]);
    assert_eq!(simulator.logins_attempted(), 1);
    assert_eq!(simulator.logins_succeeded(), 1);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START_STEP));
}

#[test]
fn tokens_differ_between_logins() {
    let simulator = simulator_at(START);
    simulator.add_account(account("second@partner.example.test"));

    let first = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    let second = post_login(
        &simulator,
        &login_body("second@partner.example.test", CODE_AT_START),
    );

    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_ne!(first.json["access_token"], second.json["access_token"]);
    assert_eq!(simulator.issued_tokens().len(), 2);
}

#[test]
fn code_without_leading_zeros_rejected() {
    let simulator = simulator_at(START);

    let mut as_number = login_body(EMAIL, CODE_AT_START);
    as_number["security_code"] = json!(5924);
    let reply = post_login(&simulator, &as_number);
    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code field must be a string."]
    );

    let reply = post_login(&simulator, &login_body(EMAIL, "5924"));
    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code field must be 6 characters."]
    );

    let mut padded_number = login_body(EMAIL, CODE_AT_START);
    padded_number["security_code"] = json!(5924.0);
    assert_eq!(post_login(&simulator, &padded_number).status, 422);

    assert_eq!(simulator.logins_attempted(), 3);
    assert_eq!(simulator.logins_succeeded(), 0);
    assert_eq!(simulator.last_used_step(EMAIL), None);
}

#[test]
fn wrong_code_rejected() {
    let simulator = simulator_at(START);

    let reply = post_login(&simulator, &login_body(EMAIL, "123456"));

    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code is invalid."]
    );
    assert_eq!(reply.json["message"], "The security code is invalid.");
    assert_eq!(simulator.logins_succeeded(), 0);
}

#[test]
fn window_zero_rejects_previous_step() {
    let simulator = simulator_at(START);
    simulator.set_window(0);

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_BEFORE_START));
    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code is invalid."]
    );

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(reply.status, 200, "body: {}", reply.json);
}

#[test]
fn default_window_accepts_neighbour_steps() {
    let simulator = simulator_at(START);
    let next_step_code = account(EMAIL).code_at(START + 30);

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_BEFORE_START));
    assert_eq!(reply.status, 200, "body: {}", reply.json);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START_STEP - 1));

    let reply = post_login(&simulator, &login_body(EMAIL, &next_step_code));
    assert_eq!(reply.status, 200, "body: {}", reply.json);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START_STEP + 1));

    let two_steps_back = account(EMAIL).code_at(START - 60);
    let reply = post_login(&simulator, &login_body(EMAIL, &two_steps_back));
    assert_eq!(reply.status, 422);
}

#[test]
fn replayed_step_rejected() {
    let simulator = simulator_at(START);

    let first = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(first.status, 200, "body: {}", first.json);

    let replay = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(replay.status, 422);
    assert_eq!(
        field_errors(&replay, "security_code"),
        ["The security code has already been used."]
    );

    // An older step than the accepted one is a replay too.
    let older = post_login(&simulator, &login_body(EMAIL, CODE_BEFORE_START));
    assert_eq!(older.status, 422);
    assert_eq!(
        field_errors(&older, "security_code"),
        ["The security code has already been used."]
    );

    assert_eq!(simulator.logins_attempted(), 3);
    assert_eq!(simulator.logins_succeeded(), 1);
}

#[test]
fn replay_guard_is_per_account() {
    let simulator = simulator_at(START);
    simulator.add_account(account("other@partner.example.test"));

    let first = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    let other = post_login(
        &simulator,
        &login_body("other@partner.example.test", CODE_AT_START),
    );

    assert_eq!(first.status, 200);
    assert_eq!(other.status, 200);
}

#[test]
fn marked_step_rejected() {
    let simulator = simulator_at(START);
    simulator.mark_step_used(EMAIL, START_STEP);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START_STEP));

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code has already been used."]
    );

    let next_step_code = account(EMAIL).code_at(START + 30);
    let reply = post_login(&simulator, &login_body(EMAIL, &next_step_code));
    assert_eq!(reply.status, 200, "body: {}", reply.json);

    // Marking an older step keeps the newer one.
    simulator.mark_step_used(EMAIL, START_STEP - 5);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START_STEP + 1));
}

#[test]
#[should_panic(expected = "no account with email")]
fn marking_unknown_account_panics() {
    let simulator = simulator_at(START);
    simulator.mark_step_used("nobody@partner.example.test", START_STEP);
}

#[test]
fn wrong_credentials_get_401() {
    let simulator = simulator_at(START);
    let cases = [
        ("email", json!("stranger@partner.example.test")),
        ("password", json!("wrong-password")),
        ("client_id", json!(6)),
        ("client_secret", json!("cs_wrong")),
    ];

    for (field, value) in cases {
        let mut body = login_body(EMAIL, CODE_AT_START);
        body[field] = value;

        let reply = post_login(&simulator, &body);

        assert_eq!(reply.status, 401, "wrong {field}: body {}", reply.json);
        assert_eq!(reply.json["message"], "Invalid login credentials.");
        assert!(reply.json.get("errors").is_none(), "wrong {field}");
    }

    // A rejected login must not use up the step.
    assert_eq!(simulator.last_used_step(EMAIL), None);
    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(reply.status, 200);
}

#[test]
fn credentials_checked_before_code() {
    let simulator = simulator_at(START);
    let mut body = login_body(EMAIL, "000000");
    body["password"] = json!("wrong-password");

    assert_eq!(post_login(&simulator, &body).status, 401);
}

#[test]
fn client_id_must_be_json_integer() {
    let simulator = simulator_at(START);
    let cases = [json!("5"), json!(5.5), json!(5.0), json!(true), json!([5])];

    for value in cases {
        let mut body = login_body(EMAIL, CODE_AT_START);
        body["client_id"] = value.clone();

        let reply = post_login(&simulator, &body);

        assert_eq!(reply.status, 422, "client_id {value}: body {}", reply.json);
        assert_eq!(
            field_errors(&reply, "client_id"),
            ["The client id field must be an integer."],
            "client_id {value}"
        );
    }
    assert_eq!(simulator.logins_succeeded(), 0);
}

#[test]
fn long_client_id_keeps_every_digit() {
    let simulator = Simulator::start(TestClock::starting_at(START));
    let long_id: u64 = 123_456_789_012_345_678;
    simulator.add_account(Account::new(
        EMAIL,
        PASSWORD,
        long_id,
        CLIENT_SECRET,
        RFC_SEED.to_vec(),
    ));

    // The JSON text a float-based client would send: its last digits are lost.
    let rounded = r#"{"email":"ops@partner.example.test","password":"correct-horse-battery","security_code":"005924","client_id":123456789012345680,"client_secret":"cs_test_0123456789"}"#;
    let reply = post_raw(&simulator, "application/json", rounded.as_bytes().to_vec());
    assert_eq!(reply.status, 401);

    let mut body = login_body(EMAIL, CODE_AT_START);
    body["client_id"] = json!(long_id);
    let reply = post_login(&simulator, &body);
    assert_eq!(reply.status, 200, "body: {}", reply.json);
}

#[test]
fn missing_fields_named() {
    let simulator = simulator_at(START);

    let reply = post_login(&simulator, &json!({}));

    assert_eq!(reply.status, 422);
    for field in [
        "email",
        "password",
        "security_code",
        "client_id",
        "client_secret",
    ] {
        let label = field.replace('_', " ");
        assert_eq!(
            field_errors(&reply, field),
            [format!("The {label} field is required.")]
        );
    }
    assert!(reply.json["errors"].get("expires_in").is_none());
    assert_eq!(
        reply.json["message"],
        "The email field is required. (and 4 more errors)"
    );
}

#[test]
fn null_and_blank_fields_count_as_missing() {
    let simulator = simulator_at(START);
    let mut body = login_body(EMAIL, CODE_AT_START);
    body["password"] = json!(null);
    body["client_secret"] = json!("  ");

    let reply = post_login(&simulator, &body);

    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "password"),
        ["The password field is required."]
    );
    assert_eq!(
        field_errors(&reply, "client_secret"),
        ["The client secret field is required."]
    );
    assert_eq!(
        reply.json["message"],
        "The password field is required. (and 1 more error)"
    );
}

#[test]
fn non_string_email_rejected() {
    let simulator = simulator_at(START);
    let mut body = login_body(EMAIL, CODE_AT_START);
    body["email"] = json!(42);

    let reply = post_login(&simulator, &body);

    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "email"),
        ["The email field must be a string."]
    );
}

#[test]
fn body_without_json_content_type_rejected() {
    let simulator = simulator_at(START);
    let body = serde_json::to_vec(&login_body(EMAIL, CODE_AT_START)).unwrap();

    let reply = post_raw(&simulator, "text/plain", body);

    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "email"),
        ["The email field is required."]
    );
    assert_eq!(simulator.last_used_step(EMAIL), None);
}

#[test]
fn malformed_json_rejected() {
    let simulator = simulator_at(START);

    let reply = post_raw(
        &simulator,
        "application/json; charset=utf-8",
        b"{\"email\": ".to_vec(),
    );

    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code field is required."]
    );
}

#[test]
fn requested_expires_in_honoured_and_capped() {
    let simulator = Simulator::start(TestClock::starting_at(START));
    let cases = [
        ("short", Some(600), 600),
        ("at-cap", Some(3600), 3600),
        ("over-cap", Some(7200), 3600),
        ("huge", Some(u64::MAX), 3600),
        ("default", None, 3600),
    ];

    for (name, requested, expected) in cases {
        let email = format!("{name}@partner.example.test");
        simulator.add_account(account(&email));
        let mut body = login_body(&email, CODE_AT_START);
        if let Some(secs) = requested {
            body["expires_in"] = json!(secs);
        }

        let reply = post_login(&simulator, &body);

        assert_eq!(reply.status, 200, "{name}: body {}", reply.json);
        assert_eq!(reply.json["expires_in"], json!(expected), "{name}");
    }
}

#[test]
fn lower_cap_applies_to_default() {
    let simulator = simulator_at(START);
    simulator.set_max_expires_in(900);

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));

    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["expires_in"], json!(900));
}

#[test]
fn invalid_expires_in_rejected() {
    let simulator = simulator_at(START);
    let cases = [
        (json!("600"), "The expires in field must be an integer."),
        (json!(60.5), "The expires in field must be an integer."),
        (json!(null), "The expires in field must be an integer."),
        (json!(0), "The expires in field must be at least 1."),
        (json!(-60), "The expires in field must be at least 1."),
    ];

    for (value, message) in cases {
        let mut body = login_body(EMAIL, CODE_AT_START);
        body["expires_in"] = value.clone();

        let reply = post_login(&simulator, &body);

        assert_eq!(reply.status, 422, "expires_in {value}");
        assert_eq!(
            field_errors(&reply, "expires_in"),
            [message],
            "expires_in {value}"
        );
    }
    assert_eq!(simulator.last_used_step(EMAIL), None);
}

#[test]
fn expires_in_sent_as_string() {
    let simulator = simulator_at(START);
    simulator.set_expires_in_format(ExpiresInFormat::String);
    let mut body = login_body(EMAIL, CODE_AT_START);
    body["expires_in"] = json!(1800);

    let reply = post_login(&simulator, &body);

    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["expires_in"], json!("1800"));
}

#[test]
fn expires_in_left_out() {
    let simulator = simulator_at(START);
    simulator.set_expires_in_format(ExpiresInFormat::Missing);

    let reply = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));

    assert_eq!(reply.status, 200);
    assert!(reply.json["access_token"].is_string());
    assert!(
        reply.json.get("expires_in").is_none(),
        "body {}",
        reply.json
    );
}

#[test]
fn eight_digit_sha256_account() {
    let simulator = Simulator::start(TestClock::starting_at(START));
    let account = Account {
        seed: b"12345678901234567890123456789012".to_vec(),
        ..account(EMAIL)
            .with_digits(8)
            .with_algorithm(Algorithm::Sha256)
    };
    simulator.add_account(account);

    let reply = post_login(&simulator, &login_body(EMAIL, "819424"));
    assert_eq!(reply.status, 422);
    assert_eq!(
        field_errors(&reply, "security_code"),
        ["The security code field must be 8 characters."]
    );

    let reply = post_login(&simulator, &login_body(EMAIL, "91819424"));
    assert_eq!(reply.status, 200, "body: {}", reply.json);
}

#[test]
fn sixty_second_period() {
    let simulator = Simulator::start(TestClock::starting_at(START));
    let account = account(EMAIL).with_period(60);
    let code = account.code_at(START);
    simulator.add_account(account);
    simulator.set_window(0);

    let reply = post_login(&simulator, &login_body(EMAIL, &code));

    assert_eq!(reply.status, 200, "body: {}", reply.json);
    assert_eq!(simulator.last_used_step(EMAIL), Some(START / 60));
}

#[test]
fn step_boundary_moves_accepted_code() {
    // Starts 2 s before step 41152263, so the code of step 41152262 works
    // only until the step changes.
    let simulator = simulator_at(START - 2);
    simulator.set_window(0);

    let early = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(early.status, 422);

    std::thread::sleep(std::time::Duration::from_millis(2100));
    let late = post_login(&simulator, &login_body(EMAIL, CODE_AT_START));
    assert_eq!(late.status, 200, "body: {}", late.json);
}
