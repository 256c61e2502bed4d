//! [`ServerCert`]: a miner's self-signed certificate and key, and its [`CertFingerprint`].

use std::fmt;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::fingerprint::CertFingerprint;
use crate::keys::Keypair;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

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

    /// A self-signed Ed25519 certificate whose key is the Ed25519 key of `seed`: the same seed
    /// gives the same certificate, byte for byte (rcgen's fixed default validity dates and
    /// key-derived serial number).
    ///
    /// # Errors
    /// [`CertError::Generate`] if rcgen refuses the key (it does not for any seed).
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Result<Self, CertError> {
        let mut pkcs8 = Zeroizing::new(Vec::with_capacity(48));
        pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
        pkcs8.extend_from_slice(seed);
        let key = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(CertError::Generate)?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(CertError::Generate)?;
        let cert = params.self_signed(&key).map_err(CertError::Generate)?;
        let der = cert.der().clone();
        Ok(Self {
            fingerprint: CertFingerprint::of_der(&der),
            cert: der,
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }

    /// A certificate whose TLS key is `hotkey` itself. Its server publishes
    /// [`CertFingerprint::HOTKEY`] instead of [`ServerCert::fingerprint`], and callers check the
    /// handshake's signature against the hotkey they call, so nothing but the hotkey (already
    /// on chain) has to be published. The TLS 1.3 signature is over its own context string
    /// ("TLS 1.3, server CertificateVerify"), so it cannot be confused with an envelope or
    /// transaction signature by the same key.
    ///
    /// # Errors
    /// As [`ServerCert::from_ed25519_seed`].
    pub fn for_hotkey(hotkey: &Keypair) -> Result<Self, CertError> {
        Self::from_ed25519_seed(&hotkey.seed())
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
    fn hotkey_certificates_are_stable_per_key() {
        let a = Keypair::dev("cert-a");
        let one = ServerCert::for_hotkey(&a).unwrap();
        assert_eq!(
            one.fingerprint(),
            ServerCert::for_hotkey(&a).unwrap().fingerprint()
        );
        assert_ne!(
            one.fingerprint(),
            ServerCert::for_hotkey(&Keypair::dev("cert-b"))
                .unwrap()
                .fingerprint()
        );
        // The certificate's subject key is the hotkey (RFC 8410 SubjectPublicKeyInfo).
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(a.public().as_bytes());
        assert!(one.cert_der().windows(spki.len()).any(|w| w == spki));
        assert!(one.rustls_parts().is_ok());
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
