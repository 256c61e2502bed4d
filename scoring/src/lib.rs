//! Pure, deterministic scoring for the subnet engine: Yuma Consensus bit-exact with Bittensor's
//! chain, and the weight helpers validators use.
//!
//! - [`yuma::epoch`]: one Yuma Consensus epoch (`shared/YUMA_SPEC.md`) from [`yuma::EpochInputs`]
//!   and [`yuma::EpochParams`] to [`yuma::EpochOutput`], in the chain's fixed-point arithmetic.
//! - [`fixed`]: [`I32F32`] and [`I64F64`] with the chain's rounding rules.
//! - [`weights`]: float scores to u16 weights (`max_weight_limit`, `min_allowed_weights`), the
//!   chain's max-upscale on store, and the commit-reveal commitment hash.
//!
//! No I/O, no async, no clock, no floats in the consensus path (floats appear only when
//! converting outputs and in the float-score helper). No features.
//!
//! ```
//! use subnet_scoring::yuma::{epoch, EpochInputs, EpochParams, U16Matrix};
//!
//! let inputs = EpochInputs {
//!     weights: U16Matrix::Sparse(vec![vec![(1, 65535)], vec![]]),
//!     stake: vec![100, 0],
//!     validator_permits_prev: vec![true, false],
//!     ..EpochInputs::empty(2)
//! };
//! let out = epoch(&inputs, &EpochParams::default())?;
//! assert_eq!(out.incentive_u16(), vec![0, 65535]);
//! assert_eq!(out.dividends_u16(), vec![65535, 0]);
//! # Ok::<(), subnet_scoring::yuma::EpochError>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![deny(missing_docs)]

pub mod fixed;
pub mod weights;
pub mod yuma;

pub use fixed::{I32F32, I64F64};
pub use yuma::{
    EpochBuffers, EpochError, EpochInputs, EpochOutput, EpochParams, U16Matrix, epoch,
    epoch_with_buffers,
};
