//! Keyfiles: a hotkey or coldkey on disk, its secret seed encrypted with a password or (hotkeys
//! only) in clear.
//!
//! # Format, version 1
//!
//! A keyfile is one JSON object; byte strings are lowercase hex. An encrypted key:
//!
//! ```json
//! {
//!   "version": 1,
//!   "kind": "coldkey",
//!   "public_key": "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM",
//!   "encryption": "argon2id-xchacha20poly1305",
//!   "kdf": { "m_cost_kib": 65536, "t_cost": 3, "p_cost": 1 },
//!   "salt": "<16..=64 bytes>",
//!   "nonce": "<24 bytes>",
//!   "password_check": "<32 bytes>",
//!   "ciphertext": "<48 bytes: the 32-byte seed and a 16-byte tag>",
//!   "checksum": "<32 bytes>"
//! }
//! ```
//!
//! A key in clear has `"encryption": "none"` and `"seed": "<32 bytes>"` in place of the `kdf`,
//! `salt`, `nonce`, `password_check` and `ciphertext` fields. Coldkeys are always encrypted.
//!
//! - `public_key` is the SS58 address (prefix 42) and is readable without the password.
//! - Encryption: `k = Argon2id(v0x13, password, salt, m_cost_kib, t_cost, p_cost)`, 32 bytes;
//!   the AEAD key is `BLAKE3-derive_key("subnet-keyfile v1 encryption key", k)` and
//!   `password_check` is `BLAKE3-derive_key("subnet-keyfile v1 password check", k)`. The seed is
//!   sealed with XChaCha20-Poly1305 under a random nonce, with associated data
//!   `"subnet-keyfile/v1/aad" ‖ kind (u8: 0 hotkey, 1 coldkey) ‖ public key (32) ‖ m_cost_kib ‖
//!   t_cost ‖ p_cost (u32 LE each) ‖ salt length (u32 LE) ‖ salt`, so the clear public key, kind
//!   and KDF settings cannot be swapped. The password check tells a wrong password apart from a
//!   tampered file; it costs an attacker the same Argon2 run the AEAD would.
//! - `checksum` is BLAKE3 over `"subnet-keyfile/v1/checksum"`, the version (u32 LE) and every
//!   other field in the order above (lengths as u32 LE before variable fields). It is not a
//!   security measure (anyone can recompute it): it reports a damaged or hand-edited file as
//!   such, before the slow key derivation runs.
//!
//! The KDF settings live in the file, so [`KdfParams::RECOMMENDED`] can grow without breaking
//! old keyfiles. Files are written atomically (a temporary file in the same directory, fsync,
//! rename, fsync of the directory) with mode 0600 on unix.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{Keypair, PublicKey, SEED_BYTES};
use crate::ss58::{self, Ss58Error};

/// The keyfile format version this build writes and reads.
pub const KEYFILE_VERSION: u32 = 1;
/// Keyfiles larger than this (bytes) are rejected unread.
pub const MAX_KEYFILE_BYTES: u64 = 64 * 1024;
/// Salt length written by this build, in bytes.
pub const SALT_BYTES: usize = 16;
/// Shortest salt accepted when reading, in bytes.
pub const MIN_SALT_BYTES: usize = 16;
/// Longest salt accepted when reading, in bytes.
pub const MAX_SALT_BYTES: usize = 64;
/// XChaCha20-Poly1305 nonce length, in bytes.
pub const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
const CIPHERTEXT_BYTES: usize = SEED_BYTES + TAG_BYTES;
const HASH_BYTES: usize = 32;

const SCHEME_NONE: &str = "none";
const SCHEME_SEALED: &str = "argon2id-xchacha20poly1305";
const AAD_TAG: &[u8] = b"subnet-keyfile/v1/aad";
const CHECKSUM_TAG: &[u8] = b"subnet-keyfile/v1/checksum";
const ENC_KEY_CONTEXT: &str = "subnet-keyfile v1 encryption key";
const CHECK_CONTEXT: &str = "subnet-keyfile v1 password check";

/// The role of a key: hotkeys sign network traffic, coldkeys own funds and stay encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// An operational key (miner or validator identity); may be stored in clear.
    Hotkey,
    /// An owner key (balances, stake, registration); always stored encrypted.
    Coldkey,
}

impl KeyKind {
    const fn tag(self) -> u8 {
        match self {
            Self::Hotkey => 0,
            Self::Coldkey => 1,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hotkey => "hotkey",
            Self::Coldkey => "coldkey",
        })
    }
}

/// Argon2id cost settings, stored in each encrypted keyfile.
///
/// Always valid: built only by [`KdfParams::new`] (or the constants), which checks the ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl KdfParams {
    /// The settings new keyfiles get: 64 MiB of memory, 3 passes, 1 lane (RFC 9106's second
    /// recommendation, with one lane because this build computes lanes sequentially). About
    /// 0.27 s per encryption or unlock on one core of the project's 2-core build machine.
    pub const RECOMMENDED: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// Largest memory cost accepted (4 GiB), so a hostile file cannot demand unbounded memory.
    pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    /// Largest number of passes accepted.
    pub const MAX_T_COST: u32 = 64;
    /// Largest number of lanes accepted.
    pub const MAX_P_COST: u32 = 64;

    /// Settings with memory `m_cost_kib` KiB, `t_cost` passes and `p_cost` lanes.
    ///
    /// Small values (for example `new(8, 1, 1)`) make tests fast; never use them for real keys.
    ///
    /// # Errors
    /// [`KeyfileError::KdfParams`] if a value is above the maxima here, or below Argon2's
    /// minima (`t_cost ≥ 1`, `p_cost ≥ 1`, `m_cost_kib ≥ 8 · p_cost`).
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, KeyfileError> {
        if m_cost_kib > Self::MAX_M_COST_KIB
            || t_cost > Self::MAX_T_COST
            || p_cost > Self::MAX_P_COST
        {
            return Err(KeyfileError::KdfParams {
                reason: format!(
                    "m_cost_kib ≤ {}, t_cost ≤ {}, p_cost ≤ {} required",
                    Self::MAX_M_COST_KIB,
                    Self::MAX_T_COST,
                    Self::MAX_P_COST
                ),
            });
        }
        let params = Self {
            m_cost_kib,
            t_cost,
            p_cost,
        };
        params.argon2()?;
        Ok(params)
    }

    /// Memory cost in KiB.
    pub const fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Number of passes.
    pub const fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Number of lanes.
    pub const fn p_cost(&self) -> u32 {
        self.p_cost
    }

    fn argon2(&self) -> Result<Argon2<'static>, KeyfileError> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(HASH_BYTES))
            .map_err(|e| KeyfileError::KdfParams {
                reason: e.to_string(),
            })?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// Why a keyfile could not be written, read or unlocked.
#[derive(Debug, thiserror::Error)]
pub enum KeyfileError {
    /// The file system refused (missing directory, permissions, disk full…).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The target exists and overwriting was not asked for.
    #[error("{} already exists; not overwriting it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_KEYFILE_BYTES`].
    #[error("keyfile larger than {MAX_KEYFILE_BYTES} bytes")]
    TooLarge,
    /// The file ends before its JSON does (an interrupted copy, or an empty file).
    #[error("keyfile is truncated")]
    Truncated,
    /// Not JSON, or not an object of the expected shape.
    #[error("keyfile is malformed: {reason}")]
    Malformed {
        /// What the JSON parser reported.
        reason: String,
    },
    /// A format version this build does not read.
    #[error(
        "keyfile version {found} is not supported (this build reads version {KEYFILE_VERSION})"
    )]
    UnknownVersion {
        /// The version in the file.
        found: u64,
    },
    /// An `encryption` scheme this build does not know.
    #[error("unknown keyfile encryption scheme {scheme:?}")]
    UnknownEncryption {
        /// The scheme named in the file.
        scheme: String,
    },
    /// A field the file's encryption scheme needs is absent.
    #[error("keyfile field `{field}` is missing")]
    MissingField {
        /// The JSON field name.
        field: &'static str,
    },
    /// A field that does not belong to the file's encryption scheme is present.
    #[error("keyfile field `{field}` does not belong to encryption `{scheme}`")]
    UnexpectedField {
        /// The JSON field name.
        field: &'static str,
        /// The scheme in the file.
        scheme: &'static str,
    },
    /// A byte-string field is not hex.
    #[error("keyfile field `{field}` is not hex")]
    BadHex {
        /// The JSON field name.
        field: &'static str,
    },
    /// A byte-string field has the wrong length (a seed that is not 32 bytes, say).
    #[error("keyfile field `{field}` has {got} bytes, expected {expected}")]
    WrongLength {
        /// The JSON field name.
        field: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length found in bytes.
        got: usize,
    },
    /// The salt is shorter than [`MIN_SALT_BYTES`] or longer than [`MAX_SALT_BYTES`].
    #[error("salt of {got} bytes, expected {MIN_SALT_BYTES}..={MAX_SALT_BYTES}")]
    SaltLength {
        /// Length found in bytes.
        got: usize,
    },
    /// The `public_key` field is not a valid SS58 address.
    #[error("keyfile public key: {0}")]
    BadPublicKey(#[from] Ss58Error),
    /// Argon2 settings out of range (see [`KdfParams::new`]).
    #[error("invalid argon2 parameters: {reason}")]
    KdfParams {
        /// Which limit was broken.
        reason: String,
    },
    /// A coldkey stored (or asked to be stored) in clear.
    #[error("coldkeys must be stored encrypted")]
    UnencryptedColdkey,
    /// Encryption with an empty password was asked for.
    #[error("the password must not be empty")]
    EmptyPassword,
    /// The checksum does not match the contents: the file was damaged or edited.
    #[error("keyfile checksum mismatch: the file is damaged or was edited")]
    ChecksumMismatch,
    /// The key is encrypted and no password was given.
    #[error("keyfile is encrypted; a password is required")]
    PasswordRequired,
    /// The password is wrong (or the salt or KDF settings were altered and the checksum fixed).
    #[error("wrong password")]
    WrongPassword,
    /// The password is right but the AEAD rejected the file: its ciphertext, nonce, kind or
    /// public key was altered deliberately (the checksum was fixed up too).
    #[error("keyfile failed authentication: it was tampered with")]
    Tampered,
    /// The stored public key is not the one the secret seed gives.
    #[error("keyfile public key {stored} does not match its secret key ({derived})")]
    PublicKeyMismatch {
        /// The public key written in the file.
        stored: PublicKey,
        /// The public key of the stored secret.
        derived: PublicKey,
    },
    /// The AEAD refused to encrypt (not expected for a 32-byte seed).
    #[error("encryption failed")]
    Encrypt,
}

/// A key as stored in a keyfile: kind and public key in clear, the secret sealed or in clear.
///
/// `Debug` shows kind, public key and whether it is encrypted, never secret bytes.
#[derive(Clone)]
pub struct Keyfile {
    kind: KeyKind,
    public: PublicKey,
    secret: Secret,
}

#[derive(Clone)]
enum Secret {
    Plain(Zeroizing<[u8; SEED_BYTES]>),
    Sealed(Sealed),
}

#[derive(Clone)]
struct Sealed {
    kdf: KdfParams,
    salt: Vec<u8>,
    nonce: [u8; NONCE_BYTES],
    password_check: [u8; HASH_BYTES],
    ciphertext: [u8; CIPHERTEXT_BYTES],
}

impl Keyfile {
    /// A hotkey stored in clear.
    pub fn plain_hotkey(keypair: &Keypair) -> Self {
        Self {
            kind: KeyKind::Hotkey,
            public: keypair.public(),
            secret: Secret::Plain(keypair.seed()),
        }
    }

    /// A key encrypted with `password`, with a fresh random salt and nonce.
    ///
    /// Runs Argon2 once with `kdf` (about 0.27 s with [`KdfParams::RECOMMENDED`]).
    ///
    /// # Errors
    /// [`KeyfileError::EmptyPassword`], or [`KeyfileError::Encrypt`] (not expected).
    pub fn encrypted(
        kind: KeyKind,
        keypair: &Keypair,
        password: &str,
        kdf: KdfParams,
    ) -> Result<Self, KeyfileError> {
        let mut salt = vec![0u8; SALT_BYTES];
        rand::fill(&mut salt[..]);
        let mut nonce = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce);
        Self::seal(kind, keypair, password, kdf, salt, nonce)
    }

    /// [`Keyfile::encrypted`] with the salt and nonce given (deterministic, for test vectors).
    fn seal(
        kind: KeyKind,
        keypair: &Keypair,
        password: &str,
        kdf: KdfParams,
        salt: Vec<u8>,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<Self, KeyfileError> {
        if password.is_empty() {
            return Err(KeyfileError::EmptyPassword);
        }
        let public = keypair.public();
        let (enc_key, password_check) = derive_keys(password, &salt, &kdf)?;
        let aad = associated_data(kind, &public, &kdf, &salt);
        let seed = keypair.seed();
        // new_from_slice borrows the key; the cipher zeroizes its copy on drop.
        let sealed = XChaCha20Poly1305::new_from_slice(&enc_key[..])
            .map_err(|_| KeyfileError::Encrypt)?
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &seed[..],
                    aad: &aad,
                },
            )
            .map_err(|_| KeyfileError::Encrypt)?;
        let ciphertext = sealed
            .as_slice()
            .try_into()
            .map_err(|_| KeyfileError::Encrypt)?;
        Ok(Self {
            kind,
            public,
            secret: Secret::Sealed(Sealed {
                kdf,
                salt,
                nonce,
                password_check,
                ciphertext,
            }),
        })
    }

    /// Hotkey or coldkey.
    pub const fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public key (no password needed).
    pub const fn public(&self) -> PublicKey {
        self.public
    }

    /// Whether the secret is encrypted.
    pub const fn is_encrypted(&self) -> bool {
        matches!(self.secret, Secret::Sealed(_))
    }

    /// The Argon2 settings of an encrypted keyfile.
    pub const fn kdf_params(&self) -> Option<KdfParams> {
        match &self.secret {
            Secret::Sealed(s) => Some(s.kdf),
            Secret::Plain(_) => None,
        }
    }

    /// The key pair. A key in clear ignores `password`; an encrypted one runs Argon2 once.
    ///
    /// # Errors
    /// [`KeyfileError::PasswordRequired`], [`KeyfileError::WrongPassword`],
    /// [`KeyfileError::Tampered`], [`KeyfileError::PublicKeyMismatch`].
    pub fn unlock(&self, password: Option<&str>) -> Result<Keypair, KeyfileError> {
        let sealed = match &self.secret {
            Secret::Plain(seed) => return Ok(Keypair::from_seed(seed)),
            Secret::Sealed(s) => s,
        };
        let password = password.ok_or(KeyfileError::PasswordRequired)?;
        let (enc_key, check) = derive_keys(password, &sealed.salt, &sealed.kdf)?;
        // blake3::Hash compares in constant time.
        if blake3::Hash::from(check) != blake3::Hash::from(sealed.password_check) {
            return Err(KeyfileError::WrongPassword);
        }
        let aad = associated_data(self.kind, &self.public, &sealed.kdf, &sealed.salt);
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new_from_slice(&enc_key[..])
                .map_err(|_| KeyfileError::Tampered)?
                .decrypt(
                    &XNonce::from(sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| KeyfileError::Tampered)?,
        );
        let seed: Zeroizing<[u8; SEED_BYTES]> = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| KeyfileError::Tampered)?,
        );
        let keypair = Keypair::from_seed(&seed);
        check_public(self.public, &keypair)?;
        Ok(keypair)
    }

    /// The keyfile as pretty-printed JSON (contains the seed in clear for an unencrypted key).
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut file = FileJson {
            version: u64::from(KEYFILE_VERSION),
            kind: self.kind,
            public_key: self.public.to_string(),
            encryption: String::new(),
            seed: None,
            kdf: None,
            salt: None,
            nonce: None,
            password_check: None,
            ciphertext: None,
            checksum: hex::encode(self.checksum()),
        };
        match &self.secret {
            Secret::Plain(seed) => {
                file.encryption = SCHEME_NONE.to_owned();
                file.seed = Some(hex::encode(&seed[..]));
            }
            Secret::Sealed(s) => {
                file.encryption = SCHEME_SEALED.to_owned();
                file.kdf = Some(KdfJson {
                    m_cost_kib: s.kdf.m_cost_kib,
                    t_cost: s.kdf.t_cost,
                    p_cost: s.kdf.p_cost,
                });
                file.salt = Some(hex::encode(&s.salt));
                file.nonce = Some(hex::encode(s.nonce));
                file.password_check = Some(hex::encode(s.password_check));
                file.ciphertext = Some(hex::encode(s.ciphertext));
            }
        }
        // Serializing a struct of strings and integers into a String cannot fail.
        let mut json = Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default());
        json.push('\n');
        json
    }

    /// Parses and checks a keyfile's JSON (structure, lengths, checksum; for a key in clear also
    /// that the public key matches the seed). Does not need the password.
    ///
    /// # Errors
    /// [`KeyfileError::Truncated`], [`KeyfileError::Malformed`],
    /// [`KeyfileError::UnknownVersion`], [`KeyfileError::UnknownEncryption`],
    /// [`KeyfileError::MissingField`], [`KeyfileError::UnexpectedField`],
    /// [`KeyfileError::BadHex`], [`KeyfileError::WrongLength`], [`KeyfileError::SaltLength`],
    /// [`KeyfileError::BadPublicKey`], [`KeyfileError::KdfParams`],
    /// [`KeyfileError::ChecksumMismatch`], [`KeyfileError::UnencryptedColdkey`],
    /// [`KeyfileError::PublicKeyMismatch`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyfileError> {
        // Read the version alone first so that a future format is reported as such, not as a
        // shape error.
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(json_error)?;
        if probe.version != u64::from(KEYFILE_VERSION) {
            return Err(KeyfileError::UnknownVersion {
                found: probe.version,
            });
        }
        let file: FileJson = serde_json::from_slice(bytes).map_err(json_error)?;
        let (public, _prefix) = ss58::decode(&file.public_key)?;
        let checksum: [u8; HASH_BYTES] = hex_array("checksum", Some(&file.checksum))?;
        let secret = match file.encryption.as_str() {
            SCHEME_NONE => {
                file.forbid_sealed_fields()?;
                Secret::Plain(Zeroizing::new(hex_array("seed", file.seed.as_deref())?))
            }
            SCHEME_SEALED => {
                if file.seed.is_some() {
                    return Err(KeyfileError::UnexpectedField {
                        field: "seed",
                        scheme: SCHEME_SEALED,
                    });
                }
                let kdf = file
                    .kdf
                    .ok_or(KeyfileError::MissingField { field: "kdf" })?;
                let salt = hex_vec("salt", file.salt.as_deref())?;
                if !(MIN_SALT_BYTES..=MAX_SALT_BYTES).contains(&salt.len()) {
                    return Err(KeyfileError::SaltLength { got: salt.len() });
                }
                Secret::Sealed(Sealed {
                    kdf: KdfParams::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost)?,
                    salt,
                    nonce: hex_array("nonce", file.nonce.as_deref())?,
                    password_check: hex_array("password_check", file.password_check.as_deref())?,
                    ciphertext: hex_array("ciphertext", file.ciphertext.as_deref())?,
                })
            }
            other => {
                return Err(KeyfileError::UnknownEncryption {
                    scheme: other.to_owned(),
                });
            }
        };
        let keyfile = Self {
            kind: file.kind,
            public,
            secret,
        };
        if blake3::Hash::from(keyfile.checksum()) != blake3::Hash::from(checksum) {
            return Err(KeyfileError::ChecksumMismatch);
        }
        if let Secret::Plain(seed) = &keyfile.secret {
            if keyfile.kind == KeyKind::Coldkey {
                return Err(KeyfileError::UnencryptedColdkey);
            }
            check_public(keyfile.public, &Keypair::from_seed(seed))?;
        }
        Ok(keyfile)
    }

    /// Writes the keyfile to `path` atomically, mode 0600 on unix; the directory must exist.
    ///
    /// # Errors
    /// [`KeyfileError::AlreadyExists`] if `path` exists and `overwrite` is false;
    /// [`KeyfileError::UnencryptedColdkey`] for a coldkey in clear; [`KeyfileError::Io`].
    pub fn write(&self, path: &Path, overwrite: bool) -> Result<(), KeyfileError> {
        if self.kind == KeyKind::Coldkey && !self.is_encrypted() {
            return Err(KeyfileError::UnencryptedColdkey);
        }
        atomic::write_atomic(path, self.to_json().as_bytes(), overwrite)
    }

    /// Reads and checks a keyfile (see [`Keyfile::from_json`]); no password needed.
    ///
    /// # Errors
    /// [`KeyfileError::Io`], [`KeyfileError::TooLarge`], and those of [`Keyfile::from_json`].
    pub fn read(path: &Path) -> Result<Self, KeyfileError> {
        let io_err = |source| KeyfileError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_KEYFILE_BYTES.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_KEYFILE_BYTES {
            return Err(KeyfileError::TooLarge);
        }
        Self::from_json(&bytes)
    }

    /// BLAKE3 over every field (see the module docs).
    fn checksum(&self) -> [u8; HASH_BYTES] {
        let mut h = blake3::Hasher::new();
        h.update(CHECKSUM_TAG);
        h.update(&KEYFILE_VERSION.to_le_bytes());
        h.update(&[self.kind.tag()]);
        h.update(self.public.as_bytes());
        match &self.secret {
            Secret::Plain(seed) => {
                h.update(&[0]);
                h.update(&seed[..]);
            }
            Secret::Sealed(s) => {
                h.update(&[1]);
                update_kdf(&mut h, &s.kdf, &s.salt);
                h.update(&s.nonce);
                h.update(&s.password_check);
                h.update(&s.ciphertext);
            }
        }
        *h.finalize().as_bytes()
    }
}

impl fmt::Debug for Keyfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyfile")
            .field("kind", &self.kind)
            .field("public", &self.public)
            .field("encrypted", &self.is_encrypted())
            .field("kdf", &self.kdf_params())
            .finish_non_exhaustive()
    }
}

/// The first pass over a keyfile: only its version.
#[derive(Deserialize)]
struct VersionProbe {
    version: u64,
}

/// The JSON form; optional fields are present or absent by encryption scheme.
#[derive(Serialize, Deserialize)]
struct FileJson {
    version: u64,
    kind: KeyKind,
    public_key: String,
    encryption: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    checksum: String,
}

impl FileJson {
    fn forbid_sealed_fields(&self) -> Result<(), KeyfileError> {
        let present = [
            ("kdf", self.kdf.is_some()),
            ("salt", self.salt.is_some()),
            ("nonce", self.nonce.is_some()),
            ("password_check", self.password_check.is_some()),
            ("ciphertext", self.ciphertext.is_some()),
        ];
        match present.into_iter().find(|(_, is)| *is) {
            Some((field, _)) => Err(KeyfileError::UnexpectedField {
                field,
                scheme: SCHEME_NONE,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for FileJson {
    fn drop(&mut self) {
        if let Some(seed) = &mut self.seed {
            seed.zeroize();
        }
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct KdfJson {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

fn json_error(e: serde_json::Error) -> KeyfileError {
    if e.is_eof() {
        KeyfileError::Truncated
    } else {
        KeyfileError::Malformed {
            reason: e.to_string(),
        }
    }
}

fn hex_vec(field: &'static str, value: Option<&str>) -> Result<Vec<u8>, KeyfileError> {
    let value = value.ok_or(KeyfileError::MissingField { field })?;
    hex::decode(value).map_err(|_| KeyfileError::BadHex { field })
}

fn hex_array<const N: usize>(
    field: &'static str,
    value: Option<&str>,
) -> Result<[u8; N], KeyfileError> {
    let bytes = Zeroizing::new(hex_vec(field, value)?);
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyfileError::WrongLength {
            field,
            expected: N,
            got: bytes.len(),
        })
}

fn check_public(stored: PublicKey, keypair: &Keypair) -> Result<(), KeyfileError> {
    let derived = keypair.public();
    if derived == stored {
        Ok(())
    } else {
        Err(KeyfileError::PublicKeyMismatch { stored, derived })
    }
}

/// Argon2id, then two BLAKE3-derived keys: the AEAD key and the password check.
fn derive_keys(
    password: &str,
    salt: &[u8],
    kdf: &KdfParams,
) -> Result<(Zeroizing<[u8; HASH_BYTES]>, [u8; HASH_BYTES]), KeyfileError> {
    let mut stretched = Zeroizing::new([0u8; HASH_BYTES]);
    kdf.argon2()?
        .hash_password_into(password.as_bytes(), salt, &mut stretched[..])
        .map_err(|e| KeyfileError::KdfParams {
            reason: e.to_string(),
        })?;
    let enc_key = Zeroizing::new(blake3::derive_key(ENC_KEY_CONTEXT, &stretched[..]));
    let check = blake3::derive_key(CHECK_CONTEXT, &stretched[..]);
    Ok((enc_key, check))
}

fn update_kdf(h: &mut blake3::Hasher, kdf: &KdfParams, salt: &[u8]) {
    h.update(&kdf.m_cost_kib.to_le_bytes());
    h.update(&kdf.t_cost.to_le_bytes());
    h.update(&kdf.p_cost.to_le_bytes());
    // Salts are at most MAX_SALT_BYTES long, far below u32::MAX.
    h.update(&u32::try_from(salt.len()).unwrap_or(u32::MAX).to_le_bytes());
    h.update(salt);
}

fn associated_data(kind: KeyKind, public: &PublicKey, kdf: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(AAD_TAG.len().saturating_add(80));
    h.extend_from_slice(AAD_TAG);
    h.push(kind.tag());
    h.extend_from_slice(public.as_bytes());
    h.extend_from_slice(&kdf.m_cost_kib.to_le_bytes());
    h.extend_from_slice(&kdf.t_cost.to_le_bytes());
    h.extend_from_slice(&kdf.p_cost.to_le_bytes());
    h.extend_from_slice(&u32::try_from(salt.len()).unwrap_or(u32::MAX).to_le_bytes());
    h.extend_from_slice(salt);
    h
}

mod atomic;
#[cfg(test)]
mod tests;
