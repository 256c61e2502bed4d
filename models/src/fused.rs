//! [`FusedLm`]: the CPU inference path of a [`ByteLm`], one sequence at a time through fused
//! kernels.
//!
//! burn's ndarray backend runs the model one tensor operation at a time: every operation
//! allocates a fresh array, and the transcendental functions (`erf` in the GELU, `exp` in the
//! softmaxes) are scalar library calls. At this model's size (`d_model` 64) that overhead, not
//! the matrix products, is most of the time. `FusedLm` computes the same forward pass from the
//! same weights with what a CPU wants instead:
//!
//! - every linear layer is a register-tiled matrix product whose epilogue does the bias, the
//!   GELU or the residual add while the tile is fresh; the tiles are AVX-512 or AVX2
//!   intrinsics, chosen at run time ([`Kernels`]), with a plain Rust fallback for other CPUs;
//! - attention is causal by construction: scores are computed only against the keys a tile of
//!   queries can see (the few future ones inside the tile get weight exactly 0), with the
//!   softmax fused into each query row;
//! - `exp` and `erf` are branch-free polynomial approximations that the compiler vectorises
//!   (relative error below 4e-7 and absolute error below 5e-7, tested against `std`/`libm`);
//! - each sequence runs start to finish in a few small buffers that stay in cache.
//!
//! Its log-probabilities agree with [`ByteLm::infer`] within 1e-4 (tests; 2.8e-5 at most on
//! the reference cases of the shipped `best` checkpoint), and they are deterministic in the strong sense the miner needs: every output element
//! is computed by the same sequence of floating-point operations whatever the batch, so a
//! sequence's answer is bit-identical alone or batched.
//!
//! The burn model stays the model: training, checkpoints, the weights digest and GPU inference
//! (`cuda`) are burn's, and [`FusedLm::from_model`] copies the weights out of a loaded
//! [`ByteLm`].

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;

use crate::config::{ModelConfig, VOCAB_SIZE};
use crate::digest::{NamedTensor, WeightsReadError, named_tensors};
use crate::layers::LAYER_NORM_EPS;
use crate::model::{ByteLm, InferenceError, LogProbs, check_batch};

/// A [`ByteLm`]'s weights laid out for the fused CPU forward pass.
#[derive(Debug, Clone)]
pub struct FusedLm {
    config: ModelConfig,
    /// `[256, d_model]`.
    token_embedding: Vec<f32>,
    /// `[context_len, d_model]`.
    position_embedding: Vec<f32>,
    blocks: Vec<FusedBlock>,
    final_norm: Norm,
    head: Dense,
    kernels: Kernels,
}

/// The register tiles a [`FusedLm`] runs its matrix products with.
///
/// All three compute each output element with the same operations in the same order (a fused
/// multiply-add per term where the CPU has FMA); they differ in how many elements they
/// compute at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// AVX-512F: 8 rows × 32 columns of accumulators.
    Avx512,
    /// AVX2 and FMA: 4 rows × 16 columns at a time.
    Avx2,
    /// Plain Rust, for any CPU.
    Portable,
}

impl Kernels {
    /// The fastest this CPU supports.
    pub fn detect() -> Self {
        [Self::Avx512, Self::Avx2]
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Self::Portable)
    }

    /// Whether this CPU can run them.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Self::Portable => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        })
    }
}

/// [`FusedLm::with_kernels`] was asked for tiles this CPU cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this CPU cannot run the {0} kernels")]
pub struct KernelsUnavailable(pub Kernels);

#[derive(Debug, Clone)]
struct FusedBlock {
    ln1: Norm,
    /// Query, key and value projections side by side: `[d_model, 3 d_model]`.
    qkv: Dense,
    out: Dense,
    ln2: Norm,
    fc: Dense,
    proj: Dense,
}

#[derive(Debug, Clone)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// `y = x W + b` with `W` row-major `[d_in, d_out]`.
#[derive(Debug, Clone)]
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    d_in: usize,
    d_out: usize,
}

/// Why [`FusedLm::from_model`] could not take a model's weights.
#[derive(Debug, thiserror::Error)]
pub enum FusedLoadError {
    /// A tensor could not be read back from the backend.
    #[error(transparent)]
    Read(#[from] WeightsReadError),
    /// A parameter the architecture needs is missing.
    #[error("the model has no parameter `{0}`")]
    Missing(String),
    /// A parameter has the wrong shape.
    #[error("parameter `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// Parameter path.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape the configuration implies.
        expected: Vec<usize>,
    },
}

impl FusedLm {
    /// Copies `model`'s weights (from any backend) into the fused layout.
    ///
    /// # Errors
    /// [`FusedLoadError`] if a tensor cannot be read back or does not match the architecture.
    pub fn from_model<B: Backend>(model: &ByteLm<B>) -> Result<Self, FusedLoadError> {
        let config = model.config();
        let mut p = Params(
            named_tensors(model)?
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect(),
        );
        let d = config.d_model;
        let token_embedding = p.take("token_embedding", &[VOCAB_SIZE, d])?;
        let position_embedding = p.take("position_embedding", &[config.context_len, d])?;
        let mut blocks = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let path = |part: &str| format!("blocks.{i}.{part}");
            blocks.push(FusedBlock {
                ln1: p.norm(&path("ln1"), d)?,
                qkv: Dense::concat(&[
                    p.dense(&path("attn.query"), d, d)?,
                    p.dense(&path("attn.key"), d, d)?,
                    p.dense(&path("attn.value"), d, d)?,
                ]),
                out: p.dense(&path("attn.out"), d, d)?,
                ln2: p.norm(&path("ln2"), d)?,
                fc: p.dense(&path("mlp.fc"), d, config.d_ff)?,
                proj: p.dense(&path("mlp.proj"), config.d_ff, d)?,
            });
        }
        let final_norm = p.norm("final_norm", d)?;
        let head = p.dense("head", d, VOCAB_SIZE)?;
        Ok(Self {
            config,
            token_embedding,
            position_embedding,
            blocks,
            final_norm,
            head,
            kernels: Kernels::detect(),
        })
    }

    /// The tiles in use: [`Kernels::detect`]'s choice unless [`FusedLm::with_kernels`] chose.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The same model on other tiles (to compare them, or to run the portable ones anywhere).
    ///
    /// # Errors
    /// [`KernelsUnavailable`] if this CPU cannot run them.
    pub fn with_kernels(mut self, kernels: Kernels) -> Result<Self, KernelsUnavailable> {
        if !kernels.available() {
            return Err(KernelsUnavailable(kernels));
        }
        self.kernels = kernels;
        Ok(self)
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Log-probabilities for a batch of equal-length byte strings, as [`ByteLm::infer`].
    ///
    /// # Errors
    /// [`InferenceError`] if the batch is empty, the sequences are empty or of different
    /// lengths, or longer than the context length.
    pub fn infer(&self, batch: &[&[u8]]) -> Result<LogProbs, InferenceError> {
        let seq = check_batch(batch, self.config.context_len)?;
        let mut values = vec![0.0; batch.len() * seq * VOCAB_SIZE];
        let mut scratch = Scratch::new(&self.config, seq);
        for (bytes, out) in batch.iter().zip(values.chunks_exact_mut(seq * VOCAB_SIZE)) {
            match self.kernels {
                // SAFETY: `kernels` only names instruction sets the CPU has (`from_model`
                // detects them, `with_kernels` checks).
                #[cfg(target_arch = "x86_64")]
                Kernels::Avx512 => unsafe { self.forward_avx512(bytes, out, &mut scratch) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Kernels::Avx2 => unsafe { self.forward_avx2(bytes, out, &mut scratch) },
                _ => self.forward_sequence::<Portable>(bytes, out, &mut scratch),
            }
        }
        Ok(LogProbs::from_values(batch.len(), seq, values))
    }

    /// [`FusedLm::forward_sequence`] with AVX-512 tiles, everything compiled for AVX-512F.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(&self, bytes: &[u8], out: &mut [f32], s: &mut Scratch) {
        self.forward_sequence::<avx512::Avx512>(bytes, out, s);
    }

    /// [`FusedLm::forward_sequence`] with AVX2 tiles, everything compiled for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(&self, bytes: &[u8], out: &mut [f32], s: &mut Scratch) {
        self.forward_sequence::<avx2::Avx2>(bytes, out, s);
    }

    /// One sequence's `seq × 256` log-probabilities into `out`.
    #[inline(always)]
    fn forward_sequence<T: Tiles>(&self, bytes: &[u8], out: &mut [f32], s: &mut Scratch) {
        let d = self.config.d_model;
        let rows = bytes.len();
        let x = &mut s.x[..rows * d];
        for ((row, &byte), pos) in x
            .chunks_exact_mut(d)
            .zip(bytes)
            .zip(self.position_embedding.chunks_exact(d))
        {
            let token = &self.token_embedding[usize::from(byte) * d..][..d];
            for ((x, t), p) in row.iter_mut().zip(token).zip(pos) {
                *x = t + p;
            }
        }
        let normed = &mut s.normed[..rows * d];
        let qkv = &mut s.qkv[..rows * 3 * d];
        let mixed = &mut s.mixed[..rows * d];
        let hidden = &mut s.hidden[..rows * self.config.d_ff];
        for block in &self.blocks {
            layer_norm(x, &block.ln1, normed);
            matmul::<T, { Epilogue::BIAS }>(normed, &block.qkv, qkv);
            attention::<T>(qkv, d, self.config.n_heads, mixed, &mut s.attn);
            matmul::<T, { Epilogue::RESIDUAL }>(mixed, &block.out, x);
            layer_norm(x, &block.ln2, normed);
            matmul::<T, { Epilogue::GELU }>(normed, &block.fc, hidden);
            matmul::<T, { Epilogue::RESIDUAL }>(hidden, &block.proj, x);
        }
        layer_norm(x, &self.final_norm, normed);
        matmul::<T, { Epilogue::BIAS }>(normed, &self.head, out);
        for row in out.chunks_exact_mut(VOCAB_SIZE) {
            log_softmax(row);
        }
    }
}

/// A model's parameters by path, taken one at a time with their shapes checked.
struct Params(BTreeMap<String, NamedTensor>);

impl Params {
    fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, FusedLoadError> {
        let tensor = self
            .0
            .remove(name)
            .ok_or_else(|| FusedLoadError::Missing(name.to_owned()))?;
        if tensor.shape != expected {
            return Err(FusedLoadError::Shape {
                name: name.to_owned(),
                found: tensor.shape,
                expected: expected.to_vec(),
            });
        }
        Ok(tensor.values)
    }

    fn norm(&mut self, path: &str, d: usize) -> Result<Norm, FusedLoadError> {
        Ok(Norm {
            gamma: self.take(&format!("{path}.gamma"), &[d])?,
            beta: self.take(&format!("{path}.beta"), &[d])?,
        })
    }

    fn dense(&mut self, path: &str, d_in: usize, d_out: usize) -> Result<Dense, FusedLoadError> {
        Ok(Dense {
            weight: self.take(&format!("{path}.weight"), &[d_in, d_out])?,
            bias: self.take(&format!("{path}.bias"), &[d_out])?,
            d_in,
            d_out,
        })
    }
}

impl Dense {
    /// The layers' outputs side by side (all of the same input width).
    fn concat(parts: &[Self]) -> Self {
        let d_in = parts.first().map_or(0, |p| p.d_in);
        let d_out = parts.iter().map(|p| p.d_out).sum();
        let mut weight = Vec::with_capacity(d_in * d_out);
        for k in 0..d_in {
            for p in parts {
                weight.extend_from_slice(&p.weight[k * p.d_out..][..p.d_out]);
            }
        }
        let bias = parts.iter().flat_map(|p| p.bias.iter().copied()).collect();
        Self {
            weight,
            bias,
            d_in,
            d_out,
        }
    }
}

/// Working buffers of one forward pass, sized for sequences of up to `seq` bytes.
struct Scratch {
    x: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    mixed: Vec<f32>,
    hidden: Vec<f32>,
    attn: AttentionScratch,
}

impl Scratch {
    fn new(config: &ModelConfig, seq: usize) -> Self {
        let d = config.d_model;
        Self {
            x: vec![0.0; seq * d],
            normed: vec![0.0; seq * d],
            qkv: vec![0.0; seq * 3 * d],
            mixed: vec![0.0; seq * d],
            hidden: vec![0.0; seq * config.d_ff],
            attn: AttentionScratch::new(seq, config.head_dim()),
        }
    }
}

/// One head's operands of [`attention`], zero-padded to whole tiles. The padding is zeroed
/// once, at allocation: [`attention`] writes only the rows and columns of real positions and
/// head dimensions, and a scratch serves sequences of one length only (one `infer` call).
struct AttentionScratch {
    /// Scaled queries, `[rows_pad, head_dim]`.
    queries: Vec<f32>,
    /// Keys, transposed: `[head_dim, rows_pad]`.
    keys_t: Vec<f32>,
    /// Values, `[rows, head_dim_pad]`.
    values: Vec<f32>,
    /// One query tile's scores, then attention weights: `[QUERY_TILE, rows_pad]`.
    probs: Vec<f32>,
}

impl AttentionScratch {
    fn new(seq: usize, head_dim: usize) -> Self {
        let rows_pad = seq.next_multiple_of(VECTOR);
        Self {
            queries: vec![0.0; rows_pad * head_dim],
            keys_t: vec![0.0; head_dim * rows_pad],
            values: vec![0.0; seq * head_dim.next_multiple_of(VECTOR)],
            probs: vec![0.0; QUERY_TILE * rows_pad],
        }
    }
}

/// `a * b + c`, as one fused instruction where the target has one (bit-identical on every
/// call either way, since the choice is made at compile time).
#[inline(always)]
fn madd(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_feature = "fma")]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(target_feature = "fma"))]
    {
        a * b + c
    }
}

/// Columns of one vector (one 512-bit register).
const VECTOR: usize = 16;
/// Width of a tile buffer, in columns: the widest tile [`Tiles::tile`] may write.
const TILE_COLS: usize = 64;
/// Rows of a matrix-product tile.
const TILE_ROWS: usize = 8;
/// Vectors per row of a matrix-product tile: 8 × 2 accumulators of 16 lanes, so each weight
/// vector loaded serves 8 rows (measured against 4 × 4 and 6 × 4: 17.1 against 18.8 and
/// 18.1 ms for a batch of 64 × 64 bytes).
const MAIN_V: usize = 2;

/// The register-tiled product at the heart of every layer:
///
/// `out[r][c] = init[c] + Σ_kk a[r lda + kk] w[kk ldw + c]` for `r < R`, `c < 16 V`,
///
/// accumulated in order `kk = 0, 1, ...`, one fused multiply-add each (or, on the portable
/// path of a target without FMA, a multiply and an add). `out` holds `R` rows of
/// [`TILE_COLS`]; `init` is `None` for zeros.
///
/// # Panics
/// If a slice is too short for the shapes (a bug in the caller, checked before any access).
trait Tiles {
    fn tile<const R: usize, const V: usize>(
        a: &[f32],
        lda: usize,
        k: usize,
        w: &[f32],
        ldw: usize,
        init: Option<&[f32]>,
        out: &mut [[f32; TILE_COLS]; R],
    );
}

/// Checks the shapes [`Tiles::tile`] reads.
#[inline(always)]
fn check_tile<const R: usize, const V: usize>(
    a: &[f32],
    lda: usize,
    k: usize,
    w: &[f32],
    ldw: usize,
    init: Option<&[f32]>,
) {
    let cols = V * VECTOR;
    assert!(R > 0 && cols <= TILE_COLS);
    if k > 0 {
        assert!(a.len() >= (R - 1) * lda + k, "tile reads past its rows");
        assert!(
            w.len() >= (k - 1) * ldw + cols,
            "tile reads past its weights"
        );
    }
    assert!(
        init.is_none_or(|init| init.len() >= cols),
        "short tile init"
    );
}

/// Plain Rust tiles for any CPU; the compiler vectorises what it can.
struct Portable;

impl Tiles for Portable {
    #[inline(always)]
    fn tile<const R: usize, const V: usize>(
        a: &[f32],
        lda: usize,
        k: usize,
        w: &[f32],
        ldw: usize,
        init: Option<&[f32]>,
        out: &mut [[f32; TILE_COLS]; R],
    ) {
        check_tile::<R, V>(a, lda, k, w, ldw, init);
        // Fixed-size lanes, so that the compiler keeps them in vector registers.
        let mut acc = [[[0.0f32; VECTOR]; V]; R];
        if let Some(init) = init {
            for row in &mut acc {
                for (lanes, init) in row.iter_mut().zip(init.chunks_exact(VECTOR)) {
                    lanes.copy_from_slice(init);
                }
            }
        }
        for kk in 0..k {
            let mut wv = [[0.0f32; VECTOR]; V];
            for (lanes, w) in wv.iter_mut().zip(w[kk * ldw..].chunks_exact(VECTOR)) {
                lanes.copy_from_slice(w);
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let x = a[r * lda + kk];
                for (lanes, w) in row.iter_mut().zip(&wv) {
                    for (acc, &w) in lanes.iter_mut().zip(w) {
                        *acc = madd(x, w, *acc);
                    }
                }
            }
        }
        for (row, out) in acc.iter().zip(out.iter_mut()) {
            for (lanes, out) in row.iter().zip(out.chunks_exact_mut(VECTOR)) {
                out.copy_from_slice(lanes);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps};
    use std::arch::x86_64::{_mm512_setzero_ps, _mm512_storeu_ps};

    use super::{TILE_COLS, Tiles, VECTOR, check_tile};

    /// AVX-512 tiles: `R × V` accumulators of 16 lanes stay in registers for the whole `k`
    /// loop (up to 16 of the 32), each weight vector is loaded once per `k` for all rows.
    pub(super) struct Avx512;

    impl Tiles for Avx512 {
        #[inline(always)]
        fn tile<const R: usize, const V: usize>(
            a: &[f32],
            lda: usize,
            k: usize,
            w: &[f32],
            ldw: usize,
            init: Option<&[f32]>,
            out: &mut [[f32; TILE_COLS]; R],
        ) {
            check_tile::<R, V>(a, lda, k, w, ldw, init);
            // SAFETY: `Avx512` tiles only run inside `FusedLm::forward_avx512`, which requires
            // AVX-512F; the reads are in bounds by the checks above.
            unsafe { tile::<R, V>(a.as_ptr(), lda, k, w.as_ptr(), ldw, init, out) }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(
        a: *const f32,
        lda: usize,
        k: usize,
        w: *const f32,
        ldw: usize,
        init: Option<&[f32]>,
        out: &mut [[f32; TILE_COLS]; R],
    ) {
        // SAFETY (all loads): in bounds, as checked by the caller.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            if let Some(init) = init {
                for v in 0..V {
                    let b = _mm512_loadu_ps(init.as_ptr().add(v * VECTOR));
                    for row in &mut acc {
                        row[v] = b;
                    }
                }
            }
            for kk in 0..k {
                let wp = w.add(kk * ldw);
                let wv: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(wp.add(v * VECTOR)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*a.add(r * lda + kk));
                    for (acc, &w) in row.iter_mut().zip(&wv) {
                        *acc = _mm512_fmadd_ps(x, w, *acc);
                    }
                }
            }
            for (row, out) in acc.iter().zip(out.iter_mut()) {
                for (v, &value) in row.iter().enumerate() {
                    _mm512_storeu_ps(out.as_mut_ptr().add(v * VECTOR), value);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps};
    use std::arch::x86_64::{_mm256_setzero_ps, _mm256_storeu_ps};

    use super::{TILE_COLS, Tiles, VECTOR, check_tile};

    /// AVX2 tiles for CPUs without AVX-512: with 16 registers of 8 lanes, a tile runs as
    /// sub-tiles of 4 rows × 16 columns (8 accumulators), each with its own pass over `k`.
    pub(super) struct Avx2;

    impl Tiles for Avx2 {
        #[inline(always)]
        fn tile<const R: usize, const V: usize>(
            a: &[f32],
            lda: usize,
            k: usize,
            w: &[f32],
            ldw: usize,
            init: Option<&[f32]>,
            out: &mut [[f32; TILE_COLS]; R],
        ) {
            check_tile::<R, V>(a, lda, k, w, ldw, init);
            let out = out.as_mut_ptr().cast::<f32>();
            for v in 0..V {
                let init = init.map(|init| init[v * VECTOR..].as_ptr());
                // SAFETY: `Avx2` tiles only run inside `FusedLm::forward_avx2`, which requires
                // AVX2 and FMA; the reads are in bounds by the checks above, the writes stay
                // in `out`'s `R` rows of `TILE_COLS`.
                unsafe {
                    let w = w.as_ptr().add(v * VECTOR);
                    if R.is_multiple_of(4) {
                        for r0 in (0..R).step_by(4) {
                            let (a, out) = (a.as_ptr().add(r0 * lda), out.add(r0 * TILE_COLS));
                            sub_tile::<4>(a, lda, k, w, ldw, init, out.add(v * VECTOR));
                        }
                    } else {
                        for r in 0..R {
                            let (a, out) = (a.as_ptr().add(r * lda), out.add(r * TILE_COLS));
                            sub_tile::<1>(a, lda, k, w, ldw, init, out.add(v * VECTOR));
                        }
                    }
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sub_tile<const ROWS: usize>(
        a: *const f32,
        lda: usize,
        k: usize,
        w: *const f32,
        ldw: usize,
        init: Option<*const f32>,
        out: *mut f32,
    ) {
        // SAFETY (all accesses): in bounds, as checked by `Avx2::tile`.
        unsafe {
            let mut acc: [[__m256; 2]; ROWS] = [[_mm256_setzero_ps(); 2]; ROWS];
            if let Some(init) = init {
                let bias = [_mm256_loadu_ps(init), _mm256_loadu_ps(init.add(8))];
                acc = [bias; ROWS];
            }
            for kk in 0..k {
                let wp = w.add(kk * ldw);
                let wv = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(*a.add(r * lda + kk));
                    for (acc, &w) in row.iter_mut().zip(&wv) {
                        *acc = _mm256_fmadd_ps(x, w, *acc);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.add(r * TILE_COLS), row[0]);
                _mm256_storeu_ps(out.add(r * TILE_COLS + 8), row[1]);
            }
        }
    }
}

/// What [`matmul`] does to a tile before it stores it.
struct Epilogue;

impl Epilogue {
    /// `out = x W + b`.
    const BIAS: u8 = 0;
    /// `out = gelu(x W + b)`.
    const GELU: u8 = 1;
    /// `out += x W + b` (the residual stream).
    const RESIDUAL: u8 = 2;
}

/// `out = epilogue(x W + b)` for `x` of `rows × d_in`, row-major.
///
/// Each output element is `b[j]`, then `+ x[i][k] W[k][j]` for `k = 0, 1, ...` in order, then
/// the epilogue: the same operations whichever tile computes it, so a row's result does not
/// depend on the other rows.
#[inline(always)]
fn matmul<T: Tiles, const EPILOGUE: u8>(x: &[f32], layer: &Dense, out: &mut [f32]) {
    let (k, n) = (layer.d_in, layer.d_out);
    let mut tile = [[0.0f32; TILE_COLS]; TILE_ROWS];
    let mut r0 = 0;
    while r0 < x.len() / k {
        let rows = TILE_ROWS.min(x.len() / k - r0);
        let a = &x[r0 * k..];
        let mut c0 = 0;
        while c0 < n {
            let w = &layer.weight[c0..];
            let bias = Some(&layer.bias[c0..]);
            let cols = match (rows, n - c0) {
                (TILE_ROWS, left) if left >= MAIN_V * VECTOR => {
                    T::tile::<TILE_ROWS, MAIN_V>(a, k, k, w, n, bias, &mut tile);
                    MAIN_V * VECTOR
                }
                (TILE_ROWS, left) if left >= VECTOR => {
                    T::tile::<TILE_ROWS, 1>(a, k, k, w, n, bias, &mut tile);
                    VECTOR
                }
                (_, left) if left >= VECTOR => {
                    for (r, out) in tile.iter_mut().take(rows).enumerate() {
                        let out = std::array::from_mut(out);
                        T::tile::<1, 1>(&a[r * k..], k, k, w, n, bias, out);
                    }
                    VECTOR
                }
                _ => {
                    scalar_columns(a, k, rows, w, n, &layer.bias[c0..], &mut tile);
                    1
                }
            };
            for (r, tile) in tile.iter().take(rows).enumerate() {
                let out = &mut out[(r0 + r) * n + c0..];
                match cols {
                    c if c == MAIN_V * VECTOR => store::<{ MAIN_V * VECTOR }, EPILOGUE>(tile, out),
                    VECTOR => store::<VECTOR, EPILOGUE>(tile, out),
                    _ => store::<1, EPILOGUE>(tile, out),
                }
            }
            c0 += cols;
        }
        r0 += rows;
    }
}

/// The first `C` values of `tile`, through the epilogue, into `out`.
#[inline(always)]
fn store<const C: usize, const EPILOGUE: u8>(tile: &[f32], out: &mut [f32]) {
    let (tile, out) = (&tile[..C], &mut out[..C]);
    match EPILOGUE {
        Epilogue::GELU => {
            for (o, &v) in out.iter_mut().zip(tile) {
                *o = gelu(v);
            }
        }
        Epilogue::RESIDUAL => {
            for (o, &v) in out.iter_mut().zip(tile) {
                *o += v;
            }
        }
        _ => out.copy_from_slice(tile),
    }
}

/// One output column of `rows` rows (widths that are not a multiple of [`VECTOR`]), with the
/// tiles' order of operations.
fn scalar_columns(
    a: &[f32],
    k: usize,
    rows: usize,
    w: &[f32],
    ldw: usize,
    bias: &[f32],
    tile: &mut [[f32; TILE_COLS]; TILE_ROWS],
) {
    for (r, out) in tile.iter_mut().take(rows).enumerate() {
        let mut acc = bias[0];
        for kk in 0..k {
            acc = madd(a[r * k + kk], w[kk * ldw], acc);
        }
        out[0] = acc;
    }
}

/// LayerNorm of each `d`-wide row of `x` into `out`, with the biased variance.
#[inline(always)]
fn layer_norm(x: &[f32], norm: &Norm, out: &mut [f32]) {
    let d = norm.gamma.len();
    for (x, out) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = lane_sum(x) / d as f32;
        let mut centred = [0.0f32; VECTOR];
        for chunk in x.chunks(VECTOR) {
            for (c, &v) in centred.iter_mut().zip(chunk) {
                *c = madd(v - mean, v - mean, *c);
            }
        }
        let var = lane_total(&centred) / d as f32;
        let inv_std = 1.0 / (var + LAYER_NORM_EPS as f32).sqrt();
        for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(&norm.gamma).zip(&norm.beta) {
            *o = madd((v - mean) * inv_std, g, b);
        }
    }
}

/// Queries per attention tile.
const QUERY_TILE: usize = 4;

/// Causal multi-head attention of one sequence: `qkv` is `rows × 3d` (queries, keys, values
/// side by side), `out` is `rows × d`, heads side by side.
///
/// Per head, tiles of [`QUERY_TILE`] queries: their scores against the keys they can see (in
/// register tiles of 16 keys), a softmax per query over its visible keys, and the weighted sum
/// of the values. Keys after the tile's last query are never touched; those after a query but
/// inside its tile get weight exactly 0, as a masked score does. Buffers are zero-padded to
/// whole tiles, so every tile runs the same code.
#[inline(always)]
fn attention<T: Tiles>(
    qkv: &[f32],
    d: usize,
    heads: usize,
    out: &mut [f32],
    s: &mut AttentionScratch,
) {
    let rows = out.len() / d;
    let hd = d / heads;
    let rows_pad = rows.next_multiple_of(VECTOR);
    let hd_pad = hd.next_multiple_of(VECTOR);
    let scale = 1.0 / (hd as f32).sqrt();
    let queries = &mut s.queries[..rows_pad * hd];
    let keys_t = &mut s.keys_t[..hd * rows_pad];
    let values = &mut s.values[..rows * hd_pad];
    let probs = &mut s.probs[..QUERY_TILE * rows_pad];
    let mut tile = [[0.0f32; TILE_COLS]; QUERY_TILE];
    for h in 0..heads {
        for (j, row) in qkv.chunks_exact(3 * d).enumerate() {
            let q = &row[h * hd..(h + 1) * hd];
            let k = &row[d + h * hd..d + (h + 1) * hd];
            let v = &row[2 * d + h * hd..2 * d + (h + 1) * hd];
            for (dst, &q) in queries[j * hd..(j + 1) * hd].iter_mut().zip(q) {
                *dst = q * scale;
            }
            for (dd, &k) in k.iter().enumerate() {
                keys_t[dd * rows_pad + j] = k;
            }
            values[j * hd_pad..j * hd_pad + hd].copy_from_slice(v);
        }
        for i0 in (0..rows).step_by(QUERY_TILE) {
            let valid = QUERY_TILE.min(rows - i0);
            let visible = i0 + valid;
            let q = &queries[i0 * hd..];
            for j0 in (0..visible).step_by(VECTOR) {
                T::tile::<QUERY_TILE, 1>(q, hd, hd, &keys_t[j0..], rows_pad, None, &mut tile);
                for (p, tile) in probs.chunks_exact_mut(rows_pad).zip(&tile) {
                    p[j0..j0 + VECTOR].copy_from_slice(&tile[..VECTOR]);
                }
            }
            let padded = visible.next_multiple_of(VECTOR);
            for (r, p) in probs.chunks_exact_mut(rows_pad).enumerate() {
                let seen = if r < valid { i0 + r + 1 } else { 0 };
                causal_softmax(&mut p[..padded], seen);
            }
            for c0 in (0..hd_pad).step_by(VECTOR) {
                let v = &values[c0..];
                T::tile::<QUERY_TILE, 1>(probs, rows_pad, visible, v, hd_pad, None, &mut tile);
                let width = VECTOR.min(hd - c0);
                for (r, tile) in tile.iter().enumerate().take(valid) {
                    let out = &mut out[(i0 + r) * d + h * hd + c0..];
                    if width == VECTOR {
                        out[..VECTOR].copy_from_slice(&tile[..VECTOR]);
                    } else {
                        out[..width].copy_from_slice(&tile[..width]);
                    }
                }
            }
        }
    }
}

/// The softmax of `p[..seen]` in place, and zeros after it; `p`'s length is a multiple of
/// [`VECTOR`] (and `seen` at most that). Whole vectors at a time, so it vectorises.
#[inline(always)]
fn causal_softmax(p: &mut [f32], seen: usize) {
    let mut lanes = [f32::NEG_INFINITY; VECTOR];
    for (j, chunk) in p.chunks_exact(VECTOR).enumerate() {
        for (lane, (m, &v)) in lanes.iter_mut().zip(chunk).enumerate() {
            if j * VECTOR + lane < seen {
                *m = larger(*m, v);
            }
        }
    }
    let max = lanes.iter().copied().fold(f32::NEG_INFINITY, larger);
    for (j, chunk) in p.chunks_exact_mut(VECTOR).enumerate() {
        for (lane, v) in chunk.iter_mut().enumerate() {
            let e = exp(*v - max);
            *v = if j * VECTOR + lane < seen { e } else { 0.0 };
        }
    }
    let inv = 1.0 / lane_sum(p);
    for v in p.iter_mut() {
        *v *= inv;
    }
}

/// `row = row - logsumexp(row)`.
#[inline(always)]
fn log_softmax(row: &mut [f32]) {
    let max = lane_max(row);
    let mut sums = [0.0f32; VECTOR];
    for chunk in row.chunks(VECTOR) {
        for (s, &v) in sums.iter_mut().zip(chunk) {
            *s += exp(v - max);
        }
    }
    let log_sum = max + lane_total(&sums).ln();
    for v in row {
        *v -= log_sum;
    }
}

/// `max(a, b)` as one compare and select (which vectorises, unlike `f32::max`'s NaN rules);
/// the model's scores are finite.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// The sum of `values`, accumulated in [`VECTOR`] lanes (element `i` into lane `i % 16`) and
/// then across lanes in a fixed order: vectorisable, and the same for the same input.
#[inline(always)]
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; VECTOR];
    for chunk in values.chunks(VECTOR) {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    lane_total(&lanes)
}

/// The largest of `values` (`-inf` for none), lane by lane as [`lane_sum`].
#[inline(always)]
fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; VECTOR];
    for chunk in values.chunks(VECTOR) {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = larger(*m, v);
        }
    }
    lanes.iter().copied().fold(f32::NEG_INFINITY, larger)
}

/// Pairwise sum of the lanes.
#[inline(always)]
fn lane_total(lanes: &[f32; VECTOR]) -> f32 {
    let mut half = *lanes;
    let mut width = VECTOR;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            half[i] += half[i + width];
        }
    }
    half[0]
}

/// `e^x` for `x` in f32, relative error below 4e-7 on `[-87, 88]`; `x` below `-87.3` gives
/// a value below 1.3e-38 (not 0), above `88.7` infinity. Cephes' `expf`: `x = n ln 2 + r`
/// with `|r| <= ln 2 / 2`, a degree-6 polynomial for `e^r`, and `2^n` built from its bits. No
/// branches or table lookups, so loops over it vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding 1.5 * 2^23 rounds to an integer, which the low mantissa bits then hold.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let shifted = madd(x, LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = madd(n, -LN2_LO, madd(n, -LN2_HI, x));
    let mut p = 1.987_569_1e-4;
    p = madd(p, r, 1.398_199_9e-3);
    p = madd(p, r, 8.333_452e-3);
    p = madd(p, r, 4.166_579_6e-2);
    p = madd(p, r, 1.666_666_5e-1);
    p = madd(p, r, 0.5);
    let e_r = madd(p, r * r, r) + 1.0;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e_r * two_n
}

/// `erf(x)`, absolute error below 5e-7 (Abramowitz and Stegun 7.1.26, with [`exp`]).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / madd(0.327_591_1, a, 1.0);
    let mut p = 1.061_405_4;
    p = madd(p, t, -1.453_152);
    p = madd(p, t, 1.421_413_8);
    p = madd(p, t, -0.284_496_74);
    p = madd(p, t, 0.254_829_6);
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

/// The exact GELU, `x Φ(x) = x (1 + erf(x / √2)) / 2`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ByteLm, Cpu};

    /// Every tile set this CPU can run computes the burn model's function, and they agree
    /// with each other.
    #[test]
    fn every_available_kernel_set_matches_burn() {
        let config = ModelConfig {
            d_model: 48,
            n_heads: 3,
            n_layers: 2,
            d_ff: 80,
            context_len: 21,
        };
        let device = Default::default();
        let model = ByteLm::<Cpu>::new(&config, 4, &device).unwrap();
        let inputs: [&[u8]; 2] = [b"The quick brown fox j", b"jumps over 13 lazy do"];
        let reference = model.infer(&inputs, &device).unwrap();
        let fused = FusedLm::from_model(&model).unwrap();
        assert_eq!(fused.kernels(), Kernels::detect());
        let mut ran = Vec::new();
        for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Portable] {
            let Ok(fused) = fused.clone().with_kernels(kernels) else {
                assert!(!kernels.available());
                continue;
            };
            let out = fused.infer(&inputs).unwrap();
            let diff = reference.max_abs_diff(&out).unwrap();
            assert!(diff < 1e-4, "{kernels}: max |diff| {diff}");
            ran.push(kernels);
        }
        assert!(ran.contains(&Kernels::Portable), "{ran:?}");
    }

    #[test]
    fn exp_is_within_4e_7_relative_of_std() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1.0e9) < 1.3e-38 && exp(-1.0e9) >= 0.0);
        assert!(exp(100.0).is_infinite());
    }

    #[test]
    fn erf_is_within_5e_7_of_libm() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm::erf(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - want).abs());
            x += 0.000_37;
        }
        assert!(worst < 5e-7, "worst absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-2.0), -erf(2.0));
    }
}
