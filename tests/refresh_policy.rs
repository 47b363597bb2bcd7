//! The refresh policy under pressure: concurrent runs, the lockout guard,
//! and TOTP replay, against the in-process fake Vault and the simulator.

mod common;

use common::{Scenario, EMAIL};
use serde_json::json;

#[test]
fn eight_concurrent_runs_one_login() {
    let (_vault, admin) = common::start_fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    // The simulator responds slowly, so every run finds the lock taken.
    scenario
        .sim
        .set_response_delay(std::time::Duration::from_millis(1500));
    scenario.set_env("KRIPTOMAT_LOCK_WAIT", "30s");
    let children: Vec<_> = (0..8).map(|_| scenario.spawn(&[])).collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for output in &outputs {
        let code = output.status.code().unwrap();
        assert!(
            code == 0 || code == 75,
            "exit {code}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let succeeded = outputs
        .iter()
        .filter(|o| o.status.code() == Some(0))
        .count();
    assert_eq!(
        succeeded, 8,
        "every run sees the winner's token within the lock wait"
    );
    assert_eq!(scenario.sim.logins_attempted(), 1);
    let stored = scenario.stored_token().unwrap();
    assert_eq!(
        stored["access_token"],
        scenario.sim.issued_tokens()[0].as_str()
    );
    let fresh = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("still fresh"))
        .count();
    assert_eq!(fresh, 7);
}

#[test]
fn concurrent_runs_exit_75_when_holder_is_slow() {
    let (_vault, admin) = common::start_fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario
        .sim
        .set_response_delay(std::time::Duration::from_secs(6));
    scenario.set_env("KRIPTOMAT_LOCK_WAIT", "2s");
    let children: Vec<_> = (0..4).map(|_| scenario.spawn(&[])).collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let codes: Vec<i32> = outputs.iter().map(|o| o.status.code().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 75).count(), 3, "{codes:?}");
    for output in outputs.iter().filter(|o| o.status.code() == Some(75)) {
        assert!(String::from_utf8_lossy(&output.stderr).contains("holds the lock"));
    }
    assert_eq!(scenario.sim.logins_attempted(), 1);
}

#[test]
fn lockout_after_three_rejections() {
    let (_vault, admin) = common::start_fake();
    let mut scenario = Scenario::new(&admin, 2, false);
    scenario.use_short_totp_period();
    let mut wrong = scenario.default_credentials();
    wrong["password"] = json!("wrong-password-SENTINEL");
    wrong["totp_secret"] = json!(format!("otpauth://totp/x?secret={}&period=2", common::SEED));
    scenario.put_credentials(wrong);
    let mut codes = Vec::new();
    for _ in 0..6 {
        let run = scenario.run(&[]);
        codes.push(run.code);
        scenario.assert_quiet_about_secrets(&run);
        run.assert_no_secret(&["wrong-password-SENTINEL"]);
    }
    assert_eq!(codes, vec![77; 6]);
    assert_eq!(scenario.sim.logins_attempted(), 3);
    let last = scenario.run(&[]);
    assert!(
        last.stderr
            .contains("login disabled after 3 rejected login(s)"),
        "{}",
        last.stderr
    );
    assert!(last.stderr.contains("--reset-failures"), "{}", last.stderr);
    assert_eq!(scenario.stored_token().unwrap()["login_failures"], 3);

    // Writing the credentials again is the whole recovery.
    scenario.use_short_totp_period();
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_succeeded(), 1);
    assert_eq!(scenario.stored_token().unwrap()["login_failures"], 0);
}

#[test]
fn reset_flag_clears_lockout() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::new(&admin, 2, false);
    // A count stored without the credentials' fingerprint belongs to no
    // credentials, so it blocks nothing; the failing run below records one.
    scenario.put_token(json!({"login_failures": 5}));
    scenario
        .sim
        .push_response(kriptomat_testkit::kriptomat::ScriptedResponse::json(
            401,
            json!({"message": "Invalid"}),
        ));
    let run = scenario.run(&["--max-failures", "1"]);
    assert_eq!(run.code, 77, "{}", run.stderr);
    let blocked = scenario.run(&["--max-failures", "1"]);
    assert_eq!(blocked.code, 77);
    assert!(
        blocked.stderr.contains("login disabled"),
        "{}",
        blocked.stderr
    );
    assert_eq!(scenario.sim.logins_attempted(), 1);
    let run = scenario.run(&["--max-failures", "1", "--reset-failures"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.sim.logins_attempted(), 2);
}

#[test]
fn replayed_step_retried_with_next() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::with_clock(&admin, 2, false, Some(1234567880));
    let mut account = scenario.account.clone();
    account.seed = common::seed_bytes(common::RFC_SEED);
    scenario.sim.add_account(account);
    let mut credentials = scenario.default_credentials();
    credentials["totp_secret"] = json!(common::RFC_SEED);
    scenario.put_credentials(credentials);
    // Another client already used the current step at the API.
    scenario.sim.mark_step_used(EMAIL, 41152262);
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let codes = scenario.codes_sent();
    assert_eq!(codes, vec!["980357".to_owned(), "005924".to_owned()]);
    assert_eq!(scenario.stored_token().unwrap()["totp_last_step"], 41152263);
}

#[test]
fn stored_step_waited_out() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::with_clock(&admin, 2, false, Some(1234567880));
    let mut account = scenario.account.clone();
    account.seed = common::seed_bytes(common::RFC_SEED);
    scenario.sim.add_account(account);
    let mut credentials = scenario.default_credentials();
    credentials["totp_secret"] = json!(common::RFC_SEED);
    scenario.put_credentials(credentials);
    // The previous run used the current step; this one waits for the next.
    scenario.put_token(json!({"access_token": "old", "expires_at": "2009-02-13T23:40:00Z", "totp_last_step": 41152262}));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scenario.codes_sent(), vec!["005924".to_owned()]);
    assert!(scenario.sim.requests()[0].at_unix >= 1234567890);
}

#[test]
fn reset_flag_works_while_token_fresh() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::new(&admin, 2, false);
    scenario
        .sim
        .push_response(kriptomat_testkit::kriptomat::ScriptedResponse::json(
            401,
            json!({"message": "Invalid"}),
        ));
    let failed = scenario.run(&["--max-failures", "1"]);
    assert_eq!(failed.code, 77, "{}", failed.stderr);
    let mut token = scenario.stored_token().unwrap();
    token["access_token"] = json!("still-good");
    token["expires_at"] = json!(common::cases::future(3000));
    scenario.put_token(token);
    let run = scenario.run(&["--max-failures", "1", "--reset-failures"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("still fresh"), "{}", run.stdout);
    assert_eq!(scenario.stored_token().unwrap()["login_failures"], 0);
    assert_eq!(scenario.sim.logins_attempted(), 1);
}

#[test]
fn sigterm_releases_lock() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::new(&admin, 2, false);
    scenario
        .sim
        .set_response_delay(std::time::Duration::from_secs(20));
    let child = scenario.spawn(&[]);
    // Wait until the run has taken the lock and is waiting for the API.
    let started = std::time::Instant::now();
    while scenario.sim.requests().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no login arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted by a signal"));
    let lock = admin
        .get(&scenario.mount, "kriptomat/token.lock", 2)
        .expect("lock record");
    assert_eq!(lock["owner"], "", "released: {lock}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the run stopped at once"
    );
}

#[test]
fn period_change_keeps_step_guard() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::with_clock(&admin, 2, false, Some(1234567890));
    let account = scenario.account.clone().with_period(60);
    scenario.sim.add_account(account);
    let mut credentials = scenario.default_credentials();
    credentials["totp_secret"] = json!(format!(
        "otpauth://totp/x?secret={}&period=60",
        common::SEED
    ));
    scenario.put_credentials(credentials);
    // A 30-second step that ended at 1234567890, sent before the change.
    scenario.put_token(json!({"totp_last_step": 41152262, "totp_period": 30}));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("ahead"), "{}", run.stderr);
    let stored = scenario.stored_token().unwrap();
    assert_eq!(stored["totp_period"], 60);
    assert_eq!(stored["totp_last_step"], 1234567890 / 60);
}

#[test]
fn bogus_stored_step_replaced() {
    let (_vault, admin) = common::start_fake();
    let scenario = Scenario::new(&admin, 2, false);
    scenario.put_token(json!({"totp_last_step": "18446744073709551615"}));
    let run = scenario.run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("ahead of this host's clock").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(scenario.sim.logins_attempted(), 1);
    let step = scenario.stored_token().unwrap()["totp_last_step"]
        .as_u64()
        .unwrap();
    assert!(step < 1 << 40, "replaced: {step}");
}
