//! The miner's QUIC certificate (from files, generated once, or derived from a seed). Its
//! hotkey and coldkey come from `subnet_service::keys`.

use std::path::{Path, PathBuf};

use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{CertError, CertFingerprint, ServerCert};
use subnet_service::KeyLoadError;

use crate::config::TlsFiles;

/// BLAKE3 key-derivation context of certificate keys derived from a seed.
const CERT_SEED_CONTEXT: &str = "subnet-miner 2025 tls certificate key from seed v1";

/// A key or certificate could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A hotkey or coldkey cannot be loaded.
    #[error("loading a key")]
    Key(#[from] KeyLoadError),
    /// A certificate or key file could not be read or written.
    #[error("i/o on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Only one of the certificate and key files exists.
    #[error("{present} exists but {missing} does not: keep both or remove both")]
    HalfCertificate {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The certificate files hold no usable certificate or key.
    #[error("certificate")]
    Cert(#[from] CertError),
    /// `hotkey_certificate` and `tls` files are both configured.
    #[error("`hotkey_certificate = true` serves a certificate made from the hotkey: remove `tls`")]
    HotkeyAndFiles,
}

/// The certificate the miner serves and the fingerprint it publishes with its axon: with
/// `hotkey_certificate`, the hotkey's own certificate and [`CertFingerprint::HOTKEY`] (callers
/// pin the hotkey); otherwise [`load_certificate`]'s and its SHA-256.
///
/// # Errors
/// [`IdentityError::HotkeyAndFiles`], or [`load_certificate`]'s.
pub fn miner_certificate(
    hotkey_certificate: bool,
    files: Option<&TlsFiles>,
    seed: Option<u64>,
    hotkey: &Keypair,
) -> Result<(ServerCert, CertFingerprint), IdentityError> {
    if !hotkey_certificate {
        let cert = load_certificate(files, seed)?;
        let fingerprint = cert.fingerprint();
        return Ok((cert, fingerprint));
    }
    if files.is_some() {
        return Err(IdentityError::HotkeyAndFiles);
    }
    Ok((ServerCert::for_hotkey(hotkey)?, CertFingerprint::HOTKEY))
}

/// The miner's certificate: loaded from `files` if both exist, generated and written there if
/// neither does; without files, derived from `seed` if given, else freshly generated.
///
/// # Errors
/// [`IdentityError`] for unreadable, unwritable or half-present files, or invalid PEM.
pub fn load_certificate(
    files: Option<&TlsFiles>,
    seed: Option<u64>,
) -> Result<ServerCert, IdentityError> {
    let Some(files) = files else {
        return match seed {
            Some(seed) => seeded_certificate(seed),
            None => Ok(ServerCert::generate()?),
        };
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IdentityError::Io { path, source }
    };
    match (files.cert.exists(), files.key.exists()) {
        (true, true) => {
            let cert = std::fs::read_to_string(&files.cert).map_err(io(&files.cert))?;
            let key = zeroize::Zeroizing::new(
                std::fs::read_to_string(&files.key).map_err(io(&files.key))?,
            );
            Ok(ServerCert::from_pem(&cert, &key)?)
        }
        (false, false) => {
            let cert = match seed {
                Some(seed) => seeded_certificate(seed)?,
                None => ServerCert::generate()?,
            };
            write_private(&files.key, cert.key_pem()).map_err(io(&files.key))?;
            std::fs::write(&files.cert, cert.cert_pem()).map_err(io(&files.cert))?;
            tracing::info!(cert = %files.cert.display(), fingerprint = %cert.fingerprint(),
                "wrote a new certificate");
            Ok(cert)
        }
        (true, false) => Err(IdentityError::HalfCertificate {
            present: files.cert.clone(),
            missing: files.key.clone(),
        }),
        (false, true) => Err(IdentityError::HalfCertificate {
            present: files.key.clone(),
            missing: files.cert.clone(),
        }),
    }
}

/// A self-signed Ed25519 certificate whose key is derived from `seed`: the same seed gives the
/// same certificate, byte for byte.
fn seeded_certificate(seed: u64) -> Result<ServerCert, IdentityError> {
    let secret =
        zeroize::Zeroizing::new(blake3::derive_key(CERT_SEED_CONTEXT, &seed.to_le_bytes()));
    Ok(ServerCert::from_ed25519_seed(&secret)?)
}

/// Writes a secret file, readable by its owner only on unix.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_certificates_are_stable_and_distinct() {
        let a = load_certificate(None, Some(1)).unwrap();
        assert_eq!(
            a.fingerprint(),
            load_certificate(None, Some(1)).unwrap().fingerprint()
        );
        assert_ne!(
            a.fingerprint(),
            load_certificate(None, Some(2)).unwrap().fingerprint()
        );
        assert_ne!(
            load_certificate(None, None).unwrap().fingerprint(),
            load_certificate(None, None).unwrap().fingerprint()
        );
    }

    #[test]
    fn a_hotkey_certificate_publishes_the_hotkey_pin() {
        let hotkey = Keypair::dev("identity-hotkey");
        let (cert, published) = miner_certificate(true, None, Some(5), &hotkey).unwrap();
        assert_eq!(published, CertFingerprint::HOTKEY);
        assert_eq!(
            cert.fingerprint(),
            ServerCert::for_hotkey(&hotkey).unwrap().fingerprint()
        );
        let (cert, published) = miner_certificate(false, None, Some(5), &hotkey).unwrap();
        assert_eq!(published, cert.fingerprint());
        assert_ne!(published, CertFingerprint::HOTKEY);
        let files = TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        };
        assert!(matches!(
            miner_certificate(true, Some(&files), None, &hotkey),
            Err(IdentityError::HotkeyAndFiles)
        ));
    }

    #[test]
    fn certificate_files_are_written_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let first = load_certificate(Some(&files), None).unwrap();
        let again = load_certificate(Some(&files), None).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(
            load_certificate(Some(&files), None),
            Err(IdentityError::HalfCertificate { .. })
        ));
    }
}
