//! Reading source files into raw frames (the file I/O around [`crate::run`]).
//!
//! CSV is read record by record with every column as text ([`delimited`]), so ingest decides how
//! each value is parsed and can reject a row with a reason instead of failing the file; JSON Lines
//! line by line ([`json_lines`]); Parquet keeps its types. Records that cannot be read at all (a
//! wrong field count, bytes that are not UTF-8, a line that is not a JSON object) are set aside as
//! [`UnreadableRecord`]s and end up in the rejects table.

mod decode;
mod delimited;
mod json_lines;
mod partitions;
mod postgres;
mod raw;

pub(crate) use delimited::id_digest;
pub use delimited::{CellTest, RowFilter};
use partitions::DayRange;
pub use postgres::query_digest;
pub(crate) use raw::{Block, TextColumn};
pub use raw::{RawFrame, TextTable};

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use leadscore_core::config::{FileFormat, Location, Source, Table, TextEncoding};
use leadscore_core::layout::InputFile;
use leadscore_core::schema::{RejectReason, SourceKind, leads};
use leadscore_core::time::in_range;

use crate::parse::TimestampText;
use leadscore_core::{Config, CoreError, RunDate, Scope};
use polars::prelude::*;

use crate::error::{IngestError, Result};

/// The record number (1-based, header not counted; the line number for JSON Lines) of each row
/// of a [`RawFile`]'s frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordNumbers {
    /// Row `i` is record `i + 1`: every record was read.
    Consecutive,
    /// Row `i` is record `numbers[i]`.
    Listed(Vec<u32>),
}

/// A record that could not be read as a row: it is rejected with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// Its record number (as in [`RecordNumbers`]).
    pub record: u64,
    /// The line it starts on.
    pub line: u64,
    /// Why it cannot be read.
    pub reason: RejectReason,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What was expected and found, without the values.
    pub detail: String,
    /// Its values as far as they can be read (column → text), for the rejects table.
    pub values: Vec<(String, Option<String>)>,
}

/// One file of a source, read into its raw columns.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// The file.
    pub path: PathBuf,
    /// Its readable rows, raw columns as in the file.
    pub frame: RawFrame,
    /// The record number of each row of `frame`.
    pub records: RecordNumbers,
    /// The records that could not be read.
    pub unreadable: Vec<UnreadableRecord>,
    /// Well-formed records the reader left out (a run without training, [`RowFilter`]).
    pub left_out: u64,
}

impl RawFile {
    /// A file whose every record is a row of `frame`.
    pub fn new(path: impl Into<PathBuf>, frame: DataFrame) -> Self {
        Self {
            path: path.into(),
            frame: frame.into(),
            records: RecordNumbers::Consecutive,
            unreadable: Vec::new(),
            left_out: 0,
        }
    }

    /// The record number of row `i` of the frame.
    pub fn record(&self, i: usize) -> u64 {
        match &self.records {
            RecordNumbers::Consecutive => i as u64 + 1,
            RecordNumbers::Listed(v) => v.get(i).map_or(i as u64 + 1, |r| u64::from(*r)),
        }
    }

    /// The row of the frame that holds record `record`, if it is one.
    pub fn row_of(&self, record: u64) -> Option<usize> {
        match &self.records {
            RecordNumbers::Consecutive => {
                (record >= 1 && record <= self.frame.height() as u64).then(|| (record - 1) as usize)
            }
            RecordNumbers::Listed(v) => v.binary_search(&u32::try_from(record).ok()?).ok(),
        }
    }

    /// Keeps the rows of the frame marked in `keep` (their record numbers with them); returns
    /// how many were left out.
    pub fn retain(&mut self, keep: &[bool]) -> Result<u64> {
        let kept = keep.iter().filter(|k| **k).count();
        if kept == self.frame.height() {
            return Ok(0);
        }
        let records = (0..self.frame.height()).filter(|i| keep[*i]).map(|i| self.record(i) as u32).collect();
        self.frame.retain(keep)?;
        self.records = RecordNumbers::Listed(records);
        let left = (keep.len() - kept) as u64;
        self.left_out += left;
        Ok(left)
    }

    /// Records read: rows, unreadable records and those left out.
    pub fn records_read(&self) -> u64 {
        self.frame.height() as u64 + self.unreadable.len() as u64 + self.left_out
    }
}

/// Every file of every configured source, read.
#[derive(Debug, Clone)]
pub struct RawSources {
    /// Leads files.
    pub leads: Vec<RawFile>,
    /// Deals files.
    pub deals: Vec<RawFile>,
    /// Events files, when an events source is configured.
    pub events: Option<Vec<RawFile>>,
    /// The files of each `[sources.tables]` table, in the config's order.
    pub tables: Vec<Vec<RawFile>>,
}

impl RawSources {
    /// The files of one source.
    pub fn files(&self, kind: SourceKind) -> Option<&[RawFile]> {
        match kind {
            SourceKind::Leads => Some(&self.leads),
            SourceKind::Deals => Some(&self.deals),
            SourceKind::Events => self.events.as_deref(),
        }
    }
}

/// A source or a `[sources.tables]` table, as reading sees it.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// Its config section (`leads`, `tables.opportunities`), for messages.
    pub section: String,
    /// The source whose partitions a run reads only in part ([`Config::first_needed_day`]);
    /// `None` for a table, read whole.
    pub kind: Option<SourceKind>,
    /// Where it is read from.
    pub location: &'a Location,
}

impl<'a> From<&'a Source> for Input<'a> {
    fn from(s: &'a Source) -> Self {
        Self { section: s.kind.name().to_string(), kind: Some(s.kind), location: &s.location }
    }
}

impl<'a> From<&'a Table> for Input<'a> {
    fn from(t: &'a Table) -> Self {
        Self { section: t.section(), kind: None, location: &t.location }
    }
}

/// Every source and table of the config, as read.
fn inputs(config: &Config) -> impl Iterator<Item = Input<'_>> {
    config.sources.iter().map(Input::from).chain(config.sources.tables.iter().map(Input::from))
}

/// Expands a source's path, glob or folder (relative to the config folder) into its files,
/// sorted. A folder is read whole, files in subfolders included ([`partitions::files_under`]).
/// For a run (`run_date` given), files in date partitions outside the days the run uses are left
/// out ([`partitions`]); without one (`validate`), every file is listed.
pub fn resolve_files(config: &Config, source: &Input<'_>, run_date: Option<RunDate>) -> Result<Vec<PathBuf>> {
    let path = &source.location.path;
    let full = config.resolve(path);
    let pattern = full.to_string_lossy().into_owned();
    let has_glob = path.contains(['*', '?', '[']);
    let mut files = if has_glob {
        let paths = glob::glob(&pattern).map_err(|e| IngestError::BadPattern {
            section: source.section.clone(),
            pattern: path.clone(),
            message: e.msg.to_string(),
        })?;
        paths.filter_map(std::result::Result::ok).filter(|p| p.is_file()).collect::<Vec<_>>()
    } else if full.is_file() {
        vec![full.clone()]
    } else if full.is_dir() {
        partitions::files_under(&full).map_err(|source| CoreError::Read { path: full.clone(), source })?
    } else {
        Vec::new()
    };
    files.sort();
    if files.is_empty() {
        let (section, pattern_written) = (source.section.clone(), path.clone());
        return Err(IngestError::NoFiles { section, pattern: pattern_written, resolved: pattern });
    }
    let Some(run_date) = run_date else {
        return Ok(files);
    };
    let from = source.kind.and_then(|kind| config.first_needed_day(kind, run_date));
    let range = DayRange::for_run(from, run_date);
    let found = files.len();
    let kept = partitions::prune(files, range);
    if kept.is_empty() {
        let days = range.from.map_or_else(|| format!("up to {}", range.to), |from| format!("{from} to {}", range.to));
        return Err(IngestError::NoPartitions {
            section: source.section.clone(),
            pattern: path.clone(),
            files: found,
            days,
        });
    }
    Ok(kept)
}

/// The source files the run for `run_date` reads: what freshness compares with the files an
/// earlier run read.
pub fn source_files(config: &Config, run_date: RunDate) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for source in inputs(config).filter(|s| s.location.database.is_none()) {
        out.extend(resolve_files(config, &source, Some(run_date))?);
    }
    Ok(out)
}

/// The format of a file: configured, or told by its extension.
pub fn file_format(source: &Input<'_>, path: &Path) -> Result<FileFormat> {
    if let Some(f) = source.location.format {
        return Ok(f);
    }
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    FileFormat::from_extension(&ext).ok_or_else(|| IngestError::UnknownFormat {
        section: source.section.clone(),
        path: path.to_path_buf(),
        extension: if ext.is_empty() { "(none)".into() } else { ext },
    })
}

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let rerr = |source| CoreError::Read { path: path.to_path_buf(), source };
    let mut buf = vec![0u8; n];
    let got = read_full(&mut File::open(path).map_err(rerr)?, &mut buf).map_err(rerr)?;
    buf.truncate(got);
    Ok(buf)
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..])? {
            0 => break,
            k => got += k,
        }
    }
    Ok(got)
}

/// What the first bytes of a file say it is, when that is not what its format expects.
fn wrong_content(start: &[u8], format: FileFormat) -> Option<String> {
    let text = format != FileFormat::Parquet;
    if text && start.starts_with(b"PAR1") {
        return Some("it is a Parquet file; set `format = \"parquet\"` or name it .parquet".into());
    }
    if start.starts_with(b"PK\x03\x04") {
        return Some("it is a ZIP archive (an Excel workbook?); export the sheet as CSV".into());
    }
    if start.starts_with(b"\x1f\x8b") {
        return Some("it is gzip-compressed; decompress it first".into());
    }
    if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") {
        return Some("it is UTF-16 text; set `encoding = \"utf-16\"` in its source, or save it as UTF-8".into());
    }
    let first = start.trim_ascii_start().first().copied();
    if format == FileFormat::Csv && matches!(first, Some(b'{' | b'[')) {
        return Some(
            "it looks like JSON (it starts with `{` or `[`); for JSON Lines set `format = \"jsonl\"` or name it .jsonl"
                .into(),
        );
    }
    if format == FileFormat::Jsonl && first.is_some_and(|b| b != b'{') {
        return Some(
            "a JSON Lines file holds one JSON object per line, but the first line does not start with `{`".into(),
        );
    }
    if format == FileFormat::Parquet && !start.starts_with(b"PAR1") {
        return Some("it does not start with the Parquet magic bytes `PAR1`".into());
    }
    None
}

/// Reads one file; a text file in `encoding`. A zero-byte file gives an empty frame (the caller
/// decides whether that is an error); content that does not match the format is an error naming
/// the file.
pub fn read_file(path: &Path, format: FileFormat, delimiter: u8, encoding: TextEncoding) -> Result<RawFile> {
    read_file_filtered(path, format, delimiter, encoding, None)
}

/// [`read_file`], a CSV file's records that `filter` rejects left out as they are read (other
/// formats are read whole: ingest leaves their rows out after reading). When a kept row shares
/// its id with one left out, the file is read again whole, so that de-duplication sees every
/// version of the id.
pub fn read_file_filtered(
    path: &Path,
    format: FileFormat,
    delimiter: u8,
    encoding: TextEncoding,
    filter: Option<&RowFilter<'_>>,
) -> Result<RawFile> {
    let start = head(path, 8192)?;
    if start.is_empty() {
        return Ok(RawFile::new(path, DataFrame::empty()));
    }
    // Decoded into a UTF-8 copy first, which is what the readers then read (messages name the
    // file as configured).
    let decoded = if format == FileFormat::Parquet { None } else { decode::to_utf8(path, encoding)? };
    let io = decoded.as_ref().map_or(path, |copy| copy.path());
    let start = if decoded.is_some() { head(io, 8192)? } else { start };
    let bom = start.starts_with(b"\xEF\xBB\xBF");
    let what = match format {
        FileFormat::Csv => "CSV",
        FileFormat::Jsonl => "JSON Lines",
        FileFormat::Parquet => "Parquet",
    };
    let body = if bom { &start[3..] } else { &start[..] };
    if let Some(found) = wrong_content(body, format) {
        return Err(IngestError::WrongContent { path: path.into(), format: what, found });
    }
    match format {
        FileFormat::Csv => {
            let (file, left_ids) = delimited::read_filtered(path, io, delimiter, bom, filter)?;
            let ids = match filter.and_then(|f| f.id) {
                Some(id) if !left_ids.is_empty() => file.frame.text(id)?,
                _ => None,
            };
            let shared =
                ids.is_some_and(|ids| ids.iter().flatten().any(|v| left_ids.contains(&delimited::id_digest(v))));
            if shared { delimited::read(path, io, delimiter, bom) } else { Ok(file) }
        }
        FileFormat::Jsonl => json_lines::read(path, io),
        FileFormat::Parquet => {
            let file = File::open(path).map_err(|source| CoreError::Read { path: path.to_path_buf(), source })?;
            let frame = ParquetReader::new(file).finish().map_err(|source| IngestError::Unreadable {
                path: path.to_path_buf(),
                format: "Parquet",
                source,
            })?;
            Ok(RawFile::new(path, frame))
        }
    }
}

/// The first `rows` records of a UTF-8 file (for `leadscore init`, which looks at a sample):
/// CSV records and JSON lines are copied into a temporary file that the readers read, so a file
/// of any size costs only its head; Parquet is read with a row limit.
pub(crate) fn read_head(path: &Path, format: FileFormat, delimiter: u8, rows: usize) -> Result<RawFile> {
    let rerr = |source| IngestError::from(CoreError::Read { path: path.to_path_buf(), source });
    let werr = |source| IngestError::from(CoreError::Write { path: std::env::temp_dir(), source });
    let start = head(path, 3)?;
    let bom = start.starts_with(b"\xEF\xBB\xBF");
    match format {
        FileFormat::Parquet => {
            let file = File::open(path).map_err(rerr)?;
            let frame = ParquetReader::new(file)
                .with_slice(Some((0, rows)))
                .finish()
                .map_err(|source| IngestError::Unreadable { path: path.to_path_buf(), format: "Parquet", source })?;
            Ok(RawFile::new(path, frame))
        }
        FileFormat::Csv => {
            let copy = tempfile::NamedTempFile::new().map_err(werr)?;
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(delimiter)
                .from_reader(File::open(path).map_err(rerr)?);
            let mut writer = csv::WriterBuilder::new().flexible(true).delimiter(delimiter).from_writer(copy.as_file());
            // The header and `rows` records; a record the reader cannot parse ends the sample.
            for record in reader.byte_records().take(rows + 1).map_while(std::result::Result::ok) {
                writer.write_byte_record(&record).map_err(|e| werr(e.into()))?;
            }
            writer.flush().map_err(werr)?;
            drop(writer);
            let mut file = delimited::read(path, copy.path(), delimiter, bom)?;
            file.path = path.to_path_buf();
            Ok(file)
        }
        FileFormat::Jsonl => {
            use std::io::{BufRead, Write};
            let mut copy = tempfile::NamedTempFile::new().map_err(werr)?;
            let reader = std::io::BufReader::new(File::open(path).map_err(rerr)?);
            for line in reader.split(b'\n').take(rows) {
                copy.write_all(&line.map_err(rerr)?).map_err(werr)?;
                copy.write_all(b"\n").map_err(werr)?;
            }
            copy.flush().map_err(werr)?;
            json_lines::read(path, copy.path())
        }
    }
}

/// Reads the configured sources one at a time, as ingest reaches them ([`crate::run`] through
/// [`Sources`]): a source's text is read after the one before it was parsed and freed, so that
/// ingest never holds the text of every source at once. Records each input with its content hash,
/// in the order read. For a run, `run_date` leaves out the partitions it does not use (see
/// [`resolve_files`]); `None` reads everything.
///
/// In a run without training ([`Scope::Scoring`]) the CSV readers leave out, as they read, the
/// leads created before the first day the run may export and the deals and events of other users
/// than the kept leads' (ingest leaves out the same rows of other formats after reading): the
/// text of rows the run does not keep is never built.
pub struct SourceReader<'c> {
    config: &'c Config,
    run_date: Option<RunDate>,
    /// In a run without training, the first instant (microseconds) of the first exported day.
    scoring_from: Option<i64>,
    /// The inputs read so far, in the order read.
    inputs: Vec<InputFile>,
    /// The leads files, when read before the run asks for them ([`Self::with_leads`]).
    leads: Option<Vec<RawFile>>,
}

impl<'c> SourceReader<'c> {
    /// A reader of `config`'s sources for a run of `scope` on `run_date` (or of every file).
    pub fn new(config: &'c Config, run_date: Option<RunDate>, scope: Scope) -> Self {
        let scoring_from = match (scope, run_date) {
            (Scope::Scoring, Some(day)) => Some(config.first_exported_day(day).start_micros(config.project.timezone)),
            _ => None,
        };
        Self { config, run_date, scoring_from, inputs: Vec::new(), leads: None }
    }

    /// Reads the leads now (a stage's read step), for [`Sources::leads`] to hand over.
    pub fn with_leads(mut self) -> Result<Self> {
        self.leads = Some(self.read_leads()?);
        Ok(self)
    }

    /// The inputs read so far, with their hashes and rows, in the order read.
    pub fn into_inputs(self) -> Vec<InputFile> {
        self.inputs
    }

    /// Every file of `source` (or the result of its query), `filter` applied as CSV is read.
    fn read(&mut self, source: Input<'_>, filter: Option<&RowFilter<'_>>) -> Result<Vec<RawFile>> {
        if let Some(db) = &source.location.database {
            let (file, input) = postgres::read(&source.section, db)?;
            self.inputs.push(input);
            return Ok(vec![file]);
        }
        let mut out = Vec::new();
        for path in resolve_files(self.config, &source, self.run_date)? {
            let format = file_format(&source, &path)?;
            let (delimiter, encoding) = (source.location.delimiter, source.location.encoding);
            // The manifest's content hash is taken while the file is parsed, on another core.
            let (file, input) = rayon::join(
                || read_file_filtered(&path, format, delimiter, encoding, filter),
                || InputFile::hash(&path, None),
            );
            let file = file?;
            self.inputs.push(InputFile { rows: Some(file.records_read()), ..input? });
            out.push(file);
        }
        Ok(out)
    }

    /// The files of a source, only the rows of `users` when given (the user field has one name in
    /// every source; its values are trimmed, as ingest reads them).
    fn read_users(&mut self, source: &Source, users: Option<&HashSet<&str>>) -> Result<Vec<RawFile>> {
        let keep = users.map(|users| move |cell: Option<&str>| cell.map(str::trim).is_some_and(|u| users.contains(u)));
        let filter = keep.as_ref().zip(source.column(leads::USER_ID)).map(|(keep, column)| RowFilter {
            column,
            keep: keep as &CellTest<'_>,
            id: None,
        });
        self.read(source.into(), filter.as_ref())
    }

    /// The leads files; in a run without training, those created from the first exported day.
    fn read_leads(&mut self) -> Result<Vec<RawFile>> {
        let config = self.config;
        let src = &config.sources.leads;
        let tz = src.timezone.unwrap_or(config.project.timezone);
        let created = TimestampText::new(src.timestamp_format(leads::CREATED_AT), tz);
        let keep_created = self.scoring_from.map(|from| {
            move |cell: Option<&str>| -> bool {
                let Some(t) = cell else { return true };
                // What cannot be read is kept, and rejected as in any run.
                match created.parse(t).and_then(in_range) {
                    Ok(at) => at >= from,
                    Err(_) => true,
                }
            }
        });
        let filter = match (&keep_created, src.column(leads::CREATED_AT)) {
            (Some(keep), Some(column)) => Some(RowFilter { column, keep, id: src.column(leads::LEAD_ID) }),
            _ => None,
        };
        self.read(src.into(), filter.as_ref())
    }
}

/// Where [`crate::run`] gets each source's files, one source at a time: frames already read
/// ([`RawSources`]), or files read as the run reaches them ([`SourceReader`]).
pub trait Sources {
    /// The leads files.
    fn leads(&mut self) -> Result<Vec<RawFile>>;
    /// The deals files; in a run without training `users` are the kept leads' users, and a
    /// reader may leave out the other users' rows (ingest leaves them out in any case).
    fn deals(&mut self, users: Option<&HashSet<&str>>) -> Result<Vec<RawFile>>;
    /// The events files, when an events source is configured; `users` as for [`Self::deals`].
    fn events(&mut self, users: Option<&HashSet<&str>>) -> Result<Option<Vec<RawFile>>>;
    /// The files of each `[sources.tables]` table, in the config's order.
    fn tables(&mut self) -> Result<Vec<Vec<RawFile>>>;
}

impl<S: Sources + ?Sized> Sources for &mut S {
    fn leads(&mut self) -> Result<Vec<RawFile>> {
        (**self).leads()
    }
    fn deals(&mut self, users: Option<&HashSet<&str>>) -> Result<Vec<RawFile>> {
        (**self).deals(users)
    }
    fn events(&mut self, users: Option<&HashSet<&str>>) -> Result<Option<Vec<RawFile>>> {
        (**self).events(users)
    }
    fn tables(&mut self) -> Result<Vec<Vec<RawFile>>> {
        (**self).tables()
    }
}

impl Sources for RawSources {
    fn leads(&mut self) -> Result<Vec<RawFile>> {
        Ok(std::mem::take(&mut self.leads))
    }
    fn deals(&mut self, _: Option<&HashSet<&str>>) -> Result<Vec<RawFile>> {
        Ok(std::mem::take(&mut self.deals))
    }
    fn events(&mut self, _: Option<&HashSet<&str>>) -> Result<Option<Vec<RawFile>>> {
        Ok(self.events.take())
    }
    fn tables(&mut self) -> Result<Vec<Vec<RawFile>>> {
        Ok(std::mem::take(&mut self.tables))
    }
}

impl Sources for SourceReader<'_> {
    fn leads(&mut self) -> Result<Vec<RawFile>> {
        match self.leads.take() {
            Some(leads) => Ok(leads),
            None => self.read_leads(),
        }
    }

    fn deals(&mut self, users: Option<&HashSet<&str>>) -> Result<Vec<RawFile>> {
        let config = self.config;
        self.read_users(&config.sources.deals, users)
    }

    fn events(&mut self, users: Option<&HashSet<&str>>) -> Result<Option<Vec<RawFile>>> {
        let config = self.config;
        let Some(src) = &config.sources.events else { return Ok(None) };
        self.read_users(src, users).map(Some)
    }

    fn tables(&mut self) -> Result<Vec<Vec<RawFile>>> {
        let config = self.config;
        config.sources.tables.iter().map(|t| self.read(t.into(), None)).collect()
    }
}

/// Reads every file of every configured source (or the result of its query), and records each
/// input with its content hash. For a run, `run_date` leaves out the partitions it does not use
/// (see [`resolve_files`]); `None` reads everything.
pub fn read_sources(config: &Config, run_date: Option<RunDate>) -> Result<(RawSources, Vec<InputFile>)> {
    read_sources_in(config, run_date, Scope::Full)
}

/// [`read_sources`] for a run of `scope` ([`SourceReader`]): every source read at once, the deals
/// and events of a run without training those of the users of the leads read.
pub fn read_sources_in(
    config: &Config,
    run_date: Option<RunDate>,
    scope: Scope,
) -> Result<(RawSources, Vec<InputFile>)> {
    let mut reader = SourceReader::new(config, run_date, scope);
    let leads = reader.leads()?;
    let users = reader.scoring_from.map(|_| lead_users(&config.sources.leads, &leads)).transpose()?;
    let users: Option<HashSet<&str>> = users.as_ref().map(|u| u.iter().map(String::as_str).collect());
    let deals = reader.deals(users.as_ref())?;
    let events = reader.events(users.as_ref())?;
    let tables = reader.tables()?;
    Ok((RawSources { leads, deals, events, tables }, reader.into_inputs()))
}

/// The users of the leads read (trimmed, as ingest reads them).
fn lead_users(src: &Source, files: &[RawFile]) -> Result<HashSet<String>> {
    let mut users = HashSet::new();
    let Some(column) = src.column(leads::USER_ID) else { return Ok(users) };
    for f in files {
        if let Some(ids) = f.frame.text(column)? {
            users.extend(ids.iter().flatten().map(str::to_string));
        }
    }
    Ok(users)
}
