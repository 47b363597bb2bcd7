//! Benchmarks of whole runs of the release binary against the fakes on
//! loopback: peak memory (which sizes the CronJob's requests and limits)
//! and wall time of the two runs a CronJob makes, the skip of a fresh token
//! and a full refresh.
//!
//! ```text
//! cargo build --release -p vault-kriptomat
//! cargo bench --bench refresh
//! ```
//!
//! It prints one line per measure with its target; results are recorded in
//! tests/benches/RESULTS.md.

use kriptomat_testkit::clock::TestClock;
use kriptomat_testkit::kriptomat::{Account, Simulator};
use kriptomat_testkit::vault::FakeVault;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Peak resident memory a run may use: half the CronJob's 32 MiB request.
const RSS_TARGET_KIB: i64 = 16 * 1024;
/// Wall time of a run that finds the token fresh, on loopback.
const SKIP_TARGET: Duration = Duration::from_millis(100);
/// Wall time of a full refresh on loopback, TOTP waits excluded.
const REFRESH_TARGET: Duration = Duration::from_millis(300);

/// A base32 seed for the benchmark account (a placeholder, not a secret).
const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("release/vault-kriptomat");
    assert!(
        path.exists(),
        "build it first: cargo build --release -p vault-kriptomat"
    );
    path
}

/// Returns the largest peak RSS of any child waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    // getrusage has no safe wrapper in std; the struct is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(status, 0, "getrusage failed");
    usage.ru_maxrss
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn report(name: &str, value: String, pass: bool, target: String) {
    println!(
        "{name:<28} {value:>12}   target {target:<10} {}",
        if pass { "ok" } else { "MISSED" }
    );
}

fn main() {
    let vault = FakeVault::start();
    let api = Simulator::start(TestClock::system());
    // A 1-second TOTP period keeps the wait for a fresh step per refresh short.
    let seed = vault_kriptomat::totp::decode_base32(SEED)
        .expect("valid seed")
        .to_vec();
    api.add_account(
        Account::new("bench@example.com", "placeholder", 1, "placeholder", seed).with_period(1),
    );
    vault.write(
        "secret",
        "bench/partner",
        json!({"email": "bench@example.com", "password": "placeholder", "client_id": 1, "client_secret": "placeholder", "totp_secret": format!("otpauth://totp/x?secret={SEED}&period=1")}),
    );
    let run = |force: bool| {
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("VAULT_ADDR", vault.addr())
            .env("VAULT_TOKEN", vault.root_token())
            .env("KRIPTOMAT_API_URL", api.url())
            .env("KRIPTOMAT_CREDENTIALS_PATH", "secret/bench/partner")
            .env("KRIPTOMAT_TOKEN_PATH", "secret/bench/token")
            .env("KRIPTOMAT_TOTP_MARGIN", "0s")
            .arg("refresh");
        if force {
            command.arg("--force");
        }
        let started = Instant::now();
        let output = command.output().expect("binary runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        started.elapsed()
    };

    // Each forced refresh must wait for a new TOTP step; that wait is the
    // API's rule, not the tool's work, so it is measured apart.
    let mut refreshes = Vec::new();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(1100));
        refreshes.push(run(true));
    }
    let skips: Vec<Duration> = (0..20).map(|_| run(false)).collect();
    let rss = children_max_rss_kib();

    println!("vault-kriptomat release binary, fake Vault and simulator on 127.0.0.1");
    report(
        "peak RSS of any run",
        format!("{} KiB", rss),
        rss <= RSS_TARGET_KIB,
        format!("{} KiB", RSS_TARGET_KIB),
    );
    let skip = median(skips);
    report(
        "skip run, median of 20",
        format!("{:.1} ms", skip.as_secs_f64() * 1000.0),
        skip <= SKIP_TARGET,
        format!("{} ms", SKIP_TARGET.as_millis()),
    );
    let refresh = median(refreshes);
    report(
        "full refresh, median of 5",
        format!("{:.1} ms", refresh.as_secs_f64() * 1000.0),
        refresh <= REFRESH_TARGET,
        format!("{} ms", REFRESH_TARGET.as_millis()),
    );
}
