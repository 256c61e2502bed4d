//! Integration tests of `subnet-scoring` through its public API.

mod cases;
mod fixtures;
mod properties;
mod reference;
mod weights;
