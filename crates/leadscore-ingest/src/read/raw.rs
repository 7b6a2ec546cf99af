//! A file's rows as read ([`RawFrame`]): the frame a JSON Lines or Parquet file gives, or a
//! delimited file's text kept compact until ingest parses it a block at a time.
//!
//! A polars string column takes a 16-byte view for every cell besides the text of the longer
//! ones; a CSV export of 5M leads × 63 columns held 5.2 GiB of views and text that way, more
//! than the file's 2.4 GB. [`TextColumn`] keeps a cell as its bytes and a 4-byte end, so the
//! same file is held in about 3 GiB, and a block becomes polars columns only when it is parsed.

use polars::prelude::*;
use rayon::prelude::*;

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

    /// Appends a field. The caller keeps a column's bytes under `u32::MAX`
    /// ([`TextColumn::fits`]).
    pub(crate) fn push(&mut self, field: &[u8]) {
        self.bytes.extend_from_slice(field);
        self.ends.push(u32::try_from(self.bytes.len()).unwrap_or(u32::MAX));
    }

    /// Whether `more` bytes still fit (ends are 32-bit).
    pub(crate) fn fits(&self, more: usize) -> bool {
        self.bytes.len() + more <= u32::MAX as usize
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
    fn iter(&self) -> impl Iterator<Item = Option<&str>> {
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
        let mut b = StringChunkedBuilder::new(name.into(), self.len());
        for v in self.iter() {
            match v {
                Some(v) => b.append_value(v),
                None => b.append_null(),
            }
        }
        b.finish()
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
    names: Vec<PlSmallStr>,
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
        Ok(Self { names, blocks })
    }

    fn height(&self) -> usize {
        self.blocks.iter().map(|b| b.first().map_or(0, TextColumn::len)).sum()
    }

    /// Block `block` as a frame (its columns built in parallel).
    fn block_frame(names: &[PlSmallStr], block: &[TextColumn]) -> PolarsResult<DataFrame> {
        let rows = block.first().map_or(0, TextColumn::len);
        let columns = block.par_iter().zip(names).map(|(c, n)| c.to_chunked(n).into_column()).collect();
        DataFrame::new(rows, columns)
    }
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
                        return t
                            .names
                            .iter()
                            .zip(block)
                            .map(|(n, c)| (n.as_str(), c.get(at).map(str::to_string)))
                            .collect();
                    }
                    at -= rows;
                }
                Vec::new()
            }
        }
    }

    /// The rows a block at a time, as frames: a frame's chunks, or the text's blocks.
    pub fn blocks(&self) -> impl Iterator<Item = PolarsResult<DataFrame>> + '_ {
        let (frames, text) = match self {
            Self::Frame(df) => (df.clone().split_chunks().collect::<Vec<_>>(), None),
            Self::Text(t) => (Vec::new(), Some(t)),
        };
        let text_blocks = text.into_iter().flat_map(|t| t.blocks.iter().map(|b| TextTable::block_frame(&t.names, b)));
        frames.into_iter().map(Ok).chain(text_blocks)
    }

    /// [`RawFrame::blocks`], consuming the rows: each block's text is freed once its frame is
    /// built.
    pub fn into_blocks(self) -> impl Iterator<Item = PolarsResult<DataFrame>> {
        let (frames, text) = match self {
            Self::Frame(mut df) => (df.split_chunks().collect::<Vec<_>>(), None),
            Self::Text(t) => (Vec::new(), Some(t)),
        };
        let text_blocks = text.into_iter().flat_map(|t| {
            let names = t.names;
            t.blocks.into_iter().map(move |b| TextTable::block_frame(&names, &b))
        });
        frames.into_iter().map(Ok).chain(text_blocks)
    }

    /// Every row as one frame (for small files: samples, lookup tables).
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        match self {
            Self::Frame(df) => Ok(df.clone()),
            Self::Text(t) => {
                let empty = t.names.iter().map(|n| Column::new_empty(n.clone(), &DataType::String)).collect();
                let mut out = DataFrame::new(0, empty)?;
                for block in self.blocks() {
                    out.vstack_mut(&block?)?;
                }
                Ok(out)
            }
        }
    }

    /// The rows marked in `keep` (one flag a row).
    pub fn retain(&mut self, keep: &[bool]) -> PolarsResult<()> {
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
        let heights: Vec<usize> = t.blocks().map(|b| b.map(|b| b.height()).unwrap_or(0)).collect();
        assert_eq!(heights, [2, 1]);
        assert_eq!(t.to_frame()?.height(), 3);
        assert_eq!(t.clone().into_blocks().count(), 2);
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
    fn blocks_of_unequal_columns_are_refused() {
        let blocks = vec![vec![column(&["1", "2"]), column(&["a"])]];
        assert!(TextTable::new(vec!["id".into(), "note".into()], blocks).is_err());
        assert!(TextTable::new(vec!["id".into()], vec![vec![column(&["1"]), column(&["a"])]]).is_err());
    }
}
