//! Errors of the export stage.

use leadscore_core::{Classify, CoreError, ExitKind};

/// Why the day's leads could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// `scores.parquet` has no rows (qualify exits 99 before that happens).
    #[error("scores.parquet has no scored leads: nothing to export")]
    NoScores,
    /// Scored leads that ingest's leads table does not have.
    #[error(
        "{count} scored leads are not in ingest's {table} of the same run date (the first is row {first_row} of \
         scores.parquet): re-run the day from ingest"
    )]
    UnknownLeads {
        /// How many.
        count: usize,
        /// The ingest table they are missing from.
        table: &'static str,
        /// 1-based row of the first of them in `scores.parquet` (sorted by creation time).
        first_row: usize,
    },
    /// The previous run's ledger has a row it cannot use.
    #[error(
        "row {row} of the previous run's ledger.parquet has no usable `{column}`: expected what export writes \
         (re-run the export of that date, or delete its ledger to start the adjustments afresh)"
    )]
    BadLedger {
        /// 1-based row.
        row: usize,
        /// The column.
        column: String,
    },
    /// A bug.
    #[error("internal error in export (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(ExportError);

impl From<arrow::error::ArrowError> for ExportError {
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for ExportError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl Classify for ExportError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::NoScores => ExitKind::NothingToDo,
            Self::UnknownLeads { .. } | Self::BadLedger { .. } => ExitKind::InputData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, ExportError>`.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;
