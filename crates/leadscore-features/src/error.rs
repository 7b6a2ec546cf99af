//! Errors of the features stage.

use leadscore_core::{Classify, CoreError, ExitKind};
use leadscore_model::ModelError;

/// Why features could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Deriving or encoding failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The config has no label settings (features need the training window).
    #[error("no label settings: add [labels] (or a preset) so the training window is defined")]
    NoLabels,
    /// The training window holds no lead to fit the feature spec on (volume gate, exit 4).
    #[error("not enough data: {0}")]
    NoTrainingLeads(String),
    /// A bug.
    #[error("internal error in features (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(FeaturesError);

impl Classify for FeaturesError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::Model(e) => e.exit_kind(),
            Self::NoLabels => ExitKind::Usage,
            Self::NoTrainingLeads(_) => ExitKind::NotEnoughData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, FeaturesError>`.
pub type Result<T, E = FeaturesError> = std::result::Result<T, E>;
