# Vault policy for vault-kriptomat: exactly the requests `vault-kriptomat
# refresh` makes, for credentials at `secret/kriptomat/partner` and the token
# at `secret/kriptomat/token` on the KV version 2 mount `secret`.
#
# To use other paths, replace them here and in KRIPTOMAT_CREDENTIALS_PATH and
# KRIPTOMAT_TOKEN_PATH together. On a KV version 1 mount, drop the `data/`
# segment from the three KV paths below.
#
# No `metadata/` path is granted: the tool reads and writes only `data/`, and
# keeps its bookkeeping as keys inside the token secret. No `delete`, `list`
# or `patch` is granted either, and no path ends in a glob.

# Partner credentials: email, password, client_id, client_secret, totp_secret.
path "secret/data/kriptomat/partner" {
  capabilities = ["read"]
}

# The access token written back. The tool reads it first to skip the login
# while the stored token is fresh, creates it on the first run, and updates it
# with check-and-set writes afterwards.
path "secret/data/kriptomat/token" {
  capabilities = ["read", "create", "update"]
}

# Lock record that keeps two concurrent runs from both logging in. It is read,
# created and updated the same way as the token.
path "secret/data/kriptomat/token.lock" {
  capabilities = ["read", "create", "update"]
}

# KV version detection (`sys/internal/ui/mounts/<path>`, as `vault kv` does).
# Vault answers this for any token that holds a capability under the mount, so
# these two entries grant nothing beyond the rules above. They are listed to
# document the request; removing them changes nothing.
path "sys/internal/ui/mounts/secret/kriptomat/partner" {
  capabilities = ["read"]
}

path "sys/internal/ui/mounts/secret/kriptomat/token" {
  capabilities = ["read"]
}

# Revoking the login token at the end of a run (`auth/token/revoke-self`) is
# granted by Vault's built-in `default` policy, which the auth roles keep.
