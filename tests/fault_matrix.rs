//! The fault matrix: each Vault and API failure class at each step of a run
//! (mount lookup, credential read, lock, login, write), run at trace
//! verbosity. Every row asserts the exit code, the error line, the number
//! of logins the simulated API saw, the token path afterwards (untouched
//! or holding a valid new token) and that no secret reached the output.

mod common;

use common::admin::VaultAdmin;
use common::{Scenario, MAX_VERBOSITY, ROOT_TOKEN};
use kriptomat_testkit::kriptomat::ScriptedResponse;
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions, Fault};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The step of a run a Vault fault hits.
#[derive(Clone, Copy, Debug)]
enum Step {
    MountLookup,
    CredentialRead,
    LockRead,
    LockWrite,
    TokenWrite,
}

/// What a row breaks.
enum Break {
    Vault(Step, fn(&str, &str) -> Fault),
    Api(Vec<ScriptedResponse>),
}

/// What the token path must hold after the run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum After {
    Untouched,
    NewToken,
    /// A token from a scripted response, stored exactly as given here.
    Token(&'static str),
}

struct Row {
    name: &'static str,
    fault: Break,
    exit: i32,
    needle: &'static str,
    logins: usize,
    after: After,
}

const CAS: &str = "check-and-set parameter did not match the current version";

fn errors(method: &str, path: &str, status: u16, message: &str) -> Fault {
    Fault::errors(method, path, status, &[message]).exact()
}

fn row(
    name: &'static str,
    fault: Break,
    exit: i32,
    needle: &'static str,
    logins: usize,
    after: After,
) -> Row {
    Row {
        name,
        fault,
        exit,
        needle,
        logins,
        after,
    }
}

fn vault_rows() -> Vec<Row> {
    use After::*;
    use Step::*;
    let v = |step, fault| Break::Vault(step, fault);
    vec![
        row(
            "lookup refused",
            v(MountLookup, |m, p| {
                Fault::drop_connection(m, p).exact().times(2)
            }),
            69,
            "unavailable",
            0,
            Untouched,
        ),
        row(
            "lookup timeout",
            v(MountLookup, |m, p| {
                Fault::delay(m, p, Duration::from_secs(3)).exact().times(2)
            }),
            69,
            "timed out",
            0,
            Untouched,
        ),
        row(
            "lookup 403",
            v(MountLookup, |m, p| errors(m, p, 403, "permission denied")),
            77,
            "--kv-version",
            0,
            Untouched,
        ),
        row(
            "lookup 404 old server",
            v(MountLookup, |m, p| errors(m, p, 404, "")),
            64,
            "is KV v2",
            0,
            Untouched,
        ),
        row(
            "lookup 412",
            v(MountLookup, |m, p| {
                errors(m, p, 412, "required index state not present").times(2)
            }),
            69,
            "HTTP 412",
            0,
            Untouched,
        ),
        row(
            "lookup 429",
            v(MountLookup, |m, p| {
                errors(m, p, 429, "rate limit quota exceeded").times(2)
            }),
            69,
            "HTTP 429",
            0,
            Untouched,
        ),
        row(
            "lookup 500",
            v(MountLookup, |m, p| {
                errors(m, p, 500, "internal error").times(2)
            }),
            69,
            "HTTP 500",
            0,
            Untouched,
        ),
        row(
            "lookup sealed",
            v(MountLookup, |m, p| {
                errors(m, p, 503, "Vault is sealed").times(2)
            }),
            69,
            "sealed",
            0,
            Untouched,
        ),
        row(
            "lookup malformed json",
            v(MountLookup, |m, p| {
                Fault::status(m, p, 200, "{not json").exact()
            }),
            69,
            "unexpected response",
            0,
            Untouched,
        ),
        row(
            "lookup 412 once retried",
            v(MountLookup, |m, p| {
                errors(m, p, 412, "required index state not present")
            }),
            0,
            "",
            1,
            NewToken,
        ),
        row(
            "credentials refused",
            v(CredentialRead, |m, p| {
                Fault::drop_connection(m, p).exact().times(2)
            }),
            69,
            "unavailable",
            0,
            Untouched,
        ),
        row(
            "credentials timeout",
            v(CredentialRead, |m, p| {
                Fault::delay(m, p, Duration::from_secs(3)).exact().times(2)
            }),
            69,
            "timed out",
            0,
            Untouched,
        ),
        row(
            "credentials 403",
            v(CredentialRead, |m, p| {
                errors(m, p, 403, "permission denied")
            }),
            77,
            "/data/kriptomat/partner",
            0,
            Untouched,
        ),
        row(
            "credentials 403 invalid token",
            v(CredentialRead, |m, p| {
                Fault::errors(m, p, 403, &["permission denied", "invalid token"]).exact()
            }),
            77,
            "invalid, expired or revoked",
            0,
            Untouched,
        ),
        row(
            "credentials 404",
            v(CredentialRead, |m, p| errors(m, p, 404, "")),
            65,
            "no credentials secret",
            0,
            Untouched,
        ),
        row(
            "credentials 412",
            v(CredentialRead, |m, p| {
                errors(m, p, 412, "required index state not present").times(2)
            }),
            69,
            "HTTP 412",
            0,
            Untouched,
        ),
        row(
            "credentials 429",
            v(CredentialRead, |m, p| {
                errors(m, p, 429, "rate limit quota exceeded").times(2)
            }),
            69,
            "HTTP 429",
            0,
            Untouched,
        ),
        row(
            "credentials 500",
            v(CredentialRead, |m, p| {
                errors(m, p, 500, "internal error").times(2)
            }),
            69,
            "HTTP 500",
            0,
            Untouched,
        ),
        row(
            "credentials sealed",
            v(CredentialRead, |m, p| {
                errors(m, p, 503, "Vault is sealed").times(2)
            }),
            69,
            "sealed",
            0,
            Untouched,
        ),
        row(
            "credentials malformed json",
            v(CredentialRead, |m, p| {
                Fault::status(m, p, 200, "<html>proxy</html>").exact()
            }),
            69,
            "unexpected response",
            0,
            Untouched,
        ),
        row(
            "credentials 500 once retried",
            v(CredentialRead, |m, p| errors(m, p, 500, "internal error")),
            0,
            "",
            1,
            NewToken,
        ),
        row(
            "lock read 403",
            v(LockRead, |m, p| errors(m, p, 403, "permission denied")),
            77,
            "token.lock",
            0,
            Untouched,
        ),
        row(
            "lock read 500",
            v(LockRead, |m, p| {
                errors(m, p, 500, "internal error").times(2)
            }),
            69,
            "HTTP 500",
            0,
            Untouched,
        ),
        row(
            "lock read sealed",
            v(LockRead, |m, p| {
                errors(m, p, 503, "Vault is sealed").times(2)
            }),
            69,
            "sealed",
            0,
            Untouched,
        ),
        row(
            "lock write cas mismatch",
            v(LockWrite, |m, p| errors(m, p, 400, CAS).times(50)),
            75,
            "holds the lock",
            0,
            Untouched,
        ),
        row(
            "lock write 403",
            v(LockWrite, |m, p| errors(m, p, 403, "permission denied")),
            77,
            "token.lock",
            0,
            Untouched,
        ),
        row(
            "lock write 500",
            v(LockWrite, |m, p| {
                errors(m, p, 500, "internal error").times(2)
            }),
            69,
            "HTTP 500",
            0,
            Untouched,
        ),
        row(
            "write refused",
            v(TokenWrite, |m, p| {
                Fault::drop_connection(m, p).exact().times(2)
            }),
            69,
            "unavailable",
            1,
            Untouched,
        ),
        row(
            "write timeout",
            v(TokenWrite, |m, p| {
                Fault::delay(m, p, Duration::from_secs(3)).exact().times(2)
            }),
            69,
            "timed out",
            1,
            Untouched,
        ),
        row(
            "write 403",
            v(TokenWrite, |m, p| errors(m, p, 403, "permission denied")),
            77,
            "/data/kriptomat/token",
            1,
            Untouched,
        ),
        row(
            "write 404 no mount",
            v(TokenWrite, |m, p| errors(m, p, 404, "no handler for route")),
            69,
            "HTTP 404",
            1,
            Untouched,
        ),
        row(
            "write 412",
            v(TokenWrite, |m, p| {
                errors(m, p, 412, "required index state not present").times(2)
            }),
            69,
            "HTTP 412",
            1,
            Untouched,
        ),
        row(
            "write 429",
            v(TokenWrite, |m, p| {
                errors(m, p, 429, "rate limit quota exceeded").times(2)
            }),
            69,
            "HTTP 429",
            1,
            Untouched,
        ),
        row(
            "write 500",
            v(TokenWrite, |m, p| {
                errors(m, p, 500, "internal error").times(2)
            }),
            69,
            "HTTP 500",
            1,
            Untouched,
        ),
        row(
            "write sealed",
            v(TokenWrite, |m, p| {
                errors(m, p, 503, "Vault is sealed").times(2)
            }),
            69,
            "sealed",
            1,
            Untouched,
        ),
        row(
            "write malformed json",
            v(TokenWrite, |m, p| {
                Fault::status(m, p, 200, "{not json").exact()
            }),
            69,
            "unexpected response",
            1,
            Untouched,
        ),
        row(
            "write cas mismatch",
            v(TokenWrite, |m, p| errors(m, p, 400, CAS).times(3)),
            75,
            "write conflict",
            1,
            Untouched,
        ),
        row(
            "write cas mismatch once",
            v(TokenWrite, |m, p| errors(m, p, 400, CAS)),
            0,
            "",
            1,
            NewToken,
        ),
    ]
}

fn api_rows() -> Vec<Row> {
    use After::*;
    let api = |responses: Vec<ScriptedResponse>| Break::Api(responses);
    let times = |response: ScriptedResponse, n: usize| vec![response; n];
    let code_rejected = || {
        ScriptedResponse::json(
            422,
            json!({"message": "The given data was invalid.", "errors": {"security_code": ["The security code is invalid."]}}),
        )
    };
    vec![
        row(
            "api 401",
            api(times(
                ScriptedResponse::json(401, json!({"message": "Invalid login credentials."})),
                1,
            )),
            77,
            "HTTP 401",
            1,
            Untouched,
        ),
        row(
            "api 403 ip not allowed",
            api(times(
                ScriptedResponse::json(403, json!({"message": "IP address not allowed."})),
                1,
            )),
            77,
            "HTTP 403",
            1,
            Untouched,
        ),
        row(
            "api 422 code twice",
            api(times(code_rejected(), 2)),
            77,
            "security_code",
            2,
            Untouched,
        ),
        row(
            "api 422 code once",
            api(times(code_rejected(), 1)),
            0,
            "",
            2,
            NewToken,
        ),
        row(
            "api 422 other field",
            api(times(
                ScriptedResponse::json(
                    422,
                    json!({"message": "The email field is required.", "errors": {"email": ["required"]}}),
                ),
                1,
            )),
            77,
            "fields: email",
            1,
            Untouched,
        ),
        row(
            "api 429 retry-after",
            api(times(ScriptedResponse::rate_limited(1), 3)),
            75,
            "Retry-After 1",
            3,
            Untouched,
        ),
        row(
            "api 429 retry-after too long",
            api(times(ScriptedResponse::rate_limited(600), 1)),
            75,
            "Retry-After 600",
            1,
            Untouched,
        ),
        row(
            "api 429 once",
            api(times(ScriptedResponse::rate_limited(1), 1)),
            0,
            "",
            2,
            NewToken,
        ),
        row(
            "api 500",
            api(times(
                ScriptedResponse::json(500, json!({"message": "Server Error"})),
                3,
            )),
            69,
            "HTTP 500: Server Error",
            3,
            Untouched,
        ),
        row(
            "api 502 html",
            api(times(ScriptedResponse::bad_gateway(), 3)),
            69,
            "not JSON",
            3,
            Untouched,
        ),
        row(
            "api 503 once",
            api(times(ScriptedResponse::html(503, "<html>busy</html>"), 1)),
            0,
            "",
            2,
            NewToken,
        ),
        row(
            "api slow answer",
            api(times(
                ScriptedResponse::json(200, json!({"access_token": "late", "expires_in": 3600}))
                    .with_delay(Duration::from_secs(4)),
                3,
            )),
            69,
            "timed out",
            3,
            Untouched,
        ),
        row(
            "api 200 html",
            api(times(
                ScriptedResponse::html(200, "<html>maintenance</html>"),
                1,
            )),
            69,
            "not JSON",
            1,
            Untouched,
        ),
        row(
            "api 200 empty body",
            api(times(ScriptedResponse::new(200), 1)),
            69,
            "not JSON",
            1,
            Untouched,
        ),
        row(
            "api 200 token not string",
            api(times(
                ScriptedResponse::json(200, json!({"access_token": 123})),
                1,
            )),
            69,
            "access_token",
            1,
            Untouched,
        ),
        row(
            "api 200 expires_in word",
            api(times(
                ScriptedResponse::json(200, json!({"access_token": "t", "expires_in": "soon"})),
                1,
            )),
            69,
            "expires_in",
            1,
            Untouched,
        ),
        row(
            "api 200 expires_in huge",
            api(times(
                ScriptedResponse::json(200, json!({"access_token": "t", "expires_in": u64::MAX})),
                1,
            )),
            69,
            "more than the",
            1,
            Untouched,
        ),
        row(
            "api 401 echoes the request",
            api(times(
                ScriptedResponse::json(
                    401,
                    json!({"message": format!("bad password {} for {}", common::PASSWORD, common::CLIENT_SECRET)}),
                ),
                1,
            )),
            77,
            "bad password *** for ***",
            1,
            Untouched,
        ),
        row(
            "api 200 token padded",
            api(times(
                ScriptedResponse::json(
                    200,
                    json!({"access_token": "  kpt_padded-token\n", "expires_in": 3600}),
                ),
                1,
            )),
            0,
            "",
            1,
            Token("kpt_padded-token"),
        ),
        row(
            "api 404 wrong base",
            api(times(
                ScriptedResponse::json(404, json!({"message": "Not Found"})),
                1,
            )),
            69,
            "HTTP 404",
            1,
            Untouched,
        ),
    ]
}

fn vault_path(scenario: &Scenario, step: Step) -> (&'static str, String) {
    let data = |path: &str| format!("/v1/{}/data/kriptomat/{path}", scenario.mount);
    match step {
        Step::MountLookup => (
            "GET",
            format!(
                "/v1/sys/internal/ui/mounts/{}/kriptomat/token",
                scenario.mount
            ),
        ),
        Step::CredentialRead => ("GET", data("partner")),
        Step::LockRead => ("GET", data("token.lock")),
        Step::LockWrite => ("POST", data("token.lock")),
        Step::TokenWrite => ("POST", data("token")),
    }
}

fn strip_bookkeeping(value: Option<Value>) -> Option<Value> {
    value.map(|mut v| {
        for key in vault_kriptomat::bookkeeping::BOOKKEEPING_KEYS {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    })
}

fn check_row(vault: &FakeVault, admin: &VaultAdmin, row: &Row) {
    let mut scenario = Scenario::new(admin, 2, false);
    scenario.use_short_totp_period();
    scenario.set_env("VAULT_MAX_RETRIES", "1");
    scenario.set_env("VAULT_CLIENT_TIMEOUT", "1s");
    scenario.set_env("KRIPTOMAT_API_TIMEOUT", "2s");
    scenario.set_env("KRIPTOMAT_LOCK_WAIT", "2s");
    scenario.put_token(json!({"access_token": "previous", "expires_at": common::cases::future(120), "owner": "team-a"}));
    let before = strip_bookkeeping(scenario.stored_token());
    match &row.fault {
        Break::Vault(step, fault) => {
            let (method, path) = vault_path(&scenario, *step);
            vault.inject(fault(method, &path));
        }
        Break::Api(responses) => responses
            .iter()
            .for_each(|r| scenario.sim.push_response(r.clone())),
    }
    let run = scenario.run(&[]);
    vault.clear_faults();
    assert_eq!(run.code, row.exit, "{}: {}", row.name, run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    if row.exit == 0 {
        assert!(!last.contains("error:"), "{}: {last}", row.name);
    } else {
        assert!(
            last.starts_with("vault-kriptomat: error: "),
            "{}: {}",
            row.name,
            run.stderr
        );
        assert!(
            last.contains(row.needle),
            "{}: error line lacks {:?}: {last}",
            row.name,
            row.needle
        );
    }
    assert_eq!(
        scenario.sim.logins_attempted(),
        row.logins,
        "{}: logins",
        row.name
    );
    let stored = scenario.stored_token().expect("token path still there");
    match row.after {
        After::Untouched => assert_eq!(
            strip_bookkeeping(Some(stored)),
            before,
            "{}: token fields changed",
            row.name
        ),
        After::Token(expected) => assert_eq!(stored["access_token"], expected, "{}", row.name),
        After::NewToken => {
            let issued = scenario.sim.issued_tokens();
            assert_eq!(
                stored["access_token"],
                issued.last().unwrap().as_str(),
                "{}",
                row.name
            );
            assert_eq!(stored["owner"], "team-a", "{}", row.name);
        }
    }
    scenario.assert_quiet_about_secrets(&run);
}

#[test]
fn fault_matrix_at_trace() {
    MAX_VERBOSITY.store(true, Ordering::SeqCst);
    let vault = FakeVault::start_with(FakeVaultOptions {
        root_token: ROOT_TOKEN.to_owned(),
        ..FakeVaultOptions::default()
    });
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    let rows: Vec<Row> = vault_rows().into_iter().chain(api_rows()).collect();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut failed = Vec::new();
    for row in &rows {
        eprintln!("row: {}", row.name);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_row(&vault, &admin, row)
        }))
        .is_err()
        {
            failed.push(row.name);
        }
    }
    assert!(failed.is_empty(), "failed rows: {failed:?}");
}
