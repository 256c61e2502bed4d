//! A second task end to end: a linear-regression subnet on an in-process chain, with two
//! honest miners of different quality and a validator, all using the engine's own serving,
//! querying, verification, scoring and weight-setting code. See `task.rs` for the only code
//! the task needs.
//!
//! Run with `cargo run -p subnet-validator --example regression`.

mod task;

use std::time::Duration;

use anyhow::Context;
use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::{Config as MinerConfig, DevKey as MinerDevKey, KeySource as MinerKey, Miner};
use subnet_protocol::chain::{Hyperparameters, TOKEN};
use subnet_protocol::ids::Rao;
use subnet_protocol::keys::Keypair;
use subnet_validator::{Config, DevKey, KeySource, Validator, WeightsEvent};
use task::{LinearModel, LinearSolver, RegressionEvaluator, served};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let chain = EmbeddedChain::with_config(
        &Genesis::dev(),
        EmbeddedConfig {
            auto_advance: true,
            ..EmbeddedConfig::default()
        },
    )?;
    let hp = Hyperparameters {
        tempo: 5,
        weights_rate_limit: 0,
        max_allowed_validators: 1,
        ..Hyperparameters::default()
    };
    let (owner, funder) = (Keypair::dev("charlie"), Keypair::dev("dave"));
    let netuid = chain
        .create_subnet(&owner, hp)
        .await?
        .created_netuid()
        .context("no netuid")?;
    let validator_key = Keypair::dev("regression-validator");
    chain
        .register(&funder, netuid, validator_key.public(), None)
        .await?;
    chain
        .add_stake(&funder, validator_key.public(), Rao(1000 * TOKEN.0))
        .await?;
    chain.advance_blocks(6)?;

    let world = LinearModel {
        w: vec![0.5, -1.0, 2.0, 0.25],
        b: 0.1,
    };
    let models = [
        (
            "close",
            LinearModel {
                w: vec![0.5, -1.0, 1.9, 0.25],
                b: 0.1,
            },
        ),
        (
            "rough",
            LinearModel {
                w: vec![0.0, -0.5, 1.0, 0.0],
                b: 0.0,
            },
        ),
    ];
    let mut miners = Vec::new();
    for (name, model) in models {
        let config = MinerConfig {
            hotkey: MinerKey::Dev(MinerDevKey {
                dev: format!("regression-{name}"),
            }),
            coldkey: MinerKey::Dev(MinerDevKey { dev: "eve".into() }),
            netuid,
            listen: "127.0.0.1:0".parse()?,
            seed: Some(1),
            ..MinerConfig::default()
        };
        let solver = LinearSolver(model.clone());
        let miner = Miner::start_with(config, chain.clone(), served(name, &model, solver)).await?;
        println!("miner {name}: uid {}", miner.uid());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        miners.push((
            stop,
            tokio::spawn(miner.serve(async move {
                let _ = stopped.await;
            })),
        ));
    }

    let data = tempfile::tempdir()?;
    let config = Config {
        hotkey: KeySource::Dev(DevKey {
            dev: "regression-validator".into(),
        }),
        netuid,
        bind: "127.0.0.1:0".parse()?,
        request_timeout: Duration::from_secs(2),
        spot_check_rate: 0.5,
        reward_temperature: 0.1,
        seed: Some(1),
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    let mut validator =
        Validator::start_with(config, chain.clone(), RegressionEvaluator::new(world)).await?;
    for _ in 0..3 {
        let report = validator.step().await?;
        println!("step {}: rewards {:?}", report.step, report.rewards);
    }
    validator.sync().await?;
    for event in validator.tick_weights().await? {
        if let WeightsEvent::Set { uids, values, .. } = event {
            println!("weights set: uids {uids:?} values {values:?}");
        }
    }
    println!("scores: {:?}", validator.scores());
    for (stop, serving) in miners {
        let _ = stop.send(());
        serving.await??;
    }
    Ok(())
}
