# Vault Agent for an application on a host that uses the Kriptomat access
# token. The agent logs in with its own AppRole role, which carries only the
# policy in deploy/vault/kriptomat-token-reader-policy.hcl, and renders the
# token with its expiry to a JSON file that the application reads.
#
# Paths under /etc/vault-agent and /run/kriptomat are placeholders; see
# deploy/README.md for the files to create.

vault {
  address = "https://vault.example.com:8200"
  # The CA that signed Vault's certificate. Delete this line when that CA is
  # in the host's system store.
  ca_cert = "/etc/vault-agent/vault-ca.pem"
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path   = "/etc/vault-agent/role-id"
      secret_id_file_path = "/etc/vault-agent/secret-id"
      # Keep the file, so the agent can log in again after a restart.
      remove_secret_id_file_after_reading = false
    }
  }
  # No sink: the template below uses the agent's token directly, so no Vault
  # token is written to disk.
}

template_config {
  # On a KV version 2 mount the token secret has no lease (lease_duration 0),
  # so Agent re-reads it on this interval. 5m is also Agent's default; the
  # CronJob's 5-minute schedule and 20m --min-remaining are sized to it, so
  # lengthen neither this nor the schedule alone.
  #
  # On a KV version 1 mount this setting does not apply: Vault returns the
  # `ttl` field that vault-kriptomat writes (a duration string such as "300s")
  # as the secret's lease_duration, and Agent re-reads the secret before that
  # lease runs out, so it sees each new token before the old one expires.
  static_secret_render_interval = "5m"

  # Exit instead of serving a stale token when Vault stays unreachable; the
  # service manager restarts the agent.
  exit_on_retry_failure = true
}

template {
  source      = "/etc/vault-agent/token.ctmpl"
  destination = "/run/kriptomat/token.json"
  # Readable by the application's group, not by other users.
  perms = "0640"
  # A missing field fails the render instead of writing "<no value>".
  error_on_missing_key = true
}
