//! One Yuma epoch at n = 256 / 1024 / 4096 UIDs with 64 / 128 / 256 validators, from dense and
//! sparse inputs, single-threaded. Weights are seeded-random but shaped like a real subnet: every
//! validator weights ~90 % of the miners around a shared quality score, and bonds are non-zero.
//!
//! `cargo bench -p subnet-scoring --bench epoch`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use subnet_scoring::yuma::{EpochInputs, EpochParams, U16Matrix, epoch};

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

fn subnet(n: usize, validators: usize, seed: u64) -> (Vec<Vec<u16>>, Vec<Vec<u16>>, EpochInputs) {
    let mut rng = Rng(seed);
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
    let inputs = EpochInputs {
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
    (weights, bonds, inputs)
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

fn bench_epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    for (n, validators) in [(256, 64), (1024, 128), (4096, 256)] {
        let (weights, bonds, base) = subnet(n, validators, 0x5eed + n as u64);
        let yuma3 = EpochParams {
            yuma3_enabled: true,
            max_allowed_validators: validators as u16,
            rao_emission: 1_000_000_000,
            ..EpochParams::default()
        };
        let dense = EpochInputs {
            weights: U16Matrix::Dense(weights.clone()),
            bonds_prev: U16Matrix::Dense(bonds.clone()),
            ..base.clone()
        };
        let sparse = EpochInputs {
            weights: sparse(&weights),
            bonds_prev: sparse(&bonds),
            ..base
        };
        let label = format!("n{n}_v{validators}");
        group.bench_with_input(
            BenchmarkId::new("yuma3_sparse", &label),
            &sparse,
            |b, inp| b.iter(|| epoch(black_box(inp), &yuma3).unwrap()),
        );
        group.bench_with_input(BenchmarkId::new("yuma3_dense", &label), &dense, |b, inp| {
            b.iter(|| epoch(black_box(inp), &yuma3).unwrap())
        });
        let original = EpochParams {
            yuma3_enabled: false,
            ..yuma3.clone()
        };
        group.bench_with_input(
            BenchmarkId::new("original_sparse", &label),
            &sparse,
            |b, inp| b.iter(|| epoch(black_box(inp), &original).unwrap()),
        );
        let liquid = EpochParams {
            liquid_alpha_enabled: true,
            ..yuma3.clone()
        };
        group.bench_with_input(
            BenchmarkId::new("yuma3_liquid_sparse", &label),
            &sparse,
            |b, inp| b.iter(|| epoch(black_box(inp), &liquid).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_epoch);
criterion_main!(benches);
