//! rustls and quinn crypto settings: TLS 1.3 only, the ring provider, one ALPN, and a client
//! verifier that trusts exactly one pinned certificate, or exactly one hotkey.

use std::sync::atomic::{AtomicBool, Ordering};
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
use crate::keys::{PublicKey, Signature};

/// What a client trusts at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pin {
    /// Exactly the certificate with this SHA-256 fingerprint.
    Certificate(CertFingerprint),
    /// Any certificate, as long as the handshake is signed by this Ed25519 key (the server's
    /// hotkey; see [`ServerCert::for_hotkey`](super::ServerCert::for_hotkey)).
    Hotkey(PublicKey),
}

impl From<CertFingerprint> for Pin {
    fn from(fingerprint: CertFingerprint) -> Self {
        Self::Certificate(fingerprint)
    }
}

impl Pin {
    /// The pin for a server that published `fingerprint` and is called as `receiver`:
    /// [`CertFingerprint::HOTKEY`] pins the receiver's hotkey, anything else the certificate.
    pub fn new(fingerprint: CertFingerprint, receiver: PublicKey) -> Self {
        if fingerprint.is_hotkey() {
            Self::Hotkey(receiver)
        } else {
            Self::Certificate(fingerprint)
        }
    }
}

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

/// The quinn settings a [`Client`](super::Client) connects with: pinned to `pin`, TLS 1.3, ALPN
/// [`ALPN`], and `config`'s transport settings. See [`quinn_server_config`].
///
/// # Errors
/// [`NetError::Config`] or [`NetError::Tls`].
pub fn quinn_client_config(pin: Pin, config: &NetConfig) -> Result<quinn::ClientConfig, NetError> {
    let (crypto, _) = client_crypto(&provider(), pin)?;
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

/// Client crypto pinned to `pin`, and the verifier (which remembers a mismatch).
pub(crate) fn client_crypto(
    provider: &Arc<CryptoProvider>,
    pin: Pin,
) -> Result<(Arc<QuicClientConfig>, Arc<PinnedCertVerifier>), NetError> {
    let verifier = Arc::new(PinnedCertVerifier::new(pin, provider));
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

/// Accepts exactly one certificate, named by its SHA-256 fingerprint, or exactly one signing key.
///
/// Names, validity dates and issuers are ignored on purpose: the certificate is self-signed and
/// its fingerprint, published on chain, is the whole trust decision. The TLS 1.3 handshake
/// signature is still verified with the provider's algorithms, which proves the server holds
/// the certificate's private key. Pinned to a hotkey, the certificate is not looked at at all:
/// the handshake signature must be Ed25519 and verify under that hotkey, which proves the
/// server holds the hotkey's secret (and certificate contents cannot smuggle in another key).
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pin: Pin,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    /// The fingerprint actually presented, when it was not the expected one.
    mismatch: Mutex<Option<CertFingerprint>>,
    /// Pinned to a hotkey, the handshake was not signed by it.
    hotkey_refused: AtomicBool,
}

impl PinnedCertVerifier {
    fn new(pin: Pin, provider: &CryptoProvider) -> Self {
        Self {
            pin,
            algorithms: provider.signature_verification_algorithms,
            mismatch: Mutex::new(None),
            hotkey_refused: AtomicBool::new(false),
        }
    }

    /// The fingerprint presented, if the handshake failed because it was not the pinned one.
    pub(crate) fn mismatch(&self) -> Option<CertFingerprint> {
        *self.mismatch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the handshake failed because it was not signed by the pinned hotkey.
    pub(crate) fn hotkey_refused(&self) -> bool {
        self.hotkey_refused.load(Ordering::Relaxed)
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
        match self.pin {
            Pin::Certificate(expected) if got == expected => {
                return Ok(ServerCertVerified::assertion());
            }
            // Decided by the handshake signature (`verify_tls13_signature`).
            Pin::Hotkey(_) => return Ok(ServerCertVerified::assertion()),
            Pin::Certificate(_) => {}
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
        let Pin::Hotkey(hotkey) = self.pin else {
            return rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms);
        };
        let signature = <[u8; 64]>::try_from(dss.signature())
            .ok()
            .map(Signature::from_bytes);
        match signature {
            Some(sig)
                if dss.scheme == SignatureScheme::ED25519
                    && hotkey.verify(message, &sig).is_ok() =>
            {
                Ok(HandshakeSignatureValid::assertion())
            }
            _ => {
                self.hotkey_refused.store(true, Ordering::Relaxed);
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::BadSignature,
                ))
            }
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // All of them, also when pinned to a hotkey: a server that signs with another scheme
        // then fails as "not the hotkey" rather than as an unexplained handshake failure.
        self.algorithms.supported_schemes()
    }
}
