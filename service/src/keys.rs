//! Where a binary's hotkey or coldkey comes from, as written in its config file:
//!
//! ```toml
//! hotkey = { file = "keys/miner1.hotkey" }                        # a plain keyfile
//! coldkey = { file = "keys/me.coldkey", password_file = "pw" }    # an encrypted one
//! hotkey = { dev = "alice" }                                      # a public development key
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subnet_protocol::keyfile::{Keyfile, KeyfileError};
use subnet_protocol::keys::Keypair;
use zeroize::Zeroizing;

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeySource {
    /// A keyfile (`subnet wallet` format), unlocked with the password in `password_file` if
    /// it is encrypted.
    File(KeyFile),
    /// A named development key (`Keypair::dev(name)`): public knowledge, for local subnets.
    Dev(DevKey),
}

/// A keyfile and the file holding its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The keyfile.
    pub file: PathBuf,
    /// A file whose first line is the password. Default none (a plain keyfile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// A development key by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevKey {
    /// The name, e.g. `alice`.
    pub dev: String,
}

/// A key that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// The keyfile cannot be read, is corrupt, or the password does not unlock it.
    #[error("keyfile {path}")]
    Keyfile {
        /// The keyfile.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyfileError,
    },
    /// The password file cannot be read.
    #[error("reading password file {path}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl KeySource {
    /// A keyfile source.
    pub fn file(file: impl Into<PathBuf>, password_file: Option<PathBuf>) -> Self {
        Self::File(KeyFile {
            file: file.into(),
            password_file,
        })
    }

    /// A development key source.
    pub fn dev(name: impl Into<String>) -> Self {
        Self::Dev(DevKey { dev: name.into() })
    }

    /// Loads the key: reads and unlocks the keyfile (with the first line of the password file),
    /// or derives the named development key.
    ///
    /// # Errors
    /// [`KeyLoadError`] naming the file at fault.
    pub fn load(&self) -> Result<Keypair, KeyLoadError> {
        match self {
            Self::Dev(dev) => Ok(Keypair::dev(&dev.dev)),
            Self::File(file) => {
                let keyfile_err = |source| KeyLoadError::Keyfile {
                    path: file.file.clone(),
                    source,
                };
                let keyfile = Keyfile::read(&file.file).map_err(keyfile_err)?;
                let password = file
                    .password_file
                    .as_deref()
                    .map(read_password)
                    .transpose()?;
                keyfile
                    .unlock(password.as_ref().map(|p| p.as_str()))
                    .map_err(keyfile_err)
            }
        }
    }
}

/// The first line of `path`, held in memory that is wiped when dropped.
fn read_password(path: &Path) -> Result<Zeroizing<String>, KeyLoadError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        KeyLoadError::PasswordFile {
            path: path.to_path_buf(),
            source,
        }
    })?);
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use subnet_protocol::keyfile::{KdfParams, KeyKind};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Config {
        hotkey: KeySource,
    }

    #[test]
    fn both_forms_parse_and_unknown_fields_do_not() {
        let c: Config = toml::from_str("hotkey = { dev = \"alice\" }").unwrap();
        assert_eq!(c.hotkey, KeySource::dev("alice"));
        let c: Config = toml::from_str("hotkey = { file = \"k\", password_file = \"p\" }").unwrap();
        assert_eq!(c.hotkey, KeySource::file("k", Some("p".into())));
        assert!(toml::from_str::<Config>("hotkey = { file = \"k\", pasword = \"p\" }").is_err());
        assert!(toml::from_str::<Config>("hotkey = \"alice\"").is_err());
        let back: Config = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn loads_plain_and_encrypted_keyfiles_and_names_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keypair::from_seed(&[7; 32]);
        let plain = dir.path().join("hot");
        Keyfile::plain_hotkey(&key).write(&plain, false).unwrap();
        let loaded = KeySource::file(&plain, None).load().unwrap();
        assert_eq!(loaded.public(), key.public());

        let locked = dir.path().join("cold");
        Keyfile::encrypted(
            KeyKind::Coldkey,
            &key,
            "hunter2",
            KdfParams::new(8, 1, 1).unwrap(),
        )
        .unwrap()
        .write(&locked, false)
        .unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2\nignored second line\n").unwrap();
        let loaded = KeySource::file(&locked, Some(pw.clone())).load().unwrap();
        assert_eq!(loaded.public(), key.public());

        std::fs::write(&pw, "wrong\n").unwrap();
        match KeySource::file(&locked, Some(pw)).load() {
            Err(KeyLoadError::Keyfile { path, .. }) => assert_eq!(path, locked),
            other => panic!("wrong password gave {other:?}"),
        }
        let missing_pw = dir.path().join("nope");
        match KeySource::file(&locked, Some(missing_pw.clone())).load() {
            Err(KeyLoadError::PasswordFile { path, .. }) => assert_eq!(path, missing_pw),
            other => panic!("missing password file gave {other:?}"),
        }
        std::fs::write(&plain, b"\x00garbage").unwrap();
        assert!(matches!(
            KeySource::file(&plain, None).load(),
            Err(KeyLoadError::Keyfile { .. })
        ));
    }

    #[test]
    fn dev_keys_are_the_named_keys() {
        let key = KeySource::dev("bob").load().unwrap();
        assert_eq!(key.public(), Keypair::dev("bob").public());
    }
}
