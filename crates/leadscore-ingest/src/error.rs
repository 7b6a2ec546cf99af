//! Errors of the ingest stage.

use std::path::PathBuf;

use leadscore_core::schema::SourceKind;
use leadscore_core::{Classify, CoreError, ExitKind};
use polars::prelude::PolarsError;

/// Why ingest could not run. Row-level problems are not errors: those rows go to the rejects table.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A core operation failed (reading, writing, a missing column).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A source path or glob matches no file.
    #[error("[sources.{source_kind}] path `{pattern}` matches no file (looked for {resolved})")]
    NoFiles {
        /// The source.
        source_kind: SourceKind,
        /// The path as configured.
        pattern: String,
        /// The resolved pattern.
        resolved: String,
    },
    /// A source path is not a valid glob.
    #[error("[sources.{source_kind}] path `{pattern}` is not a valid path or glob: {message}")]
    BadPattern {
        /// The source.
        source_kind: SourceKind,
        /// The path as configured.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// The file format cannot be told from the extension and none is configured.
    #[error(
        "{path}: not a CSV, Parquet or JSON Lines file (extension `{extension}`); \
         export it as .csv, .parquet or .jsonl, or set `format` in [sources.{source_kind}]"
    )]
    UnknownFormat {
        /// The source.
        source_kind: SourceKind,
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
        source: PolarsError,
    },
    /// There are no lead rows at all: nothing can be scored or trained.
    #[error("no leads: {files} {verb} no data rows; expected a header row and at least one lead")]
    NoLeads {
        /// The files read.
        files: String,
        /// "has" / "have".
        verb: &'static str,
    },
    /// A bug in ingest.
    #[error("internal error in ingest (a bug, please report it): {0}")]
    Internal(String),
}

impl From<PolarsError> for IngestError {
    fn from(e: PolarsError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl Classify for IngestError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::NoFiles { .. }
            | Self::BadPattern { .. }
            | Self::UnknownFormat { .. }
            | Self::WrongContent { .. }
            | Self::Unreadable { .. }
            | Self::NoLeads { .. } => ExitKind::InputData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, IngestError>`.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
