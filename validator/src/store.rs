//! [`Store`]: the validator's state in sled, so that a restart continues where it stopped:
//! per-UID scores and identities, the last weights, pending commitments and the step count.
//!
//! Trees: `uids` (UID, big-endian u16 → [`UidRecord`]), `commits` (commit block, big-endian
//! u64 → [`PendingCommit`]) and `meta` (named values). Values are postcard. Writes are
//! flushed at the end of each step and after each chain write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::PublicKey;

/// What the validator remembers about one UID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UidRecord {
    /// The hotkey that held the UID when it was scored.
    pub hotkey: PublicKey,
    /// The AINFT registered at the UID then.
    pub ainft: Option<AinftId>,
    /// The moving average of its rewards.
    pub score: f64,
    /// Whether it was caught serving another model than its registered AINFT (its score is
    /// held at 0 until its hotkey or AINFT changes).
    pub rejected: bool,
}

impl UidRecord {
    /// A fresh record: score 0, not rejected.
    pub fn new(hotkey: PublicKey, ainft: Option<AinftId>) -> Self {
        Self {
            hotkey,
            ainft,
            score: 0.0,
            rejected: false,
        }
    }
}

/// A commitment made on chain and not yet revealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCommit {
    /// The block the commit landed in.
    pub block: BlockNumber,
    /// First block the reveal may land in.
    pub opens: BlockNumber,
    /// Last block the reveal may land in.
    pub closes: BlockNumber,
    /// The commitment hash.
    pub hash: Digest,
    /// The weights committed to: UIDs.
    pub uids: Vec<u16>,
    /// The weights committed to: values.
    pub values: Vec<u16>,
    /// The salt.
    pub salt: Vec<u8>,
    /// The version key committed to.
    pub version_key: u64,
}

/// The last weights the validator put on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastWeights {
    /// The block the weights (or their commitment) landed in.
    pub block: BlockNumber,
    /// UIDs.
    pub uids: Vec<u16>,
    /// Values (max-upscaled u16).
    pub values: Vec<u16>,
}

/// Whom a database belongs to, checked on open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    genesis: Digest,
    netuid: NetUid,
    hotkey: PublicKey,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (the directory is locked by another process, the disk is full...).
    #[error("database {path}")]
    Db {
        /// The database directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: sled::Error,
    },
    /// A stored value does not decode (written by an incompatible version).
    #[error("stored {what} does not decode")]
    Decode {
        /// Which value.
        what: &'static str,
        /// Why.
        #[source]
        source: postcard::Error,
    },
    /// The database belongs to another chain, subnet or hotkey.
    #[error("database {path} belongs to another chain, subnet or hotkey; use another data_dir")]
    OtherOwner {
        /// The database directory.
        path: PathBuf,
    },
}

/// The validator's database.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    path: PathBuf,
    db: sled::Db,
    uids: sled::Tree,
    commits: sled::Tree,
    meta: sled::Tree,
}

const OWNER: &[u8] = b"owner";
const STEP: &[u8] = b"step";
const LAST_WEIGHTS: &[u8] = b"last_weights";
const LAST_COMMIT: &[u8] = b"last_commit";

impl Store {
    /// Opens (or creates) the database in `dir`, for the validator `hotkey` on `netuid` of the
    /// chain with `genesis`.
    ///
    /// # Errors
    /// [`StoreError::Db`] if sled cannot open it (another validator holds it),
    /// [`StoreError::OtherOwner`] if it was made for another chain, subnet or hotkey.
    pub(crate) fn open(
        dir: &Path,
        genesis: Digest,
        netuid: NetUid,
        hotkey: PublicKey,
    ) -> Result<Self, StoreError> {
        let path = dir.to_path_buf();
        let db_err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let db = sled::open(dir).map_err(db_err)?;
        let uids = db.open_tree("uids").map_err(db_err)?;
        let commits = db.open_tree("commits").map_err(db_err)?;
        let meta = db.open_tree("meta").map_err(db_err)?;
        let store = Self {
            path: path.clone(),
            db,
            uids,
            commits,
            meta,
        };
        let owner = Owner {
            genesis,
            netuid,
            hotkey,
        };
        match store.get::<Owner>(&store.meta, OWNER, "owner")? {
            Some(stored) if stored != owner => return Err(StoreError::OtherOwner { path }),
            Some(_) => {}
            None => store.put(&store.meta, OWNER, &owner)?,
        }
        Ok(store)
    }

    fn db_err(&self, source: sled::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key).map_err(|e| self.db_err(e))? {
            Some(bytes) => postcard::from_bytes(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Decode { what, source }),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = postcard::to_allocvec(value).map_err(|source| StoreError::Decode {
            what: "value",
            source,
        })?;
        tree.insert(key, bytes).map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Every UID record.
    pub(crate) fn uids(&self) -> Result<BTreeMap<Uid, UidRecord>, StoreError> {
        let mut out = BTreeMap::new();
        for entry in &self.uids {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let Ok(uid) = <[u8; 2]>::try_from(key.as_ref()) else {
                continue;
            };
            let record = postcard::from_bytes(&value).map_err(|source| StoreError::Decode {
                what: "uid record",
                source,
            })?;
            out.insert(Uid(u16::from_be_bytes(uid)), record);
        }
        Ok(out)
    }

    /// Writes one UID's record.
    pub(crate) fn put_uid(&self, uid: Uid, record: &UidRecord) -> Result<(), StoreError> {
        self.put(&self.uids, &uid.0.to_be_bytes(), record)
    }

    /// Forgets a UID.
    pub(crate) fn remove_uid(&self, uid: Uid) -> Result<(), StoreError> {
        self.uids
            .remove(uid.0.to_be_bytes())
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Steps completed so far (0 for a new database).
    pub(crate) fn step(&self) -> Result<u64, StoreError> {
        Ok(self.get(&self.meta, STEP, "step")?.unwrap_or(0))
    }

    /// Records the steps completed.
    pub(crate) fn set_step(&self, step: u64) -> Result<(), StoreError> {
        self.put(&self.meta, STEP, &step)
    }

    /// The last weights put on chain, if any.
    pub(crate) fn last_weights(&self) -> Result<Option<LastWeights>, StoreError> {
        self.get(&self.meta, LAST_WEIGHTS, "last weights")
    }

    /// Records the last weights put on chain.
    pub(crate) fn set_last_weights(&self, weights: &LastWeights) -> Result<(), StoreError> {
        self.put(&self.meta, LAST_WEIGHTS, weights)
    }

    /// The block of the last commitment, if any.
    pub(crate) fn last_commit(&self) -> Result<Option<BlockNumber>, StoreError> {
        self.get(&self.meta, LAST_COMMIT, "last commit")
    }

    /// The pending commitments, oldest first.
    pub(crate) fn commits(&self) -> Result<Vec<PendingCommit>, StoreError> {
        let mut out = Vec::new();
        for entry in &self.commits {
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            out.push(
                postcard::from_bytes(&value).map_err(|source| StoreError::Decode {
                    what: "pending commit",
                    source,
                })?,
            );
        }
        Ok(out)
    }

    /// Records a commitment (and that a commit was made in its block).
    pub(crate) fn add_commit(&self, commit: &PendingCommit) -> Result<(), StoreError> {
        self.put(&self.commits, &commit.block.get().to_be_bytes(), commit)?;
        self.put(&self.meta, LAST_COMMIT, &commit.block)
    }

    /// Forgets the commitment made in `block` (revealed or expired).
    pub(crate) fn remove_commit(&self, block: BlockNumber) -> Result<(), StoreError> {
        self.commits
            .remove(block.get().to_be_bytes())
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Writes everything to disk.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await.map_err(|e| self.db_err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use subnet_protocol::keys::Keypair;

    use super::*;

    #[tokio::test]
    async fn state_survives_reopening_and_owner_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let me = Keypair::dev("v").public();
        let genesis = Digest::of(b"g");
        let record = UidRecord {
            score: 0.25,
            ..UidRecord::new(Keypair::dev("m").public(), None)
        };
        let commit = PendingCommit {
            block: BlockNumber(7),
            opens: BlockNumber(11),
            closes: BlockNumber(20),
            hash: Digest::of(b"c"),
            uids: vec![1],
            values: vec![65535],
            salt: vec![1, 2],
            version_key: 0,
        };
        {
            let store = Store::open(dir.path(), genesis, NetUid(1), me).unwrap();
            store.put_uid(Uid(3), &record).unwrap();
            store.put_uid(Uid(4), &record).unwrap();
            store.remove_uid(Uid(4)).unwrap();
            store.set_step(9).unwrap();
            store.add_commit(&commit).unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path(), genesis, NetUid(1), me).unwrap();
        assert_eq!(store.uids().unwrap(), BTreeMap::from([(Uid(3), record)]));
        assert_eq!(store.step().unwrap(), 9);
        assert_eq!(store.commits().unwrap(), vec![commit.clone()]);
        assert_eq!(store.last_commit().unwrap(), Some(BlockNumber(7)));
        store.remove_commit(commit.block).unwrap();
        assert!(store.commits().unwrap().is_empty());
        drop(store);
        assert!(matches!(
            Store::open(dir.path(), genesis, NetUid(2), me),
            Err(StoreError::OtherOwner { .. })
        ));
    }
}
