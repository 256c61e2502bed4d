//! Plain-text tables and the `--json` switch: every command builds a [`serde::Serialize`] value
//! and prints it either as JSON or as text.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;
use subnet_protocol::ainft::AinftId;
use subnet_protocol::keys::PublicKey;

/// A text table: a header and rows of cells, columns padded to their widest cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are blank, extra cells are dropped).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text lines; numbers-looking cells are right-aligned.
    pub(crate) fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (k, w) in widths.iter().enumerate().take(cols) {
                let cell = cells.get(k).map_or("", String::as_str);
                if k > 0 {
                    text.push_str("  ");
                }
                if is_numeric(cell) {
                    let _ = write!(text, "{cell:>w$}");
                } else {
                    let _ = write!(text, "{cell:<w$}");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.header);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

fn is_numeric(cell: &str) -> bool {
    !cell.is_empty()
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | '%' | 'e'))
        && cell.chars().any(|c| c.is_ascii_digit())
}

/// Prints `value` as one JSON document if `json`, else the text `text` builds.
pub(crate) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, value).context("writing JSON")?;
        writeln!(stdout).context("writing JSON")?;
    } else {
        stdout
            .write_all(text(value).as_bytes())
            .context("writing the output")?;
    }
    Ok(())
}

/// A u16 ratio (`k / 65535`) as a decimal with four places.
pub(crate) fn ratio(value: u16) -> String {
    format!("{:.4}", f64::from(value) / f64::from(u16::MAX))
}

/// An address shortened for tables: the first 6 and last 4 characters.
pub(crate) fn short_key(key: &PublicKey) -> String {
    let text = key.to_string();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 12 {
        return text;
    }
    let head: String = chars.iter().take(6).collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("{head}…{tail}")
}

/// An optional AINFT id, shortened.
pub(crate) fn short_ainft(id: Option<&AinftId>) -> String {
    id.map_or_else(|| "-".to_owned(), AinftId::short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_aligns() {
        let mut t = Table::new(["UID", "NAME"]);
        t.row(vec!["1".into(), "alpha".into()]);
        t.row(vec!["12".into(), "b".into()]);
        assert_eq!(t.render(), "UID  NAME\n  1  alpha\n 12  b\n");
        assert_eq!(ratio(u16::MAX), "1.0000");
        assert_eq!(ratio(0), "0.0000");
    }
}
