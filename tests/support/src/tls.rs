//! A throwaway certificate authority for TLS tests.
//!
//! [`TestPki::new`] creates a fresh CA key and self-signed CA certificate,
//! then issues server and client certificates from it. Two `TestPki`
//! values share nothing, so certificates from one are untrusted by a
//! client or server that only trusts the other's CA.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::vault::TlsOptions;

/// A CA that issues certificates for tests. Keys are ECDSA P-256 and
/// certificates stay valid until the year 4096 (rcgen's default).
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl TestPki {
    /// Creates a new CA with a random key.
    ///
    /// # Panics
    /// Panics when key generation or signing fails.
    pub fn new() -> TestPki {
        let mut params = CertificateParams::default();
        // A random serial in the name keeps two CAs apart in error messages.
        params.distinguished_name = distinguished_name(&format!(
            "kriptomat-testkit CA {:08x}",
            rand::random::<u32>()
        ));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("test PKI: cannot generate the CA key");
        let ca = CertifiedIssuer::self_signed(params, key)
            .expect("test PKI: cannot self-sign the CA certificate");
        TestPki { ca }
    }

    /// Returns the CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// Issues a server certificate and returns `(cert_chain_pem, key_pem)`.
    /// Each name becomes a subject alternative name: an IP address SAN when
    /// it parses as one (such as `127.0.0.1`), a DNS name otherwise.
    ///
    /// # Panics
    /// Panics when `names` is empty or contains an invalid DNS name.
    pub fn server_cert(&self, names: &[&str]) -> (String, String) {
        assert!(
            !names.is_empty(),
            "test PKI: a server certificate needs a name"
        );
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names.clone())
            .unwrap_or_else(|error| panic!("test PKI: invalid server names {names:?}: {error}"));
        params.distinguished_name = distinguished_name(&names[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// Issues a client certificate with `common_name` as its subject and
    /// returns `(cert_pem, key_pem)`.
    pub fn client_cert(&self, common_name: &str) -> (String, String) {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    /// Returns fake Vault TLS options with a server certificate for
    /// `localhost`, `127.0.0.1` and `vault.test`, and no client certificate
    /// requirement.
    pub fn server_tls_options(&self) -> TlsOptions {
        let (cert_chain_pem, key_pem) = self.server_cert(&["localhost", "127.0.0.1", "vault.test"]);
        TlsOptions {
            cert_chain_pem,
            key_pem,
            client_ca_pem: None,
        }
    }

    /// Writes the CA certificate and a new client certificate and key for
    /// `client_name` into a new temporary directory, for `VAULT_CACERT`,
    /// `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY`. The directory is deleted
    /// when the returned value is dropped.
    ///
    /// # Panics
    /// Panics when the files cannot be written.
    pub fn write_files(&self, client_name: &str) -> PkiFiles {
        let dir = tempfile::Builder::new()
            .prefix("kriptomat-testkit-pki-")
            .tempdir()
            .expect("test PKI: cannot create a temporary directory");
        let (client_cert_pem, client_key_pem) = self.client_cert(client_name);
        let ca_cert = write_file(dir.path(), "ca.pem", &self.ca_pem(), false);
        let client_cert = write_file(dir.path(), "client.pem", &client_cert_pem, false);
        let client_key = write_file(dir.path(), "client-key.pem", &client_key_pem, true);
        PkiFiles {
            dir,
            ca_cert,
            client_cert,
            client_key,
        }
    }

    fn issue(&self, params: CertificateParams) -> (String, String) {
        let key = KeyPair::generate().expect("test PKI: cannot generate a key");
        let certificate = params
            .signed_by(&key, &self.ca)
            .expect("test PKI: cannot sign a certificate");
        (certificate.pem(), key.serialize_pem())
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

/// PEM files written by [`TestPki::write_files`]. Dropping it deletes them.
pub struct PkiFiles {
    dir: TempDir,
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The client certificate.
    pub client_cert: PathBuf,
    /// The client's private key, readable only by its owner on Unix.
    pub client_key: PathBuf,
}

impl PkiFiles {
    /// Returns the directory that contains the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Returns `VAULT_CACERT`, `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY`
    /// pointing at the files, ready for `Command::envs`.
    pub fn env_vars(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("VAULT_CACERT", self.ca_cert.clone()),
            ("VAULT_CLIENT_CERT", self.client_cert.clone()),
            ("VAULT_CLIENT_KEY", self.client_key.clone()),
        ]
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn write_file(dir: &Path, name: &str, contents: &str, private: bool) -> PathBuf {
    let path = dir.join(name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(&path)
        .unwrap_or_else(|error| panic!("test PKI: cannot create {}: {error}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|error| panic!("test PKI: cannot write {}: {error}", path.display()));
    path
}
