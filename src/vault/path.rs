//! KV paths as the operator writes them, and where they live in Vault's API.
//!
//! Operators give paths as `vault kv get` takes them (`secret/app/creds`,
//! no `data/`). Once the mount and its KV version are known, a path maps to
//! `secret/data/app/creds` on KV v2 and stays `secret/app/creds` on KV v1.
//! Slashes are normalised here so that no request path ever contains `//`,
//! which recent Vault releases reject.

use crate::error::Error;

/// A KV secret path as given, with the mount if the operator named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPath {
    full: String,
    mount: Option<String>,
    /// The flag and variable the path came from, for messages.
    setting: String,
}

/// The `--kv-version` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvVersionSetting {
    Auto,
    V1,
    V2,
}

/// A KV engine version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvVersion {
    V1,
    V2,
}

/// A secret with its mount and engine version resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvLocation {
    /// Mount path without slashes, e.g. `secret` or `team-a/kv`.
    pub mount: String,
    /// Path inside the mount without slashes at either end.
    pub path: String,
    pub version: KvVersion,
}

impl KvPath {
    /// Validates a path; with `mount`, the path is relative to that mount.
    pub fn new(text: &str, mount: Option<&str>, name: &str) -> Result<KvPath, Error> {
        let relative = Self::clean(text, name)?;
        Ok(match mount {
            Some(mount) => KvPath {
                full: format!("{mount}/{relative}"),
                mount: Some(mount.to_owned()),
                setting: name.to_owned(),
            },
            None => KvPath {
                full: relative,
                mount: None,
                setting: name.to_owned(),
            },
        })
    }

    /// Strips slashes at both ends and rejects empty, `.` and `..` segments
    /// and control characters.
    pub fn clean(text: &str, name: &str) -> Result<String, Error> {
        let trimmed = text.trim().trim_matches('/');
        let expected =
            "a path of segments separated by single slashes, such as secret/kriptomat/partner";
        if trimmed.is_empty() {
            return Err(Error::invalid(name, "the path is empty", expected));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Error::invalid(
                name,
                "the path contains control characters",
                expected,
            ));
        }
        if let Some(bad) = trimmed
            .split('/')
            .find(|s| s.is_empty() || *s == "." || *s == "..")
        {
            let problem = if bad.is_empty() {
                "`//` in the path".to_owned()
            } else {
                format!("a `{bad}` segment")
            };
            return Err(Error::invalid(name, problem, expected));
        }
        if trimmed.ends_with('.') {
            return Err(Error::invalid(
                name,
                "the path ends with `.`, which Vault rejects",
                expected,
            ));
        }
        Ok(trimmed.to_owned())
    }

    /// Returns the path including the mount, as `vault kv get` takes it.
    pub fn full(&self) -> &str {
        &self.full
    }

    /// Returns the flag and variable the path came from.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// Returns the mount the operator named with `--kv-mount`.
    pub fn explicit_mount(&self) -> Option<&str> {
        self.mount.as_deref()
    }

    /// Splits at a known mount; `None` when the path is not below it.
    pub fn locate(&self, mount: &str, version: KvVersion) -> Option<KvLocation> {
        let mount = mount.trim_matches('/');
        let rest = self.full.strip_prefix(mount)?.strip_prefix('/')?;
        Some(KvLocation {
            mount: mount.to_owned(),
            path: rest.to_owned(),
            version,
        })
    }

    /// Returns the first segment, the mount of most single-level KV setups.
    pub fn first_segment(&self) -> &str {
        self.full.split('/').next().unwrap_or_default()
    }
}

impl KvLocation {
    /// Returns the API path of the secret's data, without `/v1/`.
    pub fn data_path(&self) -> String {
        match self.version {
            KvVersion::V1 => format!("{}/{}", self.mount, self.path),
            KvVersion::V2 => format!("{}/data/{}", self.mount, self.path),
        }
    }

    /// Returns the path as `vault kv get` takes it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }
}

impl std::fmt::Display for KvVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KvVersion::V1 => "1",
            KvVersion::V2 => "2",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_are_trimmed() {
        let path = KvPath::new("/secret/app/creds/", None, "x").unwrap();
        assert_eq!(path.full(), "secret/app/creds");
    }

    #[test]
    fn double_slash_rejected() {
        let error = KvPath::new("secret//app", None, "--credentials").unwrap_err();
        assert_eq!(error.exit_code(), 64);
        assert!(error.to_string().contains("--credentials"), "{error}");
    }

    #[test]
    fn dot_segments_rejected() {
        assert!(KvPath::new("secret/../app", None, "x").is_err());
        assert!(KvPath::new("secret/./app", None, "x").is_err());
    }

    #[test]
    fn explicit_mount_prefixes_path() {
        let path = KvPath::new("kriptomat/partner", Some("team-a/kv"), "x").unwrap();
        assert_eq!(path.full(), "team-a/kv/kriptomat/partner");
        assert_eq!(path.explicit_mount(), Some("team-a/kv"));
    }

    #[test]
    fn nested_mount_data_path() {
        let path = KvPath::new("team-a/kv/kriptomat", None, "x").unwrap();
        let v2 = path.locate("team-a/kv/", KvVersion::V2).unwrap();
        assert_eq!(v2.data_path(), "team-a/kv/data/kriptomat");
        let v1 = path.locate("team-a/kv", KvVersion::V1).unwrap();
        assert_eq!(v1.data_path(), "team-a/kv/kriptomat");
    }

    #[test]
    fn locate_requires_segment_boundary() {
        let path = KvPath::new("secretive/app", None, "x").unwrap();
        assert_eq!(path.locate("secret", KvVersion::V2), None);
    }
}
