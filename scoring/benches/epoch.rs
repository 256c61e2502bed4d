//! One Yuma epoch at n = 256 / 1024 / 4096 UIDs with 64 / 128 / 256 validators, from dense and
//! sparse inputs, single-threaded, on the synthetic subnet of `common/mod.rs`.
//!
//! `cargo bench -p subnet-scoring --bench epoch`. For one table against numpy, see
//! `bench/yuma/run.sh`.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use subnet_scoring::yuma::epoch;

fn bench_epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    for (n, validators) in [(256, 64), (1024, 128), (4096, 256)] {
        let subnet = common::subnet(n, validators);
        let label = format!("n{n}_v{validators}");
        for mode in common::MODES {
            let params = common::params(mode, validators).unwrap();
            group.bench_with_input(
                BenchmarkId::new(format!("{mode}_sparse"), &label),
                &subnet.sparse,
                |b, inp| b.iter(|| epoch(black_box(inp), &params).unwrap()),
            );
            if mode == "yuma3" {
                group.bench_with_input(
                    BenchmarkId::new(format!("{mode}_dense"), &label),
                    &subnet.dense,
                    |b, inp| b.iter(|| epoch(black_box(inp), &params).unwrap()),
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_epoch);
criterion_main!(benches);
