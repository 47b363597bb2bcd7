//! End-to-end runs of the binary against the in-process fake Vault and the
//! API simulator: the case table shared with the conformance suite, then
//! the cases that need the fake's fault injection, sealing or request log.

mod common;

#[test]
fn shared_cases_against_fake_vault() {
    let (_vault, admin) = common::start_fake();
    common::cases::run_all(&admin);
}

#[test]
fn fake_only_cases() {
    let (vault, admin) = common::start_fake();
    common::fake_cases::run_all(&vault, &admin);
}
