//! Errors of the value stage.

use leadscore_core::{Classify, CoreError, ExitKind};
use leadscore_model::ModelError;

/// Why the scored leads could not be valued.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Deriving, encoding or loading the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// `scores.parquet` has no rows (qualify exits 99 before that happens).
    #[error("scores.parquet has no scored leads: nothing to value")]
    NoScores,
    /// The scores were made by another model than the one given.
    #[error("the leads were scored by model {scored_by}, not {champion}: run qualify and value with the same model")]
    ModelMismatch {
        /// Model in scores.parquet.
        scored_by: String,
        /// The model given.
        champion: String,
    },
    /// qualify's two tables of the day do not hold the same leads in the same order.
    #[error(
        "scores.parquet ({scores} leads) and scored_features.parquet ({features} rows) of qualify do not hold the same \
         leads in the same order: re-run the day from qualify (`leadscore run --from-stage qualify`)"
    )]
    FeaturesMismatch {
        /// Rows of the scores.
        scores: usize,
        /// Rows of the features.
        features: usize,
    },
    /// A scored lead without a value the valuation needs.
    #[error("scores.parquet: column `{column}` is empty for a scored lead; re-run the day from qualify")]
    MissingScore {
        /// The column.
        column: &'static str,
    },
    /// A bug.
    #[error("internal error in value (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(ValueError);

impl Classify for ValueError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::Model(e) => e.exit_kind(),
            Self::NoScores => ExitKind::NothingToDo,
            Self::ModelMismatch { .. } | Self::FeaturesMismatch { .. } | Self::MissingScore { .. } => {
                ExitKind::InputData
            }
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, ValueError>`.
pub type Result<T, E = ValueError> = std::result::Result<T, E>;
