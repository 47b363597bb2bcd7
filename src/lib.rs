//! vault-kriptomat keeps a Kriptomat partners API access token fresh in
//! HashiCorp Vault.
//!
//! One run of `refresh` reads the partner credentials from a Vault KV
//! secret, computes the TOTP code, logs in to the partners API and writes
//! the access token back to Vault with its expiry. The flow is:
//!
//! 1. [`cli`] parses the raw flags, [`config`] validates them into one
//!    [`config::Config`] before any network call.
//! 2. [`vault`] connects to Vault and reads and writes KV secrets.
//! 3. [`totp`] turns the stored seed into a code, [`api`] sends the login.
//! 4. [`refresh`] puts the steps in order; [`error`] maps every failure to
//!    one stderr line and one exit code.

#![forbid(unsafe_code)]

pub mod api;
pub mod bookkeeping;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contract;
pub mod credentials;
pub mod error;
pub mod lock;
pub mod logging;
pub mod refresh;
pub mod secret;
pub mod shutdown;
pub mod token;
pub mod totp;
pub mod vault;
