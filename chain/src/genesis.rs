//! [`Genesis`]: the chain's initial state and rules, read from TOML; its hash names the chain.
//!
//! ```toml
//! block_time_ms = 1000                    # target time between blocks
//! subnet_creation_burn = 1000000000000    # rao burned by CreateSubnet (here 1000 tokens)
//! max_subnets = 32                        # subnets the chain can hold
//!
//! [balances]                              # SS58 address = free balance in rao
//! "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" = 1000000000000000
//!
//! [[subnets]]                             # created at block 0 as netuid 1, 2, … in this order
//! owner = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
//! [subnets.hyperparameters]               # as in subnet.toml; unspecified fields take defaults
//! tempo = 10
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{HyperparameterError, Hyperparameters, TOKEN};
use subnet_protocol::ids::Rao;
use subnet_protocol::keys::{Keypair, PublicKey};

/// Domain tag of the genesis hash.
pub const GENESIS_TAG: &[u8] = b"subnet-genesis/v1";
/// Names of the funded development accounts of [`Genesis::dev`]; each is
/// [`Keypair::dev`]`(name)`.
pub const DEV_ACCOUNTS: [&str; 6] = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];
/// Balance of each development account in [`Genesis::dev`]: 1,000,000 tokens.
pub const DEV_BALANCE: Rao = Rao(1_000_000 * TOKEN.0);

/// The chain's initial balances and subnets and its chain-wide rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// Target time between blocks, in milliseconds (informational for the ledger; the node's
    /// block timer uses it).
    pub block_time_ms: u64,
    /// Rao burned by each `CreateSubnet`.
    pub subnet_creation_burn: Rao,
    /// Most subnets the chain holds (netuids `1..=max_subnets`).
    pub max_subnets: u16,
    /// Initial free balances.
    pub balances: BTreeMap<PublicKey, Rao>,
    /// Subnets created at block 0, netuids 1, 2, … in this order.
    pub subnets: Vec<GenesisSubnet>,
}

/// A subnet that exists from block 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSubnet {
    /// Owner's coldkey.
    pub owner: PublicKey,
    /// Its rules.
    #[serde(default)]
    pub hyperparameters: Hyperparameters,
}

/// Why a genesis is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The TOML does not parse or has unknown fields.
    #[error("genesis TOML: {message}")]
    Toml {
        /// The parser's message.
        message: String,
    },
    /// A balance key is not an SS58 address.
    #[error("genesis balance key `{address}` is not an SS58 address")]
    InvalidAddress {
        /// The key as written.
        address: String,
    },
    /// `block_time_ms` is 0.
    #[error("block_time_ms must be at least 1")]
    ZeroBlockTime,
    /// More initial subnets than `max_subnets`, or `max_subnets` above 65535.
    #[error("{count} initial subnets exceed max_subnets {max}")]
    TooManySubnets {
        /// Initial subnets.
        count: usize,
        /// `max_subnets`.
        max: u16,
    },
    /// An initial subnet's hyperparameters are out of range.
    #[error("initial subnet {index}: {source}")]
    Hyperparameters {
        /// Position in `subnets` (0-based).
        index: usize,
        /// The field out of range.
        source: HyperparameterError,
    },
    /// The balances sum to more than `u64::MAX` rao.
    #[error("initial balances overflow the supply")]
    SupplyOverflow,
}

/// The TOML form: balances keyed by SS58 string.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenesisFile {
    block_time_ms: u64,
    subnet_creation_burn: Rao,
    max_subnets: u16,
    #[serde(default)]
    balances: BTreeMap<String, Rao>,
    #[serde(default)]
    subnets: Vec<GenesisSubnet>,
}

/// The hashed form: fixed field order, balances sorted by key bytes.
#[derive(Serialize)]
struct Canonical<'a> {
    block_time_ms: u64,
    subnet_creation_burn: Rao,
    max_subnets: u16,
    balances: Vec<(&'a PublicKey, &'a Rao)>,
    subnets: &'a [GenesisSubnet],
}

impl Genesis {
    /// The documented development genesis: 1 s blocks, a subnet creation burn of 1000 tokens,
    /// at most 32 subnets, no initial subnet, and each of [`DEV_ACCOUNTS`] (`alice`, `bob`,
    /// `charlie`, `dave`, `eve`, `ferdie`, keys [`Keypair::dev`]) funded with [`DEV_BALANCE`]
    /// (1,000,000 tokens).
    pub fn dev() -> Self {
        Self {
            block_time_ms: 1000,
            subnet_creation_burn: Rao(1000 * TOKEN.0),
            max_subnets: 32,
            balances: DEV_ACCOUNTS
                .iter()
                .map(|name| (Keypair::dev(name).public(), DEV_BALANCE))
                .collect(),
            subnets: Vec::new(),
        }
    }

    /// Parses and validates the TOML form (see the module docs).
    ///
    /// # Errors
    /// [`GenesisError`]: a parse error, a bad address, or a rule broken (see [`Self::validate`]).
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let file: GenesisFile = toml::from_str(text).map_err(|e| GenesisError::Toml {
            message: e.to_string(),
        })?;
        let mut balances = BTreeMap::new();
        for (address, amount) in file.balances {
            let key: PublicKey = address.parse().map_err(|_| GenesisError::InvalidAddress {
                address: address.clone(),
            })?;
            balances.insert(key, amount);
        }
        let genesis = Self {
            block_time_ms: file.block_time_ms,
            subnet_creation_burn: file.subnet_creation_burn,
            max_subnets: file.max_subnets,
            balances,
            subnets: file.subnets,
        };
        genesis.validate()?;
        Ok(genesis)
    }

    /// The TOML form, readable by [`Self::from_toml`].
    ///
    /// # Errors
    /// [`GenesisError::Toml`] if serialization fails.
    pub fn to_toml(&self) -> Result<String, GenesisError> {
        let file = GenesisFile {
            block_time_ms: self.block_time_ms,
            subnet_creation_burn: self.subnet_creation_burn,
            max_subnets: self.max_subnets,
            balances: self
                .balances
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            subnets: self.subnets.clone(),
        };
        toml::to_string(&file).map_err(|e| GenesisError::Toml {
            message: e.to_string(),
        })
    }

    /// Checks the rules: `block_time_ms ≥ 1`, initial subnets at most `max_subnets`, every
    /// initial subnet's hyperparameters valid, balances summing to at most `u64::MAX` rao.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.block_time_ms == 0 {
            return Err(GenesisError::ZeroBlockTime);
        }
        if self.subnets.len() > usize::from(self.max_subnets) {
            return Err(GenesisError::TooManySubnets {
                count: self.subnets.len(),
                max: self.max_subnets,
            });
        }
        for (index, subnet) in self.subnets.iter().enumerate() {
            subnet
                .hyperparameters
                .validate()
                .map_err(|source| GenesisError::Hyperparameters { index, source })?;
        }
        self.total_balance().ok_or(GenesisError::SupplyOverflow)?;
        Ok(())
    }

    /// The sum of the initial balances, `None` on overflow.
    pub fn total_balance(&self) -> Option<Rao> {
        Rao::checked_sum(self.balances.values().copied())
    }

    /// The canonical encoding: [`GENESIS_TAG`] then postcard of (`block_time_ms`,
    /// `subnet_creation_burn`, `max_subnets`, balances as `(key, rao)` pairs in ascending key
    /// order, subnets in order as `(owner, hyperparameters)`).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let canonical = Canonical {
            block_time_ms: self.block_time_ms,
            subnet_creation_burn: self.subnet_creation_burn,
            max_subnets: self.max_subnets,
            balances: self.balances.iter().collect(),
            subnets: &self.subnets,
        };
        let mut out = GENESIS_TAG.to_vec();
        // postcard into a Vec fails only for types serde cannot encode; these all can.
        if let Ok(body) = postcard::to_allocvec(&canonical) {
            out.extend_from_slice(&body);
        }
        out
    }

    /// The genesis hash: BLAKE3 of [`Self::canonical_bytes`]. Every transaction names it.
    pub fn hash(&self) -> Digest {
        Digest::of(&self.canonical_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_genesis_funds_the_dev_accounts() {
        let g = Genesis::dev();
        g.validate().unwrap();
        assert_eq!(g.balances.len(), 6);
        assert_eq!(
            g.balances.get(&Keypair::dev("ferdie").public()),
            Some(&DEV_BALANCE)
        );
        assert_eq!(g.hash(), Genesis::dev().hash());
    }

    #[test]
    fn toml_round_trip_keeps_the_hash() {
        let mut g = Genesis::dev();
        g.subnets.push(GenesisSubnet {
            owner: Keypair::dev("alice").public(),
            hyperparameters: Hyperparameters {
                tempo: 10,
                ..Hyperparameters::default()
            },
        });
        let text = g.to_toml().unwrap();
        let back = Genesis::from_toml(&text).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.hash(), g.hash());
        let mut other = g.clone();
        other.block_time_ms = 2000;
        assert_ne!(other.hash(), g.hash());
    }

    #[test]
    fn parses_the_documented_form_and_rejects_bad_input() {
        let alice = Keypair::dev("alice").public();
        let text = format!(
            "block_time_ms = 500\nsubnet_creation_burn = 7\nmax_subnets = 2\n\
             [balances]\n\"{alice}\" = 100\n\
             [[subnets]]\nowner = \"{alice}\"\n[subnets.hyperparameters]\ntempo = 3\n"
        );
        let g = Genesis::from_toml(&text).unwrap();
        assert_eq!(g.balances.get(&alice), Some(&Rao(100)));
        assert_eq!(g.subnets[0].hyperparameters.tempo, 3);
        let bad_key = text.replace(&format!("\"{alice}\" = 100"), "\"nope\" = 1");
        assert!(matches!(
            Genesis::from_toml(&bad_key),
            Err(GenesisError::InvalidAddress { .. })
        ));
        let zero = text.replace("block_time_ms = 500", "block_time_ms = 0");
        assert_eq!(Genesis::from_toml(&zero), Err(GenesisError::ZeroBlockTime));
        let few = text.replace("max_subnets = 2", "max_subnets = 0");
        assert!(matches!(
            Genesis::from_toml(&few),
            Err(GenesisError::TooManySubnets { .. })
        ));
        let bad_tempo = text.replace("tempo = 3", "tempo = 0");
        assert!(matches!(
            Genesis::from_toml(&bad_tempo),
            Err(GenesisError::Hyperparameters { index: 0, .. })
        ));
        assert!(matches!(
            Genesis::from_toml("block_time_ms = 1\nfoo = 2"),
            Err(GenesisError::Toml { .. })
        ));
    }
}
