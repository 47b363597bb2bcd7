//! Log set-up: quiet by default, raised by `-v` or RUST_LOG.
//!
//! Logs go to stderr and record decisions (address, mount, KV version,
//! paths, statuses, expiry), never values. Without RUST_LOG only this
//! crate's events are shown: vaultrs reports every failed request at
//! `error`, and the run's own error line already states what failed.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber for the given `-v` count.
pub fn init(verbosity: u8) {
    let own = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let quiet = || EnvFilter::new(format!("off,vault_kriptomat={own}"));
    // An invalid RUST_LOG falls back to the default, not to every crate's
    // warnings.
    let filter = match std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(spec) => EnvFilter::try_new(spec).unwrap_or_else(|_| quiet()),
        None => quiet(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbosity >= 2)
        .init();
}
