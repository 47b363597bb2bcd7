//! Runs one refresh end to end on the embedded fakes: a fake Vault with
//! placeholder credentials and a simulated partners API, both on loopback.
//! Prints what was written to Vault, with the access token redacted.
//!
//! ```text
//! cargo run --example demo
//! ```

use clap::Parser;
use kriptomat_testkit::clock::TestClock;
use kriptomat_testkit::kriptomat::{Account, Simulator};
use kriptomat_testkit::vault::FakeVault;
use serde_json::json;
use vault_kriptomat::cli::Cli;
use vault_kriptomat::clock::Clock;
use vault_kriptomat::config::Config;

/// Placeholder credentials; the seed is a public example, not a real account.
const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn main() {
    let vault = FakeVault::start();
    let api = Simulator::start(TestClock::system());
    let seed = vault_kriptomat::totp::decode_base32(SEED)
        .expect("valid seed")
        .to_vec();
    api.add_account(Account::new(
        "partner@example.com",
        "placeholder-password",
        1001,
        "placeholder-client-secret",
        seed,
    ));
    vault.write(
        "secret",
        "kriptomat/partner",
        json!({
            "email": "partner@example.com",
            "password": "placeholder-password",
            "client_id": 1001,
            "client_secret": "placeholder-client-secret",
            "totp_secret": SEED,
        }),
    );
    vault.write(
        "secret",
        "kriptomat/token",
        json!({"owner": "team-payments"}),
    );
    println!(
        "fake Vault at {}, simulated API at {}",
        vault.addr(),
        api.url()
    );

    let mut cli = Cli::parse_from([
        "vault-kriptomat",
        "refresh",
        "--vault-addr",
        &vault.addr(),
        "--vault-token",
        vault.root_token(),
        "--api-url",
        &api.url(),
        "--credentials",
        "secret/kriptomat/partner",
        "--token-path",
        "secret/kriptomat/token",
    ]);
    let config = Config::from_cli(&mut cli).expect("valid settings");
    let clock = Clock::from_env().expect("clock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(vault_kriptomat::refresh::run(&config, &clock)) {
        Ok(outcome) => println!("{}", outcome.summary()),
        Err(error) => {
            eprintln!("refresh failed: {error}");
            std::process::exit(error.exit_code().into());
        }
    }

    let mut stored = vault
        .read("secret", "kriptomat/token")
        .expect("token written");
    stored["access_token"] = json!("<redacted>");
    println!("secret/kriptomat/token now holds:");
    println!("{}", serde_json::to_string_pretty(&stored).expect("JSON"));
    println!(
        "logins seen by the simulated API: {}",
        api.logins_succeeded()
    );
}
