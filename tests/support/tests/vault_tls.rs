//! The fake Vault over HTTPS, with and without required client
//! certificates, and the test PKI that feeds it.

use std::net::SocketAddr;

use kriptomat_testkit::tls::TestPki;
use kriptomat_testkit::vault::{FakeVault, FakeVaultOptions, TlsOptions};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

fn https_vault(pki: &TestPki, client_ca_pem: Option<String>) -> FakeVault {
    let (cert_chain_pem, key_pem) = pki.server_cert(&["localhost", "127.0.0.1", "vault.test"]);
    FakeVault::start_with(FakeVaultOptions {
        tls: Some(TlsOptions {
            cert_chain_pem,
            key_pem,
            client_ca_pem,
        }),
        ..FakeVaultOptions::default()
    })
}

/// Starts a reqwest client builder that trusts only `ca_pem`.
fn client_trusting(ca_pem: &str) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM parses");
    reqwest::Client::builder().tls_certs_only([ca])
}

fn identity(cert_pem: &str, key_pem: &str) -> reqwest::Identity {
    let mut pem = cert_pem.to_string();
    pem.push_str(key_pem);
    reqwest::Identity::from_pem(pem.as_bytes()).expect("client identity parses")
}

async fn health_status(client: &reqwest::Client, url: &str) -> Result<u16, reqwest::Error> {
    let response = client.get(format!("{url}/v1/sys/health")).send().await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn https_with_trusted_ca() {
    let pki = TestPki::new();
    let vault = https_vault(&pki, None);
    let port = vault.socket_addr().port();
    assert_eq!(vault.addr(), format!("https://127.0.0.1:{port}"));
    let client = client_trusting(&pki.ca_pem())
        .resolve("vault.test", SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .expect("client builds");

    for url in [
        vault.addr(),
        format!("https://localhost:{port}"),
        format!("https://vault.test:{port}"),
    ] {
        let status = health_status(&client, &url)
            .await
            .unwrap_or_else(|error| panic!("{url}: {error:?}"));
        assert_eq!(status, 200, "{url}");
    }
}

#[tokio::test]
async fn https_rejects_name_outside_certificate() {
    let pki = TestPki::new();
    let (cert_chain_pem, key_pem) = pki.server_cert(&["vault.test"]);
    let vault = FakeVault::start_with(FakeVaultOptions {
        tls: Some(TlsOptions {
            cert_chain_pem,
            key_pem,
            client_ca_pem: None,
        }),
        ..FakeVaultOptions::default()
    });
    let client = client_trusting(&pki.ca_pem())
        .build()
        .expect("client builds");

    let result = health_status(&client, &vault.addr()).await;

    assert!(
        result.is_err(),
        "127.0.0.1 is not in the certificate: {result:?}"
    );
}

#[tokio::test]
async fn https_untrusted_by_other_ca() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let vault = https_vault(&pki, None);

    let trusting_other = client_trusting(&other.ca_pem())
        .build()
        .expect("client builds");
    let result = health_status(&trusting_other, &vault.addr()).await;
    assert!(result.is_err(), "another CA must not verify: {result:?}");

    let system_roots = reqwest::Client::new();
    let result = health_status(&system_roots, &vault.addr()).await;
    assert!(result.is_err(), "system roots must not verify: {result:?}");
    assert_eq!(
        vault.requests().len(),
        0,
        "no request got past the handshake"
    );
}

#[tokio::test]
async fn https_server_refuses_plain_http() {
    let pki = TestPki::new();
    let vault = https_vault(&pki, None);
    let plain_url = format!("http://{}", vault.socket_addr());

    let result = health_status(&reqwest::Client::new(), &plain_url).await;

    assert!(result.is_err(), "plain HTTP must fail: {result:?}");
}

#[tokio::test]
async fn mtls_requires_client_certificate() {
    let pki = TestPki::new();
    let vault = https_vault(&pki, Some(pki.ca_pem()));

    let anonymous = client_trusting(&pki.ca_pem())
        .build()
        .expect("client builds");
    let result = health_status(&anonymous, &vault.addr()).await;
    assert!(
        result.is_err(),
        "a client without a certificate must fail: {result:?}"
    );
    assert_eq!(vault.requests().len(), 0);

    let (cert_pem, key_pem) = pki.client_cert("kriptomat");
    let authenticated = client_trusting(&pki.ca_pem())
        .identity(identity(&cert_pem, &key_pem))
        .build()
        .expect("client builds");
    let status = health_status(&authenticated, &vault.addr())
        .await
        .expect("a client with a certificate from the CA succeeds");
    assert_eq!(status, 200);
    assert_eq!(vault.requests().len(), 1);
}

#[tokio::test]
async fn mtls_rejects_certificate_from_other_ca() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let vault = https_vault(&pki, Some(pki.ca_pem()));
    let (cert_pem, key_pem) = other.client_cert("kriptomat");
    let client = client_trusting(&pki.ca_pem())
        .identity(identity(&cert_pem, &key_pem))
        .build()
        .expect("client builds");

    let result = health_status(&client, &vault.addr()).await;

    assert!(
        result.is_err(),
        "a foreign client certificate must fail: {result:?}"
    );
}

#[tokio::test]
async fn vaultrs_over_https_with_ca_file() {
    let pki = TestPki::new();
    let vault = https_vault(&pki, None);
    let files = pki.write_files("kriptomat");
    let settings = VaultClientSettingsBuilder::default()
        .address(vault.addr())
        .token(vault.root_token())
        .ca_certs(vec![files.ca_cert.display().to_string()])
        .build()
        .expect("valid vaultrs settings");
    let client = VaultClient::new(settings).expect("vaultrs client builds");

    let lookup = vaultrs::token::lookup_self(&client)
        .await
        .expect("lookup-self over HTTPS");

    assert_eq!(lookup.id, vault.root_token());
}

#[test]
fn pki_files_hold_pem() {
    let pki = TestPki::new();
    let files = pki.write_files("kriptomat");

    let ca = std::fs::read_to_string(&files.ca_cert).expect("CA file");
    assert_eq!(ca, pki.ca_pem());
    let cert = std::fs::read_to_string(&files.client_cert).expect("client cert file");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let key = std::fs::read_to_string(&files.client_key).expect("client key file");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.client_key)
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let names: Vec<&str> = files.env_vars().iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        ["VAULT_CACERT", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"]
    );
    let dir = files.dir().to_path_buf();
    assert!(files.ca_cert.starts_with(&dir));
    drop(files);
    assert!(!dir.exists(), "dropping the files removes the directory");
}

#[test]
fn tls_options_debug_hides_key() {
    let pki = TestPki::new();
    let options = pki.server_tls_options();

    let debug = format!("{options:?}");

    assert!(!debug.contains(&options.key_pem));
    assert!(debug.contains("<redacted>"));
}

#[test]
#[should_panic(expected = "invalid TLS options")]
fn invalid_tls_options_panic() {
    FakeVault::start_with(FakeVaultOptions {
        tls: Some(TlsOptions {
            cert_chain_pem: "not a certificate".to_string(),
            key_pem: String::new(),
            client_ca_pem: None,
        }),
        ..FakeVaultOptions::default()
    });
}
