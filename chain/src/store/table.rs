//! [`Table`]: one kind of state held in memory, with the bookkeeping that lets a block write only
//! what it changed and lets the state root be recomputed without re-encoding everything.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeBounds;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::key::TableKey;
use crate::error::StorageError;

/// One table of the state: typed entries in key order, the keys changed since the last commit,
/// and a BLAKE3 leaf hash of each entry's committed encoding.
///
/// Every mutation goes through a method that records the key as dirty, so a commit writes
/// exactly the changed entries (and deletes the removed ones) and nothing else.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    /// One-byte key prefix of this table in the database.
    prefix: u8,
    entries: BTreeMap<K, V>,
    /// Hash of each entry's stored bytes, as of the last commit.
    leaves: BTreeMap<K, [u8; 32]>,
    /// Keys inserted, changed or removed since the last commit.
    dirty: BTreeSet<K>,
    /// Digest of `leaves`, as of the last commit.
    digest: [u8; 32],
}

impl<K: TableKey, V: Serialize + DeserializeOwned> Table<K, V> {
    /// An empty table stored under `prefix`.
    pub(crate) fn new(prefix: u8) -> Self {
        let mut table = Self {
            prefix,
            entries: BTreeMap::new(),
            leaves: BTreeMap::new(),
            dirty: BTreeSet::new(),
            digest: [0; 32],
        };
        table.digest = table.compute_digest();
        table
    }

    /// The entry at `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    /// Whether `key` has an entry.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The entry at `key` for change (marks it dirty).
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let value = self.entries.get_mut(key)?;
        self.dirty.insert(key.clone());
        Some(value)
    }

    /// The entry at `key` for change, inserted with `V::default()` first if absent.
    pub(crate) fn get_or_default(&mut self, key: &K) -> &mut V
    where
        V: Default,
    {
        self.dirty.insert(key.clone());
        self.entries.entry(key.clone()).or_default()
    }

    /// Inserts or replaces the entry at `key`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.dirty.insert(key.clone());
        self.entries.insert(key, value);
    }

    /// Removes the entry at `key`, returning it.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.entries.remove(key)?;
        self.dirty.insert(key.clone());
        Some(old)
    }

    /// Entries in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.iter()
    }

    /// Entries whose keys fall in `range`, in key order.
    pub(crate) fn range<R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.range(range)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds the changes since the last commit to `batch` and refreshes the leaf hashes and the
    /// digest. Returns the number of entries written or removed.
    ///
    /// # Errors
    /// [`StorageError::Encode`] if a value cannot be encoded.
    pub(crate) fn commit(&mut self, batch: &mut sled::Batch) -> Result<usize, StorageError> {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.is_empty() {
            return Ok(0);
        }
        let changed = dirty.len();
        for key in dirty {
            let db_key = self.db_key(&key);
            match self.entries.get(&key) {
                Some(value) => {
                    let bytes = postcard::to_allocvec(value).map_err(StorageError::Encode)?;
                    self.leaves.insert(key, *blake3::hash(&bytes).as_bytes());
                    batch.insert(db_key, bytes);
                }
                None => {
                    self.leaves.remove(&key);
                    batch.remove(db_key);
                }
            }
        }
        self.digest = self.compute_digest();
        Ok(changed)
    }

    /// Digest of the committed entries: BLAKE3 over `count (u64 LE)` then, per entry in key
    /// order, `key bytes ‖ BLAKE3(value bytes)` (keys have a fixed width per table).
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Loads every entry stored under this table's prefix.
    ///
    /// # Errors
    /// [`StorageError::Sled`] on a read failure, [`StorageError::Corrupt`] on an entry that does
    /// not decode.
    pub(crate) fn load(&mut self, db: &sled::Db) -> Result<(), StorageError> {
        for item in db.scan_prefix([self.prefix]) {
            let (db_key, bytes) = item?;
            let raw = db_key.get(1..).unwrap_or_default();
            let key = K::decode(raw).ok_or(StorageError::Corrupt { what: "table key" })?;
            let value: V = postcard::from_bytes(&bytes).map_err(|_| StorageError::Corrupt {
                what: "table value",
            })?;
            self.leaves
                .insert(key.clone(), *blake3::hash(&bytes).as_bytes());
            self.entries.insert(key, value);
        }
        self.dirty.clear();
        self.digest = self.compute_digest();
        Ok(())
    }

    fn db_key(&self, key: &K) -> Vec<u8> {
        let mut out = Vec::with_capacity(K::WIDTH.saturating_add(1));
        out.push(self.prefix);
        key.encode(&mut out);
        out
    }

    fn compute_digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&(self.leaves.len() as u64).to_le_bytes());
        let mut key_bytes = Vec::with_capacity(K::WIDTH);
        for (key, leaf) in &self.leaves {
            key_bytes.clear();
            key.encode(&mut key_bytes);
            hasher.update(&key_bytes);
            hasher.update(leaf);
        }
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_writes_only_dirty_entries_and_tracks_the_digest() {
        let mut t: Table<u64, u32> = Table::new(9);
        let empty = t.digest();
        t.insert(1, 10);
        t.insert(2, 20);
        let mut batch = sled::Batch::default();
        assert_eq!(t.commit(&mut batch).unwrap(), 2);
        let two = t.digest();
        assert_ne!(two, empty);
        let mut batch = sled::Batch::default();
        assert_eq!(t.commit(&mut batch).unwrap(), 0);
        *t.get_mut(&1).unwrap() = 11;
        assert_eq!(t.commit(&mut sled::Batch::default()).unwrap(), 1);
        assert_ne!(t.digest(), two);
        *t.get_mut(&1).unwrap() = 10;
        t.commit(&mut sled::Batch::default()).unwrap();
        assert_eq!(t.digest(), two, "digest depends on content only");
        t.remove(&2);
        t.remove(&1);
        t.commit(&mut sled::Batch::default()).unwrap();
        assert_eq!(t.digest(), empty);
    }

    #[test]
    fn load_restores_entries_and_digest() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let mut t: Table<u64, String> = Table::new(3);
        t.insert(5, "five".into());
        t.insert(1, "one".into());
        let mut batch = sled::Batch::default();
        t.commit(&mut batch).unwrap();
        db.apply_batch(batch).unwrap();
        let mut back: Table<u64, String> = Table::new(3);
        back.load(&db).unwrap();
        assert_eq!(back.digest(), t.digest());
        assert_eq!(back.get(&5).map(String::as_str), Some("five"));
        let mut other: Table<u64, String> = Table::new(4);
        other.load(&db).unwrap();
        assert_eq!(other.len(), 0);
    }
}
