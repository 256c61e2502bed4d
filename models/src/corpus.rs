//! The training corpus: The Jargon File 4.4.7 (public domain), embedded in the crate, and its
//! deterministic split into training and evaluation parts.
//!
//! Provenance and licence: `models/data/PROVENANCE.md`.

use std::io::Read;
use std::ops::Range;

use flate2::read::GzDecoder;
use rand_chacha::ChaCha8Rng;

use crate::digest::DataDigest;
use crate::sampler::index_below;

/// The gzipped text, exactly as Debian's `jargon-text` 4.4.7-4.1 ships it.
pub const JARGON_TXT_GZ: &[u8] = include_bytes!("../data/jargon.txt.gz");

/// Length of the decompressed Jargon File, in bytes.
pub const JARGON_TXT_LEN: usize = 1_681_817;

/// The text is cut into chunks of this many bytes for the split.
pub const CHUNK_BYTES: usize = 4096;

/// Every `EVAL_EVERY`-th chunk (indices 9, 19, 29, …) is evaluation data; the rest is training
/// data. Interleaving keeps both parts spread over the whole alphabetical lexicon.
pub const EVAL_EVERY: usize = 10;

/// Stop decompressing past this size: the embedded file is known, but [`Corpus::from_gzip`]
/// accepts any input.
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Which part of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitKind {
    /// About 90 % of the chunks.
    Train,
    /// The other 10 %: never seen by training.
    Eval,
}

/// A text cut into train and evaluation chunks.
#[derive(Debug, Clone)]
pub struct Corpus {
    text: Vec<u8>,
    train: Vec<Range<usize>>,
    eval: Vec<Range<usize>>,
}

impl Corpus {
    /// The embedded Jargon File.
    ///
    /// # Errors
    /// [`CorpusError`] only if the embedded archive is corrupt.
    pub fn jargon() -> Result<Self, CorpusError> {
        Self::from_gzip(JARGON_TXT_GZ)
    }

    /// Decompresses a gzip file and splits it.
    ///
    /// # Errors
    /// [`CorpusError::Decompress`] for invalid gzip data, [`CorpusError::TooLarge`] past
    /// 64 MiB of text.
    pub fn from_gzip(gz: &[u8]) -> Result<Self, CorpusError> {
        let mut text = Vec::new();
        GzDecoder::new(gz)
            .take(MAX_TEXT_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(CorpusError::Decompress)?;
        if text.len() as u64 > MAX_TEXT_BYTES {
            return Err(CorpusError::TooLarge {
                limit: MAX_TEXT_BYTES,
            });
        }
        Ok(Self::from_text(text))
    }

    /// Splits `text` into [`CHUNK_BYTES`] chunks, every [`EVAL_EVERY`]-th for evaluation.
    pub fn from_text(text: Vec<u8>) -> Self {
        let mut train = Vec::new();
        let mut eval = Vec::new();
        for (index, start) in (0..text.len()).step_by(CHUNK_BYTES).enumerate() {
            let chunk = start..text.len().min(start + CHUNK_BYTES);
            if index % EVAL_EVERY == EVAL_EVERY - 1 {
                eval.push(chunk);
            } else {
                train.push(chunk);
            }
        }
        Self { text, train, eval }
    }

    /// The whole text.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// One part of the split.
    pub fn split(&self, kind: SplitKind) -> Split<'_> {
        let chunks = match kind {
            SplitKind::Train => &self.train,
            SplitKind::Eval => &self.eval,
        };
        Split {
            text: &self.text,
            chunks,
        }
    }

    /// The training part.
    pub fn train(&self) -> Split<'_> {
        self.split(SplitKind::Train)
    }

    /// The evaluation part.
    pub fn eval(&self) -> Split<'_> {
        self.split(SplitKind::Eval)
    }
}

/// A view of one part of a [`Corpus`]: a list of chunks, in text order.
///
/// Windows never straddle two chunks, since neighbouring chunks of a part are not neighbours
/// in the text.
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    text: &'a [u8],
    chunks: &'a [Range<usize>],
}

impl<'a> Split<'a> {
    /// The chunks, in text order.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let text = self.text;
        self.chunks
            .iter()
            .filter_map(move |range| text.get(range.clone()))
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(ExactSizeIterator::len).sum()
    }

    /// Whether the part holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.chunks().flatten().copied().collect()
    }

    /// BLAKE3 of [`Split::to_bytes`]: the data digest that names what a model was trained on.
    pub fn digest(&self) -> DataDigest {
        let mut hasher = blake3::Hasher::new();
        for chunk in self.chunks() {
            hasher.update(chunk);
        }
        DataDigest(*hasher.finalize().as_bytes())
    }

    /// A uniformly random window of `len` bytes lying inside one chunk, or `None` if no chunk
    /// is that long.
    pub(crate) fn sample_window(&self, rng: &mut ChaCha8Rng, len: usize) -> Option<&'a [u8]> {
        let starts = |chunk: &&'a [u8]| (chunk.len() + 1).saturating_sub(len);
        let total: usize = self.chunks().map(|c| starts(&c)).sum();
        if total == 0 || len == 0 {
            return None;
        }
        let mut pick = index_below(rng, total);
        for chunk in self.chunks() {
            let n = starts(&chunk);
            if pick < n {
                return chunk.get(pick..pick + len);
            }
            pick -= n;
        }
        None
    }

    /// The fixed evaluation windows of `len` bytes: consecutive, non-overlapping windows from
    /// the start of each chunk, in text order; if there are more than `max`, `max` of them
    /// evenly spaced (`None` takes all).
    pub fn windows(&self, len: usize, max: Option<usize>) -> Vec<&'a [u8]> {
        if len == 0 {
            return Vec::new();
        }
        let all: Vec<&'a [u8]> = self
            .chunks()
            .flat_map(|chunk| chunk.chunks_exact(len))
            .collect();
        match max {
            Some(max) if max < all.len() => (0..max)
                .filter_map(|i| all.get(i * all.len() / max).copied())
                .collect(),
            _ => all,
        }
    }
}

/// Why the corpus could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The gzip stream is invalid.
    #[error("decompressing the corpus failed")]
    Decompress(#[source] std::io::Error),
    /// The text is larger than allowed.
    #[error("the corpus exceeds {limit} bytes")]
    TooLarge {
        /// Limit in bytes.
        limit: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::data_rng;

    #[test]
    fn jargon_splits_disjointly_and_completely() {
        let corpus = Corpus::jargon().unwrap();
        assert_eq!(corpus.text().len(), JARGON_TXT_LEN);
        let (train, eval) = (corpus.train(), corpus.eval());
        assert_eq!(train.len() + eval.len(), JARGON_TXT_LEN);
        assert!(eval.len() * 9 < train.len() + CHUNK_BYTES * 9);
        assert!(eval.len() * 11 > train.len());
        assert_ne!(train.digest(), eval.digest());
        assert_eq!(train.digest(), DataDigest::of(&train.to_bytes()));
        // Text order, no overlap: the ranges interleave exactly.
        let mut all: Vec<_> = corpus.train.iter().chain(&corpus.eval).cloned().collect();
        all.sort_by_key(|r| r.start);
        assert!(all.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn windows_stay_inside_chunks() {
        // 251 is prime to the chunk size: skipping a chunk breaks the byte sequence.
        let text = (0..CHUNK_BYTES * 20 + 7).map(|i| (i % 251) as u8).collect();
        let corpus = Corpus::from_text(text);
        let eval = corpus.eval();
        assert_eq!(eval.len(), 2 * CHUNK_BYTES);
        let windows = eval.windows(65, None);
        assert_eq!(windows.len(), 2 * (CHUNK_BYTES / 65));
        assert_eq!(eval.windows(65, Some(10)).len(), 10);
        assert_eq!(eval.windows(65, Some(10))[0], windows[0]);
        let mut rng = data_rng(1);
        for _ in 0..200 {
            let w = corpus.train().sample_window(&mut rng, 65).unwrap();
            // Consecutive bytes of the cyclic text: the window did not cross a chunk gap.
            assert!(
                w.windows(2)
                    .all(|p| u16::from(p[1]) == (u16::from(p[0]) + 1) % 251)
            );
        }
        assert!(
            corpus
                .train()
                .sample_window(&mut rng, CHUNK_BYTES + 1)
                .is_none()
        );
    }

    #[test]
    fn invalid_gzip_is_an_error() {
        assert!(matches!(
            Corpus::from_gzip(b"not gzip"),
            Err(CorpusError::Decompress(_))
        ));
    }
}
