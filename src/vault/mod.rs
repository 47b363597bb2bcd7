//! Everything that talks to Vault: the HTTP client, authentication, and
//! KV reads and writes.
//!
//! vaultrs supplies the endpoint definitions and response types. The
//! reqwest client under it is built in [`client`], because vaultrs reads
//! only part of the Vault client environment, has no timeout by default and
//! never retries.

pub mod auth;
pub mod client;
pub mod kv;
pub mod path;

pub use client::Vault;
