//! Every end-to-end case again at the highest verbosity: `-vvv` and
//! `RUST_LOG=trace`, which also opens the logs of vaultrs, reqwest and hyper.
//! No output may contain a sentinel secret: password, client secret, seed,
//! email, TOTP codes, access tokens or Vault tokens.

mod common;

use common::admin::VaultAdmin;
use common::{run_binary, MAX_VERBOSITY, PASSWORD, ROOT_TOKEN};
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions};
use std::sync::atomic::Ordering;

#[test]
fn no_secret_in_any_output_at_trace() {
    MAX_VERBOSITY.store(true, Ordering::SeqCst);
    let vault = FakeVault::start_with(FakeVaultOptions {
        root_token: ROOT_TOKEN.to_owned(),
        ..FakeVaultOptions::default()
    });
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    common::cases::run_all(&admin);
    common::fake_cases::run_all(&vault, &admin);
}

#[test]
fn usage_errors_do_not_echo_secrets() {
    MAX_VERBOSITY.store(true, Ordering::SeqCst);
    let env = |extra: &[(&str, &str)]| {
        let mut env = vec![
            ("VAULT_TOKEN".to_owned(), ROOT_TOKEN.to_owned()),
            (
                "KRIPTOMAT_CREDENTIALS_PATH".to_owned(),
                "secret/a".to_owned(),
            ),
            ("KRIPTOMAT_TOKEN_PATH".to_owned(), "secret/b".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let cases: [&[(&str, &str)]; 4] = [
        &[("VAULT_ADDR", "ftp://vault.example.test")],
        &[(
            "KRIPTOMAT_API_URL",
            "https://login.example.test/v1?key=pw-SENTINEL-7f3a9c",
        )],
        &[(
            "VAULT_ADDR",
            "https://admin:pw-SENTINEL-7f3a9c@vault.example.test",
        )],
        &[("VAULT_TOKEN", "hvs.SENTINEL-root-5e1d\u{7}")],
    ];
    for extra in cases {
        let run = run_binary(&env(extra), &["refresh"]);
        assert_eq!(run.code, 64, "{extra:?}: {}", run.stderr);
        run.assert_no_secret(&[ROOT_TOKEN, PASSWORD]);
    }
}
