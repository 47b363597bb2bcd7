//! Response bodies: the success envelope that every JSON response shares
//! and the error bodies Vault sends.

use serde::Serialize;
use serde_json::Value;

/// A response before it is turned into HTTP.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON body with the given status.
    Json { status: u16, body: Vec<u8> },
    /// 204 with an empty body.
    NoContent,
    /// A status with an empty body, as KV v2 PATCH uses for a missing key.
    EmptyBody { status: u16 },
}

pub const PERMISSION_DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";
pub const INVALID_TOKEN: &str = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";

/// The envelope of section "success envelope" in Vault's HTTP API: every
/// JSON success carries all of these fields, and vaultrs rejects bodies
/// that miss `request_id`, `lease_id`, `lease_duration` or `renewable`.
#[derive(Debug, Serialize)]
pub struct Envelope {
    request_id: String,
    lease_id: String,
    renewable: bool,
    lease_duration: i64,
    data: Value,
    wrap_info: Value,
    warnings: Option<Vec<String>>,
    auth: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_type: Option<&'static str>,
}

impl Envelope {
    pub fn new(data: Value) -> Envelope {
        Envelope {
            request_id: request_id(),
            lease_id: String::new(),
            renewable: false,
            lease_duration: 0,
            data,
            wrap_info: Value::Null,
            warnings: None,
            auth: Value::Null,
            mount_type: None,
        }
    }

    pub fn mount_type(mut self, mount_type: &'static str) -> Envelope {
        self.mount_type = Some(mount_type);
        self
    }

    pub fn lease_duration(mut self, seconds: i64) -> Envelope {
        self.lease_duration = seconds;
        self
    }

    pub fn warning(mut self, warning: impl Into<String>) -> Envelope {
        self.warnings
            .get_or_insert_with(Vec::new)
            .push(warning.into());
        self
    }

    pub fn auth(mut self, auth: Value) -> Envelope {
        self.auth = auth;
        self
    }

    pub fn reply(self, status: u16) -> Reply {
        let body = serde_json::to_vec(&self).expect("an envelope always serializes");
        Reply::Json { status, body }
    }

    pub fn ok(self) -> Reply {
        self.reply(200)
    }
}

/// Builds `{"errors":[...]}` with the given status.
pub fn errors(status: u16, messages: &[&str]) -> Reply {
    let body = serde_json::to_vec(&serde_json::json!({ "errors": messages }))
        .expect("a list of strings always serializes");
    Reply::Json { status, body }
}

pub fn bad_request(message: &str) -> Reply {
    errors(400, &[message])
}

/// Builds the 404 Vault sends when a read or list finds nothing.
pub fn not_found() -> Reply {
    errors(404, &[])
}

pub fn permission_denied() -> Reply {
    errors(403, &[PERMISSION_DENIED])
}

pub fn invalid_token() -> Reply {
    errors(403, &[INVALID_TOKEN])
}

pub fn unsupported_operation() -> Reply {
    errors(405, &["1 error occurred:\n\t* unsupported operation\n\n"])
}

pub fn unsupported_path() -> Reply {
    errors(404, &["1 error occurred:\n\t* unsupported path\n\n"])
}

/// Builds a raw JSON body with no envelope, as `sys/health` uses.
pub fn raw_json(status: u16, value: &Value) -> Reply {
    let body = serde_json::to_vec(value).expect("a JSON value always serializes");
    Reply::Json { status, body }
}

/// Generates a random UUID (version 4 layout) for `request_id`.
pub fn request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        8 | (bytes[8] & 0x3),
        &hex[17..20],
        &hex[20..32]
    )
}

/// Generates a random alphanumeric string, used for token IDs and
/// accessors.
pub fn random_alphanumeric(length: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), length)
}
