//! Checks the deployment kit against the tool's own names and defaults: the
//! Vault policy grants exactly the paths a run uses, the Agent template
//! reads only fields the tool writes, and the CronJob schedule fits the
//! default `--min-remaining`.

use std::collections::BTreeMap;
use std::time::Duration;
use vault_kriptomat::config::DEFAULT_MIN_REMAINING;
use vault_kriptomat::contract::{policy_grants, TOKEN_FIELDS};
use vault_kriptomat::vault::path::{KvLocation, KvVersion};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// Returns the placeholder locations the kit uses, on the KV v2 mount `secret`.
fn placeholders() -> (KvLocation, KvLocation) {
    let at = |path: &str| KvLocation {
        mount: "secret".into(),
        path: path.into(),
        version: KvVersion::V2,
    };
    (at("kriptomat/partner"), at("kriptomat/token"))
}

/// Reads `path "..." { capabilities = [...] }` blocks, comments skipped.
fn policy_rules(hcl: &str) -> BTreeMap<String, Vec<String>> {
    let text: String = hcl
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rules = BTreeMap::new();
    for block in text.split("path \"").skip(1) {
        let (path, rest) = block.split_once('"').expect("quoted path");
        let list = rest
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .expect("capabilities list")
            .0;
        let mut capabilities: Vec<String> = list
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        capabilities.sort();
        assert!(
            rules.insert(path.to_owned(), capabilities).is_none(),
            "duplicate rule for {path}"
        );
    }
    rules
}

#[test]
fn policy_grants_exactly_used_paths() {
    let (credentials, token) = placeholders();
    let expected: BTreeMap<String, Vec<String>> = policy_grants(&credentials, &token)
        .into_iter()
        .map(|grant| {
            let mut capabilities: Vec<String> =
                grant.capabilities.iter().map(|c| c.to_string()).collect();
            capabilities.sort();
            (grant.path, capabilities)
        })
        .collect();
    let actual = policy_rules(&read("deploy/vault/kriptomat-policy.hcl"));
    assert_eq!(actual, expected);
}

/// Drops `{{/* ... */}}` comments, whose prose may mention field paths.
fn without_comments(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map(|(_, after)| after)
            .unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[test]
fn agent_template_reads_written_fields() {
    let (_, token) = placeholders();
    let template = without_comments(&read("deploy/vault-agent/token.ctmpl"));
    let sources: Vec<&str> = template
        .match_indices("secret \"")
        .map(|(at, _)| template[at + 8..].split('"').next().unwrap())
        .collect();
    assert_eq!(sources, vec![token.data_path()]);
    let fields: Vec<&str> = template
        .match_indices(".Data.data.")
        .map(|(at, _)| {
            template[at + 11..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap()
        })
        .collect();
    assert!(fields.contains(&"access_token"), "{fields:?}");
    assert!(fields.contains(&"expires_at"), "{fields:?}");
    for field in fields {
        assert!(
            TOKEN_FIELDS.contains(&field),
            "template reads `{field}`, which the tool never writes"
        );
    }
}

#[test]
fn cronjob_schedule_fits_min_remaining() {
    let cronjob = read("deploy/kubernetes/base/cronjob.yaml");
    assert!(
        cronjob.contains("schedule: \"*/5 * * * *\""),
        "schedule changed: update this check and the README arithmetic"
    );
    let value = cronjob
        .split("name: KRIPTOMAT_MIN_REMAINING")
        .nth(1)
        .and_then(|r| r.split("value:").nth(1))
        .expect("KRIPTOMAT_MIN_REMAINING set");
    let value = value.lines().next().unwrap().trim().trim_matches('"');
    let min_remaining =
        vault_kriptomat::config::parse_duration(value, "KRIPTOMAT_MIN_REMAINING").unwrap();
    assert_eq!(min_remaining, DEFAULT_MIN_REMAINING);
    // A token is replaced at most one period after it drops below the
    // minimum, and Vault Agent needs up to its render interval to see it.
    let period = Duration::from_secs(300);
    let agent_interval = Duration::from_secs(300);
    assert!(min_remaining >= period + agent_interval + Duration::from_secs(5 * 60));
    let agent = read("deploy/vault-agent/agent.hcl");
    assert!(agent.contains("static_secret_render_interval = \"5m\""));
}
