//! The u16 matrices an epoch reads (weights, bonds) and in-place read access to their rows.

use super::EpochError;

/// A square `n × n` matrix of u16 values as the chain stores them (weights or bonds).
///
/// Row `i` is what UID `i` set (weights) or holds (bonds); column `j` is about UID `j`.
/// Both forms give identical epochs. In the dense form a 0 is an absent entry; in the sparse
/// form an explicit `(j, 0)` entry is kept, which matters only for the chain's Yuma3
/// sparse-path quirk ([`EpochParams::yuma3_sparse_drop`](super::EpochParams::yuma3_sparse_drop)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum U16Matrix {
    /// `n` rows of `n` values each.
    Dense(Vec<Vec<u16>>),
    /// `n` rows of `(column, value)` entries, columns strictly increasing and `< n`.
    Sparse(Vec<Vec<(u16, u16)>>),
}

impl U16Matrix {
    /// An `n × n` matrix with no entries.
    pub fn empty_sparse(n: usize) -> Self {
        Self::Sparse(vec![Vec::new(); n])
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Self::Dense(rows) => rows.len(),
            Self::Sparse(rows) => rows.len(),
        }
    }

    /// Row `i` as a dense vector of length `n` (zeros where absent); empty if `i` is out of range.
    pub fn dense_row(&self, i: usize, n: usize) -> Vec<u16> {
        match self {
            Self::Dense(rows) => rows.get(i).cloned().unwrap_or_default(),
            Self::Sparse(rows) => {
                let mut out = vec![0; n];
                for &(j, v) in rows.get(i).map(Vec::as_slice).unwrap_or_default() {
                    if let Some(cell) = out.get_mut(usize::from(j)) {
                        *cell = v;
                    }
                }
                out
            }
        }
    }

    /// Checks the shape against `n` (row count, dense row lengths, sparse columns in range and
    /// strictly increasing) and gives read access to the rows. Errors name `field`.
    pub(crate) fn checked_rows(
        &self,
        n: usize,
        field: &'static str,
    ) -> Result<Rows<'_>, EpochError> {
        if self.rows() != n {
            return Err(EpochError::LengthMismatch {
                field,
                expected: n,
                found: self.rows(),
            });
        }
        match self {
            Self::Dense(rows) => {
                for (row, values) in rows.iter().enumerate() {
                    if values.len() != n {
                        return Err(EpochError::RowLengthMismatch {
                            field,
                            row,
                            expected: n,
                            found: values.len(),
                        });
                    }
                }
                Ok(Rows::Dense(rows))
            }
            Self::Sparse(rows) => {
                for (row, entries) in rows.iter().enumerate() {
                    // Fast check (no early exit, so it vectorises): strictly increasing columns
                    // whose last is in range. Only a failing row is walked to name its first error.
                    let mut increasing = true;
                    let mut previous = -1_i32;
                    for &(j, _) in entries {
                        increasing &= i32::from(j) > previous;
                        previous = i32::from(j);
                    }
                    if increasing && entries.last().is_none_or(|&(j, _)| usize::from(j) < n) {
                        continue;
                    }
                    // The next column must be at least `next`: strictly increasing.
                    let mut next = 0_usize;
                    for &(j, _) in entries {
                        let column = usize::from(j);
                        if column >= n {
                            return Err(EpochError::ColumnOutOfRange {
                                field,
                                row,
                                column: j,
                                n,
                            });
                        }
                        if column < next {
                            return Err(EpochError::UnsortedRow { field, row });
                        }
                        next = column.wrapping_add(1);
                    }
                }
                Ok(Rows::Sparse(rows))
            }
        }
    }
}

/// Dense rows are scanned this many cells at a time, skipping all-zero runs with one OR-reduction.
const DENSE_CHUNK: usize = 32;

/// The rows of a [`U16Matrix`] whose shape [`U16Matrix::checked_rows`] accepted, read in place.
///
/// An entry is every `(column, value)` of a sparse row (explicit zeros included) or every non-zero
/// cell of a dense row, in increasing column order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rows<'a> {
    /// `n` rows of `n` values.
    Dense(&'a [Vec<u16>]),
    /// `n` rows of sorted `(column, value)` entries.
    Sparse(&'a [Vec<(u16, u16)>]),
}

impl Rows<'_> {
    /// An upper bound on the number of entries of row `i` (`n` for a dense row).
    pub(crate) fn len_bound(&self, i: usize) -> usize {
        match self {
            Self::Dense(rows) => rows.get(i).map_or(0, Vec::len),
            Self::Sparse(rows) => rows.get(i).map_or(0, Vec::len),
        }
    }

    /// The sum of row `i`'s values.
    pub(crate) fn sum(&self, i: usize) -> u64 {
        match self {
            Self::Dense(rows) => rows
                .get(i)
                .map_or(0, |row| row.iter().map(|&v| u64::from(v)).sum()),
            Self::Sparse(rows) => rows
                .get(i)
                .map_or(0, |row| row.iter().map(|&(_, v)| u64::from(v)).sum()),
        }
    }

    /// The value at row `i`, column `j` (0 when absent).
    pub(crate) fn get(&self, i: usize, j: u16) -> u16 {
        match self {
            Self::Dense(rows) => rows
                .get(i)
                .and_then(|row| row.get(usize::from(j)))
                .copied()
                .unwrap_or(0),
            Self::Sparse(rows) => rows.get(i).map_or(0, |row| {
                row.binary_search_by_key(&j, |&(c, _)| c)
                    .ok()
                    .and_then(|k| row.get(k))
                    .map_or(0, |&(_, v)| v)
            }),
        }
    }

    /// Calls `f(column, value)` for each entry of row `i`, in column order.
    #[inline]
    pub(crate) fn for_each(&self, i: usize, mut f: impl FnMut(u16, u16)) {
        match self {
            Self::Dense(rows) => {
                let row = rows.get(i).map(Vec::as_slice).unwrap_or_default();
                // n ≤ 65536 is checked by the caller, so every column index fits a u16.
                let mut j = 0_u16;
                for chunk in row.chunks(DENSE_CHUNK) {
                    if chunk.iter().fold(0, |acc, &v| acc | v) == 0 {
                        j = j.wrapping_add(DENSE_CHUNK as u16);
                        continue;
                    }
                    for &v in chunk {
                        if v != 0 {
                            f(j, v);
                        }
                        j = j.wrapping_add(1);
                    }
                }
            }
            Self::Sparse(rows) => {
                for &(j, v) in rows.get(i).map(Vec::as_slice).unwrap_or_default() {
                    f(j, v);
                }
            }
        }
    }

    /// Calls `f(column, value)` for the entries of row `i` with `first ≤ column < end`, in
    /// column order. Reading a row block by block from left to right, a sparse row resumes at
    /// `*cursor` (start it at 0) and leaves it after the last entry read.
    #[inline]
    pub(crate) fn for_each_in(
        &self,
        i: usize,
        first: usize,
        end: usize,
        cursor: &mut usize,
        mut f: impl FnMut(u16, u16),
    ) {
        match self {
            Self::Dense(rows) => {
                let row = rows.get(i).map(Vec::as_slice).unwrap_or_default();
                let cells = row.get(first..end.min(row.len())).unwrap_or_default();
                let mut j = u16::try_from(first).unwrap_or(u16::MAX);
                for &v in cells {
                    if v != 0 {
                        f(j, v);
                    }
                    j = j.wrapping_add(1);
                }
            }
            Self::Sparse(rows) => {
                let row = rows.get(i).map(Vec::as_slice).unwrap_or_default();
                let rest = row.get(*cursor..).unwrap_or_default();
                // The block's entries end at the first column ≥ end (rows are sorted).
                let len = rest.partition_point(|&(j, _)| usize::from(j) < end);
                for &(j, v) in rest.get(..len).unwrap_or_default() {
                    f(j, v);
                }
                *cursor = cursor.wrapping_add(len);
            }
        }
    }
}
