//! Vault authentication: a given token, Kubernetes or AppRole.
//!
//! A run logs in at most once. A token that came from a login lives only in
//! memory and is revoked when the run ends; a token the operator gave is
//! never revoked.

use super::client::{vault_messages, Failure, FailureKind, Vault};
use crate::cli::AuthArgs;
use crate::config::{read_secret_file, DEFAULT_JWT_FILE};
use crate::error::colon_detail;
use crate::error::Error;
use crate::secret::Secret;
use std::path::PathBuf;
use tracing::{debug, info};

/// Secrets given as flags or variables, moved out of the parsed command
/// line so that no plain copy stays there.
#[derive(Debug, Default)]
pub struct GivenSecrets {
    pub vault_token: Option<Secret>,
    pub role_id: Option<Secret>,
}

/// The auth method and what it needs, with every secret already read.
#[derive(Debug)]
pub enum VaultAuth {
    /// A token from the environment, a flag or a file.
    Token { token: Secret, source: String },
    /// Kubernetes auth with the pod's service-account JWT.
    Kubernetes {
        mount: String,
        role: String,
        jwt: Secret,
        jwt_file: PathBuf,
    },
    /// AppRole auth.
    AppRole {
        mount: String,
        role_id: Secret,
        secret_id: Option<Secret>,
    },
}

impl VaultAuth {
    /// Resolves the auth method from the flags and reads its secrets.
    pub fn from_args(args: &AuthArgs, given: GivenSecrets) -> Result<VaultAuth, Error> {
        let method = args
            .auth
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("token");
        let mount = |default: &str| -> Result<String, Error> {
            match args
                .auth_mount
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
            {
                Some(mount) => {
                    super::path::KvPath::clean(mount, "--auth-mount (KRIPTOMAT_VAULT_AUTH_MOUNT)")
                }
                None => Ok(default.to_owned()),
            }
        };
        match method {
            "token" => token_auth(args, given.vault_token),
            "kubernetes" => {
                let role = required(
                    &args.role,
                    "--role (KRIPTOMAT_VAULT_ROLE)",
                    "the Vault role bound to this service account",
                )?;
                let jwt_file = PathBuf::from(
                    args.jwt_file
                        .as_deref()
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .unwrap_or(DEFAULT_JWT_FILE),
                );
                let jwt = read_secret_file(
                    &jwt_file,
                    "service-account token",
                    "--jwt-file (KRIPTOMAT_VAULT_JWT_FILE)",
                )?;
                Ok(VaultAuth::Kubernetes {
                    mount: mount("kubernetes")?,
                    role,
                    jwt,
                    jwt_file,
                })
            }
            "approle" => {
                let role_id = given
                    .role_id
                    .filter(|r| !r.is_blank())
                    .map(|r| Secret::from(r.expose().trim()))
                    .ok_or_else(|| Error::MissingSetting {
                        name: "--role-id (KRIPTOMAT_VAULT_ROLE_ID)".to_owned(),
                        hint: "set it to the AppRole role ID".to_owned(),
                    })?;
                let secret_id = match args
                    .secret_id_file
                    .as_deref()
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                {
                    Some(file) => Some(read_secret_file(
                        file.as_ref(),
                        "AppRole secret ID",
                        "--secret-id-file (KRIPTOMAT_VAULT_SECRET_ID_FILE)",
                    )?),
                    None => None,
                };
                Ok(VaultAuth::AppRole {
                    mount: mount("approle")?,
                    role_id,
                    secret_id,
                })
            }
            other => Err(Error::invalid(
                "--auth (KRIPTOMAT_VAULT_AUTH)",
                format!("`{other}` is not a supported auth method"),
                "token, kubernetes or approle",
            )),
        }
    }

    /// Returns the method's name for logs and messages.
    pub fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token { .. } => "token",
            VaultAuth::Kubernetes { .. } => "kubernetes",
            VaultAuth::AppRole { .. } => "approle",
        }
    }
}

fn required(value: &Option<String>, name: &str, what: &str) -> Result<String, Error> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::MissingSetting {
            name: name.to_owned(),
            hint: format!("set it to {what}"),
        })
}

/// Finds the token as the Vault CLI does: VAULT_TOKEN (or the flag), then
/// the token file, then `~/.vault-token`.
fn token_auth(args: &AuthArgs, given: Option<Secret>) -> Result<VaultAuth, Error> {
    let (token, source) = if let Some(given) = given.filter(|t| !t.is_blank()) {
        (
            Secret::from(given.expose().trim()),
            "VAULT_TOKEN".to_owned(),
        )
    } else if let Some(file) = args
        .vault_token_file
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        let token = read_secret_file(
            file.as_ref(),
            "Vault token",
            "--vault-token-file (KRIPTOMAT_VAULT_TOKEN_FILE)",
        )?;
        (token, file.to_owned())
    } else {
        let home_file =
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".vault-token"));
        match home_file.filter(|f| f.exists()) {
            Some(file) => {
                let token = read_secret_file(&file, "Vault token", "~/.vault-token")?;
                (token, file.display().to_string())
            }
            None => {
                return Err(Error::MissingSetting {
                    name: "Vault token".to_owned(),
                    hint: "set VAULT_TOKEN or KRIPTOMAT_VAULT_TOKEN_FILE, run `vault login`, or choose --auth kubernetes or approle".to_owned(),
                })
            }
        }
    };
    // A control character would make vaultrs panic when it builds the header.
    if !token.expose().chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            &format!("Vault token from {source}"),
            "it contains spaces or non-printable characters",
            "the token exactly as Vault issued it",
        ));
    }
    debug!(%source, "using a Vault token given by the operator");
    Ok(VaultAuth::Token { token, source })
}

/// A Vault session: whether its token must be revoked at the end.
pub struct Session {
    revoke: bool,
}

/// Logs in with the configured method and sets the token on the client.
pub async fn login(vault: &mut Vault, auth: &VaultAuth) -> Result<Session, Error> {
    let (mount, role, result) = match auth {
        VaultAuth::Token { token, .. } => {
            vault.set_token(token);
            return Ok(Session { revoke: false });
        }
        VaultAuth::Kubernetes {
            mount, role, jwt, ..
        } => {
            let path = format!("auth/{mount}/login");
            let result = vault
                .call("POST", &path, || {
                    vaultrs::auth::kubernetes::login(vault.inner(), mount, role, jwt.expose())
                })
                .await;
            (mount, format!("for role {role}"), result)
        }
        VaultAuth::AppRole {
            mount,
            role_id,
            secret_id,
        } => {
            let path = format!("auth/{mount}/login");
            let secret = secret_id.as_ref().map(Secret::expose).unwrap_or("");
            let result = vault
                .call("POST", &path, || {
                    vaultrs::auth::approle::login(vault.inner(), mount, role_id.expose(), secret)
                })
                .await;
            (mount, "with the given role ID".to_owned(), result)
        }
    };
    let info =
        result.map_err(|failure| login_error(vault, failure, auth.method(), mount, &role))?;
    let vaultrs::api::AuthInfo {
        client_token,
        lease_duration,
        accessor,
        ..
    } = info;
    let token = Secret::new(client_token);
    info!(method = auth.method(), %mount, %accessor, ttl_secs = lease_duration, "logged in to Vault");
    vault.set_token(&token);
    Ok(Session { revoke: true })
}

fn login_error(vault: &Vault, failure: Failure, method: &str, mount: &str, role: &str) -> Error {
    match &failure.kind {
        FailureKind::Status {
            code: 400 | 401 | 403,
            errors,
            ..
        } => Error::VaultDenied {
            method: "POST".to_owned(),
            path: format!("/v1/auth/{mount}/login"),
            reason: format!(
                " ({method} login failed {role}{})",
                colon_detail(&vault_messages(errors))
            ),
            hint: format!(
                "check the auth mount (--auth-mount, now {mount}), the role, its bindings and the credentials of the {method} auth method"
            ),
        },
        _ => vault.error(failure, "check the auth method's mount"),
    }
}

impl Session {
    /// Revokes a token obtained by a login; best effort, never fails the run.
    pub async fn end(self, vault: &Vault) {
        if !self.revoke {
            return;
        }
        match vaultrs::token::revoke_self(vault.inner()).await {
            Ok(()) => debug!("revoked the Vault token of this run"),
            Err(error) => debug!(error = %error, "could not revoke the Vault token of this run"),
        }
    }
}
