//! Reading and checking the credentials secret.
//!
//! Each field is moved out of the secret into a [`Secret`] as it is
//! checked, so no copy stays behind, and every error names the path and the
//! field but never the value.

use crate::api::LoginCredentials;
use crate::bookkeeping::{fingerprint, CredentialsId};
use crate::contract::{
    FIELD_CLIENT_ID, FIELD_CLIENT_SECRET, FIELD_EMAIL, FIELD_PASSWORD, FIELD_TOTP_SECRET,
};
use crate::error::Error;
use crate::secret::Secret;
use crate::totp::{self, TotpParams};
use crate::vault::kv::{self, SecretData, Stored};
use crate::vault::path::{KvLocation, KvVersion};
use crate::vault::Vault;
use serde_json::Value;
use tracing::info;

/// The checked credentials of one run.
#[derive(Debug)]
pub struct Credentials {
    pub login: LoginCredentials,
    pub seed: TotpParams,
    /// Identity of these credentials (version and fingerprint), for the
    /// failure count.
    pub id: CredentialsId,
}

/// Reads the credentials secret and checks every field.
pub async fn read(vault: &Vault, location: &KvLocation) -> Result<Credentials, Error> {
    let path = location.display();
    let Stored::Present { mut data, version } = kv::read(vault, location).await? else {
        let hint = if location.version == KvVersion::V2 && location.path.starts_with("data/") {
            "give the path as `vault kv get` takes it, without `data/`".to_owned()
        } else {
            "write email, password, client_id, client_secret and totp_secret with `vault kv put`"
                .to_owned()
        };
        return Err(Error::BadStoredData {
            path,
            problem: "no credentials secret there (absent, deleted or destroyed)".to_owned(),
            hint,
        });
    };
    let login = LoginCredentials {
        email: take_string(&mut data, &path, FIELD_EMAIL)?,
        password: take_string(&mut data, &path, FIELD_PASSWORD)?,
        client_id: client_id(&data, &path)?,
        client_secret: take_string(&mut data, &path, FIELD_CLIENT_SECRET)?,
    };
    let seed_text = take_string(&mut data, &path, FIELD_TOTP_SECRET)?;
    let seed = totp::parse_seed(&seed_text, &path, FIELD_TOTP_SECRET)?;
    let id = CredentialsId {
        version: (location.version == KvVersion::V2).then_some(version),
        fingerprint: fingerprint(&login, &seed_text),
    };
    info!(%path, version, digits = seed.digits, period = seed.period, "read credentials");
    Ok(Credentials { login, seed, id })
}

/// Moves a string field out of the secret, so no copy is left behind.
fn take_string(data: &mut SecretData, path: &str, field: &str) -> Result<Secret, Error> {
    match data.0.get_mut(field) {
        None | Some(Value::Null) => Err(Error::bad_field(path, field, "is missing")),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(Error::bad_field(path, field, "is empty"))
        }
        Some(Value::String(text)) => Ok(Secret::new(std::mem::take(text))),
        Some(_) => Err(Error::bad_field(path, field, "must be a string")),
    }
}

/// Reads the client ID from a JSON integer or a string of digits, never
/// through floating point, so every digit is kept.
fn client_id(data: &SecretData, path: &str) -> Result<u64, Error> {
    let invalid = || {
        Error::bad_field(
            path,
            FIELD_CLIENT_ID,
            "must be a whole number (a JSON integer or a string of digits) below 2^64",
        )
    };
    match data.0.get(FIELD_CLIENT_ID) {
        None | Some(Value::Null) => Err(Error::bad_field(path, FIELD_CLIENT_ID, "is missing")),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(invalid),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(Error::bad_field(path, FIELD_CLIENT_ID, "is empty"))
        }
        Some(Value::String(text)) => {
            let digits = text.trim();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            digits.parse().map_err(|_| invalid())
        }
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> SecretData {
        SecretData(value.as_object().unwrap().clone())
    }

    #[test]
    fn client_id_exact_digits() {
        let stored = data(json!({"client_id": "123456789012345678"}));
        assert_eq!(client_id(&stored, "p").unwrap(), 123456789012345678);
        let stored = data(json!({"client_id": 42}));
        assert_eq!(client_id(&stored, "p").unwrap(), 42);
    }

    #[test]
    fn client_id_rejects_non_integers() {
        let cases = [
            json!({"client_id": "12a"}),
            json!({"client_id": 1.5}),
            json!({"client_id": -3}),
            json!({"client_id": true}),
            json!({"client_id": "99999999999999999999999"}),
        ];
        for bad in cases {
            let error = client_id(&data(bad.clone()), "secret/p").unwrap_err();
            assert_eq!(error.exit_code(), 65, "{bad}");
            assert!(error.to_string().contains("client_id"), "{error}");
        }
    }

    #[test]
    fn take_string_moves_value() {
        let mut stored = data(json!({"password": "pw"}));
        assert_eq!(
            take_string(&mut stored, "p", "password").unwrap().expose(),
            "pw"
        );
        assert_eq!(stored.0["password"], "");
    }
}
