//! The synthetic subnet shared by the criterion bench (`benches/epoch.rs`) and the timing
//! example (`examples/epoch_timing.rs`), so that both time exactly the same inputs.
//!
//! Weights are seeded-random but shaped like a real subnet: every validator weights ~90 % of
//! the miners around a shared quality score, and bonds are non-zero.

use subnet_scoring::yuma::{EpochInputs, EpochParams, U16Matrix};

/// splitmix64: a seeded generator with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Row `i` of a realistic weight (or bond) matrix as a dense u16 vector, max-upscaled.
fn realistic_row(rng: &mut Rng, n: usize, validators: usize, quality: &[f64]) -> Vec<u16> {
    let mut row = vec![0.0; n];
    for (j, cell) in row.iter_mut().enumerate().skip(validators) {
        if rng.unit() < 0.9 {
            *cell = (quality[j] * (0.8 + 0.4 * rng.unit())).max(0.0);
        }
    }
    let max = row
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    row.iter()
        .map(|v| (v / max * 65535.0).round() as u16)
        .collect()
}

/// One benchmark subnet: the same state as dense and as sparse inputs.
pub(crate) struct Subnet {
    /// Weights and bonds as dense `n × n` matrices.
    pub(crate) dense: EpochInputs,
    /// The same matrices as sparse rows (zeros left out).
    pub(crate) sparse: EpochInputs,
}

/// `n` UIDs of which the first `validators` hold permits and set weights; seeded by `n`.
pub(crate) fn subnet(n: usize, validators: usize) -> Subnet {
    let mut rng = Rng(0x5eed + n as u64);
    let quality: Vec<f64> = (0..n).map(|_| rng.unit().powi(2)).collect();
    let mut weights = vec![vec![0_u16; n]; n];
    let mut bonds = vec![vec![0_u16; n]; n];
    for i in 0..validators {
        weights[i] = realistic_row(&mut rng, n, validators, &quality);
        bonds[i] = realistic_row(&mut rng, n, validators, &quality);
    }
    let stake = (0..n)
        .map(|i| {
            if i < validators {
                1_000_000_000 + rng.next() % 100_000_000_000_000
            } else {
                rng.next() % 1_000_000_000
            }
        })
        .collect();
    let base = EpochInputs {
        weights: U16Matrix::Dense(Vec::new()),
        bonds_prev: U16Matrix::Dense(Vec::new()),
        stake,
        active: vec![true; n],
        validator_permits_prev: (0..n).map(|i| i < validators).collect(),
        last_update: None,
        block_at_registration: None,
        weight_commit_blocks: None,
        bonds_reset_cols: None,
    };
    Subnet {
        sparse: EpochInputs {
            weights: sparse(&weights),
            bonds_prev: sparse(&bonds),
            ..base.clone()
        },
        dense: EpochInputs {
            weights: U16Matrix::Dense(weights),
            bonds_prev: U16Matrix::Dense(bonds),
            ..base
        },
    }
}

fn sparse(m: &[Vec<u16>]) -> U16Matrix {
    U16Matrix::Sparse(
        m.iter()
            .map(|row| {
                (0..=u16::MAX)
                    .zip(row)
                    .filter(|(_, v)| **v != 0)
                    .map(|(j, v)| (j, *v))
                    .collect()
            })
            .collect(),
    )
}

/// The bonds modes timed, by name: `yuma3` (what new subnets run; the headline number),
/// `original`, and `yuma3_liquid` (Yuma3 with liquid alpha).
pub(crate) const MODES: [&str; 3] = ["yuma3", "original", "yuma3_liquid"];

/// Parameters for a mode of [`MODES`]; `None` for an unknown name.
pub(crate) fn params(mode: &str, validators: usize) -> Option<EpochParams> {
    let yuma3 = EpochParams {
        yuma3_enabled: true,
        max_allowed_validators: u16::try_from(validators).unwrap_or(u16::MAX),
        rao_emission: 1_000_000_000,
        ..EpochParams::default()
    };
    match mode {
        "yuma3" => Some(yuma3),
        "original" => Some(EpochParams {
            yuma3_enabled: false,
            ..yuma3
        }),
        "yuma3_liquid" => Some(EpochParams {
            liquid_alpha_enabled: true,
            ..yuma3
        }),
        _ => None,
    }
}
