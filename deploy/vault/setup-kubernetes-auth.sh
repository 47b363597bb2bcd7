#!/usr/bin/env bash
# Writes the Vault policies and the Kubernetes auth role that the
# vault-kriptomat CronJob logs in with.
#
# Run it as a Vault operator: the `vault` CLI reads VAULT_ADDR, VAULT_TOKEN,
# VAULT_NAMESPACE and VAULT_CACERT from the environment as usual. Every
# setting below has a default that matches deploy/kubernetes/base; override
# one by exporting it, for example
#   K8S_NAMESPACE=payments-prod ./setup-kubernetes-auth.sh
# Running it again updates the policy and role in place.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

policy_name=${VAULT_POLICY_NAME:-vault-kriptomat}
reader_policy_name=${VAULT_READER_POLICY_NAME:-vault-kriptomat-token-reader}
auth_mount=${K8S_AUTH_MOUNT:-kubernetes}
role=${K8S_ROLE:-vault-kriptomat}
namespace=${K8S_NAMESPACE:-vault-kriptomat}
service_account=${K8S_SERVICE_ACCOUNT:-vault-kriptomat}
# Must equal the `audience` of the projected token in the CronJob.
audience=${K8S_AUDIENCE:-vault}
# A run takes seconds and revokes its token at the end, so the token only
# needs to outlive the Job's 240 s deadline.
token_ttl=${TOKEN_TTL:-5m}
# Optional: the Kubernetes API address and CA file for Vault to review the
# service-account tokens with. Leave unset when the auth method at
# $auth_mount is already configured for this cluster.
kubernetes_host=${K8S_HOST:-}
kubernetes_ca_file=${K8S_CA_CERT_FILE:-}

if ! command -v vault >/dev/null 2>&1; then
  echo "setup-kubernetes-auth: vault CLI not found on PATH. Install it, then run this script again" >&2
  exit 69
fi

vault policy write "$policy_name" "$script_dir/kriptomat-policy.hcl"
vault policy write "$reader_policy_name" "$script_dir/kriptomat-token-reader-policy.hcl"

if ! vault auth list -format=json | grep -q -F "\"${auth_mount}/\""; then
  vault auth enable -path="$auth_mount" kubernetes
fi

if [[ -n "$kubernetes_host" ]]; then
  config_args=("kubernetes_host=$kubernetes_host")
  if [[ -n "$kubernetes_ca_file" ]]; then
    config_args+=("kubernetes_ca_cert=@$kubernetes_ca_file")
  fi
  vault write "auth/$auth_mount/config" "${config_args[@]}"
fi

# The role keeps Vault's `default` policy, which grants the
# auth/token/revoke-self call the tool makes at the end of a run.
vault write "auth/$auth_mount/role/$role" \
  bound_service_account_names="$service_account" \
  bound_service_account_namespaces="$namespace" \
  audience="$audience" \
  token_policies="$policy_name" \
  token_ttl="$token_ttl" \
  token_max_ttl="$token_ttl"

echo "Vault role auth/$auth_mount/role/$role is ready for service account $namespace/$service_account (audience $audience)."
