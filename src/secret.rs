//! The one type every secret lives in.
//!
//! Passwords, client secrets, TOTP seeds and codes, access tokens, Vault
//! tokens and secret IDs are held as [`Secret`] from the moment they are
//! read. The value is wiped from memory on drop, `Debug` prints a fixed
//! placeholder, and there is no `Display`, so a secret cannot reach a log
//! line or an error message by accident.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// A string secret, zeroized on drop, with a redacted `Debug`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a string; the caller gives up its copy.
    pub fn new(value: String) -> Self {
        Secret(SecretString::from(value))
    }

    /// Returns the value for the one place that must send or use it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Returns true when the value is empty or only white space.
    pub fn is_blank(&self) -> bool {
        self.expose().trim().is_empty()
    }

    /// Returns the number of characters, safe to show in an error.
    pub fn char_count(&self) -> usize {
        self.expose().chars().count()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from("sentinel-value-123");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("sentinel"), "{shown}");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn blank_detects_white_space() {
        assert!(Secret::from(" \n").is_blank());
        assert!(!Secret::from("x").is_blank());
    }
}
