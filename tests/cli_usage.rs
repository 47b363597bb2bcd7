//! Usage errors: every invalid flag or value exits 64 with one line on
//! stderr that names the flag and the accepted form. This happens before any
//! network call: the Vault address here is a closed port, so a network call
//! would exit 69 instead.

mod common;

use common::run_binary;

fn base_env() -> Vec<(String, String)> {
    [
        ("VAULT_ADDR", "http://127.0.0.1:9"),
        ("VAULT_TOKEN", "hvs.placeholder"),
        ("KRIPTOMAT_API_URL", "http://127.0.0.1:9"),
        ("KRIPTOMAT_CREDENTIALS_PATH", "secret/kriptomat/partner"),
        ("KRIPTOMAT_TOKEN_PATH", "secret/kriptomat/token"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Arguments, variables set (an empty value removes one), expected text.
type UsageCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn invalid_settings_exit_64() {
    let cases: &[UsageCase] = &[
        (
            &["refresh", "--bogus"],
            &[],
            "unexpected argument '--bogus'",
        ),
        (&[], &[], "missing command"),
        (
            &["refresh"],
            &[("VAULT_ADDR", "vault:8200")],
            "--vault-addr (VAULT_ADDR)",
        ),
        (
            &["refresh"],
            &[("VAULT_ADDR", "https://vault.example.test/vault")],
            "a path",
        ),
        (
            &["refresh"],
            &[("VAULT_SKIP_VERIFY", "yes")],
            "--vault-skip-verify (VAULT_SKIP_VERIFY)",
        ),
        (
            &["refresh"],
            &[("VAULT_CLIENT_TIMEOUT", "soon")],
            "--vault-client-timeout",
        ),
        (
            &["refresh"],
            &[("VAULT_MAX_RETRIES", "11")],
            "--vault-max-retries",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_KV_VERSION", "3")],
            "--kv-version",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_VAULT_AUTH", "ldap")],
            "--auth (KRIPTOMAT_VAULT_AUTH)",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_CREDENTIALS_PATH", "")],
            "missing --credentials",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_TOKEN_PATH", "secret//token")],
            "`//` in the path",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_TOKEN_PATH", "/secret/kriptomat/partner/")],
            "it is the credentials path",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_SESSION_TTL", "45d")],
            "--session-ttl",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_MIN_REMAINING", "-5m")],
            "--min-remaining",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_MAX_FAILURES", "0")],
            "--max-failures",
        ),
        (
            &["refresh"],
            &[("VAULT_CLIENT_CERT", "/tmp/cert.pem")],
            "both a client certificate and its key",
        ),
        (
            &["refresh"],
            &[
                ("VAULT_TOKEN", ""),
                ("KRIPTOMAT_VAULT_TOKEN_FILE", "/nonexistent/token"),
            ],
            "/nonexistent/token",
        ),
        (
            &["refresh"],
            &[
                ("KRIPTOMAT_VAULT_AUTH", "kubernetes"),
                ("KRIPTOMAT_VAULT_ROLE", "r"),
                ("KRIPTOMAT_VAULT_JWT_FILE", "/nonexistent/jwt"),
            ],
            "/nonexistent/jwt",
        ),
        (
            &["refresh"],
            &[("KRIPTOMAT_VAULT_AUTH", "approle")],
            "missing --role-id",
        ),
    ];
    for (args, extra, needle) in cases {
        let mut env = base_env();
        env.retain(|(k, _)| !extra.iter().any(|(name, _)| name == k));
        env.extend(
            extra
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let run = run_binary(&env, args);
        assert_eq!(run.code, 64, "{extra:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{extra:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("vault-kriptomat: error: "),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(needle),
            "{extra:?}: stderr lacks {needle:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn help_and_version_succeed() {
    let help = run_binary(&[], &["refresh", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--min-remaining"));
    assert!(
        help.stdout.contains("[env: VAULT_TOKEN]"),
        "env names shown"
    );
    let version = run_binary(&[], &["--version"]);
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("vault-kriptomat "));
}

#[test]
fn help_hides_environment_values() {
    let env = vec![
        ("VAULT_TOKEN".to_owned(), "hvs.SENTINEL-help".to_owned()),
        ("KRIPTOMAT_MIN_REMAINING".to_owned(), "7m".to_owned()),
    ];
    let help = run_binary(&env, &["refresh", "--help"]);
    assert!(!help.stdout.contains("SENTINEL"), "{}", help.stdout);
    assert!(!help.stdout.contains("=7m"), "{}", help.stdout);
}
