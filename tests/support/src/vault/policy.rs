//! ACL policies: a parser for the HCL subset Vault policies use and the
//! matching rules Vault applies to request paths.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    Create,
    Read,
    Update,
    Delete,
    List,
    Patch,
    Sudo,
    Deny,
    Subscribe,
    Recover,
}

impl Capability {
    /// Returns the name Vault uses in policies and responses.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Patch => "patch",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Subscribe => "subscribe",
            Capability::Recover => "recover",
        }
    }

    fn parse(name: &str) -> Option<Capability> {
        Some(match name {
            "create" => Capability::Create,
            "read" => Capability::Read,
            "update" => Capability::Update,
            "delete" => Capability::Delete,
            "list" => Capability::List,
            "patch" => Capability::Patch,
            "sudo" => Capability::Sudo,
            "deny" => Capability::Deny,
            "subscribe" => Capability::Subscribe,
            "recover" => Capability::Recover,
            _ => return None,
        })
    }
}

/// One `path "<pattern>" { ... }` block.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: String,
    pub capabilities: BTreeSet<Capability>,
}

/// The text of Vault's built-in `default` policy, cut down to the token
/// self-service paths the fake serves.
pub const DEFAULT_POLICY: &str = r#"# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}
"#;

/// Parses policy HCL into rules. Only `path` blocks are accepted at the top
/// level. Inside them, `capabilities` and the legacy `policy` shorthand are
/// read, and other attributes such as `allowed_parameters` are skipped.
///
/// NOTE: JSON and base64-encoded policies, which Vault also accepts, are
/// rejected here.
pub fn parse_policy(text: &str) -> Result<Vec<Rule>, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
    };
    let body = parser.parse_body(false)?;

    let mut rules = Vec::new();
    for item in body {
        if item.key != "path" {
            return Err(format!("invalid key {:?} on line {}", item.key, item.line));
        }
        let [pattern] = item.labels.as_slice() else {
            return Err(format!(
                "path block on line {} needs exactly one quoted path",
                item.line
            ));
        };
        let Value::Block(attributes) = &item.value else {
            return Err(format!("path {pattern:?} must be a block"));
        };
        rules.push(Rule {
            pattern: pattern.clone(),
            capabilities: read_capabilities(pattern, attributes)?,
        });
    }
    Ok(rules)
}

fn read_capabilities(pattern: &str, attributes: &[Item]) -> Result<BTreeSet<Capability>, String> {
    let mut capabilities = BTreeSet::new();
    for attribute in attributes {
        match (attribute.key.as_str(), &attribute.value) {
            ("capabilities", Value::List(names)) => {
                for name in names {
                    let Value::Text(name) = name else {
                        return Err(format!("path {pattern:?}: capabilities must be strings"));
                    };
                    let capability = Capability::parse(name)
                        .ok_or_else(|| format!("path {pattern:?}: invalid capability {name:?}"))?;
                    capabilities.insert(capability);
                }
            }
            ("capabilities", _) => {
                return Err(format!("path {pattern:?}: capabilities must be a list"));
            }
            ("policy", Value::Text(shorthand)) => {
                use Capability::*;
                let expanded: &[Capability] = match shorthand.as_str() {
                    "deny" => &[Deny],
                    "read" => &[Read, List],
                    "write" => &[Create, Read, Update, Delete, List],
                    "sudo" => &[Create, Read, Update, Delete, List, Sudo],
                    other => return Err(format!("path {pattern:?}: invalid policy {other:?}")),
                };
                capabilities.extend(expanded.iter().copied());
            }
            _ => {}
        }
    }
    Ok(capabilities)
}

/// The merged rules of all policies attached to a token.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    rules: BTreeMap<String, BTreeSet<Capability>>,
}

impl Acl {
    pub fn root() -> Acl {
        Acl {
            root: true,
            rules: BTreeMap::new(),
        }
    }

    /// Merges rule sets the way Vault does: capabilities of identical
    /// patterns are united, and `deny` on a pattern discards the rest.
    pub fn from_rules<'a>(rule_sets: impl IntoIterator<Item = &'a [Rule]>) -> Acl {
        let mut rules: BTreeMap<String, BTreeSet<Capability>> = BTreeMap::new();
        for rule in rule_sets.into_iter().flatten() {
            let merged = rules.entry(rule.pattern.clone()).or_default();
            merged.extend(rule.capabilities.iter().copied());
        }
        for capabilities in rules.values_mut() {
            if capabilities.contains(&Capability::Deny) {
                *capabilities = BTreeSet::from([Capability::Deny]);
            }
        }
        Acl { root: false, rules }
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Returns whether `capability` is granted on `path` (no leading `/`).
    pub fn allows(&self, path: &str, capability: Capability) -> bool {
        if self.root {
            return true;
        }
        match self.governing_rule(path) {
            Some(capabilities) => {
                !capabilities.contains(&Capability::Deny) && capabilities.contains(&capability)
            }
            None => false,
        }
    }

    /// Lists the capabilities on `path` as `sys/capabilities-self` returns them:
    /// `["root"]` for a root token, `["deny"]` when no rule matches.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_string()];
        }
        match self.governing_rule(path) {
            Some(capabilities) if !capabilities.is_empty() => {
                capabilities.iter().map(|c| c.name().to_string()).collect()
            }
            _ => vec!["deny".to_string()],
        }
    }

    /// Picks the single rule Vault applies to `path`: an exact pattern wins,
    /// otherwise the highest-priority wildcard pattern that matches.
    fn governing_rule(&self, path: &str) -> Option<&BTreeSet<Capability>> {
        if let Some(capabilities) = self.rules.get(path) {
            if !is_wildcard(path) {
                return Some(capabilities);
            }
        }
        self.rules
            .iter()
            .filter(|(pattern, _)| is_wildcard(pattern) && pattern_matches(pattern, path))
            .max_by(|(a, _), (b, _)| compare_priority(a, b))
            .map(|(_, capabilities)| capabilities)
    }

    /// Returns whether any non-deny rule can match `mount_path` (ending in
    /// `/`) or a path below it. This is the check behind the preflight of
    /// `sys/internal/ui/mounts`.
    pub fn has_access_under(&self, mount_path: &str) -> bool {
        if self.root {
            return true;
        }
        self.rules.iter().any(|(pattern, capabilities)| {
            !capabilities.is_empty()
                && !capabilities.contains(&Capability::Deny)
                && pattern_reaches_under(pattern, mount_path)
        })
    }
}

fn is_wildcard(pattern: &str) -> bool {
    pattern.ends_with('*') || pattern.split('/').any(|segment| segment == "+")
}

/// Matches a pattern with `+` segment wildcards and an optional trailing
/// `*` glob against a path.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let path_segments: Vec<&str> = path.split('/').collect();
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            let prefix_segments: Vec<&str> = prefix.split('/').collect();
            let (last, leading) = prefix_segments
                .split_last()
                .expect("split always yields at least one segment");
            if path_segments.len() < prefix_segments.len() {
                return false;
            }
            let leading_match = leading
                .iter()
                .zip(&path_segments)
                .all(|(want, have)| *want == "+" || want == have);
            let partial = path_segments[leading.len()];
            leading_match && (*last == "+" || partial.starts_with(last))
        }
        None => {
            let pattern_segments: Vec<&str> = pattern.split('/').collect();
            pattern_segments.len() == path_segments.len()
                && pattern_segments
                    .iter()
                    .zip(&path_segments)
                    .all(|(want, have)| *want == "+" || want == have)
        }
    }
}

/// Orders two matching wildcard patterns by Vault's documented priority.
/// The pattern whose first wildcard comes later wins. Ties are broken in
/// this order: no trailing `*` beats one, fewer `+` segments win, the
/// longer pattern wins, and then the lexicographically larger one.
fn compare_priority(a: &str, b: &str) -> std::cmp::Ordering {
    let first_wildcard = |pattern: &str| pattern.find(['+', '*']).unwrap_or(pattern.len());
    let plus_count = |pattern: &str| pattern.split('/').filter(|s| *s == "+").count();
    first_wildcard(a)
        .cmp(&first_wildcard(b))
        .then_with(|| b.ends_with('*').cmp(&a.ends_with('*')))
        .then_with(|| plus_count(b).cmp(&plus_count(a)))
        .then_with(|| a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

/// Returns whether some path equal to or below `mount_path` (ending in `/`)
/// can match `pattern`.
fn pattern_reaches_under(pattern: &str, mount_path: &str) -> bool {
    let mount_segments: Vec<&str> = mount_path.trim_end_matches('/').split('/').collect();
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (pattern, false),
    };
    let pattern_segments: Vec<&str> = body.split('/').collect();

    for (index, mount_segment) in mount_segments.iter().enumerate() {
        let Some(pattern_segment) = pattern_segments.get(index) else {
            return false;
        };
        let is_last = index + 1 == pattern_segments.len();
        if glob && is_last {
            // The glob accepts any continuation, so the remaining mount path
            // and this partial segment only need to agree on their overlap.
            let rest = format!("{}/", mount_segments[index..].join("/"));
            return *pattern_segment == "+"
                || rest.starts_with(pattern_segment)
                || pattern_segment.starts_with(&rest);
        }
        if *pattern_segment != "+" && pattern_segment != mount_segment {
            return false;
        }
    }
    pattern_segments.len() > mount_segments.len()
}

// ---- a small HCL reader ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Word(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let mut line = 1;
    while index < chars.len() {
        let c = chars[index];
        match c {
            '\n' => {
                line += 1;
                index += 1;
            }
            c if c.is_whitespace() => index += 1,
            '#' => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
            }
            '/' if chars.get(index + 1) == Some(&'/') => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
            }
            '/' if chars.get(index + 1) == Some(&'*') => {
                index += 2;
                while index < chars.len()
                    && !(chars[index] == '*' && chars.get(index + 1) == Some(&'/'))
                {
                    if chars[index] == '\n' {
                        line += 1;
                    }
                    index += 1;
                }
                if index >= chars.len() {
                    return Err("unterminated block comment".to_string());
                }
                index += 2;
            }
            '"' => {
                index += 1;
                let mut value = String::new();
                loop {
                    let Some(&c) = chars.get(index) else {
                        return Err(format!("unterminated string on line {line}"));
                    };
                    index += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let escaped = chars.get(index).copied().unwrap_or('\\');
                            index += 1;
                            value.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        '\n' => return Err(format!("newline in string on line {line}")),
                        other => value.push(other),
                    }
                }
                tokens.push((Token::Text(value), line));
            }
            '{' | '}' | '[' | ']' | '=' | ',' | ':' => {
                tokens.push((Token::Punct(c), line));
                index += 1;
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let start = index;
                while index < chars.len()
                    && (chars[index].is_alphanumeric() || matches!(chars[index], '_' | '-' | '.'))
                {
                    index += 1;
                }
                tokens.push((Token::Word(chars[start..index].iter().collect()), line));
            }
            other => return Err(format!("unexpected character {other:?} on line {line}")),
        }
    }
    Ok(tokens)
}

#[derive(Debug)]
struct Item {
    key: String,
    labels: Vec<String>,
    value: Value,
    line: usize,
}

#[derive(Debug)]
enum Value {
    Text(String),
    List(Vec<Value>),
    Block(Vec<Item>),
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|(token, _)| token)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.position)
            .or(self.tokens.last())
            .map_or(1, |(_, line)| *line)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self
            .tokens
            .get(self.position)
            .map(|(token, _)| token.clone());
        self.position += 1;
        token
    }

    /// Parses `key labels* ( = value | { body } )` items until the end of
    /// input, or until `}` when `nested` is set.
    fn parse_body(&mut self, nested: bool) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None if nested => return Err("missing closing brace".to_string()),
                None => return Ok(items),
                Some(Token::Punct('}')) if nested => {
                    self.position += 1;
                    return Ok(items);
                }
                Some(Token::Punct(',')) => {
                    self.position += 1;
                    continue;
                }
                _ => {}
            }
            let line = self.line();
            let key = match self.next() {
                Some(Token::Word(word)) | Some(Token::Text(word)) => word,
                other => return Err(format!("expected a key on line {line}, found {other:?}")),
            };
            let mut labels = Vec::new();
            while let Some(Token::Text(label)) = self.peek() {
                labels.push(label.clone());
                self.position += 1;
            }
            let value = match self.next() {
                Some(Token::Punct('{')) => Value::Block(self.parse_body(true)?),
                Some(Token::Punct('=')) | Some(Token::Punct(':')) => self.parse_value()?,
                other => {
                    return Err(format!(
                        "expected '=' or '{{' after {key:?} on line {line}, found {other:?}"
                    ))
                }
            };
            items.push(Item {
                key,
                labels,
                value,
                line,
            });
        }
    }

    fn parse_value(&mut self) -> Result<Value, String> {
        let line = self.line();
        match self.next() {
            Some(Token::Text(text)) | Some(Token::Word(text)) => Ok(Value::Text(text)),
            Some(Token::Punct('{')) => Ok(Value::Block(self.parse_body(true)?)),
            Some(Token::Punct('[')) => {
                let mut values = Vec::new();
                loop {
                    match self.peek() {
                        Some(Token::Punct(']')) => {
                            self.position += 1;
                            return Ok(Value::List(values));
                        }
                        Some(Token::Punct(',')) => self.position += 1,
                        None => return Err(format!("unterminated list on line {line}")),
                        _ => values.push(self.parse_value()?),
                    }
                }
            }
            other => Err(format!("expected a value on line {line}, found {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        let rules = parse_policy(text).expect("policy parses");
        Acl::from_rules([rules.as_slice()])
    }

    #[test]
    fn parse_reads_capabilities_and_comments() {
        let rules = parse_policy(
            "# comment\npath \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\",]\n  allowed_parameters = { \"x\" = [] }\n}\n/* block */ path \"a\" { policy = \"write\" }",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].pattern, "secret/data/app/*");
        assert!(rules[0].capabilities.contains(&Capability::Read));
        assert!(rules[1].capabilities.contains(&Capability::Update));
    }

    #[test]
    fn parse_rejects_unknown_capability() {
        let error = parse_policy("path \"a\" { capabilities = [\"fly\"] }").unwrap_err();
        assert!(error.contains("invalid capability"), "{error}");
    }

    #[test]
    fn glob_plus_and_exact_matching() {
        let acl = acl(r#"path "secret/data/*" { capabilities = ["read"] }
               path "secret/data/private" { capabilities = ["deny"] }
               path "kv/+/creds" { capabilities = ["update"] }"#);
        assert!(acl.allows("secret/data/app", Capability::Read));
        assert!(!acl.allows("secret/data/app", Capability::Update));
        assert!(!acl.allows("secret/data/private", Capability::Read));
        assert!(acl.allows("secret/data/private/x", Capability::Read));
        assert!(acl.allows("kv/team/creds", Capability::Update));
        assert!(!acl.allows("kv/team/a/creds", Capability::Update));
        assert!(!acl.allows("secret/metadata/app", Capability::Read));
    }

    #[test]
    fn more_specific_glob_wins() {
        let acl = acl(r#"path "secret/*" { capabilities = ["read"] }
               path "secret/data/locked/*" { capabilities = ["deny"] }"#);
        assert!(acl.allows("secret/data/open", Capability::Read));
        assert!(!acl.allows("secret/data/locked/x", Capability::Read));
    }

    #[test]
    fn access_under_mount() {
        let acl = acl(r#"path "team-a/kv/data/app/*" { capabilities = ["read"] }"#);
        assert!(acl.has_access_under("team-a/kv/"));
        assert!(!acl.has_access_under("secret/"));
        assert!(!acl.has_access_under("team-b/"));
        let broad = self::acl(r#"path "sec*" { capabilities = ["list"] }"#);
        assert!(broad.has_access_under("secret/"));
        let plus = self::acl(r#"path "+/data/x" { capabilities = ["read"] }"#);
        assert!(plus.has_access_under("secret/"));
    }
}
