//! Architecture hyperparameters of the byte-level transformer.

use serde::{Deserialize, Serialize};

/// Number of distinct input and output symbols: one per byte value.
pub const VOCAB_SIZE: usize = 256;

/// Largest accepted value of any dimension in a [`ModelConfig`]; keeps a hostile config file from
/// asking for terabytes of parameters.
pub const MAX_DIMENSION: usize = 1 << 16;

/// Architecture of a [`ByteLm`](crate::ByteLm): a decoder-only transformer over bytes.
///
/// Pre-LayerNorm blocks (`x + attn(ln1(x))`, then `x + mlp(ln2(x))`), multi-head causal
/// self-attention, a GELU MLP, a final LayerNorm and a linear head over the 256 byte values.
/// Serialised as part of checkpoint metadata and of training configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Width of the residual stream (embedding size).
    pub d_model: usize,
    /// Number of attention heads; must divide `d_model`.
    pub n_heads: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Hidden width of each block's MLP.
    pub d_ff: usize,
    /// Longest input the model accepts, in bytes (size of the learned positional embedding).
    pub context_len: usize,
}

impl ModelConfig {
    /// The architecture of the checkpoints shipped in `models/checkpoints/`: 2 layers of width
    /// 64 with 4 heads, MLP width 256, context 64 bytes (137,216 parameters).
    pub const fn shipped() -> Self {
        Self {
            d_model: 64,
            n_heads: 4,
            n_layers: 2,
            d_ff: 256,
            context_len: 64,
        }
    }

    /// Checks the invariants the model relies on.
    ///
    /// # Errors
    /// [`ConfigError::Zero`] if a dimension is zero, [`ConfigError::TooLarge`] if one exceeds
    /// [`MAX_DIMENSION`], [`ConfigError::HeadsDoNotDivide`] if `n_heads` does not divide
    /// `d_model`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("d_model", self.d_model),
            ("n_heads", self.n_heads),
            ("n_layers", self.n_layers),
            ("d_ff", self.d_ff),
            ("context_len", self.context_len),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
            if value > MAX_DIMENSION {
                return Err(ConfigError::TooLarge { field, value });
            }
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(ConfigError::HeadsDoNotDivide {
                d_model: self.d_model,
                n_heads: self.n_heads,
            });
        }
        Ok(())
    }

    /// Width of one attention head (`d_model / n_heads`).
    pub const fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Number of scalar parameters of a model with this architecture.
    pub const fn num_params(&self) -> u64 {
        let d = self.d_model as u64;
        let ff = self.d_ff as u64;
        let v = VOCAB_SIZE as u64;
        let embeddings = v * d + self.context_len as u64 * d;
        // Two LayerNorms, four d×d projections with bias, and the two MLP layers with bias.
        let block = 4 * d + 4 * (d * d + d) + (d * ff + ff) + (ff * d + d);
        let head = 2 * d + d * v + v;
        embeddings + self.n_layers as u64 * block + head
    }
}

/// Why a [`ModelConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A dimension is zero.
    #[error("model config field `{field}` must be positive")]
    Zero {
        /// Name of the offending field.
        field: &'static str,
    },
    /// A dimension exceeds [`MAX_DIMENSION`].
    #[error("model config field `{field}` is {value}, above the limit of {MAX_DIMENSION}")]
    TooLarge {
        /// Name of the offending field.
        field: &'static str,
        /// Its value.
        value: usize,
    },
    /// `n_heads` does not divide `d_model`.
    #[error("n_heads {n_heads} does not divide d_model {d_model}")]
    HeadsDoNotDivide {
        /// Residual width.
        d_model: usize,
        /// Number of heads.
        n_heads: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_shapes() {
        assert!(ModelConfig::shipped().validate().is_ok());
        assert_eq!(ModelConfig::shipped().num_params(), 137_216);
        let zero = ModelConfig {
            n_layers: 0,
            ..ModelConfig::shipped()
        };
        assert_eq!(
            zero.validate(),
            Err(ConfigError::Zero { field: "n_layers" })
        );
        let ragged = ModelConfig {
            n_heads: 3,
            ..ModelConfig::shipped()
        };
        assert!(matches!(
            ragged.validate(),
            Err(ConfigError::HeadsDoNotDivide { .. })
        ));
        let huge = ModelConfig {
            d_ff: MAX_DIMENSION + 1,
            ..ModelConfig::shipped()
        };
        assert!(matches!(
            huge.validate(),
            Err(ConfigError::TooLarge { field: "d_ff", .. })
        ));
    }
}
