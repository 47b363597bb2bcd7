//! KV reads and writes: mount and version discovery, v1 and v2 reads with
//! their version, and token writes with check-and-set.

use super::client::{Failure, FailureKind, Vault};
use super::path::{KvLocation, KvPath, KvVersion, KvVersionSetting};
use crate::error::Error;
use rustify::enums::{RequestMethod, RequestType, ResponseType};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tracing::{debug, info, warn};
use zeroize::Zeroize;

/// The fields of a KV secret. Every string in it is wiped on drop, because
/// the fields hold passwords and tokens.
#[derive(Default)]
pub struct SecretData(pub Map<String, Value>);

impl Drop for SecretData {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            wipe(value);
        }
    }
}

/// Overwrites every string inside a JSON value.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// Result of reading a path.
pub enum Stored {
    /// Live data, with the KV v2 version it came from (0 on KV v1).
    Present { data: SecretData, version: u64 },
    /// No live data: never written, soft-deleted or destroyed. `version` is
    /// the current KV v2 version, which a check-and-set write must name.
    Absent { version: u64 },
}

/// The mounts lookup `sys/internal/ui/mounts/<path>`, which vaultrs lacks.
struct MountLookup {
    path: String,
}

#[derive(Deserialize)]
struct MountInfo {
    path: String,
    #[serde(default)]
    options: Option<HashMap<String, Value>>,
}

impl rustify::endpoint::Endpoint for MountLookup {
    type Response = MountInfo;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        format!("sys/internal/ui/mounts/{}", self.path)
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::GET
    }
}

/// `POST sys/capabilities-self`, which vaultrs lacks.
struct CapabilitiesSelf {
    path: String,
}

impl rustify::endpoint::Endpoint for CapabilitiesSelf {
    type Response = HashMap<String, Value>;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        "sys/capabilities-self".to_owned()
    }

    fn method(&self) -> RequestMethod {
        RequestMethod::POST
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        let body = serde_json::json!({ "paths": [self.path] });
        Ok(Some(body.to_string().into_bytes()))
    }
}

/// Checks, before the login uses up a TOTP step, that the token may write
/// the secret: `update` when it exists, `create` when not. When Vault does
/// not respond to the check (an older server, or a policy without Vault's
/// `default` policy), the run goes on and the write itself decides.
pub async fn check_write_access(
    vault: &Vault,
    location: &KvLocation,
    exists: bool,
) -> Result<(), Error> {
    let api_path = location.data_path();
    let answer = vault
        .call("POST", "sys/capabilities-self", || {
            vaultrs::api::exec_with_result(
                vault.inner(),
                CapabilitiesSelf {
                    path: api_path.clone(),
                },
            )
        })
        .await;
    let capabilities: Vec<String> = match answer {
        Ok(data) => data
            .get(&api_path)
            .or_else(|| data.get("capabilities"))
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(failure) => {
            debug!(status = ?super::client::status_of(&failure.kind), "capabilities check unavailable; the write will tell");
            return Ok(());
        }
    };
    let needed = if exists { "update" } else { "create" };
    let granted = capabilities.iter().any(|c| c == "root" || c == needed)
        && !capabilities.iter().any(|c| c == "deny");
    debug!(path = %api_path, ?capabilities, needed, "checked write access");
    if granted {
        return Ok(());
    }
    Err(Error::VaultDenied {
        method: "POST".to_owned(),
        path: format!("/v1/{api_path}"),
        reason: format!(" (the token lacks `{needed}`; checked before logging in)"),
        hint: format!("grant `create` and `update` on {api_path} in the token's policy"),
    })
}

/// Finds the mount and KV version of a path, from the flags or from Vault.
pub async fn resolve(
    vault: &Vault,
    path: &KvPath,
    setting: KvVersionSetting,
) -> Result<KvLocation, Error> {
    let fixed = match setting {
        KvVersionSetting::V1 => Some(KvVersion::V1),
        KvVersionSetting::V2 => Some(KvVersion::V2),
        KvVersionSetting::Auto => None,
    };
    if let (Some(mount), Some(version)) = (path.explicit_mount(), fixed) {
        return Ok(located(path, mount, version));
    }
    let api_path = format!("sys/internal/ui/mounts/{}", path.full());
    let lookup = vault
        .call("GET", &api_path, || {
            vaultrs::api::exec_with_result(
                vault.inner(),
                MountLookup {
                    path: path.full().to_owned(),
                },
            )
        })
        .await;
    match lookup {
        Ok(info) => {
            let version = match info.options.as_ref().and_then(|o| o.get("version")).and_then(Value::as_str) {
                Some("2") => KvVersion::V2,
                _ => KvVersion::V1,
            };
            if let Some(configured) = fixed.filter(|v| *v != version) {
                // Reading or writing with the wrong version's paths would
                // store the token under a `data/` key of a KV v1 mount.
                return Err(Error::InvalidSetting {
                    name: "--kv-version (KRIPTOMAT_KV_VERSION)".to_owned(),
                    problem: format!("mount `{}` of {} is KV v{version}, not v{configured}", info.path.trim_end_matches('/'), path.full()),
                    expected: format!("{version}, or auto"),
                });
            }
            let version = fixed.unwrap_or(version);
            let mount = path.explicit_mount().unwrap_or(&info.path).to_owned();
            info!(path = path.full(), %mount, %version, "resolved KV mount");
            path.locate(&mount, version).ok_or_else(|| Error::InvalidSetting {
                name: path.setting().to_owned(),
                problem: format!("`{}` is the mount `{}` itself, not a secret in it", path.full(), mount.trim_end_matches('/')),
                expected: format!("a secret path below the mount, such as {}/kriptomat/partner", mount.trim_end_matches('/')),
            })
        }
        // Very old servers have no such endpoint; the Vault CLI takes KV v1.
        Err(Failure { kind: FailureKind::Status { code: 404, .. }, .. }) if path.explicit_mount().is_none() && fixed.is_none() => {
            Ok(located(path, path.first_segment(), KvVersion::V1))
        }
        Err(Failure { kind: FailureKind::Status { code: 403, ref errors, .. }, .. })
            if errors.iter().any(|e| e.contains("invalid token")) =>
        {
            Err(vault.error(lookup.err().expect("matched an error"), "check the token's policy"))
        }
        Err(Failure { kind: FailureKind::Status { code: 403, .. }, .. }) => match fixed {
            Some(version) => {
                let mount = path.explicit_mount().unwrap_or(path.first_segment());
                warn!(path = path.full(), %mount, %version, "mounts lookup denied; using --kv-mount/--kv-version");
                Ok(located(path, mount, version))
            }
            None => Err(Error::VaultDenied {
                method: "GET".to_owned(),
                path: format!("/v1/{api_path}"),
                reason: " (the mounts lookup found no access for this token)".to_owned(),
                hint: format!(
                    "check that a KV mount contains {}, grant the token access to it, or set --kv-version (and --kv-mount for a nested mount) to skip the lookup",
                    path.full()
                ),
            }),
        },
        Err(failure) => Err(vault.error(failure, "check the token's policy")),
    }
}

fn located(path: &KvPath, mount: &str, version: KvVersion) -> KvLocation {
    path.locate(mount, version).unwrap_or_else(|| KvLocation {
        mount: mount.to_owned(),
        path: path.full().to_owned(),
        version,
    })
}

/// Reads a secret. `Ok(Stored::Absent)` when there is no live data.
pub async fn read(vault: &Vault, location: &KvLocation) -> Result<Stored, Error> {
    let api_path = location.data_path();
    let (mount, path) = (location.mount.as_str(), location.path.as_str());
    let result = match location.version {
        KvVersion::V2 => vault
            .call("GET", &api_path, || {
                let endpoint = vaultrs::api::kv2::requests::ReadSecretRequest::builder()
                    .mount(mount)
                    .path(path)
                    .build()
                    .expect("mount and path are set");
                vaultrs::api::exec_with_result(vault.inner(), endpoint)
            })
            .await
            .map(|response| (response.data, response.metadata.version)),
        KvVersion::V1 => vault
            .call("GET", &api_path, || {
                vaultrs::kv1::get_raw(vault.inner(), mount, path)
            })
            .await
            .map(|response| (response.data, 0)),
    };
    match result {
        Ok((Value::Object(data), version)) => {
            debug!(path = %location.display(), version, "read secret");
            Ok(Stored::Present {
                data: SecretData(data),
                version,
            })
        }
        Ok((mut other, _)) => {
            wipe(&mut other);
            Err(Error::BadStoredData {
                path: location.display(),
                problem: "the secret's data is not a JSON object".to_owned(),
                hint: "rewrite the secret with `vault kv put`".to_owned(),
            })
        }
        Err(failure) => absent_or_error(vault, location, failure),
    }
}

/// Sorts a failed read: a 404 is an absent secret, unless it carries the
/// warning that a KV v1 path was used on a KV v2 mount.
fn absent_or_error(
    vault: &Vault,
    location: &KvLocation,
    failure: Failure,
) -> Result<Stored, Error> {
    let FailureKind::Status {
        code: 404, body, ..
    } = &failure.kind
    else {
        return Err(vault.error(failure, &policy_hint(location, "read")));
    };
    let warned_v2 = body
        .as_ref()
        .and_then(|b| b.get("warnings"))
        .and_then(Value::as_array)
        .is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("versioned K/V")))
        });
    if warned_v2 {
        return Err(Error::InvalidSetting {
            name: "--kv-version (KRIPTOMAT_KV_VERSION)".to_owned(),
            problem: format!("mount `{}` is KV v2 but version 1 was used", location.mount),
            expected: "2, or auto".to_owned(),
        });
    }
    let metadata = body.as_ref().and_then(|b| b.pointer("/data/metadata"));
    let version = metadata
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if metadata.is_some() {
        info!(path = %location.display(), version, "latest version is deleted or destroyed; treating the secret as absent");
    } else {
        debug!(path = %location.display(), "no secret at path");
    }
    Ok(Stored::Absent { version })
}

fn policy_hint(location: &KvLocation, capabilities: &str) -> String {
    match location.version {
        KvVersion::V2 => format!(
            "grant {capabilities} on {} in the token's policy (KV v2 policies name the data/ path, not {})",
            location.data_path(),
            location.display()
        ),
        KvVersion::V1 => format!(
            "grant {capabilities} on {} in the token's policy",
            location.data_path()
        ),
    }
}

/// Writes a secret. On KV v2 the write is a check-and-set against
/// `cas_version`, the version read before; KV v1 has no such protection.
pub async fn write(
    vault: &Vault,
    location: &KvLocation,
    data: &SecretData,
    cas_version: u64,
) -> Result<u64, Error> {
    let api_path = location.data_path();
    let (mount, path) = (location.mount.as_str(), location.path.as_str());
    let result = match location.version {
        KvVersion::V2 => {
            let cas = u32::try_from(cas_version).unwrap_or(u32::MAX);
            vault
                .call("POST", &api_path, || {
                    let options = vaultrs::api::kv2::requests::SetSecretRequestOptions { cas };
                    vaultrs::kv2::set_with_options(vault.inner(), mount, path, &data.0, options)
                })
                .await
                .map(|metadata| metadata.version)
        }
        KvVersion::V1 => {
            let fields: HashMap<&str, &Value> =
                data.0.iter().map(|(k, v)| (k.as_str(), v)).collect();
            vault
                .call("POST", &api_path, || {
                    vaultrs::kv1::set(vault.inner(), mount, path, &fields)
                })
                .await
                .map(|()| 0)
        }
    };
    match result {
        Ok(version) => {
            info!(path = %location.display(), version, "wrote secret");
            Ok(version)
        }
        Err(Failure {
            kind: FailureKind::Status {
                code: 400, errors, ..
            },
            ..
        }) if errors.iter().any(|e| e.contains("check-and-set")) => Err(Error::WriteConflict {
            path: location.display(),
        }),
        Err(failure) => Err(vault.error(failure, &policy_hint(location, "create and update"))),
    }
}
