//! Setting up a subnet on a runtime run by chopsticks, through its `dev_setStorage` and
//! `dev_newBlock` methods: for tests and the "running on Bittensor (local test runtime)"
//! walkthrough. A real subtensor node refuses these methods.
//!
//! The 2023 test-network runtime adds subnets only by sudo, refuses `burned_register` on every
//! subnet (`RegistrationDisabled`) and refuses loopback axons (`InvalidIpAddress`), so a local
//! subnet on it is written into storage the way the runtime's own `init_new_network`,
//! `append_neuron` and `serve_axon` would write it. Everything after that (stake, weights,
//! epochs, emissions) goes through the runtime for real.

use serde_json::{Value, json};
use subnet_protocol::chain::{AxonInfo, TOKEN};
use subnet_protocol::ids::NetUid;
use subnet_protocol::keys::PublicKey;

use super::axon::{AXON_PROTOCOL_QUIC, encode_ip};
use super::client::SubtensorChain;
use crate::{Chain, ChainError};

/// A neuron to write into a dev subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevNeuron {
    /// Its hotkey (the UID's key).
    pub hotkey: PublicKey,
    /// The coldkey that owns the hotkey.
    pub coldkey: PublicKey,
    /// The axon it serves, if any (loopback allowed, unlike `serve_axon` on this runtime).
    pub axon: Option<AxonInfo>,
    /// A validator permit from the start (the next epoch recomputes permits from stake).
    pub validator_permit: bool,
}

/// Hex of an account's 32 bytes, as `dev_setStorage` takes account keys.
fn account(key: &PublicKey) -> String {
    format!("0x{}", hex::encode(key.as_bytes()))
}

/// A number as `dev_setStorage` takes it: JSON numbers are doubles on the other side, so one
/// above 2^53 goes as a decimal string.
fn big(n: u128) -> Value {
    match u64::try_from(n) {
        Ok(small) if small < (1 << 53) => json!(small),
        _ => json!(n.to_string()),
    }
}

/// Subtensor's `AxonInfo { block: u64, version: u32, ip: u128, port: u16, ip_type: u8,
/// protocol: u8, placeholder1: u8, placeholder2: u8 }` as raw SCALE hex (field names in JSON
/// would have to match the node's own casing; the bytes do not).
fn axon_scale(block: u64, axon: &AxonInfo) -> String {
    let (ip, ip_type) = encode_ip(axon.ip);
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&u32::from(axon.protocol_version).to_le_bytes());
    bytes.extend_from_slice(&ip.to_le_bytes());
    bytes.extend_from_slice(&axon.port.to_le_bytes());
    bytes.extend_from_slice(&[ip_type, AXON_PROTOCOL_QUIC, 0, 0]);
    format!("0x{}", hex::encode(bytes))
}

impl SubtensorChain {
    /// Writes storage (pallet → entry → value, or `[[keys], value]` pairs for maps). A falsy
    /// JSON value (`0`, `false`, `""`) deletes the entry instead: write such values as raw
    /// SCALE hex (`"0x0000"` for a `u16` zero).
    ///
    /// # Errors
    /// [`ChainError::Protocol`] when the node has no `dev_setStorage` (it is not chopsticks)
    /// or refuses the value; [`ChainError::Unavailable`] when it cannot be reached.
    pub async fn dev_set_storage(&self, storage: Value) -> Result<(), ChainError> {
        self.raw_request("dev_setStorage", json!([storage]))
            .await
            .map(drop)
    }

    /// Builds `count` blocks now.
    ///
    /// # Errors
    /// As [`SubtensorChain::dev_set_storage`].
    pub async fn dev_new_blocks(&self, count: u64) -> Result<(), ChainError> {
        self.raw_request("dev_newBlock", json!([{ "count": count }]))
            .await
            .map(drop)
    }

    /// Sets each account's free balance to `tao` TAO.
    ///
    /// # Errors
    /// As [`SubtensorChain::dev_set_storage`].
    pub async fn dev_fund(&self, accounts: &[PublicKey], tao: u64) -> Result<(), ChainError> {
        let free = u128::from(tao) * u128::from(TOKEN.get());
        let entries: Vec<Value> = accounts
            .iter()
            .map(|a| json!([[account(a)], { "nonce": 0, "providers": 1, "data": { "free": big(free) } }]))
            .collect();
        self.dev_set_storage(json!({ "System": { "Account": entries } }))
            .await
    }

    /// Creates subnet `netuid` with `tempo`, open to weights from the first block (no rate
    /// limit, one weight allowed), with the runtime's other defaults for a new network.
    ///
    /// # Errors
    /// As [`SubtensorChain::dev_set_storage`].
    pub async fn dev_create_subnet(&self, netuid: NetUid, tempo: u16) -> Result<(), ChainError> {
        let n = netuid.get();
        let entries = json!({ "SubtensorModule": {
            "NetworksAdded": [[[n], true]],
            "Tempo": [[[n], tempo]],
            "SubnetworkN": [[[n], "0x0000"]],
            "MaxAllowedUids": [[[n], 256]],
            "MaxAllowedValidators": [[[n], 64]],
            "MinAllowedWeights": [[[n], 1]],
            "MaxWeightsLimit": [[[n], 65535]],
            "WeightsSetRateLimit": [[[n], "0x0000000000000000"]],
            "ImmunityPeriod": [[[n], 4096]],
            "ActivityCutoff": [[[n], 5000]],
            "Kappa": [[[n], 32767]],
            "MaxRegistrationsPerBlock": [[[n], 64]],
            "TargetRegistrationsPerInterval": [[[n], 64]],
            "Burn": [[[n], TOKEN.get()]],
            "MinBurn": [[[n], 1]],
            "MaxBurn": [[[n], 100 * TOKEN.get()]],
            "EmissionValues": [[[n], TOKEN.get()]],
            "NetworkModality": [[[n], "0x0000"]],
        }});
        self.dev_set_storage(entries).await?;
        let count = self.subnets().await?.len();
        self.dev_set_storage(json!({ "SubtensorModule": { "TotalNetworks": count } }))
            .await
    }

    /// Writes `neurons` as UIDs 0.. of `netuid` (replacing any there), with their axons and
    /// permits, as registration and `serve_axon` would.
    ///
    /// # Errors
    /// As [`SubtensorChain::dev_set_storage`]; [`ChainError::Protocol`] for more than 65,535.
    pub async fn dev_seed_neurons(
        &self,
        netuid: NetUid,
        neurons: &[DevNeuron],
    ) -> Result<(), ChainError> {
        let n = netuid.get();
        let count = u16::try_from(neurons.len()).map_err(|_| ChainError::Protocol {
            code: None,
            message: format!("{} neurons do not fit a subnet", neurons.len()),
        })?;
        let block = self.current_block().await?.get();
        let uids = 0..count;
        let each = |f: &dyn Fn(u16, &DevNeuron) -> Value| -> Vec<Value> {
            uids.clone().zip(neurons).map(|(u, d)| f(u, d)).collect()
        };
        let zeros = vec![0u16; neurons.len()];
        let axons: Vec<Value> = neurons
            .iter()
            .filter_map(|d| {
                let axon = d.axon?;
                Some(json!([[n, account(&d.hotkey)], axon_scale(block, &axon)]))
            })
            .collect();
        let entries = json!({ "SubtensorModule": {
            "SubnetworkN": [[[n], format!("0x{}", hex::encode(count.to_le_bytes()))]],
            "Keys": each(&|u, d| json!([[n, u], account(&d.hotkey)])),
            // Raw SCALE: a falsy JSON value (uid 0) would delete the entry instead.
            "Uids": each(&|u, d| json!([[n, account(&d.hotkey)], format!("0x{}", hex::encode(u.to_le_bytes()))])),
            "Owner": each(&|_, d| json!([[account(&d.hotkey)], account(&d.coldkey)])),
            "IsNetworkMember": each(&|_, d| json!([[account(&d.hotkey), n], true])),
            "BlockAtRegistration": each(&|u, _| json!([[n, u], block])),
            "Axons": axons,
            "LastUpdate": [[[n], vec![block; neurons.len()]]],
            "Active": [[[n], vec![true; neurons.len()]]],
            "ValidatorPermit": [[[n], neurons.iter().map(|d| d.validator_permit).collect::<Vec<_>>()]],
            "Rank": [[[n], zeros]], "Trust": [[[n], zeros]], "Consensus": [[[n], zeros]],
            "Incentive": [[[n], zeros]], "Dividends": [[[n], zeros]],
            "ValidatorTrust": [[[n], zeros]], "PruningScores": [[[n], zeros]],
            "Emission": [[[n], vec![0u64; neurons.len()]]],
        }});
        self.dev_set_storage(entries).await
    }
}

/// Chopsticks could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChopsticksError {
    /// The executable could not be run.
    #[error("chopsticks ({bin}) does not start")]
    Spawn {
        /// The executable.
        bin: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The install script failed.
    #[error(
        "chopsticks not found and {script} failed ({why}): it needs node and npm; or set \
         CHOPSTICKS to a chopsticks executable"
    )]
    Install {
        /// The script.
        script: std::path::PathBuf,
        /// How it failed.
        why: String,
    },
    /// It did not say where it listens in time (or exited); its output says why.
    #[error(
        "chopsticks did not report `RPC listening on` within {timeout:?}; its output:\n{output}"
    )]
    NotReady {
        /// How long it was given.
        timeout: std::time::Duration,
        /// What it printed.
        output: String,
    },
}

/// A chopsticks process running a runtime from a chain spec on 127.0.0.1, building a block for
/// each extrinsic (`--build-block-mode Instant`) and on [`SubtensorChain::dev_new_blocks`].
/// Killed and reaped on drop.
#[derive(Debug)]
pub struct Chopsticks {
    child: std::process::Child,
    url: super::SubtensorUrl,
}

impl Chopsticks {
    /// Runs `bin --genesis spec` on 127.0.0.1:`port` (0: the OS picks) and waits up to
    /// `timeout` for its ready line (compiling the runtime takes a while).
    /// `--allow-unresolved-imports` is passed: the 2023 runtime imports a benchmarking host
    /// function chopsticks does not provide.
    ///
    /// # Errors
    /// [`ChopsticksError`].
    pub fn start(
        bin: &std::path::Path,
        spec: &std::path::Path,
        port: u16,
        timeout: std::time::Duration,
    ) -> Result<Self, ChopsticksError> {
        use std::io::{BufRead, BufReader, Read};
        use std::process::{Command, Stdio};

        let mut child = Command::new(bin)
            .arg("--genesis")
            .arg(spec)
            .args([
                "--allow-unresolved-imports",
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .args(["--build-block-mode", "Instant"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ChopsticksError::Spawn {
                bin: bin.to_owned(),
                source,
            })?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
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
        let deadline = std::time::Instant::now() + timeout;
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => match ready_url(&line) {
                    Some(url) => {
                        // Keep draining its output so that it never blocks on a full pipe.
                        std::thread::spawn(move || for _ in rx {});
                        return Ok(Self { child, url });
                    }
                    None => output.push(line),
                },
                Err(_) => {
                    // Already exited is fine; it is reaped either way.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ChopsticksError::NotReady {
                        timeout,
                        output: output.join("\n"),
                    });
                }
            }
        }
    }

    /// The chopsticks executable for this repository's tests and walkthrough: `CHOPSTICKS` if
    /// set, else the copy `chain-client/tests/install-chopsticks.sh` (under `workspace`)
    /// installs from the npm registry into `target/chopsticks` the first time and only finds
    /// afterwards. Its progress goes to stderr.
    ///
    /// # Errors
    /// [`ChopsticksError::Install`] when the script cannot run or fails (it needs node and npm).
    pub fn find_or_install(
        workspace: &std::path::Path,
    ) -> Result<std::path::PathBuf, ChopsticksError> {
        if let Some(path) = std::env::var_os("CHOPSTICKS") {
            return Ok(path.into());
        }
        let script = workspace.join("chain-client/tests/install-chopsticks.sh");
        let failed = |why: String| ChopsticksError::Install {
            script: script.clone(),
            why,
        };
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(out.status.to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().into())
    }

    /// Its WebSocket URL.
    pub fn url(&self) -> &super::SubtensorUrl {
        &self.url
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Chopsticks {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing else to do on failure in a drop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `ws://` URL in chopsticks' `RPC listening on http://A and ws://A` line.
fn ready_url(line: &str) -> Option<super::SubtensorUrl> {
    let at = line.find("RPC listening on")?;
    let ws = line.get(at..)?.find("ws://")? + at;
    let addr: String = line
        .get(ws..)?
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\u{1b}')
        .collect();
    addr.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_the_websocket_url() {
        let line = "[08:00:00.000] INFO: Node 1 RPC listening on http://127.0.0.1:41233 and \
                    ws://127.0.0.1:41233";
        assert_eq!(
            ready_url(line).unwrap(),
            "ws://127.0.0.1:41233".parse().unwrap()
        );
        assert_eq!(ready_url("RPC listening on http://127.0.0.1:1"), None);
        assert_eq!(ready_url("something else ws://127.0.0.1:1"), None);
    }

    #[test]
    fn axons_are_written_in_subtensor_field_order() {
        let axon = AxonInfo {
            ip: "127.0.0.1".parse().unwrap(),
            port: 0x1f8b,
            cert_fingerprint: subnet_protocol::fingerprint::CertFingerprint::HOTKEY,
            protocol_version: 3,
        };
        let hex = axon_scale(7, &axon);
        let bytes = hex::decode(hex.trim_start_matches("0x")).unwrap();
        assert_eq!(bytes.len(), 8 + 4 + 16 + 2 + 4);
        assert_eq!(&bytes[..8], &7u64.to_le_bytes());
        assert_eq!(&bytes[8..12], &3u32.to_le_bytes());
        assert_eq!(&bytes[12..28], &0x7f00_0001u128.to_le_bytes());
        assert_eq!(&bytes[28..30], &[0x8b, 0x1f]);
        assert_eq!(&bytes[30..], &[4, AXON_PROTOCOL_QUIC, 0, 0]);
    }
}
