//! The u16 matrices an epoch reads (weights, bonds) and the row-compressed form it computes on.

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

    /// Checks the shape against `n` and builds the row-compressed form.
    pub(crate) fn to_csr(&self, n: usize, field: &'static str) -> Result<Csr<u16>, EpochError> {
        if self.rows() != n {
            return Err(EpochError::LengthMismatch {
                field,
                expected: n,
                found: self.rows(),
            });
        }
        let entries = match self {
            Self::Dense(rows) => rows
                .iter()
                .map(|r| r.iter().filter(|v| **v != 0).count())
                .sum(),
            Self::Sparse(rows) => rows.iter().map(Vec::len).sum(),
        };
        let mut csr = Csr::with_capacity(n, entries);
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
                    // n ≤ 65536 is checked by the caller, so every column index fits a u16.
                    for (j, &v) in (0..=u16::MAX).zip(values) {
                        if v != 0 {
                            csr.cols.push(j);
                            csr.vals.push(v);
                        }
                    }
                    csr.offsets.push(csr.cols.len());
                }
            }
            Self::Sparse(rows) => {
                for (row, entries) in rows.iter().enumerate() {
                    let mut previous: Option<u16> = None;
                    for &(j, v) in entries {
                        if usize::from(j) >= n {
                            return Err(EpochError::ColumnOutOfRange {
                                field,
                                row,
                                column: j,
                                n,
                            });
                        }
                        if previous.is_some_and(|p| p >= j) {
                            return Err(EpochError::UnsortedRow { field, row });
                        }
                        previous = Some(j);
                        csr.cols.push(j);
                        csr.vals.push(v);
                    }
                    csr.offsets.push(csr.cols.len());
                }
            }
        }
        Ok(csr)
    }
}

/// Row-compressed sparse matrix: row `i` holds entries `offsets[i]..offsets[i+1]` of
/// `cols`/`vals`, columns strictly increasing within a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Csr<T> {
    pub(crate) offsets: Vec<usize>,
    pub(crate) cols: Vec<u16>,
    pub(crate) vals: Vec<T>,
}

impl<T: Copy> Csr<T> {
    /// An empty matrix ready for `n` rows to be pushed.
    pub(crate) fn with_rows(n: usize) -> Self {
        let mut offsets = Vec::with_capacity(n.saturating_add(1));
        offsets.push(0);
        Self {
            offsets,
            cols: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// An empty matrix ready for `n` rows holding up to `entries` entries without reallocating.
    pub(crate) fn with_capacity(n: usize, entries: usize) -> Self {
        let mut csr = Self::with_rows(n);
        csr.cols.reserve(entries);
        csr.vals.reserve(entries);
        csr
    }

    /// Number of rows.
    pub(crate) fn n_rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The entry range of row `i` (empty when out of range).
    pub(crate) fn range(&self, i: usize) -> core::ops::Range<usize> {
        let start = self.offsets.get(i).copied().unwrap_or(0);
        let end = self
            .offsets
            .get(i.saturating_add(1))
            .copied()
            .unwrap_or(start);
        start..end
    }

    /// Columns and values of row `i`.
    pub(crate) fn row(&self, i: usize) -> (&[u16], &[T]) {
        let range = self.range(i);
        (
            self.cols.get(range.clone()).unwrap_or_default(),
            self.vals.get(range).unwrap_or_default(),
        )
    }

    /// Appends an entry to the row being built.
    pub(crate) fn push(&mut self, col: u16, val: T) {
        self.cols.push(col);
        self.vals.push(val);
    }

    /// Closes the row being built.
    pub(crate) fn end_row(&mut self) {
        self.offsets.push(self.cols.len());
    }

    /// Iterates rows as `(row, columns, values)`.
    pub(crate) fn iter_rows(&self) -> impl Iterator<Item = (usize, &[u16], &[T])> {
        (0..self.n_rows()).map(move |i| {
            let (cols, vals) = self.row(i);
            (i, cols, vals)
        })
    }
}
