//! Vault administration over plain HTTP, for test set-up and checks.
//!
//! The conformance suite runs against any Vault, real or fake, so set-up
//! goes through the HTTP API that both serve, never through the fake's Rust
//! handles.

use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

/// A root-capable connection to a Vault.
pub struct VaultAdmin {
    pub addr: String,
    pub token: String,
    http: Client,
}

impl VaultAdmin {
    pub fn new(addr: &str, token: &str) -> VaultAdmin {
        VaultAdmin {
            addr: addr.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: Client::new(),
        }
    }

    /// Connects over HTTPS, trusting only the given CA.
    pub fn with_ca(addr: &str, token: &str, ca_pem: &str) -> VaultAdmin {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
        let http = Client::builder()
            .tls_certs_only([ca])
            .build()
            .expect("HTTPS client");
        VaultAdmin {
            addr: addr.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        }
    }

    /// Builds an admin on a prepared client; `base` is the URL it sends to.
    pub fn from_parts(addr: &str, token: &str, http: Client, base: &str) -> VaultAdmin {
        let _ = addr;
        VaultAdmin {
            addr: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        }
    }

    /// Sends a request and returns the status and the JSON body, if any.
    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Option<Value>) {
        let method = Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self
            .http
            .request(method, format!("{}/v1/{}", self.addr, path))
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("Vault answers");
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (status, serde_json::from_str(&text).ok())
    }

    fn expect_ok(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let (status, answer) = self.send(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {answer:?}"
        );
        answer
    }

    pub fn mount_kv(&self, path: &str, version: u8) {
        let body = json!({"type": "kv", "options": {"version": version.to_string()}});
        self.expect_ok("POST", &format!("sys/mounts/{path}"), Some(body));
    }

    pub fn unmount(&self, path: &str) {
        self.send("DELETE", &format!("sys/mounts/{path}"), None);
    }

    fn data_path(mount: &str, path: &str, version: u8) -> String {
        if version == 2 {
            format!("{mount}/data/{path}")
        } else {
            format!("{mount}/{path}")
        }
    }

    /// Writes a secret (a new version on KV v2).
    pub fn put(&self, mount: &str, path: &str, version: u8, data: Value) {
        let body = if version == 2 {
            json!({ "data": data })
        } else {
            data
        };
        self.expect_ok("POST", &Self::data_path(mount, path, version), Some(body));
    }

    /// Reads the live data of a secret, `None` when absent or deleted.
    pub fn get(&self, mount: &str, path: &str, version: u8) -> Option<Value> {
        let (status, body) = self.send("GET", &Self::data_path(mount, path, version), None);
        if status != 200 {
            return None;
        }
        let body = body?;
        let data = if version == 2 {
            body.pointer("/data/data")?
        } else {
            body.get("data")?
        };
        Some(data.clone())
    }

    /// Returns `lease_duration` of a KV v1 read.
    pub fn lease_duration(&self, mount: &str, path: &str) -> Option<u64> {
        let (_, body) = self.send("GET", &format!("{mount}/{path}"), None);
        body?.get("lease_duration")?.as_u64()
    }

    /// Returns the current KV v2 version, counting deleted ones.
    pub fn current_version(&self, mount: &str, path: &str) -> u64 {
        let (_, body) = self.send("GET", &format!("{mount}/metadata/{path}"), None);
        body.and_then(|b| b.pointer("/data/current_version").and_then(Value::as_u64))
            .unwrap_or(0)
    }

    pub fn soft_delete(&self, mount: &str, path: &str) {
        self.expect_ok("DELETE", &format!("{mount}/data/{path}"), None);
    }

    /// Creates a policy and a token that has only it (and `default`).
    pub fn token_with_policy(&self, name: &str, hcl: &str) -> String {
        self.expect_ok(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({"policy": hcl})),
        );
        let answer = self
            .expect_ok(
                "POST",
                "auth/token/create",
                Some(json!({"policies": [name], "ttl": "10m"})),
            )
            .expect("token create returns JSON");
        answer["auth"]["client_token"]
            .as_str()
            .expect("client_token")
            .to_owned()
    }

    /// Enables AppRole at `mount`, creates a role with the policy, and
    /// returns its role ID and a new secret ID.
    pub fn approle(&self, mount: &str, role: &str, policy: &str) -> (String, String) {
        self.expect_ok(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({"type": "approle"})),
        );
        let role_path = format!("auth/{mount}/role/{role}");
        self.expect_ok(
            "POST",
            &role_path,
            Some(json!({"token_policies": [policy], "token_ttl": "10m"})),
        );
        let role_id = self
            .expect_ok("GET", &format!("{role_path}/role-id"), None)
            .expect("role-id JSON");
        let secret_id = self
            .expect_ok("POST", &format!("{role_path}/secret-id"), Some(json!({})))
            .expect("secret-id JSON");
        (
            role_id["data"]["role_id"]
                .as_str()
                .expect("role_id")
                .to_owned(),
            secret_id["data"]["secret_id"]
                .as_str()
                .expect("secret_id")
                .to_owned(),
        )
    }

    pub fn disable_auth(&self, mount: &str) {
        self.send("DELETE", &format!("sys/auth/{mount}"), None);
    }

    /// Returns whether a token is still valid.
    pub fn token_valid(&self, token: &str) -> bool {
        let response = self
            .http
            .get(format!("{}/v1/auth/token/lookup-self", self.addr))
            .header("X-Vault-Token", token)
            .send()
            .expect("Vault answers");
        response.status().is_success()
    }

    pub fn delete_policy(&self, name: &str) {
        self.send("DELETE", &format!("sys/policies/acl/{name}"), None);
    }
}
