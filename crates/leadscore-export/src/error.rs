//! Errors of the export stage.

use leadscore_core::{Classify, CoreError, ExitKind};
use polars::prelude::PolarsError;

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
        "{count} scored leads are not in ingest's leads.parquet of the same run date (first: {first}): re-run the day from ingest"
    )]
    UnknownLeads {
        /// How many.
        count: usize,
        /// The first of them.
        first: String,
    },
    /// The configured phone-country attribute is not a column of leads.parquet.
    #[error("[export] phone_country_attribute `{0}` is not a column of leads.parquet: re-run ingest with this config")]
    MissingAttribute(String),
    /// A bug.
    #[error("internal error in export (a bug, please report it): {0}")]
    Internal(String),
}

impl From<PolarsError> for ExportError {
    fn from(e: PolarsError) -> Self {
        Self::Internal(e.to_string())
    }
}

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
            Self::UnknownLeads { .. } | Self::MissingAttribute(_) => ExitKind::InputData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, ExportError>`.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;
