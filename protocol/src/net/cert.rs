//! [`ServerCert`]: a miner's self-signed certificate and key, and its [`CertFingerprint`].

use std::fmt;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::fingerprint::CertFingerprint;

/// The DNS name in generated certificates, and the name clients ask for. Nobody checks it:
/// callers authenticate the miner by its pinned fingerprint, not by a name.
pub const SERVER_NAME: &str = "subnet-miner";

/// A self-signed TLS certificate and its private key.
///
/// A miner generates one once, stores both PEMs (the key with mode 0600) and publishes the
/// [fingerprint](Self::fingerprint) on chain; callers pin it. `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct ServerCert {
    cert: CertificateDer<'static>,
    key_pem: Zeroizing<String>,
    cert_pem: String,
    fingerprint: CertFingerprint,
}

/// A certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed to generate the key or certificate.
    #[error("certificate generation failed")]
    Generate(#[source] rcgen::Error),
    /// The certificate PEM holds no certificate, or is not PEM.
    #[error("no certificate in the certificate PEM")]
    CertPem(#[source] rustls::pki_types::pem::Error),
    /// The key PEM holds no private key, or is not PEM.
    #[error("no private key in the key PEM")]
    KeyPem(#[source] rustls::pki_types::pem::Error),
}

impl CertFingerprint {
    /// SHA-256 of a DER-encoded certificate.
    pub fn of_der(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }
}

impl ServerCert {
    /// A new ECDSA P-256 key and a certificate for it, self-signed, valid for [`SERVER_NAME`].
    ///
    /// # Errors
    /// [`CertError::Generate`] if the system's random generator fails.
    pub fn generate() -> Result<Self, CertError> {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .map_err(CertError::Generate)?;
        let cert = certified.cert.der().clone();
        Ok(Self {
            fingerprint: CertFingerprint::of_der(&cert),
            cert,
            cert_pem: certified.cert.pem(),
            key_pem: Zeroizing::new(certified.signing_key.serialize_pem()),
        })
    }

    /// Loads a certificate and key saved from [`ServerCert::cert_pem`] and
    /// [`ServerCert::key_pem`] (or any PEM certificate and PKCS#8, SEC1 or PKCS#1 key). That
    /// they belong together is checked when a server starts with them.
    ///
    /// # Errors
    /// [`CertError::CertPem`] or [`CertError::KeyPem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let cert =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(CertError::CertPem)?;
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(CertError::KeyPem)?;
        Ok(Self {
            fingerprint: CertFingerprint::of_der(&cert),
            cert,
            cert_pem: cert_pem.to_owned(),
            key_pem: Zeroizing::new(key_pem.to_owned()),
        })
    }

    /// The SHA-256 fingerprint callers pin.
    pub const fn fingerprint(&self) -> CertFingerprint {
        self.fingerprint
    }

    /// The certificate in PEM form (public).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key in PEM form. Secret: store it with mode 0600.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER-encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert
    }

    pub(crate) fn rustls_parts(
        &self,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CertError> {
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(CertError::KeyPem)?;
        Ok((self.cert.clone(), key))
    }
}

impl fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCert")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_then_reload_keeps_the_fingerprint() {
        let cert = ServerCert::generate().unwrap();
        assert_eq!(cert.fingerprint(), CertFingerprint::of_der(cert.cert_der()));
        let again = ServerCert::from_pem(cert.cert_pem(), cert.key_pem()).unwrap();
        assert_eq!(again.fingerprint(), cert.fingerprint());
        assert!(again.rustls_parts().is_ok());
        let shown = format!("{cert:?}");
        assert!(shown.contains(&cert.fingerprint().to_string()));
        assert!(!shown.contains("PRIVATE"));
        // Two generated certificates differ.
        assert_ne!(
            ServerCert::generate().unwrap().fingerprint(),
            cert.fingerprint()
        );
    }

    #[test]
    fn bad_pem_is_a_typed_error() {
        let cert = ServerCert::generate().unwrap();
        assert!(matches!(
            ServerCert::from_pem("nope", cert.key_pem()),
            Err(CertError::CertPem(_))
        ));
        assert!(matches!(
            ServerCert::from_pem(cert.cert_pem(), cert.cert_pem()),
            Err(CertError::KeyPem(_))
        ));
    }
}
