//! Errors of the shared model crate.

use leadscore_core::{Classify, ExitKind};

/// Why features could not be derived or encoded, or a model artifact not used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An input lacks a column the recipe or spec needs.
    #[error("missing column `{column}` ({expected}); the table has: {available}")]
    MissingColumn {
        /// The column.
        column: String,
        /// What it is.
        expected: String,
        /// The columns that exist.
        available: String,
    },
    /// An artifact is inconsistent.
    #[error("invalid model artifact: {0}")]
    Invalid(String),
    /// A bug.
    #[error("internal error in leadscore-model (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(ModelError);

impl Classify for ModelError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::MissingColumn { .. } => ExitKind::InputData,
            Self::Invalid(_) => ExitKind::Usage,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, ModelError>`.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
