//! The building blocks of [`ByteLm`](crate::ByteLm), written with explicit tensor ops so that
//! `bench/models/reference.py` can mirror them operation by operation.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::sampler::{normal, zeroes};

/// LayerNorm epsilon, added to the biased variance before the square root.
pub(crate) const LAYER_NORM_EPS: f64 = 1e-5;

/// Standard deviation of the initial weights (GPT-2's choice).
const INIT_STD: f64 = 0.02;

/// Attention scores of future positions are replaced by this before the softmax; `exp` of it
/// underflows to exactly zero in f32, and unlike `-inf` it keeps gradients finite.
const MASKED_SCORE: f32 = -1.0e9;

/// LayerNorm over the last dimension: `(x - mean) / sqrt(var + eps) * gamma + beta`, with the
/// biased (population) variance.
#[derive(Module, Debug)]
pub(crate) struct LayerNorm<B: Backend> {
    pub(crate) gamma: Param<Tensor<B, 1>>,
    pub(crate) beta: Param<Tensor<B, 1>>,
}

impl<B: Backend> LayerNorm<B> {
    pub(crate) fn new(d_model: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([d_model], device)),
            beta: Param::from_tensor(Tensor::zeros([d_model], device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let (var, mean) = x.clone().var_mean_bias(2);
        let normed = (x - mean) / (var + LAYER_NORM_EPS).sqrt();
        normed * self.gamma.val().unsqueeze::<3>() + self.beta.val().unsqueeze::<3>()
    }
}

/// Multi-head causal self-attention: `softmax(q kᵀ / sqrt(head_dim) + causal mask) v`, then an
/// output projection.
#[derive(Module, Debug)]
pub(crate) struct Attention<B: Backend> {
    pub(crate) query: Linear<B>,
    pub(crate) key: Linear<B>,
    pub(crate) value: Linear<B>,
    pub(crate) out: Linear<B>,
    n_heads: usize,
}

impl<B: Backend> Attention<B> {
    fn new(config: &ModelConfig, rng: &mut ChaCha8Rng, device: &B::Device) -> Self {
        let d = config.d_model;
        Self {
            query: linear(d, d, INIT_STD, rng, device),
            key: linear(d, d, INIT_STD, rng, device),
            value: linear(d, d, INIT_STD, rng, device),
            out: linear(d, d, residual_std(config), rng, device),
            n_heads: config.n_heads,
        }
    }

    pub(crate) fn n_heads(&self) -> usize {
        self.n_heads
    }

    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, d_model] = x.dims();
        let heads = self.n_heads;
        let head_dim = d_model / heads;
        let split = |t: Tensor<B, 3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));

        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = q.matmul(k.swap_dims(2, 3)) * scale;
        // `tril_mask` is true strictly above the diagonal: the future positions.
        let future = Tensor::<B, 2, Bool>::tril_mask([seq, seq], 0, &scores.device())
            .unsqueeze::<4>()
            .expand([batch, heads, seq, seq]);
        let weights = softmax(scores.mask_fill(future, MASKED_SCORE), 3);
        let mixed = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, d_model]);
        self.out.forward(mixed)
    }
}

/// Position-wise MLP: `proj(gelu(fc(x)))`, with the exact (erf) GELU.
#[derive(Module, Debug)]
pub(crate) struct Mlp<B: Backend> {
    pub(crate) fc: Linear<B>,
    pub(crate) proj: Linear<B>,
}

/// One pre-LayerNorm transformer block.
#[derive(Module, Debug)]
pub(crate) struct Block<B: Backend> {
    pub(crate) ln1: LayerNorm<B>,
    pub(crate) attn: Attention<B>,
    pub(crate) ln2: LayerNorm<B>,
    pub(crate) mlp: Mlp<B>,
}

impl<B: Backend> Block<B> {
    pub(crate) fn new(config: &ModelConfig, rng: &mut ChaCha8Rng, device: &B::Device) -> Self {
        let d = config.d_model;
        let ln1 = LayerNorm::new(d, device);
        let attn = Attention::new(config, rng, device);
        let ln2 = LayerNorm::new(d, device);
        let mlp = Mlp {
            fc: linear(d, config.d_ff, INIT_STD, rng, device),
            proj: linear(config.d_ff, d, residual_std(config), rng, device),
        };
        Self {
            ln1,
            attn,
            ln2,
            mlp,
        }
    }

    pub(crate) fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.ln1.forward(x));
        let hidden = gelu(self.mlp.fc.forward(self.ln2.forward(x.clone())));
        x + self.mlp.proj.forward(hidden)
    }
}

/// A `[d_in, d_out]` linear layer (burn's row layout, `y = x W + b`) with normal weights and
/// zero bias.
pub(crate) fn linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    std: f64,
    rng: &mut ChaCha8Rng,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: normal_param([d_in, d_out], std, rng, device),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(zeroes(d_out), [d_out]),
            device,
        ))),
    }
}

/// A matrix parameter drawn from `N(0, std²)`.
pub(crate) fn normal_param<B: Backend>(
    shape: [usize; 2],
    std: f64,
    rng: &mut ChaCha8Rng,
    device: &B::Device,
) -> Param<Tensor<B, 2>> {
    let values = normal(rng, shape[0] * shape[1], std);
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Projections that write into the residual stream start smaller, so the stream's variance
/// does not grow with depth (GPT-2's `1/sqrt(2 n_layers)` scaling).
fn residual_std(config: &ModelConfig) -> f64 {
    INIT_STD / (2.0 * config.n_layers as f64).sqrt()
}
