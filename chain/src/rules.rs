//! The transaction rules, call by call: who signs, what changes, and every refusal in the order
//! it is checked. A refused transaction changes nothing, not even the nonce; all checks run
//! before the first change.
//!
//! # Every transaction
//!
//! [`TxError::WrongGenesis`] (not this chain's genesis hash), [`TxError::Expired`]
//! (`valid_until` below the block), [`TxError::BadSignature`], [`TxError::StaleNonce`] /
//! [`TxError::FutureNonce`] (the nonce must equal the signer's next nonce). An accepted
//! transaction increments the signer's nonce. Several transactions of one signer may share a
//! block with consecutive nonces.
//!
//! # Balances and stake (signer: coldkey)
//!
//! | call | effect | refusals, in order |
//! | --- | --- | --- |
//! | `Transfer` | moves `amount` to `dest` (to oneself: no change) | `InvalidAmount` (zero), `InsufficientBalance` |
//! | `AddStake` | moves `amount` from the balance to the stake on `hotkey` (any hotkey) | `InvalidAmount` (zero), `InsufficientBalance` |
//! | `RemoveStake` | moves `amount` of the signer's stake on `hotkey` back | `InvalidAmount` (zero), `InsufficientStake` |
//!
//! Stake is held per (coldkey, hotkey); a hotkey's stake is the sum over its coldkeys and counts
//! on every subnet where the hotkey holds a UID.
//!
//! # Subnets and AINFTs (signer: coldkey)
//!
//! | call | effect | refusals, in order |
//! | --- | --- | --- |
//! | `CreateSubnet` | burns the genesis `subnet_creation_burn` (the issuance shrinks); the subnet takes the lowest free netuid from 1, owned by the signer, `created_at` = this block | `InvalidHyperparameter`, `TooManySubnets`, `InsufficientBalance` |
//! | `SetHyperparameters` | replaces the rules at once (a new `tempo` moves the epoch schedule) | `UnknownSubnet`, `NotSubnetOwner`, `InvalidHyperparameter` (also `max_allowed_uids` below the UIDs in use) |
//! | `RegisterAinft` | records the manifest under its id, owned (and paid) to the signer | `InvalidManifest`, `AinftExists`, `UnknownAinft` (the parent) |
//!
//! # Neurons
//!
//! | call | signer | effect | refusals, in order |
//! | --- | --- | --- | --- |
//! | `Register` | coldkey | burns the subnet's `burn`; `hotkey` takes the next UID, or replaces one in a full subnet (below); the hotkey becomes the signer's on its first registration | `UnknownSubnet`, `HotkeyOwnedByOther`, `AlreadyRegistered`, `UnknownAinft`, `InsufficientBalance`, `SubnetFull` |
//! | `SetNeuronAinft` | hotkey | points the UID at another AINFT or none | `UnknownSubnet`, `NotRegistered`, `UnknownAinft` |
//! | `ServeAxon` | hotkey | publishes the axon | `UnknownSubnet`, `NotRegistered` |
//!
//! **Full subnet.** The UID replaced is, among UIDs outside their immunity period
//! (`block − block_at_registration ≥ immunity_period`), the one with the lowest emission in the
//! last epoch; ties go to the newest registration (highest `block_at_registration`), then to the
//! highest UID. None: `SubnetFull`. The replaced UID starts afresh: weights row, bond row and the
//! old hotkey's commits on the subnet deleted, epoch outputs and emissions zero, `last_update` and
//! `block_at_registration` set to this block (so the next epoch drops the bonds held on the UID,
//! YUMA_SPEC §6, and masks weights set on it before). The old hotkey keeps its stake and owner.
//!
//! # Weights (signer: hotkey)
//!
//! | call | effect | refusals, in order |
//! | --- | --- | --- |
//! | `SetWeights` | stores the row | `UnknownSubnet`, `CommitRevealMode` (subnet uses commit-reveal), `NotRegistered`, then the weight checks |
//! | `CommitWeights` | stores `(hash, block)` | `UnknownSubnet`, `CommitRevealMode` (subnet does not), `NotRegistered`, `NoValidatorPermit`, `TooManyCommits` (already [`crate::MAX_PENDING_COMMITS`] unexpired) |
//! | `RevealWeights` | stores the row, consumes the commit | `UnknownSubnet`, `CommitRevealMode`, `NotRegistered`, `RevealMismatch`, `RevealTooEarly`, `RevealTooLate`, then the weight checks |
//!
//! **Weight checks**, in order: `NoValidatorPermit` (the permit stored by the last epoch),
//! `WeightsLengthMismatch`, `IncorrectWeightsVersion` (`version_key < weights_version`),
//! `WeightsRateLimited` (allowed when `block − last weights ≥ weights_rate_limit`; the first
//! weights of a UID always pass; `next_allowed` = last + limit), `UnknownUid` / `DuplicateUid`
//! (the first offending UID in submission order), `TooFewWeights` (fewer non-zero values than
//! `min(min_allowed_weights, n)`), `MaxWeightExceeded` (after normalising the values in the
//! chain's fixed point, a share above `max_weight_limit / 65535`). The row is stored sorted by
//! UID with its values max-upscaled (YUMA_SPEC §2.3, `subnet_scoring::weights::max_upscale`,
//! explicit zeros kept); `last_update` becomes this block.
//!
//! **Commit-reveal.** The commitment is `subnet_scoring::weights::WeightCommit { hotkey, netuid,
//! uids, values, salt, version_key }.hash()`. Epoch `k` runs at the end of block
//! `created_at + k·tempo`; block `b` is in interval `e(b) = ⌈(b − created_at) / tempo⌉`. A commit
//! made in block `c` is revealed in the blocks of interval `e(c) + commit_reveal_period`, from
//! `created_at + (e(c) + period − 1)·tempo + 1` to `created_at + (e(c) + period)·tempo`
//! ([`crate::Ledger::reveal_window`]). Before: `RevealTooEarly { opens }`; after:
//! `RevealTooLate { closed }` (the commit has expired; expired commits stay until the hotkey
//! commits or reveals again, at most [`crate::MAX_PENDING_COMMITS`]). Of several matching commits
//! the oldest open one is used. Windows follow the subnet's current `tempo`. The epoch masks
//! weights as YUMA_SPEC §4.3.6 with each UID's earliest unexpired commit.
//!
//! [`TxError::WrongGenesis`]: subnet_protocol::chain::TxError::WrongGenesis
//! [`TxError::Expired`]: subnet_protocol::chain::TxError::Expired
//! [`TxError::BadSignature`]: subnet_protocol::chain::TxError::BadSignature
//! [`TxError::StaleNonce`]: subnet_protocol::chain::TxError::StaleNonce
//! [`TxError::FutureNonce`]: subnet_protocol::chain::TxError::FutureNonce
