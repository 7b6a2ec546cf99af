//! Errors of the train stage.

use leadscore_core::{Classify, CoreError, ExitKind};
use leadscore_model::ModelError;

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Encoding, or a model artifact, failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Too few conversions (or leads) for a trustworthy model: the volume gate.
    #[error(
        "not enough data to train: {what}. Widen `[labels] history_months`, choose a broader target conversion, or lower `[labels] min_conversions` (a model on so few conversions is not trustworthy)"
    )]
    NotEnoughData {
        /// What is missing, with the numbers.
        what: String,
    },
    /// A learner failed.
    #[error("fitting the {model} failed: {message}")]
    Fit {
        /// Which model.
        model: &'static str,
        /// The learner's message.
        message: String,
    },
    /// The champion was trained for a later run date: a run for an earlier date must not score
    /// with it (it learnt from outcomes after that date), nor replace it.
    #[error(
        "the champion {model_id} was trained for {trained_for}, after this run date {run_date}: re-running a past date with it would use what was learnt later. Score past periods with `leadscore backtest` (it keeps its own registry), or give the run a `models_dir` of its own"
    )]
    FutureChampion {
        /// The champion.
        model_id: String,
        /// Its training date.
        trained_for: String,
        /// This run's date.
        run_date: String,
    },
    /// `[train] monotone` names a feature that has no direction.
    #[error("`[train] monotone.{feature}`: {why}")]
    Monotone {
        /// The name as written.
        feature: String,
        /// Why it cannot be constrained.
        why: String,
    },
    /// The report could not be rendered.
    #[error("rendering report.html failed: {0}")]
    Report(String),
    /// A bug.
    #[error("internal error in train (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(TrainError);

impl Classify for TrainError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::FutureChampion { .. } | Self::Monotone { .. } => ExitKind::Usage,
            Self::Model(e) => e.exit_kind(),
            Self::NotEnoughData { .. } => ExitKind::NotEnoughData,
            Self::Fit { .. } | Self::Report(_) | Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, TrainError>`.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
