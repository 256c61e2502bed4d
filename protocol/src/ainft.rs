//! The AINFT manifest (the identity of a model), its canonical encoding and its id.
//!
//! An [`AinftManifest`] names a model immutably: the data it was trained on, the model itself
//! (architecture, hyperparameters, training steps, a digest of the weights), the service it
//! offers, where its on-chain state lives, and optionally the AINFT it was derived from with a
//! royalty share. Its [`AinftId`] is the BLAKE3 hash of [`AinftManifest::canonical_bytes`].
//!
//! # Canonical encoding, version 1
//!
//! Written by hand, independent of serde, so an id never changes with a library version or a
//! platform. Integers are little-endian and fixed width; a *string* is its UTF-8 byte length as
//! `u32` then the bytes (no Unicode normalisation: the bytes as given); a *digest* is 32 raw
//! bytes. Fields follow in this order:
//!
//! | # | field | encoding |
//! | - | ----- | -------- |
//! | 0 | domain tag | the 15 bytes `subnet-ainft/v1`, no length prefix |
//! | 1 | `data.uri` | string |
//! | 2 | `data.digest` | digest |
//! | 3 | `model.name` | string |
//! | 4 | `model.architecture` | string |
//! | 5 | `model.hyperparameters` | entry count as `u32`, then per entry key string, value string, in ascending byte order of the keys |
//! | 6 | `model.training_steps` | `u64` |
//! | 7 | `model.weights_digest` | digest |
//! | 8 | `service.netuid` | `u16` |
//! | 9 | `service.task` | string |
//! | 10 | `service.protocol_version` | `u32` |
//! | 11 | `state.chain` | string |
//! | 12 | `state.genesis_hash` | digest |
//! | 13 | `state.netuid` | `u16` |
//! | 14 | `parent` | `0x00` if none; else `0x01`, the parent's id (32 bytes), `royalty_ppm` as `u32` |
//!
//! A change to this layout is a new domain tag (`subnet-ainft/v2`), never an edit of v1.
//!
//! # Id strings
//!
//! An id is written in bech32m (BIP 350) with human-readable part `ainft`: `ainft1` followed by
//! 52 characters for the 32 bytes and a 6-character checksum, 64 characters in all, lowercase.
//! The checksum catches any typo of up to four characters.
//! [`AinftId::short`] gives `ainft1` and the first 8 data characters, for tables.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::NetUid;

/// The first bytes of every canonical encoding.
pub const AINFT_DOMAIN: &[u8] = b"subnet-ainft/v1";
/// The human-readable part of an id string.
pub const AINFT_ID_HRP: &str = "ainft";
/// Length of an id string in characters.
pub const AINFT_ID_STR_LEN: usize = 64;
/// A royalty of 100%, in parts per million.
pub const PPM_ONE: u32 = 1_000_000;
/// Longest string field [`AinftManifest::validate`] accepts, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Most hyperparameters [`AinftManifest::validate`] accepts.
pub const MAX_HYPERPARAMETERS: usize = 256;
const DIGEST_BYTES: usize = 32;

/// A 32-byte digest (BLAKE3 unless a field says otherwise), shown as 64 lowercase hex digits.
///
/// Serialized as that hex string in human-readable formats (JSON), as 32 raw bytes otherwise.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest([u8; DIGEST_BYTES]);

impl Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_BYTES] {
        &self.0
    }

    /// The BLAKE3 digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }
}

impl From<blake3::Hash> for Digest {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Why a string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    /// Not 64 characters long.
    #[error("digest has {got} characters, expected 64 hex digits")]
    WrongLength {
        /// Characters found.
        got: usize,
    },
    /// A character that is not a hex digit.
    #[error("digest is not hex")]
    NotHex,
}

impl FromStr for Digest {
    type Err = DigestParseError;

    /// Parses 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.chars().count();
        if len != DIGEST_BYTES.saturating_mul(2) {
            return Err(DigestParseError::WrongLength { got: len });
        }
        let mut out = [0u8; DIGEST_BYTES];
        hex::decode_to_slice(s, &mut out).map_err(|_| DigestParseError::NotHex)?;
        Ok(Self(out))
    }
}

/// The id of an AINFT: the BLAKE3 hash of its manifest's canonical encoding.
///
/// `Display` and `FromStr` use the bech32m string `ainft1…` (see the module docs); serialized
/// as that string in human-readable formats and as 32 raw bytes otherwise.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AinftId([u8; DIGEST_BYTES]);

impl AinftId {
    /// Wraps raw id bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_BYTES] {
        &self.0
    }

    /// A short form for tables: `ainft1` and the first 8 data characters, then `…`. Not
    /// parseable; use `Display` for anything that must be read back.
    pub fn short(&self) -> String {
        let full = self.to_string();
        let cut = AINFT_ID_HRP.len().saturating_add(1).saturating_add(8);
        format!("{}…", full.get(..cut).unwrap_or(&full))
    }
}

impl fmt::Display for AinftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32m::encode(&self.0))
    }
}

impl fmt::Debug for AinftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AinftId({self})")
    }
}

/// Why a string is not an [`AinftId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AinftIdError {
    /// Upper- and lowercase letters mixed (bech32 allows one or the other).
    #[error("AINFT id mixes upper and lower case")]
    MixedCase,
    /// Does not start with `ainft1`.
    #[error("AINFT id must start with \"{AINFT_ID_HRP}1\"")]
    WrongPrefix,
    /// Not [`AINFT_ID_STR_LEN`] characters long.
    #[error("AINFT id has {got} characters, expected {AINFT_ID_STR_LEN}")]
    WrongLength {
        /// Characters found.
        got: usize,
    },
    /// A character outside the bech32 alphabet.
    #[error("AINFT id has an invalid character at position {index}")]
    InvalidChar {
        /// Byte offset of the character in the string.
        index: usize,
    },
    /// The checksum does not match: a typo.
    #[error("AINFT id checksum mismatch")]
    Checksum,
    /// The unused low bits of the last data character are not zero.
    #[error("AINFT id has non-zero padding")]
    Padding,
}

impl FromStr for AinftId {
    type Err = AinftIdError;

    /// Parses `ainft1…` (all lowercase or all uppercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        bech32m::decode(s).map(Self)
    }
}

/// Serde through the string form for humans (JSON) and raw bytes for binary formats.
macro_rules! serde_str_or_bytes {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; DIGEST_BYTES]>::deserialize(d).map(Self)
                }
            }
        }
    };
}

serde_str_or_bytes!(Digest);
serde_str_or_bytes!(AinftId);

/// The training data of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// Where the data can be fetched (any URI scheme).
    pub uri: String,
    /// BLAKE3 digest of the data's bytes.
    pub digest: Digest,
}

/// The model: what it is and which weights it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Human-chosen name.
    pub name: String,
    /// Architecture identifier (for example `byte-transformer`).
    pub architecture: String,
    /// Hyperparameters as text, by name (numbers written as text so no float formatting enters
    /// the id).
    pub hyperparameters: BTreeMap<String, String>,
    /// Optimiser steps the weights were trained for.
    pub training_steps: u64,
    /// BLAKE3 digest of the weights' tensor data in canonical order (not of a record file).
    pub weights_digest: Digest,
}

/// What the model serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The subnet it serves on.
    pub netuid: NetUid,
    /// The task it answers (for example `next-byte`).
    pub task: String,
    /// The wire protocol version it speaks.
    pub protocol_version: u32,
}

/// Where the AINFT's on-chain state (registry entry, emissions) lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLocation {
    /// Chain name (for example `local`, `finney`).
    pub chain: String,
    /// The chain's genesis block hash (BLAKE3 for the local chain; Substrate chains use
    /// BLAKE2b-256): tells apart two chains of the same name.
    pub genesis_hash: Digest,
    /// The subnet whose registry holds the AINFT.
    pub netuid: NetUid,
}

/// The AINFT a model was derived from, and the share of its earnings owed to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parent {
    /// The parent's id.
    pub id: AinftId,
    /// Royalty in parts per million of the child's earnings, `0..=`[`PPM_ONE`].
    pub royalty_ppm: u32,
}

/// The manifest of an AINFT; its [`AinftId`] is [`AinftManifest::id`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AinftManifest {
    /// Training data.
    pub data: DataSource,
    /// The model and its weights.
    pub model: ModelSpec,
    /// What it serves.
    pub service: ServiceSpec,
    /// Where its on-chain state lives.
    pub state: StateLocation,
    /// The AINFT it was derived from, if any.
    pub parent: Option<Parent>,
}

/// Why a manifest is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// A required text field is empty.
    #[error("manifest field `{field}` is empty")]
    Empty {
        /// The field's path, like `model.name`.
        field: &'static str,
    },
    /// A text field is longer than [`MAX_TEXT_BYTES`].
    #[error("manifest field `{field}` has {len} bytes, at most {MAX_TEXT_BYTES} allowed")]
    TooLong {
        /// The field's path.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// More than [`MAX_HYPERPARAMETERS`] hyperparameters.
    #[error("{count} hyperparameters, at most {MAX_HYPERPARAMETERS} allowed")]
    TooManyHyperparameters {
        /// How many there are.
        count: usize,
    },
    /// A royalty above 100%.
    #[error("royalty of {royalty_ppm} ppm is above {PPM_ONE} (100%)")]
    RoyaltyOutOfRange {
        /// The royalty given.
        royalty_ppm: u32,
    },
    /// The manifest names itself as its parent.
    #[error("an AINFT cannot be its own parent")]
    ParentIsSelf,
}

impl AinftManifest {
    /// The canonical encoding (see the module docs); stable across platforms and versions.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(AINFT_DOMAIN);
        put_str(&mut out, &self.data.uri);
        out.extend_from_slice(self.data.digest.as_bytes());
        put_str(&mut out, &self.model.name);
        put_str(&mut out, &self.model.architecture);
        put_len(&mut out, self.model.hyperparameters.len());
        // BTreeMap<String, _> iterates in ascending byte order of the keys, as the spec says.
        for (key, value) in &self.model.hyperparameters {
            put_str(&mut out, key);
            put_str(&mut out, value);
        }
        out.extend_from_slice(&self.model.training_steps.to_le_bytes());
        out.extend_from_slice(self.model.weights_digest.as_bytes());
        out.extend_from_slice(&self.service.netuid.get().to_le_bytes());
        put_str(&mut out, &self.service.task);
        out.extend_from_slice(&self.service.protocol_version.to_le_bytes());
        put_str(&mut out, &self.state.chain);
        out.extend_from_slice(self.state.genesis_hash.as_bytes());
        out.extend_from_slice(&self.state.netuid.get().to_le_bytes());
        match &self.parent {
            None => out.push(0),
            Some(parent) => {
                out.push(1);
                out.extend_from_slice(parent.id.as_bytes());
                out.extend_from_slice(&parent.royalty_ppm.to_le_bytes());
            }
        }
        out
    }

    /// The AINFT id: BLAKE3 of [`AinftManifest::canonical_bytes`].
    pub fn id(&self) -> AinftId {
        AinftId(*blake3::hash(&self.canonical_bytes()).as_bytes())
    }

    /// Checks the rules the chain enforces at registration: name, architecture, task, chain
    /// and data URI non-empty; hyperparameter names non-empty; every text field at most
    /// [`MAX_TEXT_BYTES`]; at most [`MAX_HYPERPARAMETERS`] entries; royalty at most
    /// [`PPM_ONE`]; parent not the manifest itself.
    ///
    /// # Errors
    /// The first [`ManifestError`] found, in field order.
    pub fn validate(&self) -> Result<(), ManifestError> {
        text("data.uri", &self.data.uri)?;
        text("model.name", &self.model.name)?;
        text("model.architecture", &self.model.architecture)?;
        let count = self.model.hyperparameters.len();
        if count > MAX_HYPERPARAMETERS {
            return Err(ManifestError::TooManyHyperparameters { count });
        }
        for (key, value) in &self.model.hyperparameters {
            text("model.hyperparameters key", key)?;
            if value.len() > MAX_TEXT_BYTES {
                return Err(ManifestError::TooLong {
                    field: "model.hyperparameters value",
                    len: value.len(),
                });
            }
        }
        text("service.task", &self.service.task)?;
        text("state.chain", &self.state.chain)?;
        match &self.parent {
            Some(parent) => check_parent(parent, &self.id()),
            None => Ok(()),
        }
    }
}

fn check_parent(parent: &Parent, own: &AinftId) -> Result<(), ManifestError> {
    if parent.royalty_ppm > PPM_ONE {
        return Err(ManifestError::RoyaltyOutOfRange {
            royalty_ppm: parent.royalty_ppm,
        });
    }
    // Only reachable with a BLAKE3 fixed point, but cheap, and it keeps lineage acyclic at
    // its shortest length by construction rather than by assumption.
    if parent.id == *own {
        return Err(ManifestError::ParentIsSelf);
    }
    Ok(())
}

fn text(field: &'static str, value: &str) -> Result<(), ManifestError> {
    if value.is_empty() {
        return Err(ManifestError::Empty { field });
    }
    if value.len() > MAX_TEXT_BYTES {
        return Err(ManifestError::TooLong {
            field,
            len: value.len(),
        });
    }
    Ok(())
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths above u32::MAX (a 4 GiB string) cannot be encoded; validate() caps every field
    // far below that, and such a manifest could not cross the wire anyway.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Bech32m (BIP 350) for exactly 32 bytes under the `ainft` prefix.
mod bech32m {
    use super::{AINFT_ID_HRP, AINFT_ID_STR_LEN, AinftIdError, DIGEST_BYTES};

    pub(super) const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GENERATOR: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    pub(super) const BECH32M_CONST: u32 = 0x2bc8_30a3;
    /// 256 bits in 5-bit groups: 51 full groups and one with 1 bit and 4 padding bits.
    const DATA_CHARS: usize = 52;
    const CHECKSUM_CHARS: usize = 6;

    pub(super) fn polymod(values: impl IntoIterator<Item = u8>) -> u32 {
        let mut chk: u32 = 1;
        for v in values {
            let top = chk >> 25;
            chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
            for (i, g) in GENERATOR.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    }

    pub(super) fn hrp_expanded() -> impl Iterator<Item = u8> {
        let hrp = AINFT_ID_HRP.bytes();
        hrp.clone()
            .map(|c| c >> 5)
            .chain(std::iter::once(0))
            .chain(hrp.map(|c| c & 31))
    }

    fn to_groups(bytes: &[u8; DIGEST_BYTES]) -> Vec<u8> {
        let mut out = Vec::with_capacity(DATA_CHARS);
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in bytes {
            // Only the low `bits + 8 ≤ 12` bits of `acc` are ever needed.
            acc = ((acc << 8) | u32::from(b)) & 0xfff;
            bits = bits.wrapping_add(8);
            while bits >= 5 {
                bits = bits.wrapping_sub(5);
                out.push(((acc >> bits) & 31) as u8);
            }
        }
        if bits > 0 {
            out.push(((acc << 5u32.wrapping_sub(bits)) & 31) as u8);
        }
        out
    }

    pub(super) fn encode(bytes: &[u8; DIGEST_BYTES]) -> String {
        let data = to_groups(bytes);
        let pm = polymod(
            hrp_expanded()
                .chain(data.iter().copied())
                .chain([0u8; CHECKSUM_CHARS]),
        ) ^ BECH32M_CONST;
        let checksum = [25u32, 20, 15, 10, 5, 0].map(|shift| ((pm >> shift) & 31) as u8);
        let mut s = String::with_capacity(AINFT_ID_STR_LEN);
        s.push_str(AINFT_ID_HRP);
        s.push('1');
        for g in data.into_iter().chain(checksum) {
            s.push(char::from(
                CHARSET.get(usize::from(g)).copied().unwrap_or(b'?'),
            ));
        }
        s
    }

    pub(super) fn decode(s: &str) -> Result<[u8; DIGEST_BYTES], AinftIdError> {
        let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper {
            return Err(AinftIdError::MixedCase);
        }
        let s = s.to_ascii_lowercase();
        let rest = s
            .strip_prefix(AINFT_ID_HRP)
            .and_then(|r| r.strip_prefix('1'))
            .ok_or(AinftIdError::WrongPrefix)?;
        let len = s.chars().count();
        if len != AINFT_ID_STR_LEN {
            return Err(AinftIdError::WrongLength { got: len });
        }
        let prefix_len = AINFT_ID_HRP.len().saturating_add(1);
        let values = rest
            .bytes()
            .enumerate()
            .map(|(i, c)| {
                CHARSET
                    .iter()
                    .position(|&x| x == c)
                    .map(|v| v as u8)
                    .ok_or_else(|| AinftIdError::InvalidChar {
                        index: prefix_len.saturating_add(i),
                    })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        if polymod(hrp_expanded().chain(values.iter().copied())) != BECH32M_CONST {
            return Err(AinftIdError::Checksum);
        }
        let mut out = [0u8; DIGEST_BYTES];
        let mut slots = out.iter_mut();
        let (mut acc, mut bits) = (0u32, 0u32);
        for &v in values.iter().take(DATA_CHARS) {
            acc = ((acc << 5) | u32::from(v)) & 0xfff;
            bits = bits.wrapping_add(5);
            if bits >= 8 {
                bits = bits.wrapping_sub(8);
                if let Some(slot) = slots.next() {
                    *slot = ((acc >> bits) & 0xff) as u8;
                }
            }
        }
        // 52 groups carry 260 bits: the last 4 must be zero padding.
        if bits != 4 || acc & 0xf != 0 {
            return Err(AinftIdError::Padding);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
