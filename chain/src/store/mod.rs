//! Storage layout: every table of the state under a one-byte prefix in one sled tree, so that a
//! block's changes are one atomic `apply_batch`.
//!
//! | prefix | table | key | value (postcard) | in state root |
//! | --- | --- | --- | --- | --- |
//! | `0x01` | accounts | coldkey (32) | balance, nonce | yes |
//! | `0x02` | stakes | hotkey (32) ‖ coldkey (32) | rao | yes |
//! | `0x03` | hotkey owners | hotkey (32) | coldkey | yes |
//! | `0x04` | subnets | netuid (2) | owner, hyperparameters, pool, … | yes |
//! | `0x05` | neurons | netuid (2) ‖ uid (2) | hotkey, coldkey, AINFT, axon, epoch outputs, … | yes |
//! | `0x06` | weights | netuid ‖ uid | sparse row `[(uid, u16)]`, stored max-upscaled | yes |
//! | `0x07` | bonds | netuid ‖ uid | sparse row `[(uid, u16)]` | yes |
//! | `0x08` | weight commits | netuid ‖ hotkey | `[(hash, block)]`, oldest first | yes |
//! | `0x09` | AINFTs | id (32) | manifest, owner, earnings | yes |
//! | `0x0a` | account emissions | account (32) | lifetime credits by role | yes |
//! | `0x0b` | epoch history | sequence (8) | one epoch's payout | yes |
//! | `0x0c` | supply | (none) | issuance, burned, emitted, credited, sequence | yes |
//! | `0x40` | chain meta | (none) | genesis hash, height, best hash | no |
//! | `0x41` | blocks | height (8) | header and transactions | no |
//!
//! Keys are big-endian and fixed-width, so the database's order is the key order.

pub(crate) mod key;
pub(crate) mod table;

pub(crate) use table::Table;

/// Prefix of the accounts table.
pub(crate) const ACCOUNTS: u8 = 0x01;
/// Prefix of the stakes table.
pub(crate) const STAKES: u8 = 0x02;
/// Prefix of the hotkey owners table.
pub(crate) const HOTKEY_OWNERS: u8 = 0x03;
/// Prefix of the subnets table.
pub(crate) const SUBNETS: u8 = 0x04;
/// Prefix of the neurons table.
pub(crate) const NEURONS: u8 = 0x05;
/// Prefix of the weights table.
pub(crate) const WEIGHTS: u8 = 0x06;
/// Prefix of the bonds table.
pub(crate) const BONDS: u8 = 0x07;
/// Prefix of the weight commits table.
pub(crate) const COMMITS: u8 = 0x08;
/// Prefix of the AINFT table.
pub(crate) const AINFTS: u8 = 0x09;
/// Prefix of the account emissions table.
pub(crate) const ACCOUNT_EMISSIONS: u8 = 0x0a;
/// Prefix of the epoch history table.
pub(crate) const EPOCHS: u8 = 0x0b;
/// Prefix of the supply singleton.
pub(crate) const SUPPLY: u8 = 0x0c;
/// Key of the chain meta record (height, best hash); not part of the state root.
pub(crate) const META_KEY: &[u8] = &[0x40];
/// Prefix of stored blocks; not part of the state root.
pub(crate) const BLOCKS: u8 = 0x41;

/// The database key of block `number`.
pub(crate) fn block_key(number: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = BLOCKS;
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}
