//! Runs the fake Vault as a standalone server for manual runs and for tests
//! that start the real CLI against a separate process.
//!
//! Usage: `fake-vault [--listen 127.0.0.1:8200] [--root-token TOKEN]`.
//! It mounts KV v2 at `secret/` like `vault server -dev`, prints
//! `listening on http://127.0.0.1:PORT` and serves until it is killed.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions};

const USAGE: &str = "\
Usage: fake-vault [--listen ADDR] [--root-token TOKEN]

Options:
  --listen ADDR         loopback address and port to bind (default 127.0.0.1:8200;
                        port 0 picks a free port)
  --root-token TOKEN    token holding the root policy (default: $FAKE_VAULT_ROOT_TOKEN,
                        else \"root\")
  -h, --help            print this help";

struct Arguments {
    listen: SocketAddr,
    root_token: String,
}

fn parse_arguments() -> Result<Option<Arguments>, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8200));
    let mut root_token = std::env::var("FAKE_VAULT_ROOT_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| "root".to_string());

    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let (name, inline_value) = match argument.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (argument.clone(), None),
        };
        let mut value = |name: &str| {
            inline_value
                .clone()
                .or_else(|| arguments.next())
                .ok_or_else(|| format!("missing value for {name}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let text = value("--listen")?;
                listen = text
                    .parse()
                    .map_err(|_| format!("invalid --listen address {text:?}: expected IP:PORT"))?;
            }
            "--root-token" => root_token = value("--root-token")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on non-loopback address {listen}: use 127.0.0.1 or ::1"
        ));
    }
    if root_token.is_empty() {
        return Err("the root token must not be empty".to_string());
    }
    Ok(Some(Arguments { listen, root_token }))
}

fn main() -> ExitCode {
    let arguments = match parse_arguments() {
        Ok(Some(arguments)) => arguments,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("fake-vault: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    // Binding happens inside start_with, which panics with the address and
    // the OS error; catch that to exit with a one-line message instead.
    let options = FakeVaultOptions {
        listen: arguments.listen,
        root_token: arguments.root_token,
        dev_mount: true,
        ..FakeVaultOptions::default()
    };
    let vault = match std::panic::catch_unwind(|| FakeVault::start_with(options)) {
        Ok(vault) => vault,
        Err(_) => {
            eprintln!("fake-vault: failed to start on {}", arguments.listen);
            return ExitCode::FAILURE;
        }
    };

    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", vault.addr())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    loop {
        std::thread::park();
    }
}
