//! The end-to-end cases against a Vault given by the environment.
//!
//! Run against a real Vault or OpenBao dev server, or the standalone fake:
//!
//! ```text
//! VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=<root token> \
//!     cargo test --test conformance -- --ignored
//! ```
//!
//! The suite enables its own KV mounts (named `kconf-<pid>-<n>`) through
//! `sys/mounts`, and a policy and token for the permission case, and removes
//! them afterwards. It is ignored by default so that a plain `cargo test`
//! never touches a Vault that happens to be in the environment.

mod common;

use common::admin::VaultAdmin;

#[test]
#[ignore = "needs VAULT_ADDR and a root-capable VAULT_TOKEN"]
fn conformance_against_vault_from_env() {
    let addr = std::env::var("VAULT_ADDR").expect("set VAULT_ADDR to the Vault under test");
    let token = std::env::var("VAULT_TOKEN").expect("set VAULT_TOKEN to a root-capable token");
    let admin = VaultAdmin::new(&addr, &token);
    common::cases::run_all(&admin);
}
