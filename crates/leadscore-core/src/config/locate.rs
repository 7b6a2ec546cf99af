//! Where in the config file a problem is: key paths and their line/column.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key in a table.
    Key(String),
    /// A position in an array (0-based; shown 1-based in messages, as users count entries).
    Index(usize),
}

/// A path to a value in the config, such as `sources.leads.mapping.lead_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Seg>);

impl KeyPath {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.into()));
        Self(v)
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }

    /// The segments.
    pub fn segs(&self) -> &[Seg] {
        &self.0
    }
}

fn bare(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if bare(k) { f.write_str(k)? } else { write!(f, "{k:?}")? }
                }
                Seg::Index(n) => write!(f, "[{}]", n + 1)?,
            }
        }
        Ok(())
    }
}

/// The byte span of the value (or, for the last key, of the key) that `path` names, falling back
/// to the nearest enclosing value that exists.
pub fn span_of(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<Range<usize>> {
    let mut best = Some(root.span()).filter(|s| s.start < s.end);
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    let last = path.segs().len().saturating_sub(1);
    for (i, seg) in path.segs().iter().enumerate() {
        let value: &Spanned<DeValue<'_>> = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => match t.get_key_value(k.as_str()) {
                Some((key, v)) => {
                    if i == last {
                        return Some(key.span());
                    }
                    v
                }
                None => return best,
            },
            (Seg::Index(n), _, Some(a)) => match a.get(*n) {
                Some(v) => v,
                None => return best,
            },
            _ => return best,
        };
        best = Some(value.span());
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a.as_ref()),
            _ => {}
        }
    }
    best
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let col = text.get(line_start..offset).map_or(1, |s| s.chars().count() + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_tables_and_arrays_of_tables() {
        let text = "[project]\nname = \"x\"\n\n[[attributes]]\ncolumn = \"A\"\n\n[[attributes]]\ncolumn = \"B\"\nkind = \"text\"\n";
        let doc = DeTable::parse(text).expect("valid TOML");
        let at = |p: &KeyPath| span_of(&doc, p).map(|s| line_col(text, s.start));
        assert_eq!(at(&KeyPath::root().key("project").key("name")), Some((2, 1)));
        let second = KeyPath::root().key("attributes").index(1);
        assert_eq!(at(&second.key("kind")), Some((9, 1)));
        // A missing key points at the enclosing table.
        assert_eq!(at(&second.key("name")).map(|l| l.0), Some(7));
        assert_eq!(second.key("kind").to_string(), "attributes[2].kind");
        assert_eq!(KeyPath::root().key("rates").key("Job Title").to_string(), "rates.\"Job Title\"");
    }
}
