//! Errors shared by every stage, and the exit-code classes the CLI maps them to.

use std::path::PathBuf;

use polars::prelude::PolarsError;

use crate::config::ConfigError;

/// What kind of failure an error is; decides the process exit code (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: an internal error (a bug, or the machine failing underneath us).
    Internal,
    /// 2: a usage or configuration error.
    Usage,
    /// 3: an input data error; nothing was written.
    InputData,
    /// 4: not enough data for a trustworthy model (a volume gate).
    NotEnoughData,
    /// 99: nothing to do (Airflow's skip code).
    NothingToDo,
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Internal => 1,
            Self::Usage => 2,
            Self::InputData => 3,
            Self::NotEnoughData => 4,
            Self::NothingToDo => 99,
        }
    }
}

/// Errors that know their exit class. Every library error enum implements it.
pub trait Classify {
    /// The exit class of this error.
    fn exit_kind(&self) -> ExitKind;
}

/// Errors from core: configuration, reading and writing tables, the run layout.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An input file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Parquet file could not be read.
    #[error("cannot read Parquet file {path}: {source}")]
    ParquetRead {
        /// The file.
        path: PathBuf,
        /// What polars reported.
        source: PolarsError,
    },
    /// A table could not be encoded as Parquet.
    #[error("cannot write Parquet file {path}: {source}")]
    ParquetWrite {
        /// The file.
        path: PathBuf,
        /// What polars reported.
        source: PolarsError,
    },
    /// A table lacks a column a stage needs.
    #[error("{path}: missing column `{column}` (expected {expected}); the file has: {available}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// What the column is for.
        expected: String,
        /// The columns that do exist, comma-separated.
        available: String,
    },
    /// A column of a table a stage reads holds another kind of value than declared.
    #[error("{path}: column `{column}` holds {found}; expected {expected}")]
    ColumnKind {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The declared kind.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// A JSON document a stage reads cannot be parsed as what its producer writes.
    #[error("{path}: not the document `{producer}` writes ({message}); run `{producer}` again")]
    Document {
        /// The file.
        path: PathBuf,
        /// What the parser reported (a position, never a value).
        message: String,
        /// The stage that writes it.
        producer: &'static str,
    },
    /// An earlier stage's output this stage reads is not there.
    #[error(
        "{path} does not exist: run the `{stage}` stage for {run_date} first \
         (or the whole pipeline with `leadscore run --date {run_date}`)"
    )]
    MissingStageOutput {
        /// The expected file.
        path: PathBuf,
        /// The stage that writes it.
        stage: String,
        /// The run date.
        run_date: String,
    },
    /// A run that needs the whole history would read a table kept for the scoring days only.
    #[error(
        "{path} holds only the rows a day without training reads (`{stage}` for {run_date} ran in a \
         daily run whose training was not due): run `{stage}` again for the whole history first \
         (`leadscore run --date {run_date} --from-stage {stage}`, or `leadscore stage {stage} --date {run_date}`)"
    )]
    ScopedInput {
        /// The table.
        path: PathBuf,
        /// The stage that wrote it.
        stage: &'static str,
        /// The run date.
        run_date: crate::RunDate,
    },
    /// A part of a partitioned stage that a merge needs has not run.
    #[error(
        "{path} holds no completed run: run part {part} of `{stage}` for {run_date} first \
         (`leadscore stage {stage} --partition {part} --date {run_date}`), then merge again"
    )]
    MissingPart {
        /// The part's folder.
        path: PathBuf,
        /// The partitioned stage.
        stage: &'static str,
        /// The part.
        part: crate::layout::Partition,
        /// The run date.
        run_date: crate::RunDate,
    },
    /// The parts of a partitioned stage cannot be merged into one run.
    #[error("part {part} of `{stage}` for {run_date} cannot be merged with the others: {why}; run every part again")]
    PartsDisagree {
        /// The partitioned stage.
        stage: &'static str,
        /// The part that differs.
        part: crate::layout::Partition,
        /// The run date.
        run_date: crate::RunDate,
        /// How it differs (paths, never contents).
        why: String,
    },
    /// Another run holds the output folder's lock.
    #[error(
        "another leadscore run is using this output folder ({holder}; lock {path}): wait for it to \
         finish, or pass --lock-wait SECONDS to wait"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as written in the lock file.
        holder: String,
    },
    /// A folder leadscore writes to is a file, or lies under one.
    #[error("{key}: {path} is a file; expected a folder (or a path that does not exist yet, which is created)")]
    NotAFolder {
        /// The path.
        path: PathBuf,
        /// The config key that names it.
        key: &'static str,
    },
    /// A table would hold a value that is not a finite number (a bug, or an input that slipped
    /// through): nothing is written.
    #[error(
        "refusing to write {path}: column `{column}` holds {count} value(s) that are not finite numbers \
         (first in row {first_row}); this is a bug in leadscore, please report it"
    )]
    NonFinite {
        /// The file that would have been written.
        path: PathBuf,
        /// The column.
        column: String,
        /// How many values.
        count: usize,
        /// 1-based row of the first.
        first_row: usize,
    },
    /// A bug: an invariant the code relies on does not hold.
    #[error("internal error (a bug in leadscore, please report it): {0}")]
    Internal(String),
}

impl Classify for CoreError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Config(_) => ExitKind::Usage,
            Self::Read { .. }
            | Self::ParquetRead { .. }
            | Self::MissingColumn { .. }
            | Self::ColumnKind { .. }
            | Self::Document { .. } => ExitKind::InputData,
            Self::MissingStageOutput { .. }
            | Self::ScopedInput { .. }
            | Self::MissingPart { .. }
            | Self::PartsDisagree { .. }
            | Self::Locked { .. }
            | Self::NotAFolder { .. } => ExitKind::Usage,
            Self::Write { .. } | Self::ParquetWrite { .. } | Self::NonFinite { .. } | Self::Internal(_) => {
                ExitKind::Internal
            }
        }
    }
}

/// Short for `Result<T, CoreError>`.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Implements `From<PolarsError>` for a stage's error enum, as its `Internal` variant. The tables
/// a stage reads are checked against their declared columns when read ([`crate::artifact`]), so a
/// polars error inside a stage is a bug, not bad input.
#[macro_export]
macro_rules! polars_errors_are_internal {
    ($error:ty) => {
        impl From<::polars::prelude::PolarsError> for $error {
            fn from(e: ::polars::prelude::PolarsError) -> Self {
                Self::Internal(e.to_string())
            }
        }
    };
}
