# Vault policy for applications, or the Vault Agent in front of them, that use
# the access token that vault-kriptomat keeps fresh. It reads the token secret
# and nothing else: not the partner credentials, and not the lock record.
#
# On a KV version 1 mount, drop the `data/` segment from the path.
path "secret/data/kriptomat/token" {
  capabilities = ["read"]
}
