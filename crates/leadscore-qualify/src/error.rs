//! Errors of the qualify stage.

use std::path::PathBuf;

use leadscore_core::{Classify, CoreError, ExitKind, RunDate};
use leadscore_model::ModelError;

/// Why the leads could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum QualifyError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Deriving, encoding or loading the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// There is no champion to score with.
    #[error(
        "no champion model in {}: train one first (`leadscore train`, or `leadscore run`, which trains when there is none)",
        models_dir.display()
    )]
    NoChampion {
        /// The registry folder.
        models_dir: PathBuf,
    },
    /// No lead was created in the scoring range: nothing to do (exit 99).
    #[error("nothing to score: no lead was created from {from} to {to} (exclusive)")]
    NoLeads {
        /// First day scored.
        from: RunDate,
        /// The run date.
        to: RunDate,
    },
    /// A bug.
    #[error("internal error in qualify (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(QualifyError);

impl Classify for QualifyError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::Model(e) => e.exit_kind(),
            Self::NoChampion { .. } => ExitKind::Usage,
            Self::NoLeads { .. } => ExitKind::NothingToDo,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, QualifyError>`.
pub type Result<T, E = QualifyError> = std::result::Result<T, E>;
