//! Content digests: of model weights (over tensor data, not record files) and of training data.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// BLAKE3 key-derivation context of [`weights_digest`]; bump the version if the canonical
/// encoding changes.
pub const WEIGHTS_DIGEST_CONTEXT: &str = "subnet-models 2025 weights digest v1";

/// Dtype tag written for every tensor: weights are always hashed as little-endian f32.
pub const WEIGHTS_DTYPE_TAG: &str = "f32";

macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Lower-case hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = hex::FromHexError;

            /// Parses 64 hex characters.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s, &mut bytes)?;
                Ok(Self(bytes))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

digest_newtype!(
    /// BLAKE3 digest of a model's weights, from [`weights_digest`]. Shown and serialised as hex.
    WeightsDigest
);

digest_newtype!(
    /// Plain BLAKE3 hash of a byte string of training data (`b3sum` of the bytes). Shown and
    /// serialised as hex.
    DataDigest
);

impl DataDigest {
    /// The BLAKE3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

/// One parameter tensor copied to host memory, as hashed by [`weights_digest`].
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dotted module path, e.g. `blocks.0.attn.query.weight`.
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values (converted to f32 if the backend stores another float type).
    pub values: Vec<f32>,
}

/// Every float parameter of `module`, sorted by name (byte order of the UTF-8 path).
///
/// # Errors
/// [`WeightsReadError`] if a tensor cannot be read back from the backend.
pub fn named_tensors<B: Backend, M: Module<B>>(
    module: &M,
) -> Result<Vec<NamedTensor>, WeightsReadError> {
    let mut collector = Collector {
        path: Vec::new(),
        tensors: Vec::new(),
        error: None,
    };
    module.visit(&mut collector);
    if let Some(error) = collector.error {
        return Err(error);
    }
    let mut tensors = collector.tensors;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// The canonical weights digest of `module`.
///
/// BLAKE3 in key-derivation mode with context [`WEIGHTS_DIGEST_CONTEXT`], over: the number of
/// tensors (u64 LE), then for each tensor in [`named_tensors`] order its name (u64 LE length,
/// UTF-8 bytes), rank (u64 LE), each dimension (u64 LE), the dtype tag (u64 LE length,
/// [`WEIGHTS_DTYPE_TAG`]) and its values as little-endian f32. The encoding is prefix-free,
/// so different weights cannot collide by shifting bytes between fields. Unlike the bytes of a
/// burn record file, which carry random parameter ids, this depends only on the weights.
///
/// # Errors
/// [`WeightsReadError`] if a tensor cannot be read back from the backend.
pub fn weights_digest<B: Backend, M: Module<B>>(
    module: &M,
) -> Result<WeightsDigest, WeightsReadError> {
    Ok(digest_tensors(&named_tensors(module)?))
}

/// [`weights_digest`] of tensors already in host memory; they must be sorted by name.
pub fn digest_tensors(tensors: &[NamedTensor]) -> WeightsDigest {
    let mut hasher = blake3::Hasher::new_derive_key(WEIGHTS_DIGEST_CONTEXT);
    let len = |n: usize| (n as u64).to_le_bytes();
    hasher.update(&len(tensors.len()));
    for tensor in tensors {
        hasher.update(&len(tensor.name.len()));
        hasher.update(tensor.name.as_bytes());
        hasher.update(&len(tensor.shape.len()));
        for &dim in &tensor.shape {
            hasher.update(&len(dim));
        }
        hasher.update(&len(WEIGHTS_DTYPE_TAG.len()));
        hasher.update(WEIGHTS_DTYPE_TAG.as_bytes());
        for value in &tensor.values {
            hasher.update(&value.to_le_bytes());
        }
    }
    WeightsDigest(*hasher.finalize().as_bytes())
}

/// A parameter tensor could not be copied out of its backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading parameter `{name}` ({dtype}) from the backend failed")]
pub struct WeightsReadError {
    /// Path of the parameter.
    pub name: String,
    /// Its dtype as the backend reported it.
    pub dtype: String,
}

/// Walks a module, tracking the path of names that burn's derive reports on the way down.
struct Collector {
    path: Vec<String>,
    tensors: Vec<NamedTensor>,
    error: Option<WeightsReadError>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let data = tensor.into_data();
        let dtype = data.dtype;
        let values = if dtype == DType::F32 {
            data.to_vec::<f32>()
        } else {
            data.convert::<f32>().to_vec::<f32>()
        };
        match values {
            Ok(values) => self.tensors.push(NamedTensor {
                name,
                shape,
                values,
            }),
            Err(_) if self.error.is_none() => {
                self.error = Some(WeightsReadError {
                    name,
                    dtype: format!("{dtype:?}"),
                });
            }
            Err(_) => {}
        }
    }
}
