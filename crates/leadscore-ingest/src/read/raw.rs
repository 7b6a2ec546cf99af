//! A file's rows as read ([`RawFrame`]): the frame a JSON Lines or Parquet file gives, or a
//! delimited file's text kept compact until ingest parses it a block at a time.
//!
//! A polars string column takes a 16-byte view for every cell besides the text of the longer
//! ones; a CSV export of 5M leads × 63 columns held 5.2 GiB of views and text that way, more
//! than the file's 2.4 GB. [`TextColumn`] keeps a cell as its bytes and a 4-byte end, so the
//! same file is held in about 3 GiB. Ingest parses it a [`Block`] at a time: the parsers read
//! numbers, timestamps and booleans from the text itself, and only the fields kept as text
//! become polars columns.

use std::borrow::Cow;
use std::sync::Arc;

use polars::prelude::*;

use crate::parse::{self, Cells};

/// One column of a block of a delimited file: the fields' bytes one after the other and where
/// each ends. An empty field is null, as the CSV reader reads it. Every field was checked to be
/// UTF-8 when its record was accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TextColumn {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl TextColumn {
    /// Room for `rows` fields of `bytes` bytes in all.
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), ends: Vec::with_capacity(rows) }
    }

    /// Appends a field. The caller keeps a column's bytes within `u32::MAX` (ends are 32-bit):
    /// the reader ends a block before the bytes of its fields would pass it.
    pub(crate) fn push(&mut self, field: &[u8]) {
        self.bytes.extend_from_slice(field);
        self.ends.push(u32::try_from(self.bytes.len()).unwrap_or(u32::MAX));
    }

    /// Room for `rows` fields in all, at the bytes a field this column has held so far (5% more):
    /// a column left to grow doubles, and holds up to twice its text until shrunk.
    pub(crate) fn reserve_rows(&mut self, rows: usize) {
        let held = self.len().max(1);
        let bytes = self.bytes.len() * rows / held + self.bytes.len() * rows / held / 20;
        self.bytes.reserve(bytes.saturating_sub(self.bytes.len()));
        self.ends.reserve(rows.saturating_sub(self.len()));
    }

    /// Fields held.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no field is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held.
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Gives back the room not used (a block's columns are kept until parsed).
    pub(crate) fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// The text of field `i`; `None` when empty (null) or out of range.
    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        std::str::from_utf8(self.bytes.get(start..end)?).ok().filter(|v| !v.is_empty())
    }

    /// Every field in order (`None` when empty).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Option<&str>> {
        // One check of the whole text, then slices at the fields' ends (char boundaries, as every
        // field is UTF-8); a field that is not read as text is null.
        let text = std::str::from_utf8(&self.bytes).ok();
        let mut start = 0;
        self.ends.iter().map(move |end| {
            let (from, to) = (start, *end as usize);
            start = to;
            let field = match text {
                Some(t) => t.get(from..to),
                None => self.bytes.get(from..to).and_then(|b| std::str::from_utf8(b).ok()),
            };
            field.filter(|v| !v.is_empty())
        })
    }

    /// A polars string column of the fields.
    fn to_chunked(&self, name: &str) -> StringChunked {
        self.iter().collect::<StringChunked>().with_name(name.into())
    }

    /// The fields marked in `keep`.
    fn filter(&self, keep: &[bool]) -> Self {
        let mut out = Self::with_capacity(keep.iter().filter(|k| **k).count(), 0);
        let mut start = 0;
        for (end, k) in self.ends.iter().zip(keep) {
            if *k {
                out.push(self.bytes.get(start..*end as usize).unwrap_or_default());
            }
            start = *end as usize;
        }
        out
    }
}

/// A delimited file's text: its columns' names and its rows in blocks, each block a
/// [`TextColumn`] per column (the same rows in each).
#[derive(Debug, Clone, Default)]
pub struct TextTable {
    names: Arc<[PlSmallStr]>,
    blocks: Vec<Vec<TextColumn>>,
}

impl TextTable {
    /// A table of these columns and blocks; a block with a column count other than the names'
    /// or columns of different lengths is refused.
    pub(crate) fn new(names: Vec<PlSmallStr>, blocks: Vec<Vec<TextColumn>>) -> PolarsResult<Self> {
        for block in &blocks {
            let rows = block.first().map_or(0, TextColumn::len);
            polars_ensure!(
                block.len() == names.len() && block.iter().all(|c| c.len() == rows),
                ShapeMismatch: "a block of text columns must have one column per name, all of one length"
            );
        }
        Ok(Self { names: names.into(), blocks })
    }

    fn height(&self) -> usize {
        self.blocks.iter().map(|b| b.first().map_or(0, TextColumn::len)).sum()
    }
}

/// A block of a file's rows, as ingest parses it: a chunk of a frame, or a block of a delimited
/// file's text (its columns read by the parsers as they are, [`Cells`]).
pub(crate) enum Block<'a> {
    /// Rows of a frame.
    Frame(DataFrame),
    /// A block of text, a column per name.
    Text {
        /// The columns' names.
        names: Arc<[PlSmallStr]>,
        /// The columns.
        columns: Cow<'a, [TextColumn]>,
    },
}

impl Block<'_> {
    /// Rows.
    pub fn height(&self) -> usize {
        match self {
            Self::Frame(df) => df.height(),
            Self::Text { columns, .. } => columns.first().map_or(0, TextColumn::len),
        }
    }

    /// The cells of column `name`.
    pub fn cells(&self, name: &str) -> PolarsResult<Cells<'_>> {
        match self {
            Self::Frame(df) => Ok(Cells::Column(df.column(name)?)),
            Self::Text { names, columns } => names
                .iter()
                .position(|n| n == name)
                .and_then(|k| columns.get(k))
                .map(Cells::Text)
                .ok_or_else(|| polars_err!(ColumnNotFound: "{name}")),
        }
    }

    /// The values of row `i` in file order, as text (`None` when null).
    pub fn row(&self, i: usize) -> Vec<(&str, Option<String>)> {
        match self {
            Self::Frame(df) => frame_row(df, i),
            Self::Text { names, columns } => text_row(names, columns, i),
        }
    }
}

/// The values of row `i` of a block of text, named.
fn text_row<'n>(names: &'n [PlSmallStr], columns: &[TextColumn], i: usize) -> Vec<(&'n str, Option<String>)> {
    names.iter().zip(columns).map(|(n, c)| (n.as_str(), c.get(i).map(str::to_string))).collect()
}

/// A file's readable rows, raw: the frame a JSON Lines or Parquet file gives, or a delimited
/// file's text ([`TextTable`]). Columns are built on demand, one at a time ([`RawFrame::column`])
/// or a block at a time ([`RawFrame::blocks`]).
#[derive(Debug, Clone)]
pub enum RawFrame {
    /// A frame as a reader gave it (typed columns where the format has types).
    Frame(DataFrame),
    /// A delimited file's text.
    Text(TextTable),
}

impl Default for RawFrame {
    fn default() -> Self {
        Self::Frame(DataFrame::empty())
    }
}

impl From<DataFrame> for RawFrame {
    fn from(df: DataFrame) -> Self {
        Self::Frame(df)
    }
}

impl RawFrame {
    /// Rows.
    pub fn height(&self) -> usize {
        match self {
            Self::Frame(df) => df.height(),
            Self::Text(t) => t.height(),
        }
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.names().len()
    }

    /// The columns' names, in file order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Self::Frame(df) => df.get_column_names().into_iter().map(PlSmallStr::as_str).collect(),
            Self::Text(t) => t.names.iter().map(PlSmallStr::as_str).collect(),
        }
    }

    /// Whether the file has a column of this name.
    pub fn has(&self, name: &str) -> bool {
        self.names().contains(&name)
    }

    /// Column `name` (a chunk per block), or `None` when the file has none of that name.
    pub fn column(&self, name: &str) -> PolarsResult<Option<Column>> {
        match self {
            Self::Frame(df) => Ok(df.column(name).ok().cloned()),
            Self::Text(t) => {
                let Some(k) = t.names.iter().position(|n| n == name) else { return Ok(None) };
                let mut parts = t.blocks.iter().map(|b| b[k].to_chunked(name));
                let mut column = parts.next().unwrap_or_else(|| StringChunked::full_null(name.into(), 0));
                for part in parts {
                    column.append_owned(part)?;
                }
                Ok(Some(column.into_column()))
            }
        }
    }

    /// Column `name` as [`parse::text`] reads it (trimmed, empty cells null), or `None` when the
    /// file has none of that name. A file's text is read as it is, without polars text first.
    pub fn text(&self, name: &str) -> PolarsResult<Option<StringChunked>> {
        match self {
            Self::Frame(df) => df.column(name).ok().map(parse::text).transpose(),
            Self::Text(t) => {
                let Some(k) = t.names.iter().position(|n| n == name) else { return Ok(None) };
                let mut parts = t.blocks.iter().map(|b| parse::text(Cells::Text(&b[k])));
                let mut column = parts.next().transpose()?.unwrap_or_default();
                for part in parts {
                    column.append_owned(part?)?;
                }
                Ok(Some(column))
            }
        }
    }

    /// The values of row `i` in file order, as text (`None` when null); empty when there is no
    /// such row.
    pub fn row(&self, i: usize) -> Vec<(&str, Option<String>)> {
        match self {
            Self::Frame(df) => frame_row(df, i),
            Self::Text(t) => {
                let mut at = i;
                for block in &t.blocks {
                    let rows = block.first().map_or(0, TextColumn::len);
                    if at < rows {
                        return text_row(&t.names, block, at);
                    }
                    at -= rows;
                }
                Vec::new()
            }
        }
    }

    /// The rows a block at a time: a frame's chunks, or the text's blocks.
    pub(crate) fn blocks(&self) -> Vec<Block<'_>> {
        match self {
            Self::Frame(df) => df.clone().split_chunks().map(Block::Frame).collect(),
            Self::Text(t) => t
                .blocks
                .iter()
                .map(|b| Block::Text { names: t.names.clone(), columns: Cow::Borrowed(b.as_slice()) })
                .collect(),
        }
    }

    /// [`RawFrame::blocks`], consuming the rows: each block's text is freed once the block is.
    pub(crate) fn into_blocks(self) -> Vec<Block<'static>> {
        match self {
            Self::Frame(mut df) => df.split_chunks().map(Block::Frame).collect(),
            Self::Text(t) => {
                let names = t.names;
                t.blocks.into_iter().map(|b| Block::Text { names: names.clone(), columns: Cow::Owned(b) }).collect()
            }
        }
    }

    /// Every row as one frame (for small files: samples, lookup tables).
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        match self {
            Self::Frame(df) => Ok(df.clone()),
            Self::Text(t) => {
                let mut columns = Vec::with_capacity(t.names.len());
                for name in t.names.iter() {
                    columns.extend(self.column(name)?);
                }
                DataFrame::new(self.height(), columns)
            }
        }
    }

    /// The rows marked in `keep` (one flag a row; any other count is refused).
    pub fn retain(&mut self, keep: &[bool]) -> PolarsResult<()> {
        polars_ensure!(
            keep.len() == self.height(),
            ShapeMismatch: "{} flags to keep rows of a file of {} rows", keep.len(), self.height()
        );
        match self {
            Self::Frame(df) => {
                *df = leadscore_core::frame::rows_where(df, &BooleanChunked::from_slice("keep".into(), keep))?;
            }
            Self::Text(t) => {
                let mut first = 0;
                for block in &mut t.blocks {
                    let rows = block.first().map_or(0, TextColumn::len);
                    let flags = keep.get(first..first + rows).unwrap_or_default();
                    for c in block.iter_mut() {
                        *c = c.filter(flags);
                    }
                    first += rows;
                }
            }
        }
        Ok(())
    }
}

/// The values of row `i` of `df` in column order, as text (`None` when null).
pub(crate) fn frame_row(df: &DataFrame, i: usize) -> Vec<(&str, Option<String>)> {
    df.columns()
        .iter()
        .map(|c| {
            let value = match c.get(i) {
                Ok(AnyValue::Null) | Err(_) => None,
                Ok(AnyValue::String(v)) => Some(v.to_string()),
                Ok(AnyValue::StringOwned(v)) => Some(v.to_string()),
                Ok(v) => Some(v.to_string()),
            };
            (c.name().as_str(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(fields: &[&str]) -> TextColumn {
        let mut c = TextColumn::default();
        for f in fields {
            c.push(f.as_bytes());
        }
        c
    }

    fn table() -> RawFrame {
        let names = vec!["id".into(), "note".into()];
        let blocks = vec![
            vec![column(&["1", "2"]), column(&["a long note of more than twelve bytes", ""])],
            vec![column(&["3"]), column(&["é"])],
        ];
        RawFrame::Text(TextTable::new(names, blocks).unwrap_or_default())
    }

    fn texts(c: &Column) -> Vec<Option<String>> {
        c.str().map(|s| s.iter().map(|v| v.map(str::to_string)).collect()).unwrap_or_default()
    }

    #[test]
    fn text_columns_read_back_their_fields_with_empty_ones_null() -> PolarsResult<()> {
        let t = table();
        assert_eq!((t.height(), t.width()), (3, 2));
        let note = t.column("note")?.unwrap_or_else(|| Column::new_empty("x".into(), &DataType::Null));
        let want = [Some("a long note of more than twelve bytes".to_string()), None, Some("é".to_string())];
        assert_eq!(texts(&note), want);
        assert!(t.column("other")?.is_none());
        assert_eq!(t.row(2), [("id", Some("3".to_string())), ("note", Some("é".to_string()))]);
        assert!(t.row(3).is_empty());
        let heights: Vec<usize> = t.blocks().iter().map(Block::height).collect();
        assert_eq!(heights, [2, 1]);
        assert_eq!(t.to_frame()?.height(), 3);
        let blocks = t.clone().into_blocks();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].row(0), [("id", Some("3".to_string())), ("note", Some("é".to_string()))]);
        assert!(matches!(blocks[0].cells("note")?, Cells::Text(c) if c.len() == 2));
        assert!(blocks[0].cells("other").is_err());
        Ok(())
    }

    #[test]
    fn retain_keeps_the_marked_rows_of_every_block() -> PolarsResult<()> {
        let mut t = table();
        t.retain(&[true, false, true])?;
        let ids = t.column("id")?.map(|c| texts(&c)).unwrap_or_default();
        assert_eq!(ids, [Some("1".to_string()), Some("3".to_string())]);
        let note = t.column("note")?.map(|c| texts(&c)).unwrap_or_default();
        assert_eq!(note, [Some("a long note of more than twelve bytes".to_string()), Some("é".to_string())]);
        Ok(())
    }

    #[test]
    fn retain_refuses_a_flag_count_other_than_the_rows() {
        let mut t = table();
        assert!(t.retain(&[true, false]).is_err());
        assert_eq!(t.height(), 3);
    }

    #[test]
    fn blocks_of_unequal_columns_are_refused() {
        let blocks = vec![vec![column(&["1", "2"]), column(&["a"])]];
        assert!(TextTable::new(vec!["id".into(), "note".into()], blocks).is_err());
        assert!(TextTable::new(vec!["id".into()], vec![vec![column(&["1"]), column(&["a"])]]).is_err());
    }
}
