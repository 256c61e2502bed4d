//! rustls and quinn crypto settings: TLS 1.3 only, the ring provider, one ALPN, and a client
//! verifier that trusts exactly one pinned certificate.

use std::sync::{Arc, Mutex, PoisonError};

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::cert::ServerCert;
use super::config::NetConfig;
use super::{ALPN, NetError};
use crate::fingerprint::CertFingerprint;

/// The crypto provider both sides use.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The quinn settings a [`Server`](super::Server) binds with: `cert`, TLS 1.3, ALPN [`ALPN`], and
/// `config`'s stream limit, windows and idle timeout. Public so that tools (and the benchmark's
/// bare-QUIC baseline) can run plain quinn with identical transport settings.
///
/// # Errors
/// [`NetError::Config`], [`NetError::Cert`] or [`NetError::Tls`].
pub fn quinn_server_config(
    cert: &ServerCert,
    config: &NetConfig,
) -> Result<quinn::ServerConfig, NetError> {
    let mut server = quinn::ServerConfig::with_crypto(server_crypto(cert)?);
    server.transport_config(config.server_transport()?);
    Ok(server)
}

/// The quinn settings a [`Client`](super::Client) connects with: pinned to `fingerprint`, TLS
/// 1.3, ALPN [`ALPN`], and `config`'s transport settings. See [`quinn_server_config`].
///
/// # Errors
/// [`NetError::Config`] or [`NetError::Tls`].
pub fn quinn_client_config(
    fingerprint: CertFingerprint,
    config: &NetConfig,
) -> Result<quinn::ClientConfig, NetError> {
    let (crypto, _) = client_crypto(&provider(), fingerprint)?;
    let mut client = quinn::ClientConfig::new(crypto);
    client.transport_config(config.client_transport()?);
    Ok(client)
}

/// Server crypto: the certificate, TLS 1.3, our ALPN only, no client certificates (callers
/// prove who they are by signing each request with their hotkey).
pub(crate) fn server_crypto(cert: &ServerCert) -> Result<Arc<QuicServerConfig>, NetError> {
    let (chain, key) = cert.rustls_parts()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(NetError::Tls)?
        .with_no_client_auth()
        .with_single_cert(vec![chain], key)
        .map_err(NetError::Tls)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|_| NetError::CipherSuite)?;
    Ok(Arc::new(quic))
}

/// Client crypto pinned to `expected`, and the verifier (which remembers a mismatch).
pub(crate) fn client_crypto(
    provider: &Arc<CryptoProvider>,
    expected: CertFingerprint,
) -> Result<(Arc<QuicClientConfig>, Arc<PinnedCertVerifier>), NetError> {
    let verifier = Arc::new(PinnedCertVerifier::new(expected, provider));
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(NetError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|_| NetError::CipherSuite)?;
    Ok((Arc::new(quic), verifier))
}

/// Accepts exactly one certificate, named by its SHA-256 fingerprint.
///
/// Names, validity dates and issuers are ignored on purpose: the certificate is self-signed and
/// its fingerprint, published on chain, is the whole trust decision. The TLS 1.3 handshake
/// signature is still verified with the provider's algorithms, which proves the server holds
/// the certificate's private key.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    expected: CertFingerprint,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    /// The fingerprint actually presented, when it was not the expected one.
    mismatch: Mutex<Option<CertFingerprint>>,
}

impl PinnedCertVerifier {
    fn new(expected: CertFingerprint, provider: &CryptoProvider) -> Self {
        Self {
            expected,
            algorithms: provider.signature_verification_algorithms,
            mismatch: Mutex::new(None),
        }
    }

    /// The fingerprint presented, if the handshake failed because it was not the pinned one.
    pub(crate) fn mismatch(&self) -> Option<CertFingerprint> {
        *self.mismatch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = CertFingerprint::of_der(end_entity);
        if got == self.expected {
            return Ok(ServerCertVerified::assertion());
        }
        *self.mismatch.lock().unwrap_or_else(PoisonError::into_inner) = Some(got);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is enabled (QUIC requires it), so this is never reached legitimately.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
