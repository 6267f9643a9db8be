//! TLS to PostgreSQL by `sslmode`, over rustls on ring (the provider the
//! admin API and ureq use): `disable` is plain TCP; `prefer` and `require`
//! encrypt without checking the certificate (libpq's meaning); `verify-ca`
//! checks it against the CAs in `sslrootcert`; `verify-full` checks the
//! host name as well.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode as ClientSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{PostgresTarget, SslMode};

/// The connector a connection (and a cancel request) is made with.
#[derive(Clone)]
pub(super) enum Tls {
    Plain(tokio_postgres::NoTls),
    Rustls(MakeRustlsConnect),
}

/// The connector and the client's own `sslmode` for `target`.
pub(super) fn connector(target: &PostgresTarget) -> Result<(Tls, ClientSslMode), String> {
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match target.sslmode {
        SslMode::Disable => {
            return Ok((Tls::Plain(tokio_postgres::NoTls), ClientSslMode::Disable));
        }
        SslMode::Prefer | SslMode::Require => Arc::new(Relaxed {
            chain: None,
            provider: Arc::clone(&provider),
        }),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots(target)?, Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("sslrootcert: {e}"))?;
            if target.sslmode == SslMode::VerifyCa {
                Arc::new(Relaxed {
                    chain: Some(webpki),
                    provider: Arc::clone(&provider),
                }) as Arc<dyn ServerCertVerifier>
            } else {
                webpki as Arc<dyn ServerCertVerifier>
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let mode = match target.sslmode {
        SslMode::Prefer => ClientSslMode::Prefer,
        _ => ClientSslMode::Require,
    };
    Ok((Tls::Rustls(MakeRustlsConnect::new(config)), mode))
}

fn roots(target: &PostgresTarget) -> Result<Arc<RootCertStore>, String> {
    let Some(path) = &target.sslrootcert else {
        return Err(format!(
            "sslmode={} needs sslrootcert=<the CA certificates, PEM>",
            target.sslmode.name()
        ));
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "sslrootcert {} holds no usable CA certificate",
            path.display()
        ));
    }
    Ok(Arc::new(store))
}

/// `prefer` / `require` (`chain: None`): encrypted, the certificate not
/// checked (as libpq); `verify-ca` (`Some`): the chain must lead to a
/// trusted CA, the host name is not checked. Signatures are always checked.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
