//! CSV (or any one-byte delimiter) read record by record with the `csv` crate, every column as
//! text.
//!
//! Reading record by record is what lets ingest account for every row: a record whose field count
//! differs from the header's, whose bytes are not UTF-8, or that holds a NUL byte is set aside as
//! an [`UnreadableRecord`] (it goes to the rejects table) instead of failing the file or being
//! padded silently. What cannot be isolated fails the file with its record and line: a header with
//! a duplicated name, or a quoted field that is never closed (it swallows the rest of the file).
//! No message here quotes a cell: CRM rows hold names, e-mails and phone numbers.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use leadscore_core::CoreError;
use leadscore_core::schema::RejectReason;
use polars::prelude::*;
use rayon::prelude::*;

use super::raw::{RawFrame, TextColumn, TextTable};
use super::{RawFile, RecordNumbers, UnreadableRecord};
use crate::error::{IngestError, Result};

/// The UTF-8 byte-order mark some spreadsheet programs write first.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Buffer of the file reader.
const READ_BUFFER: usize = 1 << 20;
/// The least a stretch of records read on a thread of its own holds: a file with less than two
/// of these after its header is read in one go.
const STRETCH_BYTES: u64 = 16 << 20;

/// The name of a header field: as written, or `column_<k>` (1-based) when empty.
fn header_names(path: &Path, header: &csv::ByteRecord) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(header.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|e| IngestError::BadHeader {
            path: path.to_path_buf(),
            position: k + 1,
            problem: format!(
                "its bytes are not UTF-8 (invalid byte at offset {} of the name); save the file as UTF-8",
                e.valid_up_to()
            ),
        })?;
        let name = if name.is_empty() { format!("column_{}", k + 1) } else { name.to_string() };
        if let Some(first) = seen.insert(name.clone(), k + 1) {
            return Err(IngestError::DuplicateColumn { path: path.to_path_buf(), column: name, first, second: k + 1 });
        }
        names.push(name);
    }
    Ok(names)
}

/// Why a record cannot be read, if it cannot: a field count that is not the header's, a NUL byte,
/// or bytes that are not UTF-8. The first problem is named, with its column.
fn record_problem(rec: &csv::ByteRecord, names: &[String]) -> Option<(RejectReason, Option<String>, String)> {
    if rec.len() != names.len() {
        return Some((
            RejectReason::WrongFieldCount,
            None,
            format!(
                "expected {} fields (as many as the header), found {}: a value probably holds the delimiter \
                 without quotes, or the row was cut short",
                names.len(),
                rec.len()
            ),
        ));
    }
    // The usual case, checked on the whole record at once: no NUL, and UTF-8 in which every
    // field ends on a character boundary.
    let all = rec.as_slice();
    if !all.contains(&0)
        && let Ok(text) = std::str::from_utf8(all)
    {
        let mut end = 0;
        if rec.iter().all(|f| {
            end += f.len();
            text.is_char_boundary(end)
        }) {
            return None;
        }
    }
    for (k, field) in rec.iter().enumerate() {
        if field.contains(&0) {
            return Some((
                RejectReason::InvalidEncoding,
                Some(names[k].clone()),
                format!("`{}` holds a NUL byte (binary data, or a UTF-16 file)", names[k]),
            ));
        }
        if let Err(e) = std::str::from_utf8(field) {
            return Some((
                RejectReason::InvalidEncoding,
                Some(names[k].clone()),
                format!(
                    "`{}` is not UTF-8 text (invalid byte at offset {} of the value); save the file as UTF-8, or set the \
                     source's `encoding` (`windows-1252` for an Excel export)",
                    names[k],
                    e.valid_up_to()
                ),
            ));
        }
    }
    None
}

/// The record's values for the rejects table: header name → text (lossy UTF-8), extra fields as
/// `_extra_<k>`.
fn record_values(rec: &csv::ByteRecord, names: &[String]) -> Vec<(String, Option<String>)> {
    rec.iter()
        .enumerate()
        .map(|(k, v)| {
            let name = names.get(k).cloned().unwrap_or_else(|| format!("_extra_{}", k + 1 - names.len()));
            let text = String::from_utf8_lossy(v).replace('\0', "\u{FFFD}");
            (name, (!text.is_empty()).then_some(text))
        })
        .collect()
}

/// Where a quoted field that is never closed opens, if the record in `bytes` holds one: scanned
/// with the reader's quoting rules (a `"` at the start of a field opens it, `""` inside is a
/// quote, a quote inside an unquoted field is a character), up to the first line break outside
/// quotes. Returns the 0-based field.
fn open_quote(bytes: impl IntoIterator<Item = u8>, delimiter: u8) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let (mut state, mut field) = (State::FieldStart, 0usize);
    for b in bytes {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') | (State::FieldStart, b'"') => State::Quoted,
            (_, b'\n' | b'\r') => return None,
            (_, d) if d == delimiter => {
                field += 1;
                State::FieldStart
            }
            _ => State::Unquoted,
        };
    }
    (state == State::Quoted).then_some(field)
}

/// The bytes of a file from `from` to `to` (the end when `None`).
fn byte_range(path: &Path, from: u64, to: Option<u64>) -> Result<Vec<u8>> {
    let rerr = |source| CoreError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(rerr)?;
    file.seek(SeekFrom::Start(from)).map_err(rerr)?;
    let mut out = Vec::new();
    match to {
        Some(to) => file.take(to.saturating_sub(from)).read_to_end(&mut out),
        None => file.read_to_end(&mut out),
    }
    .map_err(rerr)?;
    Ok(out)
}

/// Rows and unreadable records of a file, as they are read.
struct Collector<'a> {
    path: &'a Path,
    names: &'a [String],
    /// The block being filled: a column of text per name.
    block: Vec<TextColumn>,
    /// Bytes of the fields in `block`.
    block_bytes: usize,
    /// What was read so far: the blocks filled, record numbers, rejects, rows left out.
    read: Collected,
    /// The filter, with the indices of the fields it reads.
    filter: Option<(&'a RowFilter<'a>, usize, Option<usize>)>,
    /// Where its records begin and end (bytes as the reader counts them), until the first
    /// block is sized for them ([`Collector::size_block`]).
    span: Option<(u64, u64)>,
}

/// Rows read before the first block's columns are given room for the rest of their records.
const SIZING_ROWS: usize = 4096;

/// What a [`Collector`] read: of a whole file, or of a stretch of its records (record numbers
/// then counted from the stretch's start).
struct Collected {
    /// The blocks filled.
    blocks: Vec<Vec<TextColumn>>,
    numbers: RecordNumbers,
    unreadable: Vec<UnreadableRecord>,
    /// Records read, and rows among them.
    records: u64,
    rows: u64,
    /// Records the filter left out, and digests of their ids.
    left_out: u64,
    left_ids: HashSet<u64>,
}

impl Collected {
    /// The record numbers of the rows, listed.
    fn listed(numbers: RecordNumbers, rows: u64) -> Vec<u32> {
        match numbers {
            RecordNumbers::Consecutive => (1..=rows).map(|r| r as u32).collect(),
            RecordNumbers::Listed(v) => v,
        }
    }

    /// This stretch followed by the next one of the same file: the next one's record numbers
    /// shifted by this one's records. The caller has checked that the records of both fit in
    /// 32 bits.
    fn then(self, next: Collected) -> Collected {
        let base = self.records;
        let numbers = match (self.numbers, next.numbers) {
            // Consecutive: every record read was a row, in both.
            (RecordNumbers::Consecutive, RecordNumbers::Consecutive) => RecordNumbers::Consecutive,
            (mine, theirs) => {
                let mut v = Self::listed(mine, self.rows);
                v.extend(Self::listed(theirs, next.rows).into_iter().map(|r| r + base as u32));
                RecordNumbers::Listed(v)
            }
        };
        let mut blocks = self.blocks;
        blocks.extend(next.blocks);
        let mut unreadable = self.unreadable;
        unreadable.extend(next.unreadable.into_iter().map(|u| UnreadableRecord { record: u.record + base, ..u }));
        let mut left_ids = self.left_ids;
        left_ids.extend(next.left_ids);
        Collected {
            blocks,
            numbers,
            unreadable,
            records: base + next.records,
            rows: self.rows + next.rows,
            left_out: self.left_out + next.left_out,
            left_ids,
        }
    }
}

/// Which records a reader keeps, from one field's raw text (`None` when empty): those `keep`
/// accepts. `id` names the field whose trimmed value identifies the record.
pub struct RowFilter<'a> {
    /// The column the decision reads.
    pub column: &'a str,
    /// Whether a record with this value in `column` is kept.
    pub keep: &'a CellTest<'a>,
    /// The id column, if any.
    pub id: Option<&'a str>,
}

/// A test of one cell's raw text (`None` when empty).
pub type CellTest<'a> = dyn Fn(Option<&str>) -> bool + Sync + 'a;

/// A digest of an id (trimmed), to tell whether a kept row shares the id of one left out.
pub fn id_digest(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Rows per block of the text read: ingest parses a file a block at a time and frees each
/// block's text once parsed, so a block being parsed holds its text, the polars columns of its
/// fields kept as text and its typed values at once. The text of a block is kept compact ([`TextColumn`]: 4 bytes a field
/// besides its bytes), and each of its columns is large enough to be a mapping of its own, which
/// the allocator returns to the system when freed (see `leadscore_core::memory`). Measured peaks
/// (ingest alone, before the parsers read the text itself), 2026-12-04:
///
/// | rows | 1M leads | 5M leads |
/// | --- | --- | --- |
/// | 131,072 | 1.47 GiB | 7.0 GiB (columns under 1 MiB stay on the heap) |
/// | 262,144 | 1.13 GiB | 4.97 GiB, more system time |
/// | 524,288 | 1.33 GiB | 4.98 GiB |
///
/// At 5M the typed leads are the peak, not the text. Since features holds categorical attributes
/// as codes, ingest is the DAG's peak at 1M, and 262,144 rows took it from 1.26 to 1.09 GiB in the
/// same time (6.38-6.47 s against 6.59-6.60 s), with 5M level (31.6-37.7 s and 4.95 GiB against
/// 33.1-67.0 s and 4.93 GiB, alternating; the system time no longer differs).
const CHUNK_ROWS: usize = 1 << 18;

impl<'a> Collector<'a> {
    /// An empty collector of `path`'s records with the header's `names`; `span`, the bytes
    /// they take, sizes its first block.
    fn new(
        path: &'a Path,
        names: &'a [String],
        filter: Option<(&'a RowFilter<'a>, usize, Option<usize>)>,
        span: (u64, u64),
    ) -> Self {
        Collector {
            path,
            names,
            block: vec![TextColumn::default(); names.len()],
            block_bytes: 0,
            read: Collected {
                blocks: Vec::new(),
                numbers: RecordNumbers::Consecutive,
                unreadable: Vec::new(),
                records: 0,
                rows: 0,
                left_out: 0,
                left_ids: HashSet::new(),
            },
            filter,
            span: Some(span),
        }
    }

    /// Once the first block holds [`SIZING_ROWS`] rows, when the records read so far end at
    /// byte `at`: room in each column for the rows its records' bytes hold at that rate (no more
    /// than a block's), so that no column doubles; stretches read side by side would otherwise
    /// hold up to twice their text at once.
    fn size_block(&mut self, at: u64) {
        let Some((from, to)) = self.span else { return };
        let rows = self.block.first().map_or(0, TextColumn::len);
        if rows < SIZING_ROWS || !self.read.blocks.is_empty() {
            return;
        }
        self.span = None;
        let rows_in_all =
            (to.saturating_sub(from) as f64 / at.saturating_sub(from).max(1) as f64 * rows as f64) as usize;
        for c in &mut self.block {
            c.reserve_rows(rows_in_all.clamp(rows, CHUNK_ROWS));
        }
    }

    /// Ends the block being filled (its columns' spare room given back); the next one is sized
    /// as this one was.
    fn finish_block(&mut self) {
        let next =
            self.block.iter().map(|c| TextColumn::with_capacity(c.len(), c.byte_len() + c.byte_len() / 8)).collect();
        self.close_block(next);
    }

    /// Ends the block being filled (its columns' spare room given back); `next` is filled next.
    fn close_block(&mut self, next: Vec<TextColumn>) {
        let mut full = std::mem::replace(&mut self.block, next);
        full.iter_mut().for_each(TextColumn::shrink);
        self.read.blocks.push(full);
        self.block_bytes = 0;
    }

    /// What was read, the block being filled ended.
    fn finish(mut self) -> Collected {
        if self.block.first().is_some_and(|b| !b.is_empty()) {
            self.close_block(Vec::new());
        }
        self.read
    }

    /// Row numbers from here on are listed: a row is not the record of the same number.
    fn list_numbers(&mut self) {
        if let RecordNumbers::Consecutive = self.read.numbers {
            self.read.numbers = RecordNumbers::Listed(Collected::listed(RecordNumbers::Consecutive, self.read.rows));
        }
    }

    /// Whether the filter leaves the record out (counted, its id's digest kept).
    fn leaves_out(&mut self, rec: &csv::ByteRecord) -> bool {
        let Some((filter, column, id)) = self.filter else { return false };
        let cell = |k: usize| rec.get(k).and_then(|v| std::str::from_utf8(v).ok()).filter(|v| !v.is_empty());
        if (filter.keep)(cell(column)) {
            return false;
        }
        if let Some(id) = id.and_then(cell).map(str::trim).filter(|v| !v.is_empty()) {
            self.read.left_ids.insert(id_digest(id));
        }
        self.read.left_out += 1;
        self.list_numbers();
        true
    }

    fn reject(
        &mut self,
        line: u64,
        lines: &str,
        reason: RejectReason,
        column: Option<String>,
        detail: &str,
        values: Vec<(String, Option<String>)>,
    ) {
        self.list_numbers();
        self.read.unreadable.push(UnreadableRecord {
            record: self.read.records,
            line,
            reason,
            column,
            detail: format!("{lines}: {detail}"),
            values,
        });
    }

    /// One record; `lines` gives the lines it starts and ends on, should it be rejected.
    fn push(&mut self, rec: &csv::ByteRecord, lines: impl FnOnce() -> Result<(u64, u64)>) -> Result<()> {
        self.read.records += 1;
        if let Some((reason, column, detail)) = record_problem(rec, self.names) {
            let (first_line, last_line) = lines()?;
            let lines = if last_line > first_line {
                format!("lines {first_line} to {last_line}")
            } else {
                format!("line {first_line}")
            };
            self.reject(first_line, &lines, reason, column, &detail, record_values(rec, self.names));
            return Ok(());
        }
        if self.leaves_out(rec) {
            return Ok(());
        }
        // A block ends at CHUNK_ROWS rows, or before its columns' ends would pass 32 bits.
        let size = rec.as_slice().len();
        let full = self.block_bytes + size > u32::MAX as usize;
        if self.block.first().is_some_and(|c| !c.is_empty() && (c.len() >= CHUNK_ROWS || full)) {
            self.finish_block();
        }
        self.block_bytes += size;
        for (column, field) in self.block.iter_mut().zip(rec.iter()) {
            column.push(field);
        }
        self.read.rows += 1;
        if let RecordNumbers::Listed(v) = &mut self.read.numbers {
            v.push(
                u32::try_from(self.read.records)
                    .map_err(|_| IngestError::TooManyRecords { path: self.path.to_path_buf() })?,
            );
        }
        Ok(())
    }

    /// A record that an unbalanced quote made of several lines, read again line by line: the line
    /// with the quote is rejected, the lines it swallowed are rows (or rejects) of their own.
    fn push_lines(&mut self, bytes: &[u8], first_line: u64, delimiter: u8) -> Result<()> {
        let mut rec = csv::ByteRecord::new();
        for (k, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let line_no = first_line + k as u64;
            if let Some(field) = open_quote(line.iter().copied(), delimiter) {
                self.read.records += 1;
                let column = self.names.get(field).cloned();
                let name = column.as_deref().map_or_else(|| format!("field {}", field + 1), |n| format!("`{n}`"));
                let mut r =
                    csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(line);
                let values = if r.read_byte_record(&mut rec).unwrap_or(false) {
                    record_values(&rec, self.names)
                } else {
                    Vec::new()
                };
                self.reject(
                    line_no,
                    &format!("line {line_no}"),
                    RejectReason::UnbalancedQuote,
                    column,
                    &format!(
                        "the quoted value of {name} opens with `\"` and is not closed on its line, so the lines after \
                         it were read as part of it; expected a closing `\"` (a quote inside a value is written `\"\"`)"
                    ),
                    values,
                );
                continue;
            }
            let mut r =
                csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(line);
            if r.read_byte_record(&mut rec).map_err(|e| IngestError::Internal(format!("re-reading a line: {e}")))? {
                self.push(&rec, || Ok((line_no, line_no)))?;
            }
        }
        Ok(())
    }
}

/// Reads a CSV file: the header names the columns; every value is text, an empty one null.
/// Messages name `path`; the bytes are read from `io` (the file itself, or its UTF-8 copy).
pub(crate) fn read(path: &Path, io: &Path, delimiter: u8, starts_with_bom: bool) -> Result<RawFile> {
    Ok(read_filtered(path, io, delimiter, starts_with_bom, None)?.0)
}

/// [`read`], leaving out the well-formed records `filter` rejects (a malformed record is
/// rejected as always); with the digests of the ids of those left out ([`id_digest`]).
pub(crate) fn read_filtered(
    path: &Path,
    io: &Path,
    delimiter: u8,
    starts_with_bom: bool,
    filter: Option<&RowFilter<'_>>,
) -> Result<(RawFile, HashSet<u64>)> {
    read_split(path, io, delimiter, starts_with_bom, filter, &|data| even_split(data, STRETCH_BYTES))
}

/// Where a file's records are split into stretches read on threads of their own, from the bytes
/// after the header: offsets into them, in order (none: the file is read in one go).
type Splitter<'s> = dyn Fn(u64) -> Vec<u64> + 's;

/// Shares of at least `least` bytes, one a thread (the digest of the file is taken meanwhile,
/// see [`super::SourceReader`]). Two a thread read the 1M benchmark's 539 MB no sooner and held
/// 80-100 MiB more (2026-12-05).
fn even_split(data: u64, least: u64) -> Vec<u64> {
    let parts = (data / least.max(1)).min(rayon::current_num_threads() as u64);
    (1..parts).map(|k| data * k / parts).collect()
}

/// [`read_filtered`], the records read in the stretches `split` names when it names any: each
/// begins at the first line break after its offset. The rows, record numbers and rejects are
/// those of one reader going through the whole file: where a stretch does not end where the next
/// begins (a quoted value holds the line break it was split at), or fails, the file is read again
/// in one go.
fn read_split(
    path: &Path,
    io: &Path,
    delimiter: u8,
    starts_with_bom: bool,
    filter: Option<&RowFilter<'_>>,
    split: &Splitter<'_>,
) -> Result<(RawFile, HashSet<u64>)> {
    let rerr = |source| CoreError::Read { path: path.to_path_buf(), source };
    let mut reader = BufReader::with_capacity(READ_BUFFER, File::open(io).map_err(rerr)?);
    if starts_with_bom {
        let mut bom = [0u8; 3];
        reader.read_exact(&mut bom).map_err(rerr)?;
    }
    let offset = if starts_with_bom { BOM.len() as u64 } else { 0 };
    let mut rdr = csv_reader(delimiter, reader);
    let mut rec = csv::ByteRecord::new();
    let header_start = rdr.position().clone();
    match rdr.read_byte_record(&mut rec) {
        Ok(true) => {}
        Ok(false) => return Ok((RawFile::new(path, DataFrame::empty()), HashSet::new())),
        Err(e) => return Err(csv_error(path, e, 0, 1)),
    }
    // A header whose quote is never closed swallowed the file: there are no columns to read.
    let header_bytes = byte_range(io, offset + header_start.byte(), Some(offset + rdr.position().byte()))?;
    if let Some(field) = open_quote(header_bytes, delimiter) {
        return Err(IngestError::UnterminatedQuote {
            path: path.to_path_buf(),
            record: 0,
            line: header_start.line(),
            column: format!("header field {}", field + 1),
        });
    }
    let names = header_names(path, &rec)?;
    let position = |name: &str| names.iter().position(|n| n == name);
    // A filter whose column the file lacks keeps every row (the mapping's check names it later).
    let filter = filter.and_then(|f| Some((f, position(f.column)?, f.id.and_then(position))));
    let len = std::fs::metadata(io).map_err(rerr)?.len().saturating_sub(offset);
    let file = Stretches { path, io, offset, len, delimiter, names: &names, filter };
    let starts = file.starts(rdr.position(), split)?;
    let read = match file.read(&starts) {
        Some(read) => read,
        None => {
            let mut c = Collector::new(path, &names, filter, (rdr.position().byte(), len));
            parse_records(&mut rdr, &mut rec, &mut c, io, offset, delimiter, None)?;
            c.finish()
        }
    };
    if u32::try_from(read.records).is_err() {
        return Err(IngestError::TooManyRecords { path: path.to_path_buf() });
    }
    let Collected { blocks, numbers, unreadable, left_out, left_ids, .. } = read;
    let text = TextTable::new(names.iter().map(|n| n.as_str().into()).collect(), blocks)?;
    let frame = RawFrame::Text(text);
    Ok((RawFile { path: path.to_path_buf(), frame, records: numbers, unreadable, left_out }, left_ids))
}

/// The CSV reader of a file's bytes: every record as bytes, a field count of its own each.
fn csv_reader<R: Read>(delimiter: u8, reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(reader)
}

/// Where a stretch of records begins: its byte (as the reader counts them, after a byte-order
/// mark) and the line the reader counts there.
#[derive(Debug, Clone, Copy)]
struct StretchStart {
    byte: u64,
    line: u64,
}

/// A file whose records after the header are read in stretches.
struct Stretches<'a> {
    path: &'a Path,
    io: &'a Path,
    offset: u64,
    /// The file's bytes after a byte-order mark.
    len: u64,
    delimiter: u8,
    names: &'a [String],
    filter: Option<(&'a RowFilter<'a>, usize, Option<usize>)>,
}

impl Stretches<'_> {
    /// Where the stretches begin: the first where the records do (`records`), each other at the
    /// first line break at or past its offset from `split`, where one reader would end a record
    /// if the break is not in a quoted value: after the `\r` of a `\r\n`, else after the `\n`.
    /// Empty when the file is read in one go.
    fn starts(&self, records: &csv::Position, split: &Splitter<'_>) -> Result<Vec<StretchStart>> {
        let rerr = |source| IngestError::from(CoreError::Read { path: self.path.to_path_buf(), source });
        let len = self.len;
        let first = records.byte();
        let mut bytes = vec![first];
        for at in split(len.saturating_sub(first)) {
            match self.line_end(first + at).map_err(rerr)? {
                Some(b) if b > *bytes.last().unwrap_or(&first) && b < len => bytes.push(b),
                _ => {}
            }
        }
        if bytes.len() < 2 {
            return Ok(Vec::new());
        }
        // The reader counts a line at every `\n`, in quoted values too.
        let counts: Vec<u64> =
            bytes.par_windows(2).map(|w| self.newlines(w[0], w[1])).collect::<std::io::Result<_>>().map_err(rerr)?;
        let mut line = records.line();
        let mut starts = vec![StretchStart { byte: first, line }];
        for (byte, n) in bytes[1..].iter().zip(counts) {
            line += n;
            starts.push(StretchStart { byte: *byte, line });
        }
        Ok(starts)
    }

    /// The end of the first line break at or past `at` (see [`Self::starts`]), if there is one.
    fn line_end(&self, at: u64) -> std::io::Result<Option<u64>> {
        // From the byte before, to see a `\r` before a `\n` at `at`.
        let from = at.saturating_sub(1);
        let mut file = File::open(self.io)?;
        file.seek(SeekFrom::Start(self.offset + from))?;
        let mut window = Vec::new();
        file.take(1 << 20).read_to_end(&mut window)?;
        let skip = usize::from(at > from);
        let Some(k) = window.iter().skip(skip).position(|b| *b == b'\n').map(|k| k + skip) else {
            return Ok(None);
        };
        let after_cr = k > 0 && window[k - 1] == b'\r';
        Ok(Some(from + k as u64 + u64::from(!after_cr)))
    }

    /// The `\n` bytes from `from` to `to`.
    fn newlines(&self, from: u64, to: u64) -> std::io::Result<u64> {
        let mut file = File::open(self.io)?;
        file.seek(SeekFrom::Start(self.offset + from))?;
        let mut rest = file.take(to - from);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut n = 0u64;
        loop {
            let got = super::read_full(&mut rest, &mut buf)?;
            if got == 0 {
                return Ok(n);
            }
            n += buf[..got].iter().filter(|b| **b == b'\n').count() as u64;
        }
    }

    /// The stretches read, one a task, and put together; `None` when there are none, one of
    /// them failed, or one did not end where the next begins: the file is then read in one go
    /// (which gives a failure its record number in the whole file).
    fn read(&self, starts: &[StretchStart]) -> Option<Collected> {
        if starts.len() < 2 {
            return None;
        }
        let parts: Vec<Option<Collected>> = (0..starts.len())
            .into_par_iter()
            .map(|k| self.stretch(starts[k], starts.get(k + 1).map(|s| s.byte)).ok().flatten())
            .collect();
        let Some(parts) = parts.into_iter().collect::<Option<Vec<Collected>>>() else {
            tracing::debug!(
                stretches = starts.len(),
                "a stretch failed or did not end where the next began: read in one go"
            );
            return None;
        };
        if u32::try_from(parts.iter().map(|p| p.records).sum::<u64>()).is_err() {
            return None;
        }
        parts.into_iter().reduce(Collected::then)
    }

    /// The records from `start` to `end` (the end of the file when `None`), or `None` when the
    /// record read last does not end at `end`.
    fn stretch(&self, start: StretchStart, end: Option<u64>) -> Result<Option<Collected>> {
        let rerr = |source| CoreError::Read { path: self.path.to_path_buf(), source };
        let file = BufReader::with_capacity(READ_BUFFER, File::open(self.io).map_err(rerr)?);
        let mut rdr = csv_reader(self.delimiter, file);
        let mut at = csv::Position::new();
        at.set_byte(start.byte).set_line(start.line);
        rdr.seek_raw(SeekFrom::Start(self.offset + start.byte), at)
            .map_err(|e| csv_error(self.path, e, 0, start.line))?;
        let mut c = Collector::new(self.path, self.names, self.filter, (start.byte, end.unwrap_or(self.len)));
        let mut rec = csv::ByteRecord::new();
        let ended = parse_records(&mut rdr, &mut rec, &mut c, self.io, self.offset, self.delimiter, end)?;
        Ok(ended.then(|| c.finish()))
    }
}

/// A csv error of `path`'s record `record` (on line `line`) as ingest's error: a read error, or
/// the kind of parse failure (the csv crate's byte-record errors carry positions, never values).
fn csv_error(path: &Path, e: csv::Error, record: u64, line: u64) -> IngestError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => CoreError::Read { path: path.to_path_buf(), source }.into(),
        other => IngestError::MalformedCsv {
            path: path.to_path_buf(),
            record,
            line,
            problem: match other {
                csv::ErrorKind::Utf8 { .. } => "a value is not UTF-8 text".into(),
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("expected {expected_len} fields, found {len}")
                }
                _ => "the record could not be parsed".into(),
            },
        },
    }
}

/// The lines of the record from byte `from` to byte `to` of `io`, the reader at line `line` at
/// `from`, as an editor numbers them. The reader counts a line at each `\n` it passes; before a
/// record it passes the terminators left before it (the `\n` of a `\r\n` whose `\r` ended the
/// record before, blank lines), and a record it ends at a `\r` ends before the `\n` that
/// follows: so the record begins that many lines after `line` and ends on the line its last `\n`
/// (or its end) is on.
fn record_lines(io: &Path, from: u64, to: u64, line: u64) -> Result<(u64, u64)> {
    let bytes = byte_range(io, from, Some(to))?;
    let newlines = |b: &[u8]| b.iter().filter(|b| **b == b'\n').count() as u64;
    let skipped = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(bytes.len());
    let first = line + newlines(&bytes[..skipped]);
    let last = line + newlines(&bytes) - u64::from(bytes.last() == Some(&b'\n'));
    Ok((first, last.max(first)))
}

/// Reads the records after the header into `c`, up to the first that begins at or past `end`
/// (bytes as the reader counts them) when one is given. Each record is handled once the next one
/// is read, so that the last one is known as such. Returns whether the records read end at `end`
/// (always, without one).
fn parse_records<R: Read>(
    rdr: &mut csv::Reader<R>,
    rec: &mut csv::ByteRecord,
    c: &mut Collector<'_>,
    io: &Path,
    offset: u64,
    delimiter: u8,
    end: Option<u64>,
) -> Result<bool> {
    let width = c.names.len();
    let mut pending = csv::ByteRecord::new();
    let mut pending_at: Option<(u64, u64, u64, u64)> = None; // start byte, first line, last line, end byte
    loop {
        let start = rdr.position().clone();
        let more = match end {
            Some(end) if start.byte() >= end => false,
            _ => rdr.read_byte_record(rec).map_err(|e| csv_error(c.path, e, c.read.records + 1, start.line()))?,
        };
        if let Some((from, first, last, to)) = pending_at.take() {
            // The file's last record.
            let is_last = !more && end.is_none();
            // More than one line and a field count that does not fit, or a quote still open at the
            // end of the file: an unbalanced quote joined lines. Read them one by one.
            let joined = (last > first && pending.len() != width)
                || (is_last && open_quote(byte_range(io, offset + from, None)?, delimiter).is_some());
            if joined {
                let bytes = byte_range(io, offset + from, (!is_last).then_some(offset + to))?;
                c.push_lines(&bytes, first, delimiter)?;
            } else {
                c.push(&pending, || record_lines(io, offset + from, offset + to, first))?;
            }
            c.size_block(to);
        }
        if !more {
            return Ok(end.is_none_or(|end| start.byte() == end));
        }
        let stop = rdr.position().clone();
        let last_line = stop.line().saturating_sub(1).max(start.line());
        pending_at = Some((start.byte(), start.line(), last_line, stop.byte()));
        std::mem::swap(rec, &mut pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("f.csv");
        std::fs::write(&p, content).expect("write");
        (dir, p)
    }

    #[test]
    fn reads_quoted_multiline_values_and_empty_cells_as_null() -> Result<()> {
        let (_d, p) = write(b"id,note,n\n1,\"a, b\",\n2,\"line one\nline \"\"two\"\"\",3\n");
        let f = read(&p, &p, b',', false)?;
        let df = f.frame.to_frame()?;
        assert_eq!(df.height(), 2);
        let note = df.column("note")?.str()?.clone();
        assert_eq!(note.get(1), Some("line one\nline \"two\""));
        assert_eq!(df.column("n")?.null_count(), 1);
        assert!(f.unreadable.is_empty());
        assert_eq!(f.record(1), 2);
        Ok(())
    }

    #[test]
    fn bad_records_are_set_aside_with_their_number_and_the_rest_is_read() -> Result<()> {
        let (_d, p) = write(b"id,email\n1,a@x.com\n2,b@x.com,extra\n3\n4,\xff\xfe\n5,c\0d\n6,e@x.com\n");
        let f = read(&p, &p, b',', false)?;
        assert_eq!(f.frame.height(), 2);
        let reasons: Vec<_> = f.unreadable.iter().map(|u| (u.record, u.reason)).collect();
        assert_eq!(
            reasons,
            [
                (2, RejectReason::WrongFieldCount),
                (3, RejectReason::WrongFieldCount),
                (4, RejectReason::InvalidEncoding),
                (5, RejectReason::InvalidEncoding),
            ]
        );
        assert_eq!((f.record(0), f.record(1)), (1, 6));
        for u in &f.unreadable {
            assert!(!u.detail.contains("x.com"), "{}", u.detail);
        }
        Ok(())
    }

    #[test]
    fn a_rejected_record_has_the_lines_an_editor_shows_with_either_line_end() -> Result<()> {
        // Line 3 has a field too many; lines 5-6 are a quoted value with a byte that is not UTF-8
        // (after a blank line 4); line 7 has a field too few, and is the last, unterminated.
        let lf = b"id,note\n1,a\n2,b,extra\n\n3,\"x\n\xff\"\n4";
        let crlf = b"id,note\r\n1,a\r\n2,b,extra\r\n\r\n3,\"x\r\n\xff\"\r\n4";
        for content in [lf.as_slice(), crlf.as_slice()] {
            let (_d, p) = write(content);
            let f = read(&p, &p, b',', false)?;
            let lines: Vec<(u64, u64, &str)> =
                f.unreadable.iter().map(|u| (u.record, u.line, u.detail.split(':').next().unwrap_or(""))).collect();
            assert_eq!(
                lines,
                [(2, 3, "line 3"), (3, 5, "lines 5 to 6"), (4, 7, "line 7")],
                "{:?}",
                String::from_utf8_lossy(content)
            );
        }
        Ok(())
    }

    #[test]
    fn an_unbalanced_quote_rejects_its_line_and_the_lines_it_swallowed_are_read() -> Result<()> {
        // Mid-file: the quote pairs with the next one, joining three lines into one record.
        let (_d, p) = write(b"id,email,phone\n1,a@x.com,1\n2,\"b@x.com,2\n3,c@x.com,3\n4,\"d, inc\",4\n5,e@x.com,5\n");
        let f = read(&p, &p, b',', false)?;
        let df = f.frame.to_frame()?;
        let ids: Vec<Option<&str>> = df.column("id")?.str()?.iter().collect();
        assert_eq!(ids, [Some("1"), Some("3"), Some("4"), Some("5")]);
        assert_eq!((f.record(1), f.record(2), f.record(3)), (3, 4, 5));
        let bad: Vec<_> = f.unreadable.iter().map(|u| (u.record, u.line, u.reason)).collect();
        assert_eq!(bad, [(2, 3, RejectReason::UnbalancedQuote)]);
        assert_eq!(f.unreadable[0].column.as_deref(), Some("email"));
        assert!(!f.unreadable[0].detail.contains("x.com"), "{}", f.unreadable[0].detail);
        // Unterminated at the end of the file: the same.
        let (_d, p) = write(b"id,email,phone\n1,a@x.com,1\n2,\"b@x.com,2\n3,c@x.com,3\n");
        let f = read(&p, &p, b',', false)?;
        assert_eq!(f.frame.height(), 2);
        assert_eq!(f.unreadable.iter().map(|u| u.reason).collect::<Vec<_>>(), [RejectReason::UnbalancedQuote]);
        Ok(())
    }

    #[test]
    fn a_header_whose_quote_is_never_closed_fails_the_file() {
        let (_d, p) = write(b"id,\"email,phone\n1,a@x.com,1\n");
        let msg = read(&p, &p, b',', false).map(|_| ()).expect_err("unterminated").to_string();
        assert!(msg.contains("record 0") && msg.contains("header field 2") && msg.contains("never"), "{msg}");
        assert!(!msg.contains("x.com"), "{msg}");
    }

    #[test]
    fn duplicated_header_names_fail_the_file() {
        let (_d, p) = write(b"id,Email,Email\n1,a,b\n");
        let msg = read(&p, &p, b',', false).map(|_| ()).expect_err("duplicate").to_string();
        assert!(msg.contains("`Email`") && msg.contains("2 and 3"), "{msg}");
    }

    #[test]
    fn a_file_longer_than_a_block_is_read_in_blocks_of_chunk_rows() -> Result<()> {
        let rows = CHUNK_ROWS + 3;
        let mut text = String::from("id,n\n");
        for i in 0..rows {
            text.push_str(&format!("{i},{}\n", if i % 2 == 0 { "x" } else { "" }));
        }
        let (_d, p) = write(text.as_bytes());
        let f = read(&p, &p, b',', false)?;
        let heights: Vec<usize> = f.frame.blocks().iter().map(super::super::Block::height).collect();
        assert_eq!(heights, [CHUNK_ROWS, 3]);
        assert_eq!(f.frame.height(), rows);
        let last = CHUNK_ROWS + 1;
        assert_eq!(f.frame.row(last), [("id", Some(last.to_string())), ("n", None)]);
        let n = f.frame.column("n")?.map(|c| c.null_count());
        assert_eq!(n, Some(rows / 2));
        Ok(())
    }

    /// Every row, record number and reject of a file read in stretches split at `at`, and of the
    /// same file read in one go.
    fn same_as_one_reader(p: &Path, filter: Option<&RowFilter<'_>>, whole: &(RawFile, HashSet<u64>), at: &[u64]) {
        let split = read_split(p, p, b',', false, filter, &|_| at.to_vec()).expect("read in stretches");
        let frames = (whole.0.frame.to_frame().expect("whole"), split.0.frame.to_frame().expect("split"));
        assert!(frames.0.equals_missing(&frames.1), "split at {at:?}: {frames:?}");
        assert_eq!(whole.0.records, split.0.records, "split at {at:?}");
        assert_eq!(whole.0.unreadable, split.0.unreadable, "split at {at:?}");
        assert_eq!((whole.0.left_out, &whole.1), (split.0.left_out, &split.1), "split at {at:?}");
    }

    /// A file with what a reader must get right at a stretch's edge: quoted delimiters, line
    /// breaks and quotes in values, blank lines, records it rejects, and a quote never closed.
    fn awkward(newline: &str) -> Vec<u8> {
        let rows = [
            "id,email,note",
            "1,a@x.com,plain",
            "2,b@x.com,\"with, comma\"",
            "3,c@x.com,\"two\nlines\"",
            "",
            "4,d@x.com,\"crlf\r\ninside\"",
            "5,e@x.com,\"a \"\"quote\"\"\"",
            "6,f@x.com",
            "7,g@x.com,BAD",
            "8,h@x.com,\"three\n\nlines\"",
            "9,\"i@x.com,never closed",
            "10,j@x.com,after",
            "11,k@x.com,\"closes\"",
            "12,l@x.com,last",
        ];
        let mut out = Vec::new();
        for r in rows {
            // Row 7's value: bytes that are not UTF-8.
            out.extend(r.as_bytes().strip_suffix(b"BAD").map_or(r.as_bytes().to_vec(), |r| [r, b"\xff\xfe"].concat()));
            out.extend(newline.bytes());
        }
        out
    }

    #[test]
    fn a_file_read_in_stretches_gives_what_one_reader_gives_wherever_it_is_split() -> Result<()> {
        let keep = |cell: Option<&str>| cell.is_none_or(|v| !v.ends_with('3'));
        let filter = RowFilter { column: "id", keep: &keep, id: Some("id") };
        for newline in ["\n", "\r\n"] {
            let content = awkward(newline);
            let (_d, p) = write(&content);
            let header = content.iter().position(|b| *b == b'\n').expect("header") as u64 + 1;
            let data = content.len() as u64 - header;
            for filter in [None, Some(&filter)] {
                let whole = read_split(&p, &p, b',', false, filter, &|_| Vec::new())?;
                assert_eq!(whole.0.unreadable.len(), 3, "{:?}", whole.0.unreadable);
                for a in 0..data {
                    same_as_one_reader(&p, filter, &whole, &[a]);
                }
                for a in (0..data).step_by(7) {
                    for b in (a..data).step_by(11) {
                        same_as_one_reader(&p, filter, &whole, &[a, b, (b + data) / 2]);
                    }
                }
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        #[test]
        fn any_file_read_in_stretches_gives_what_one_reader_gives(
            body in proptest::collection::vec(proptest::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', 0xff]), 0..300),
            mut at in proptest::collection::vec(0u64..300, 1..4),
        ) {
            let content = [b"a,b,c\n".as_slice(), &body].concat();
            let (_d, p) = write(&content);
            let whole = read_split(&p, &p, b',', false, None, &|_| Vec::new()).expect("read in one go");
            at.sort_unstable();
            same_as_one_reader(&p, None, &whole, &at);
        }
    }

    #[test]
    fn a_clean_file_is_read_in_stretches_with_the_line_numbers_of_one_reader() -> Result<()> {
        let mut content = String::from("id,n\r\n");
        for i in 0..200 {
            content.push_str(&if i == 150 { format!("{i},1,extra\r\n") } else { format!("{i},{}\r\n", i % 7) });
        }
        let (_d, p) = write(content.as_bytes());
        let names = vec!["id".to_string(), "n".to_string()];
        let file = Stretches {
            path: &p,
            io: &p,
            offset: 0,
            len: content.len() as u64,
            delimiter: b',',
            names: &names,
            filter: None,
        };
        let mut after_header = csv::Position::new();
        after_header.set_byte(5).set_line(1);
        let starts = file.starts(&after_header, &|data| vec![data / 3, 2 * data / 3])?;
        assert_eq!(starts.len(), 3);
        let read = file.read(&starts).expect("no stretch read again");
        assert_eq!((read.records, read.rows), (200, 199));
        // Record 151 is on line 152 (the header is line 1).
        let bad: Vec<(u64, u64)> = read.unreadable.iter().map(|u| (u.record, u.line)).collect();
        assert_eq!(bad, [(151, 152)]);
        let whole = read_split(&p, &p, b',', false, None, &|_| Vec::new())?;
        assert_eq!(whole.0.unreadable, read.unreadable);
        assert_eq!(whole.0.records, read.numbers);
        Ok(())
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_name() -> Result<()> {
        let (_d, p) = write(b"\xEF\xBB\xBFid,x\n1,2\n");
        let f = read(&p, &p, b',', true)?;
        assert_eq!(f.frame.names(), ["id", "x"]);
        Ok(())
    }
}
