//! End-to-end runs of the binary against the in-process fake Vault and the
//! API simulator: the case table shared with the conformance suite, then
//! the cases that need the fake's fault injection, sealing or request log.

mod common;

use common::admin::VaultAdmin;
use common::ROOT_TOKEN;
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions};

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
fn fake_only_cases() {
    let (vault, admin) = fake();
    common::fake_cases::run_all(&vault, &admin);
}
