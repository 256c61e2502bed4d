//! The subtensor backend against Bittensor's own runtime: the 2023 test-network runtime
//! (`tests/fixtures/subtensor/raw_spec_testfinney.json`) run by chopsticks on 127.0.0.1.
//!
//! Chopsticks is found through `CHOPSTICKS` (its executable) or in `target/chopsticks`, where
//! `tests/install-chopsticks.sh` installs it on first use (node and npm needed). If it cannot be
//! had or does not start, the tests fail and say so: they never skip.

use std::path::PathBuf;
use std::time::Duration;

use subnet_chain_client::{
    AnyChain, Chain, ChainBackend, ChainError, Chopsticks, DevNeuron, Publication, StakeStorage,
    SubtensorChain,
};
use subnet_protocol::chain::AxonInfo;
use subnet_protocol::fingerprint::CertFingerprint;
use subnet_protocol::ids::{NetUid, Rao, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};

/// How long chopsticks may take to compile the runtime and listen.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// The subnet the tests create.
pub(crate) const NETUID: NetUid = NetUid(1);
/// Its tempo, short so that epochs come after a few blocks.
pub(crate) const TEMPO: u16 = 5;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `CHOPSTICKS`, else the copy the install script puts under `target/chopsticks`.
fn chopsticks_bin() -> PathBuf {
    Chopsticks::find_or_install(&workspace_root()).unwrap_or_else(|e| panic!("{e}"))
}

/// Chopsticks serving the test-network runtime on a port the OS picks.
pub(crate) fn start_chopsticks() -> Chopsticks {
    let spec =
        workspace_root().join("chain-client/tests/fixtures/subtensor/raw_spec_testfinney.json");
    Chopsticks::start(&chopsticks_bin(), &spec, 0, START_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

fn key(name: &str) -> Keypair {
    Keypair::dev(&format!("subtensor-{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_lives_on_the_2023_runtime() {
    let node = start_chopsticks();
    let chain = SubtensorChain::connect(node.url().clone()).await.unwrap();
    let runtime = chain.runtime().await.unwrap();
    assert_eq!(runtime.stake, StakeStorage::Tao, "{runtime:?}");

    let (owner, validator_cold, miner_cold) = (key("owner"), key("v-cold"), key("m-cold"));
    let (validator, miner_a, miner_b) = (key("v-hot"), key("m-hot-a"), key("m-hot-b"));
    chain
        .dev_fund(
            &[owner.public(), validator_cold.public(), miner_cold.public()],
            1_000,
        )
        .await
        .unwrap();
    chain.dev_new_blocks(1).await.unwrap();
    let info = chain.info().await.unwrap();
    assert_eq!(
        chain.account(&miner_cold.public()).await.unwrap().balance,
        Rao(1_000_000_000_000)
    );

    // Transfers are signed by our ed25519 keys.
    let fresh = Keypair::from_seed(&[77; 32]);
    let receipt = chain
        .transfer(&owner, fresh.public(), Rao(5_000_000_000))
        .await
        .unwrap();
    assert!(receipt.block > info.height);
    assert_eq!(
        chain.account(&fresh.public()).await.unwrap().balance,
        Rao(5_000_000_000)
    );
    assert_eq!(chain.account(&owner.public()).await.unwrap().nonce, 1);

    assert!(matches!(
        chain.metagraph(NETUID).await,
        Err(ChainError::NotFound(_))
    ));
    chain.dev_create_subnet(NETUID, TEMPO).await.unwrap();
    chain.dev_new_blocks(1).await.unwrap();
    let subnet = chain.subnet(NETUID).await.unwrap();
    assert_eq!(subnet.hyperparameters.tempo, TEMPO);
    assert_eq!(subnet.hyperparameters.burn, Rao(1_000_000_000));
    // The 2023 runtime records no subnet owner.
    assert_eq!(subnet.owner, PublicKey::from_bytes([0; 32]));
    // The test network's genesis has subnets of its own.
    let subnets = chain.subnets().await.unwrap();
    assert!(subnets.iter().any(|s| s.netuid == NETUID), "{subnets:?}");

    // Burned registration goes through the backend, but this 2023 runtime refuses it
    // (`RegistrationDisabled`, on every subnet: only proof-of-work `register` was open then), so
    // the neurons are then written with dev_setStorage as `append_neuron` would.
    let refused = chain
        .register(&miner_cold, NETUID, miner_a.public(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Protocol { message, .. } if message.contains("RegistrationDisabled")),
        "{refused:?}"
    );
    let pairs = [
        (&validator_cold, &validator),
        (&miner_cold, &miner_a),
        (&miner_cold, &miner_b),
    ];
    let mut neurons: Vec<DevNeuron> = pairs
        .iter()
        .map(|(cold, hot)| DevNeuron {
            hotkey: hot.public(),
            coldkey: cold.public(),
            axon: None,
            validator_permit: false,
        })
        .collect();
    // A loopback axon, which `serve_axon` would refuse, can be seeded (for local runs).
    let loopback = AxonInfo {
        ip: "127.0.0.1".parse().unwrap(),
        port: 8099,
        cert_fingerprint: CertFingerprint::HOTKEY,
        protocol_version: 1,
    };
    neurons[0].axon = Some(loopback);
    chain.dev_seed_neurons(NETUID, &neurons).await.unwrap();
    chain.dev_new_blocks(1).await.unwrap();
    let seeded = chain.metagraph(NETUID).await.unwrap();
    assert_eq!(seeded.neurons.len(), 3);
    assert_eq!(seeded.by_uid(Uid(0)).unwrap().axon, Some(loopback));
    assert_eq!(seeded.by_uid(Uid(1)).unwrap().axon, None);

    // Stake on the validator, so that it gets the permit at the next epoch.
    chain
        .add_stake(&validator_cold, validator.public(), Rao(100_000_000_000))
        .await
        .unwrap();
    assert_eq!(
        chain
            .stake_of(&validator_cold.public(), &validator.public())
            .await
            .unwrap(),
        Rao(100_000_000_000)
    );

    // Axons: ip as u128, port, protocol; read back through the metagraph. Subtensor refuses
    // loopback and unspecified addresses (`InvalidIpAddress`), hence a documentation address.
    let fingerprint = CertFingerprint([0xab; 32]);
    for (i, hot) in [&miner_a, &miner_b].into_iter().enumerate() {
        let axon = AxonInfo {
            ip: "203.0.113.7".parse().unwrap(),
            port: 9000 + i as u16,
            cert_fingerprint: fingerprint,
            protocol_version: 1,
        };
        chain.serve_axon(hot, NETUID, axon).await.unwrap();
    }

    let metagraph = chain.metagraph(NETUID).await.unwrap();
    assert_eq!(metagraph.neurons.len(), 3);
    let v = metagraph.by_hotkey(&validator.public()).unwrap();
    assert_eq!(v.coldkey, validator_cold.public());
    assert_eq!(v.stake, Rao(100_000_000_000));
    let a = metagraph.by_uid(Uid(1)).unwrap();
    assert_eq!(a.hotkey, miner_a.public());
    assert_eq!(a.coldkey, miner_cold.public());
    let axon = a.axon.unwrap();
    assert_eq!(
        (axon.ip.to_string(), axon.port),
        ("203.0.113.7".into(), 9000)
    );
    assert_eq!(axon.protocol_version, 1);
    // The 2023 runtime has no commitments: the fingerprint is not on chain, and validators
    // will pin the hotkey.
    assert!(!chain.runtime().await.unwrap().commitments);
    assert_eq!(axon.cert_fingerprint, CertFingerprint::HOTKEY);
    let publish = chain
        .set_neuron_ainft(
            &miner_a,
            NETUID,
            Some(subnet_protocol::ainft::AinftId::from_bytes([1; 32])),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(publish, ChainError::Unsupported { .. }),
        "{publish:?}"
    );
    let publish = chain
        .publish(&miner_a, NETUID, Publication::default())
        .await
        .unwrap_err();
    assert!(
        matches!(publish, ChainError::Unsupported { .. }),
        "{publish:?}"
    );

    // An epoch gives the validator its permit; then it sets weights.
    chain.dev_new_blocks(u64::from(TEMPO) + 2).await.unwrap();
    let metagraph = chain.metagraph(NETUID).await.unwrap();
    assert!(
        metagraph.by_uid(Uid(0)).unwrap().validator_permit,
        "{metagraph:?}"
    );
    // The emission split of an epoch with no weights still sums to what the join reports.
    let joined = chain.ainft_emissions(NETUID).await.unwrap();
    let sum: u64 = metagraph.neurons.iter().map(|n| n.emission.get()).sum();
    assert_eq!(joined.total, Rao(sum));
    assert!(joined.ainfts.is_empty());
    assert_eq!(joined.unattributed, joined.total);
    // Weights from the validator, then the next epoch turns them into incentive and emission.
    let weights = chain
        .set_weights(
            &validator,
            NETUID,
            vec![Uid(1), Uid(2)],
            vec![u16::MAX, u16::MAX / 3],
            0,
        )
        .await
        .unwrap();
    assert!(weights.block > metagraph.block);
    let stranger = chain
        .set_weights(&key("stranger"), NETUID, vec![Uid(1)], vec![1], 0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            stranger,
            ChainError::Protocol { .. } | ChainError::Rejected(_)
        ),
        "{stranger:?}"
    );
    chain.dev_new_blocks(u64::from(TEMPO) + 2).await.unwrap();
    let after = chain.metagraph(NETUID).await.unwrap();
    let (v, a, b) = (
        after.by_uid(Uid(0)).unwrap(),
        after.by_uid(Uid(1)).unwrap(),
        after.by_uid(Uid(2)).unwrap(),
    );
    assert!(v.last_update >= weights.block, "{v:?}");
    // Miner a got the larger weight: the larger incentive and emission.
    assert!(a.incentive > b.incentive && b.incentive > 0, "{after:?}");
    assert!(a.emission > b.emission && b.emission > Rao(0), "{after:?}");
    assert!(v.dividends > 0 && v.emission > Rao(0), "{after:?}");
    // The only validator's weights are all clipped-in: trust 1.0 less the chain's I32F32
    // rounding (65534 on this runtime).
    assert!(v.validator_trust >= u16::MAX - 1, "{v:?}");
    // The per-AINFT join sums the same emissions; with no commitments none is attributed.
    let joined = chain.ainft_emissions(NETUID).await.unwrap();
    let sum: u64 = after.neurons.iter().map(|n| n.emission.get()).sum();
    assert_eq!(joined.total, Rao(sum));
    assert_eq!(joined.unattributed, joined.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_only_operations_are_unsupported_and_the_config_form_builds() {
    let node = start_chopsticks();
    let backend: ChainBackend = toml::from_str::<toml::Table>(&format!(
        "backend = \"subtensor\"\nurl = \"{}\"\n",
        node.url()
    ))
    .unwrap()
    .try_into()
    .unwrap();
    let chain = AnyChain::from_backend(&backend).unwrap();
    let info = chain.info().await.unwrap();
    assert!(info.block_time_ms > 0);
    let id = subnet_protocol::ainft::AinftId::from_bytes([3; 32]);
    assert!(matches!(
        chain.ainft(&id).await,
        Err(ChainError::Unsupported { .. })
    ));
    assert!(matches!(
        chain.emissions().await,
        Err(ChainError::Unsupported { .. })
    ));
    let owner = key("unsupported");
    let created = chain
        .create_subnet(&owner, Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(created, ChainError::Unsupported { .. }),
        "{created:?}"
    );
    // The 2023 runtime has no commit-reveal.
    let commit = chain
        .commit_weights(&owner, NETUID, subnet_protocol::ainft::Digest::of(b"w"))
        .await
        .unwrap_err();
    assert!(
        matches!(&commit, ChainError::Unsupported { call } if call.contains("commit_weights")),
        "{commit:?}"
    );
    // Blocks are readable (the engine's transactions list is empty on subtensor).
    let genesis = chain
        .block(subnet_protocol::ids::BlockNumber(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(genesis.header.number.get(), 0);
    assert!(genesis.transactions.is_empty());
}
