//! Raw command-line flags and environment variables, as clap reads them.
//!
//! Values stay strings here so that [`crate::config`] can validate each one
//! with a message that names the flag, its variable and the accepted form.
//! Every Vault client variable has a long flag of the same meaning, and a
//! flag beats its variable. Environment values are never echoed in `--help`
//! because some of them are secrets.

use clap::{ArgAction, Args, Parser, Subcommand};

/// Keeps a Kriptomat partners API access token fresh in HashiCorp Vault.
// No `Debug`: the Vault token can be given as a flag, and a formatted
// command line must never reach a log.
#[derive(Parser)]
#[command(name = "vault-kriptomat", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Raise log verbosity: -v info, -vv debug, -vvv trace. RUST_LOG also works.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub vault: VaultArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub paths: PathArgs,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with the credentials stored in Vault and write the access token back.
    Refresh(RefreshArgs),
}

/// Flags of `refresh`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Skip the login when the stored token has at least this long left [default: 20m].
    #[arg(
        long,
        env = "KRIPTOMAT_MIN_REMAINING",
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub min_remaining: Option<String>,

    /// Log in even when the stored token is still fresh.
    #[arg(long)]
    pub force: bool,

    /// Stop calling the API after this many consecutive rejected logins [default: 3].
    #[arg(
        long,
        env = "KRIPTOMAT_MAX_FAILURES",
        hide_env_values = true,
        value_name = "N"
    )]
    pub max_failures: Option<String>,

    /// Clear the count of rejected logins before this run.
    #[arg(long)]
    pub reset_failures: bool,

    /// How long to wait for another run that holds the refresh lock [default: 60s].
    #[arg(
        long,
        env = "KRIPTOMAT_LOCK_WAIT",
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub lock_wait: Option<String>,

    /// Wait for the next TOTP step when less than this is left of the current one [default: 5s].
    #[arg(
        long,
        env = "KRIPTOMAT_TOTP_MARGIN",
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub totp_margin: Option<String>,
}

/// The standard Vault client settings.
#[derive(Args)]
#[command(next_help_heading = "Vault connection")]
pub struct VaultArgs {
    /// Vault address [default: https://127.0.0.1:8200].
    #[arg(
        long,
        env = "VAULT_ADDR",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub vault_addr: Option<String>,

    /// Vault token; prefer the variable or a token file over this flag.
    #[arg(
        long,
        env = "VAULT_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub vault_token: Option<String>,

    /// Vault Enterprise namespace, sent as X-Vault-Namespace on every request.
    #[arg(
        long,
        env = "VAULT_NAMESPACE",
        global = true,
        hide_env_values = true,
        value_name = "NAMESPACE"
    )]
    pub vault_namespace: Option<String>,

    /// PEM file of CA certificates to trust for Vault's TLS certificate.
    #[arg(
        long,
        env = "VAULT_CACERT",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub vault_cacert: Option<String>,

    /// Directory of PEM CA certificates to trust for Vault's TLS certificate.
    #[arg(
        long,
        env = "VAULT_CAPATH",
        global = true,
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub vault_capath: Option<String>,

    /// PEM client certificate for mutual TLS with Vault.
    #[arg(
        long,
        env = "VAULT_CLIENT_CERT",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub vault_client_cert: Option<String>,

    /// PEM private key of the client certificate.
    #[arg(
        long,
        env = "VAULT_CLIENT_KEY",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub vault_client_key: Option<String>,

    /// true or 1 turns Vault certificate verification off; false or 0 keeps it on.
    #[arg(
        long,
        env = "VAULT_SKIP_VERIFY",
        global = true,
        hide_env_values = true,
        value_name = "BOOL"
    )]
    pub vault_skip_verify: Option<String>,

    /// Name to send as SNI and to verify in Vault's certificate.
    #[arg(
        long,
        env = "VAULT_TLS_SERVER_NAME",
        global = true,
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub vault_tls_server_name: Option<String>,

    /// Timeout of one Vault request [default: 60s].
    #[arg(
        long,
        env = "VAULT_CLIENT_TIMEOUT",
        global = true,
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub vault_client_timeout: Option<String>,

    /// Retries of a Vault request that failed in a transient way [default: 2].
    #[arg(
        long,
        env = "VAULT_MAX_RETRIES",
        global = true,
        hide_env_values = true,
        value_name = "N"
    )]
    pub vault_max_retries: Option<String>,
}

/// Vault authentication settings.
#[derive(Args)]
#[command(next_help_heading = "Vault authentication")]
pub struct AuthArgs {
    /// Auth method: token, kubernetes or approle [default: token].
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_AUTH",
        global = true,
        hide_env_values = true,
        value_name = "METHOD"
    )]
    pub auth: Option<String>,

    /// Mount path of the auth method [default: the method's name].
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_AUTH_MOUNT",
        global = true,
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub auth_mount: Option<String>,

    /// Role for Kubernetes auth.
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_ROLE",
        global = true,
        hide_env_values = true,
        value_name = "ROLE"
    )]
    pub role: Option<String>,

    /// Service-account token file for Kubernetes auth
    /// [default: /var/run/secrets/kubernetes.io/serviceaccount/token].
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_JWT_FILE",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub jwt_file: Option<String>,

    /// AppRole role ID.
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_ROLE_ID",
        global = true,
        hide_env_values = true,
        value_name = "ID"
    )]
    pub role_id: Option<String>,

    /// File holding the AppRole secret ID.
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_SECRET_ID_FILE",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub secret_id_file: Option<String>,

    /// File holding a Vault token, such as a Vault Agent sink (token auth).
    #[arg(
        long,
        env = "KRIPTOMAT_VAULT_TOKEN_FILE",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub vault_token_file: Option<String>,
}

/// Paths of the secrets in Vault.
#[derive(Debug, Args)]
#[command(next_help_heading = "Secret paths")]
pub struct PathArgs {
    /// Path of the credentials secret, as `vault kv get` takes it (e.g. secret/kriptomat/partner).
    #[arg(
        long,
        env = "KRIPTOMAT_CREDENTIALS_PATH",
        global = true,
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub credentials: Option<String>,

    /// Path where the access token is written, same form.
    #[arg(
        long,
        env = "KRIPTOMAT_TOKEN_PATH",
        global = true,
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub token_path: Option<String>,

    /// KV mount, as `vault kv get -mount=` takes it; the paths are then relative to it.
    #[arg(
        long,
        env = "KRIPTOMAT_KV_MOUNT",
        global = true,
        hide_env_values = true,
        value_name = "MOUNT"
    )]
    pub kv_mount: Option<String>,

    /// KV version: auto, 1 or 2 [default: auto].
    #[arg(
        long,
        env = "KRIPTOMAT_KV_VERSION",
        global = true,
        hide_env_values = true,
        value_name = "VERSION"
    )]
    pub kv_version: Option<String>,
}

/// The Kriptomat partners API.
#[derive(Debug, Args)]
#[command(next_help_heading = "Kriptomat partners API")]
pub struct ApiArgs {
    /// Base URL of the partners API [default: https://api.kriptomat.io].
    #[arg(
        long,
        env = "KRIPTOMAT_API_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub api_url: Option<String>,

    /// Requested session length, sent as expires_in in seconds (e.g. 1h).
    #[arg(
        long,
        env = "KRIPTOMAT_SESSION_TTL",
        global = true,
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub session_ttl: Option<String>,

    /// PEM file of CA certificates to trust for the API's TLS certificate.
    #[arg(
        long,
        env = "KRIPTOMAT_API_CACERT",
        global = true,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub api_cacert: Option<String>,

    /// Timeout of the login request [default: 30s].
    #[arg(
        long,
        env = "KRIPTOMAT_API_TIMEOUT",
        global = true,
        hide_env_values = true,
        value_name = "DURATION"
    )]
    pub api_timeout: Option<String>,
}
