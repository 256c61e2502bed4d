//! [`TableKey`]: fixed-width, order-preserving byte encodings of table keys.

use subnet_protocol::ainft::AinftId;
use subnet_protocol::ids::{NetUid, Uid};
use subnet_protocol::keys::PublicKey;

/// A table key. The encoding is fixed-width and big-endian, so the byte order of encoded keys is
/// the key order (the database's scan order equals the in-memory order).
pub(crate) trait TableKey: Ord + Clone {
    /// Encoded length in bytes.
    const WIDTH: usize;
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes exactly [`Self::WIDTH`] bytes.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl TableKey for () {
    const WIDTH: usize = 0;
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.is_empty().then_some(())
    }
}

impl TableKey for u64 {
    const WIDTH: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::from_be_bytes)
    }
}

impl TableKey for NetUid {
    const WIDTH: usize = 2;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(u16::from_be_bytes).map(Self)
    }
}

impl TableKey for Uid {
    const WIDTH: usize = 2;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(u16::from_be_bytes).map(Self)
    }
}

impl TableKey for PublicKey {
    const WIDTH: usize = 32;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::from_bytes)
    }
}

impl TableKey for AinftId {
    const WIDTH: usize = 32;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::from_bytes)
    }
}

impl<A: TableKey, B: TableKey> TableKey for (A, B) {
    const WIDTH: usize = A::WIDTH + B::WIDTH;
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::WIDTH {
            return None;
        }
        let (a, b) = bytes.split_at_checked(A::WIDTH)?;
        Some((A::decode(a)?, B::decode(b)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<K: TableKey>(k: &K) -> Vec<u8> {
        let mut v = Vec::new();
        k.encode(&mut v);
        v
    }

    #[test]
    fn encodings_round_trip_and_preserve_order() {
        let pairs = [
            (NetUid(1), Uid(300)),
            (NetUid(2), Uid(1)),
            (NetUid(256), Uid(0)),
        ];
        for w in pairs.windows(2) {
            assert!(w[0] < w[1]);
            assert!(enc(&w[0]) < enc(&w[1]));
        }
        for p in pairs {
            assert_eq!(<(NetUid, Uid)>::decode(&enc(&p)), Some(p));
        }
        assert_eq!(<(NetUid, Uid)>::decode(&[0, 1, 2]), None);
        let key = PublicKey::from_bytes([7; 32]);
        assert_eq!(PublicKey::decode(&enc(&key)), Some(key));
        assert_eq!(u64::decode(&enc(&258u64)), Some(258));
        assert_eq!(<()>::decode(&[]), Some(()));
    }
}
