//! Errors of the ingest stage.

use std::path::PathBuf;

use leadscore_core::{Classify, CoreError, ExitKind};

/// Why ingest could not run. Row-level problems are not errors: those rows go to the rejects table.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A core operation failed (reading, writing, a missing column).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A source path or glob matches no file.
    #[error("[sources.{section}] path `{pattern}` matches no file (looked for {resolved})")]
    NoFiles {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// The path as configured.
        pattern: String,
        /// The resolved pattern.
        resolved: String,
    },
    /// A partitioned source folder has no partition of the days the run reads.
    #[error(
        "[sources.{section}] path `{pattern}`: none of its {files} files is in a partition of the days the run reads ({days}); partition folders are named by day, like `created_date=2026-10-31` or `year=2026/month=10/day=31`"
    )]
    NoPartitions {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// The path as configured.
        pattern: String,
        /// Files found under it.
        files: usize,
        /// The days read.
        days: String,
    },
    /// A source path is not a valid glob.
    #[error("[sources.{section}] path `{pattern}` is not a valid path or glob: {message}")]
    BadPattern {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// The path as configured.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// The file format cannot be told from the extension and none is configured.
    #[error(
        "{path}: not a CSV, Parquet or JSON Lines file (extension `{extension}`); \
         export it as .csv, .parquet or .jsonl, or set `format` in [sources.{section}]"
    )]
    UnknownFormat {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// The file.
        path: PathBuf,
        /// Its extension.
        extension: String,
    },
    /// The file's content does not match its format.
    #[error("{path}: expected a {format} file but {found}")]
    WrongContent {
        /// The file.
        path: PathBuf,
        /// The expected format.
        format: &'static str,
        /// What was found instead.
        found: String,
    },
    /// The file could not be parsed in its format.
    #[error("{path}: cannot read as {format}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The format tried.
        format: &'static str,
        /// The parser's error.
        source: polars::prelude::PolarsError,
    },
    /// A header field cannot be a column name.
    #[error("{path}: header field {position} cannot be a column name: {problem}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based position of the field in the header.
        position: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// Two header fields have the same name: which one a mapping means is ambiguous.
    #[error(
        "{path}: the header names column `{column}` twice (fields {first} and {second}); expected every column \
         name once. Rename one of them in the export"
    )]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The duplicated name.
        column: String,
        /// 1-based position of its first occurrence.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// The header opens a quoted field and never closes it: it swallows the file, so there are
    /// no columns to read. (In a data row, the row is rejected and the lines after it are read.)
    #[error(
        "{path}: record {record} (line {line}, the header): the quoted name of {column} opens with `\"` and is \
         never closed, so the rest of the file would be read as part of it; expected a closing `\"`. Fix the \
         header's quoting"
    )]
    UnterminatedQuote {
        /// The file.
        path: PathBuf,
        /// 1-based record number (0: the header).
        record: u64,
        /// The line the record starts on.
        line: u64,
        /// The column whose value opens the quote (`` `Email` ``, or `header field 3`).
        column: String,
    },
    /// The CSV parser failed on a record (never with its values).
    #[error("{path}: record {record} (line {line}) cannot be read as CSV: {problem}")]
    MalformedCsv {
        /// The file.
        path: PathBuf,
        /// 1-based record number.
        record: u64,
        /// Its first line.
        line: u64,
        /// What went wrong.
        problem: String,
    },
    /// A file holds more records than row numbers can count.
    #[error("{path}: more than 4,294,967,295 records; split the export into several files (a glob reads them all)")]
    TooManyRecords {
        /// The file.
        path: PathBuf,
    },
    /// A source rejected more of its rows than `max_reject_rate` allows: most likely a mapping,
    /// a format or an export gone wrong.
    #[error(
        "[sources.{section}]: {rejected} of {read} rows rejected ({rate:.1}%), above `max_reject_rate` = \
         {max:.1}%; the export or the mapping is probably wrong (nothing was written). Top reasons: {reasons}. \
         Fix the export or the mapping (`leadscore validate` shows the accounting), or raise \
         [sources.{section}] max_reject_rate"
    )]
    TooManyRejects {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// Rows rejected for reasons that count (duplicates do not).
        rejected: u64,
        /// Rows read.
        read: u64,
        /// `rejected / read`, in percent.
        rate: f64,
        /// The limit, in percent.
        max: f64,
        /// The most frequent reasons with counts and example rows.
        reasons: String,
    },
    /// Every lead row was rejected.
    #[error(
        "no usable leads: all {read} lead rows were rejected, so nothing can be trained or scored. Top \
         reasons: {reasons}. Check the [sources.leads] mapping and the timestamp format of the export"
    )]
    NoUsableLeads {
        /// Rows read.
        read: u64,
        /// The most frequent reasons with counts and example rows.
        reasons: String,
    },
    /// There are no lead rows at all: nothing can be scored or trained.
    #[error("no leads: {files} {verb} no data rows; expected a header row and at least one lead")]
    NoLeads {
        /// The files read.
        files: String,
        /// "has" / "have".
        verb: &'static str,
    },
    /// A text file cannot be decoded from its configured encoding.
    #[error("{path}: cannot be read as {encoding} text: {problem}")]
    Encoding {
        /// The file.
        path: PathBuf,
        /// The configured encoding.
        encoding: &'static str,
        /// What is wrong, with the byte offset.
        problem: String,
    },
    /// A database source could not be read: no connection URL, no connection, or a failed query.
    /// Never carries the URL or a value of the result.
    #[error("[sources.{section}] {origin}: {problem}")]
    Database {
        /// The source's section (`leads`, `tables.opportunities`).
        section: String,
        /// Where it is read from (the environment variable, never the URL).
        origin: String,
        /// What went wrong.
        problem: String,
        /// A mistake in the config or the environment (exit 2), or a source that cannot be read
        /// (exit 3).
        usage: bool,
    },
    /// `leadscore init` cannot propose a config from the files (a field no column could be
    /// found for, a file of no known format).
    #[error("{0}")]
    Init(String),
    /// A bug in ingest.
    #[error("internal error in ingest (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(IngestError);

impl Classify for IngestError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::Database { usage: true, .. } => ExitKind::Usage,
            Self::Encoding { .. } | Self::Database { usage: false, .. } | Self::Init(_) => ExitKind::InputData,
            Self::NoFiles { .. }
            | Self::NoPartitions { .. }
            | Self::BadPattern { .. }
            | Self::UnknownFormat { .. }
            | Self::WrongContent { .. }
            | Self::Unreadable { .. }
            | Self::BadHeader { .. }
            | Self::DuplicateColumn { .. }
            | Self::UnterminatedQuote { .. }
            | Self::MalformedCsv { .. }
            | Self::TooManyRecords { .. }
            | Self::TooManyRejects { .. }
            | Self::NoUsableLeads { .. }
            | Self::NoLeads { .. } => ExitKind::InputData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, IngestError>`.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
