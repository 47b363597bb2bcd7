//! Shared pieces of the integration tests: running the real binary, the
//! sentinel secrets, and a scenario with a fresh KV mount and a simulator.
#![allow(dead_code)]

pub mod admin;
pub mod cases;
pub mod fake_cases;

use admin::VaultAdmin;
use kriptomat_testkit::clock::{TestClock, CLOCK_ENV};
use kriptomat_testkit::kriptomat::{Account, Simulator};
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// When set, every run of the binary uses the highest verbosity: `-vvv`
/// and `RUST_LOG=trace`. The sentinel-secret test binary sets it.
pub static MAX_VERBOSITY: AtomicBool = AtomicBool::new(false);

/// Sentinel secrets: no output of the binary may contain any of them.
pub const EMAIL: &str = "ops-sentinel@partner.example";
pub const PASSWORD: &str = "pw-SENTINEL-7f3a9c";
pub const CLIENT_SECRET: &str = "cs-SENTINEL-91bd42";
pub const CLIENT_ID: u64 = 4242;
/// A base32 seed (160 bits) whose text is itself a sentinel.
pub const SEED: &str = "KRIPTOMATSENTINELSEEDQQQQQQQQQQQ";
/// Root token of the in-process fake Vault.
pub const ROOT_TOKEN: &str = "hvs.SENTINEL-root-5e1d";

/// The RFC 6238 test seed: ASCII `12345678901234567890`.
pub const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// Starts an in-process fake Vault with the sentinel root token, and an
/// admin connection to it.
pub fn start_fake() -> (FakeVault, VaultAdmin) {
    let vault = FakeVault::start_with(FakeVaultOptions {
        root_token: ROOT_TOKEN.to_owned(),
        ..FakeVaultOptions::default()
    });
    let admin = VaultAdmin::new(&vault.addr(), ROOT_TOKEN);
    (vault, admin)
}

/// Decodes a base32 seed as the tool does.
pub fn seed_bytes(seed: &str) -> Vec<u8> {
    vault_kriptomat::totp::decode_base32(seed)
        .expect("valid seed")
        .to_vec()
}

/// The output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts that the output contains none of the given secrets.
    pub fn assert_no_secret(&self, secrets: &[&str]) {
        let output = self.output();
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(
                !output.contains(secret),
                "output contains a secret ({}...):\n{output}",
                &secret[..4.min(secret.len())]
            );
        }
    }
}

/// Runs the binary with exactly the given environment (plus a private HOME).
pub fn run_binary(env: &[(String, String)], args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_vault-kriptomat"));
    command
        .env_clear()
        .env("HOME", home.path())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args);
    if MAX_VERBOSITY.load(Ordering::SeqCst) {
        command.env("RUST_LOG", "trace").arg("-vvv");
    }
    let output = command.output().expect("binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

static NEXT_MOUNT: AtomicUsize = AtomicUsize::new(0);

/// One end-to-end set-up: a new KV mount with credentials in it, a
/// simulator with the matching account, and the environment for the binary.
pub struct Scenario<'a> {
    pub admin: &'a VaultAdmin,
    pub sim: Simulator,
    pub account: Account,
    /// The KV mount, e.g. `kconf-12-3` or `kconf-12-3/nested`.
    pub mount: String,
    pub version: u8,
    pub credentials: String,
    pub token: String,
    pub env: Vec<(String, String)>,
    /// Runs this scenario's binary at the highest verbosity.
    pub verbose: bool,
}

impl<'a> Scenario<'a> {
    /// Mounts a new KV engine and stores the default credentials.
    pub fn new(admin: &'a VaultAdmin, version: u8, nested: bool) -> Scenario<'a> {
        Self::with_clock(admin, version, nested, None)
    }

    /// As [`Scenario::new`], with the binary and simulator clocks at `start`.
    pub fn with_clock(
        admin: &'a VaultAdmin,
        version: u8,
        nested: bool,
        start: Option<u64>,
    ) -> Scenario<'a> {
        let n = NEXT_MOUNT.fetch_add(1, Ordering::SeqCst);
        let top = format!("kconf-{}-{n}", std::process::id());
        let mount = if nested { format!("{top}/nested") } else { top };
        admin.mount_kv(&mount, version);
        let clock = start
            .map(TestClock::starting_at)
            .unwrap_or(TestClock::system());
        let sim = Simulator::start(clock);
        let account = Account::new(EMAIL, PASSWORD, CLIENT_ID, CLIENT_SECRET, seed_bytes(SEED));
        sim.add_account(account.clone());
        let mut scenario = Scenario {
            admin,
            sim,
            account,
            credentials: "kriptomat/partner".to_owned(),
            token: "kriptomat/token".to_owned(),
            mount,
            version,
            env: Vec::new(),
            verbose: false,
        };
        scenario.put_credentials(scenario.default_credentials());
        scenario.env = vec![
            ("VAULT_ADDR".to_owned(), admin.addr.clone()),
            ("VAULT_TOKEN".to_owned(), admin.token.clone()),
            ("KRIPTOMAT_API_URL".to_owned(), scenario.sim.url()),
            (
                "KRIPTOMAT_CREDENTIALS_PATH".to_owned(),
                format!("{}/{}", scenario.mount, scenario.credentials),
            ),
            (
                "KRIPTOMAT_TOKEN_PATH".to_owned(),
                format!("{}/{}", scenario.mount, scenario.token),
            ),
        ];
        if let Some(start) = start {
            scenario.set_env(CLOCK_ENV, &start.to_string());
        }
        scenario
    }

    pub fn default_credentials(&self) -> Value {
        json!({
            "email": EMAIL,
            "password": PASSWORD,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "totp_secret": SEED,
        })
    }

    pub fn put_credentials(&self, data: Value) {
        self.admin
            .put(&self.mount, &self.credentials, self.version, data);
    }

    pub fn put_token(&self, data: Value) {
        self.admin.put(&self.mount, &self.token, self.version, data);
    }

    pub fn stored_token(&self) -> Option<Value> {
        self.admin.get(&self.mount, &self.token, self.version)
    }

    /// Switches the account to a 2-second TOTP period (through an otpauth
    /// URI) with no margin, so tests of retries, which each wait for a new
    /// step, take seconds instead of minutes.
    pub fn use_short_totp_period(&mut self) {
        let account = self.account.clone().with_period(2);
        self.sim.add_account(account.clone());
        self.account = account;
        let mut credentials = self.default_credentials();
        credentials["totp_secret"] = json!(format!("otpauth://totp/x?secret={SEED}&period=2"));
        self.put_credentials(credentials);
        self.set_env("KRIPTOMAT_TOTP_MARGIN", "0s");
    }

    /// Removes an environment variable of the binary.
    pub fn remove_env(&mut self, name: &str) {
        self.env.retain(|(k, _)| k != name);
    }

    /// Starts the binary without waiting for it, for concurrent runs.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vault-kriptomat"));
        command
            .env_clear()
            .env("HOME", std::env::temp_dir())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("refresh")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().expect("binary starts")
    }

    /// Sets or replaces an environment variable for the binary.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["refresh"];
        all.extend_from_slice(args);
        let mut env = self.env.clone();
        if self.verbose {
            all.push("-vvv");
            env.push(("RUST_LOG".to_owned(), "trace".to_owned()));
        }
        run_binary(&env, &all)
    }

    /// Returns the policy the tool needs here, built from its own list of
    /// paths and capabilities.
    pub fn least_privilege_policy(&self) -> String {
        use vault_kriptomat::vault::path::{KvLocation, KvVersion};
        let version = if self.version == 2 {
            KvVersion::V2
        } else {
            KvVersion::V1
        };
        let at = |path: &str| KvLocation {
            mount: self.mount.clone(),
            path: path.to_owned(),
            version,
        };
        vault_kriptomat::contract::policy_grants(&at(&self.credentials), &at(&self.token))
            .iter()
            .map(|grant| {
                format!(
                    "path \"{}\" {{ capabilities = {:?} }}\n",
                    grant.path, grant.capabilities
                )
            })
            .collect()
    }

    /// Returns every secret of this scenario, including tokens the API issued.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            EMAIL.to_owned(),
            PASSWORD.to_owned(),
            CLIENT_SECRET.to_owned(),
            SEED.to_owned(),
            self.admin.token.clone(),
        ];
        secrets.extend(self.sim.issued_tokens());
        if let Some((_, token)) = self.env.iter().find(|(k, _)| k == "VAULT_TOKEN") {
            secrets.push(token.clone());
        }
        secrets
    }

    /// Returns the TOTP codes the simulator received.
    pub fn codes_sent(&self) -> Vec<String> {
        self.sim
            .requests()
            .iter()
            .filter_map(|r| {
                r.json
                    .as_ref()?
                    .get("security_code")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Asserts the run printed none of the scenario's secrets.
    pub fn assert_quiet_about_secrets(&self, run: &Run) {
        let secrets = self.secrets();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        run.assert_no_secret(&refs);
        for code in self.codes_sent() {
            assert!(
                !contains_number(&run.output(), &code),
                "output contains a TOTP code:\n{}",
                run.output()
            );
        }
    }
}

impl Drop for Scenario<'_> {
    fn drop(&mut self) {
        let top = self.mount.split('/').next().unwrap_or_default().to_owned();
        self.admin.unmount(&self.mount);
        if top != self.mount {
            self.admin.unmount(&top);
        }
    }
}

/// Finds `digits` as a whole number: not inside a longer number and not the
/// fraction of a timestamp, which log lines at trace level are full of.
pub fn contains_number(text: &str, digits: &str) -> bool {
    text.match_indices(digits).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + digits.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
