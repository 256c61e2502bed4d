//! The subtensor backend against Bittensor's own runtime: the 2023 test-network runtime
//! (`tests/fixtures/subtensor/raw_spec_testfinney.json`) run by chopsticks on 127.0.0.1.
//!
//! Chopsticks is found through `CHOPSTICKS` (its executable) or in `target/chopsticks`, where
//! `tests/install-chopsticks.sh` installs it on first use (node and npm needed). If it cannot be
//! had or does not start, the tests fail and say so: they never skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use subnet_chain_client::{
    AnyChain, Chain, ChainBackend, ChainError, Publication, StakeStorage, SubtensorChain,
    SubtensorUrl,
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

/// A chopsticks process serving the test-network runtime; killed and reaped on drop.
pub(crate) struct Chopsticks {
    child: Child,
    /// Its WebSocket URL.
    pub(crate) url: SubtensorUrl,
}

impl Drop for Chopsticks {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing else to do on failure in a drop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `CHOPSTICKS`, else the copy in `target/chopsticks`, which `tests/install-chopsticks.sh`
/// installs from the npm registry the first time (and only checks afterwards).
fn chopsticks_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CHOPSTICKS") {
        return PathBuf::from(path);
    }
    let script = workspace_root().join("chain-client/tests/install-chopsticks.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "chopsticks not found and {} failed ({}): it needs node and npm; or set CHOPSTICKS to \
         a chopsticks executable",
        script.display(),
        out.status
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

impl Chopsticks {
    /// Starts chopsticks on 127.0.0.1 (a port the OS picks) and waits for its ready line.
    pub(crate) fn start() -> Self {
        let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/subtensor/raw_spec_testfinney.json");
        let bin = chopsticks_bin();
        let mut child = Command::new(&bin)
            .arg("--genesis")
            .arg(&spec)
            .args([
                "--allow-unresolved-imports",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ])
            .args(["--build-block-mode", "Instant"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("chopsticks ({}) does not start: {e}", bin.display()));
        let (tx, rx) = mpsc::channel::<String>();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut log = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = ready_url(&line) {
                        break url;
                    }
                    log.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "chopsticks did not report `RPC listening on` within {START_TIMEOUT:?}; \
                         its output:\n{}",
                        log.join("\n")
                    );
                }
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in rx {});
        Self { child, url }
    }
}

/// The `ws://` URL in chopsticks' `RPC listening on http://A and ws://A` line.
fn ready_url(line: &str) -> Option<SubtensorUrl> {
    let at = line.find("RPC listening on")?;
    let ws = line[at..].find("ws://")? + at;
    let addr: String = line[ws..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\u{1b}')
        .collect();
    addr.parse().ok()
}

/// Hex of an account's 32 bytes, as chopsticks' `dev_setStorage` takes account keys.
pub(crate) fn hex_account(key: &PublicKey) -> String {
    format!("0x{}", hex::encode(key.as_bytes()))
}

/// Sets storage through chopsticks (pallet → entry → value or `[[keys], value]` pairs).
pub(crate) async fn set_storage(chain: &SubtensorChain, storage: Value) {
    chain
        .raw_request("dev_setStorage", json!([storage]))
        .await
        .unwrap_or_else(|e| panic!("dev_setStorage failed: {e}"));
}

/// Builds `count` blocks.
pub(crate) async fn new_blocks(chain: &SubtensorChain, count: u64) {
    chain
        .raw_request("dev_newBlock", json!([{ "count": count }]))
        .await
        .unwrap_or_else(|e| panic!("dev_newBlock failed: {e}"));
}

/// Gives each account `tokens` TAO.
pub(crate) async fn fund(chain: &SubtensorChain, accounts: &[PublicKey], tokens: u64) {
    let entries: Vec<Value> = accounts
        .iter()
        .map(|a| {
            json!([[hex_account(a)], {
                "nonce": 0,
                "providers": 1,
                "data": { "free": tokens * 1_000_000_000 }
            }])
        })
        .collect();
    set_storage(chain, json!({ "System": { "Account": entries } })).await;
}

/// Creates subnet [`NETUID`] by writing its storage: the 2023 runtime adds networks only by
/// sudo (`sudo_add_network`), and setting state directly is what chopsticks is for.
pub(crate) async fn create_subnet(chain: &SubtensorChain) {
    let n = NETUID.get();
    set_storage(
        chain,
        json!({ "SubtensorModule": {
            "NetworksAdded": [[[n], true]],
            "TotalNetworks": 1,
            "Tempo": [[[n], TEMPO]],
            "SubnetworkN": [[[n], 0]],
            "MaxAllowedUids": [[[n], 256]],
            "MaxAllowedValidators": [[[n], 64]],
            "MinAllowedWeights": [[[n], 1]],
            "MaxWeightsLimit": [[[n], 65535]],
            "WeightsSetRateLimit": [[[n], 0]],
            "ImmunityPeriod": [[[n], 4096]],
            "ActivityCutoff": [[[n], 5000]],
            "Kappa": [[[n], 32767]],
            "MaxRegistrationsPerBlock": [[[n], 64]],
            "TargetRegistrationsPerInterval": [[[n], 64]],
            "Burn": [[[n], 1_000_000_000u64]],
            "MinBurn": [[[n], 1u64]],
            "MaxBurn": [[[n], 100_000_000_000u64]],
            "EmissionValues": [[[n], 1_000_000_000u64]],
            "NetworkModality": [[[n], 0]],
        }}),
    )
    .await;
}

/// Writes UIDs 0.. of [`NETUID`] for `(coldkey, hotkey)` pairs, as the runtime's
/// `append_neuron` does on registration.
pub(crate) async fn seed_neurons(chain: &SubtensorChain, pairs: &[(&Keypair, &Keypair)]) {
    let n = NETUID.get();
    let count = pairs.len();
    let block = chain.current_block().await.unwrap().get();
    let uids = 0..u16::try_from(count).unwrap();
    let zeros = vec![0u16; count];
    set_storage(
        chain,
        json!({ "SubtensorModule": {
            "SubnetworkN": [[[n], count]],
            "Keys": uids.clone().zip(pairs).map(|(u, (_, h))| json!([[n, u], hex_account(&h.public())])).collect::<Vec<_>>(),
            // As raw SCALE: chopsticks drops a falsy JSON value (uid 0) instead of writing it.
            "Uids": uids.clone().zip(pairs).map(|(u, (_, h))| json!([[n, hex_account(&h.public())], format!("0x{}", hex::encode(u.to_le_bytes()))])).collect::<Vec<_>>(),
            "Owner": pairs.iter().map(|(c, h)| json!([[hex_account(&h.public())], hex_account(&c.public())])).collect::<Vec<_>>(),
            "IsNetworkMember": pairs.iter().map(|(_, h)| json!([[hex_account(&h.public()), n], true])).collect::<Vec<_>>(),
            "BlockAtRegistration": uids.clone().map(|u| json!([[n, u], block])).collect::<Vec<_>>(),
            "LastUpdate": [[[n], vec![block; count]]],
            "Active": [[[n], vec![true; count]]],
            "ValidatorPermit": [[[n], vec![false; count]]],
            "Rank": [[[n], zeros]], "Trust": [[[n], zeros]], "Consensus": [[[n], zeros]],
            "Incentive": [[[n], zeros]], "Dividends": [[[n], zeros]],
            "ValidatorTrust": [[[n], zeros]], "PruningScores": [[[n], zeros]],
            "Emission": [[[n], vec![0u64; count]]],
        }}),
    )
    .await;
}

fn key(name: &str) -> Keypair {
    Keypair::dev(&format!("subtensor-{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_lives_on_the_2023_runtime() {
    let node = Chopsticks::start();
    let chain = SubtensorChain::connect(node.url.clone()).await.unwrap();
    let runtime = chain.runtime().await.unwrap();
    assert_eq!(runtime.stake, StakeStorage::Tao, "{runtime:?}");

    let (owner, validator_cold, miner_cold) = (key("owner"), key("v-cold"), key("m-cold"));
    let (validator, miner_a, miner_b) = (key("v-hot"), key("m-hot-a"), key("m-hot-b"));
    fund(
        &chain,
        &[owner.public(), validator_cold.public(), miner_cold.public()],
        1_000,
    )
    .await;
    new_blocks(&chain, 1).await;
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
    create_subnet(&chain).await;
    new_blocks(&chain, 1).await;
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
    seed_neurons(&chain, &pairs).await;
    new_blocks(&chain, 1).await;

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
    // The 2023 runtime has no commitments: the fingerprint is not on chain.
    assert!(!chain.runtime().await.unwrap().commitments);
    assert_eq!(axon.cert_fingerprint, CertFingerprint([0; 32]));
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
    new_blocks(&chain, u64::from(TEMPO) + 2).await;
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
    new_blocks(&chain, u64::from(TEMPO) + 2).await;
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
    let node = Chopsticks::start();
    let backend: ChainBackend = toml::from_str::<toml::Table>(&format!(
        "backend = \"subtensor\"\nurl = \"{}\"\n",
        node.url
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
