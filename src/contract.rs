//! Names fixed by the command-line contract: the credential fields read,
//! the token fields written, and the Vault API paths a run touches. The
//! deployment kit's policy and Agent template are checked against these.

use crate::vault::path::{KvLocation, KvVersion};

/// Field of the credentials secret: account email.
pub const FIELD_EMAIL: &str = "email";
/// Field of the credentials secret: account password.
pub const FIELD_PASSWORD: &str = "password";
/// Field of the credentials secret: client ID, a JSON number or digit string.
pub const FIELD_CLIENT_ID: &str = "client_id";
/// Field of the credentials secret: client secret.
pub const FIELD_CLIENT_SECRET: &str = "client_secret";
/// Field of the credentials secret: TOTP seed or otpauth URI.
pub const FIELD_TOTP_SECRET: &str = "totp_secret";

/// Every field read from the credentials secret.
pub const CREDENTIAL_FIELDS: [&str; 5] = [
    FIELD_EMAIL,
    FIELD_PASSWORD,
    FIELD_CLIENT_ID,
    FIELD_CLIENT_SECRET,
    FIELD_TOTP_SECRET,
];

/// Every field written to the token secret; other keys there are kept.
pub const TOKEN_FIELDS: [&str; 6] = [
    "access_token",
    "token_type",
    "expires_in",
    "issued_at",
    "expires_at",
    "ttl",
];

/// One Vault API path and the policy capabilities a run needs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGrant {
    /// API path without `/v1/`.
    pub path: String,
    pub capabilities: Vec<&'static str>,
}

/// Suffix of the lock record's path, next to the token secret.
pub const LOCK_SUFFIX: &str = ".lock";

/// Returns the lock record's location: the token path plus [`LOCK_SUFFIX`].
pub fn lock_location(token: &KvLocation) -> KvLocation {
    KvLocation {
        path: format!("{}{LOCK_SUFFIX}", token.path),
        ..token.clone()
    }
}

/// Lists the Vault API paths a run reads and writes, with the capabilities
/// needed: the exact content of a least-privilege policy. The mounts lookups
/// are listed although Vault allows them to any token with access below
/// the mount. Token self-revocation is left out because Vault's `default`
/// policy grants it.
pub fn policy_grants(credentials: &KvLocation, token: &KvLocation) -> Vec<PathGrant> {
    let lookup = |location: &KvLocation| PathGrant {
        path: format!("sys/internal/ui/mounts/{}", location.display()),
        capabilities: vec!["read"],
    };
    let read_write = vec!["read", "create", "update"];
    vec![
        PathGrant {
            path: credentials.data_path(),
            capabilities: vec!["read"],
        },
        PathGrant {
            path: token.data_path(),
            capabilities: read_write.clone(),
        },
        PathGrant {
            path: lock_location(token).data_path(),
            capabilities: read_write,
        },
        lookup(credentials),
        lookup(token),
    ]
}

/// Returns whether the location uses KV v2 API paths.
pub fn is_versioned(location: &KvLocation) -> bool {
    location.version == KvVersion::V2
}
