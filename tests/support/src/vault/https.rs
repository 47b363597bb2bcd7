//! The rustls server configuration behind [`super::TlsOptions`].

use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::TlsOptions;

/// Builds the TLS acceptor for `options`. With `client_ca_pem`, clients must
/// present a certificate issued by one of those CAs.
///
/// The aws-lc-rs provider is passed explicitly so the result does not
/// depend on which process-wide default provider some other crate
/// installed.
pub fn acceptor(options: &TlsOptions) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(aws_lc_rs::default_provider());

    let chain = CertificateDer::pem_slice_iter(options.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("invalid cert_chain_pem: {error}"))?;
    if chain.is_empty() {
        return Err("invalid cert_chain_pem: no CERTIFICATE block found".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(options.key_pem.as_bytes())
        .map_err(|error| format!("invalid key_pem: {error}"))?;

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot configure TLS versions: {error}"))?;
    let builder = match &options.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                let certificate =
                    certificate.map_err(|error| format!("invalid client_ca_pem: {error}"))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("invalid client_ca_pem: {error}"))?;
            }
            if roots.is_empty() {
                return Err("invalid client_ca_pem: no CERTIFICATE block found".to_string());
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| {
                    format!("cannot build the client certificate verifier: {error}")
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| format!("the certificate and key do not form a usable pair: {error}"))?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
