//! The `vault-kriptomat` binary: parse, validate, run, exit.

#![forbid(unsafe_code)]

use clap::error::ErrorKind;
use clap::Parser;
use std::process::ExitCode;
use vault_kriptomat::cli::Cli;
use vault_kriptomat::clock::Clock;
use vault_kriptomat::config::Config;
use vault_kriptomat::error::{Error, EXIT_SOFTWARE, EXIT_USAGE};
use vault_kriptomat::{logging, refresh};

fn main() -> ExitCode {
    // A panic message can quote the data it failed on, such as a seed, so
    // only its place in the code is printed.
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("vault-kriptomat: error: internal error{place}; this is a bug, please report it with the command you ran");
        std::process::exit(EXIT_SOFTWARE.into());
    }));
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version print to stdout and succeed.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // One line, as for every other failure: clap's first line states
            // the problem; its usage block follows on later lines.
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let problem = match error.kind() {
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                | ErrorKind::MissingSubcommand => "missing command",
                _ => first.trim_start_matches("error: "),
            };
            eprintln!(
                "vault-kriptomat: error: {problem}; run `vault-kriptomat refresh --help` for usage"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    logging::init(cli.verbose);
    match run(&mut cli) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vault-kriptomat: error: {error}");
            error.exit_status()
        }
    }
}

fn run(cli: &mut Cli) -> Result<String, Error> {
    let config = Config::from_cli(cli)?;
    let clock = Clock::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::invalid("runtime", e.to_string(), "a working Tokio runtime"))?;
    let outcome = runtime.block_on(refresh::run(&config, &clock))?;
    Ok(outcome.summary())
}
