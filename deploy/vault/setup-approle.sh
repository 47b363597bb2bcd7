#!/usr/bin/env bash
# Writes the Vault policies and an AppRole role for vault-kriptomat on hosts
# without Kubernetes (the systemd timer), then issues one secret ID.
#
# Run it as a Vault operator: the `vault` CLI reads VAULT_ADDR, VAULT_TOKEN,
# VAULT_NAMESPACE and VAULT_CACERT from the environment as usual. Override a
# setting below by exporting it. The role ID is printed; the secret ID is
# written to SECRET_ID_FILE (mode 0600), never to the terminal. Running the
# script again updates the role and issues another secret ID; the earlier
# ones stay valid until they expire or are destroyed.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

policy_name=${VAULT_POLICY_NAME:-vault-kriptomat}
reader_policy_name=${VAULT_READER_POLICY_NAME:-vault-kriptomat-token-reader}
auth_mount=${APPROLE_MOUNT:-approle}
role=${APPROLE_ROLE:-vault-kriptomat}
# A run takes seconds and revokes its token at the end.
token_ttl=${TOKEN_TTL:-5m}
# The timer logs in every 5 minutes, so a secret ID must allow unlimited
# uses. A TTL of 0 means it never expires. Set a duration such as 720h if
# you rotate secret IDs on a schedule.
secret_id_ttl=${SECRET_ID_TTL:-0}
# Optional comma-separated CIDR lists, for example the host's own address, so
# that a leaked secret ID or token is useless elsewhere.
secret_id_bound_cidrs=${SECRET_ID_BOUND_CIDRS:-}
token_bound_cidrs=${TOKEN_BOUND_CIDRS:-}
secret_id_file=${SECRET_ID_FILE:-./vault-kriptomat-secret-id}

if ! command -v vault >/dev/null 2>&1; then
  echo "setup-approle: vault CLI not found on PATH. Install it, then run this script again" >&2
  exit 69
fi

vault policy write "$policy_name" "$script_dir/kriptomat-policy.hcl"
vault policy write "$reader_policy_name" "$script_dir/kriptomat-token-reader-policy.hcl"

if ! vault auth list -format=json | grep -q -F "\"${auth_mount}/\""; then
  vault auth enable -path="$auth_mount" approle
fi

role_args=(
  "token_policies=$policy_name"
  "token_ttl=$token_ttl"
  "token_max_ttl=$token_ttl"
  "secret_id_num_uses=0"
  "secret_id_ttl=$secret_id_ttl"
)
if [[ -n "$secret_id_bound_cidrs" ]]; then
  role_args+=("secret_id_bound_cidrs=$secret_id_bound_cidrs")
fi
if [[ -n "$token_bound_cidrs" ]]; then
  role_args+=("token_bound_cidrs=$token_bound_cidrs")
fi
# The role keeps Vault's `default` policy, which grants the
# auth/token/revoke-self call the tool makes at the end of a run.
vault write "auth/$auth_mount/role/$role" "${role_args[@]}"

role_id=$(vault read -field=role_id "auth/$auth_mount/role/$role/role-id")

# The umask makes the file 0600 from the moment it is created.
(
  umask 077
  vault write -f -field=secret_id "auth/$auth_mount/role/$role/secret-id" >"$secret_id_file"
)

echo "KRIPTOMAT_VAULT_ROLE_ID=$role_id"
echo "Secret ID written to $secret_id_file; install it as /etc/vault-kriptomat/secret-id on the host (see deploy/README.md)."
