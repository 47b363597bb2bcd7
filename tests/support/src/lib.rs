//! Test doubles for vault-kriptomat: a stateful fake Vault and a simulator
//! of the Kriptomat partners API, both real HTTP servers on 127.0.0.1.
//!
//! Integration tests, the demo example and benchmarks share them. Each
//! server runs on its own Tokio runtime in a background thread, so plain
//! `#[test]` functions can start one and run the real binary against it.

pub mod clock;
pub mod kriptomat;
pub mod tls;
pub mod vault;
