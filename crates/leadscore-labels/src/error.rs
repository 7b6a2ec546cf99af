//! Errors of the labels stage.

use leadscore_core::{Classify, CoreError, ExitKind};

/// Why labelling could not run.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The config has no `[labels]` and no preset that implies one.
    #[error(
        "no label settings: add a [labels] section with `target` (a conversion definition) and \
         `window_days`, or set `[sources] preset` to use the ready-made `closed_won`"
    )]
    NoLabels,
    /// An input table lacks a column the definitions need.
    #[error("{table} has no column `{column}` (the conversion definition `{definition}` uses it); it has: {available}")]
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The definition that needs it.
        definition: String,
        /// The columns that exist.
        available: String,
    },
    /// A SQL definition cannot be planned on the run's tables, or failed on their data.
    #[error("the conversion definition `{definition}`: {problem}")]
    Sql {
        /// The definition.
        definition: String,
        /// What is wrong (never a value of the data).
        problem: String,
    },
    /// Too few target conversions in the training window for a trustworthy model (the volume
    /// gate, as train applies it).
    #[error(
        "not enough data to train: {what}. Widen `[labels] history_months`, choose a broader target conversion, or lower `[labels] min_conversions` (a model on so few conversions is not trustworthy)"
    )]
    NotEnoughData {
        /// What is missing, with the numbers.
        what: String,
    },
    /// A bug in labels.
    #[error("internal error in labels (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(LabelsError);

impl Classify for LabelsError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::NoLabels => ExitKind::Usage,
            Self::MissingColumn { .. } | Self::Sql { .. } => ExitKind::InputData,
            Self::NotEnoughData { .. } => ExitKind::NotEnoughData,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, LabelsError>`.
pub type Result<T, E = LabelsError> = std::result::Result<T, E>;
