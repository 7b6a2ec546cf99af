//! Errors of the channels stage and report.

use std::path::PathBuf;

use leadscore_core::{Classify, CoreError, ExitKind};

/// Why the channel table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    /// Reading or writing failed, or an input table is missing.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A scored lead has no value where the table needs one.
    #[error("{path}: column `{column}` is empty in row {row}; re-run the day from qualify")]
    MissingValue {
        /// The table.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// 1-based row.
        row: usize,
    },
    /// The spend file cannot be used (the message says where and why, never a cell's content).
    #[error("{path}: {message}")]
    Spend {
        /// The spend file.
        path: PathBuf,
        /// What was expected and what was found, with the row and column.
        message: String,
    },
    /// The range is empty or reversed.
    #[error("{0}")]
    Range(String),
    /// No daily run scored a lead created in the range.
    #[error("{0}")]
    NothingScored(String),
    /// A bug.
    #[error("internal error in channels (a bug, please report it): {0}")]
    Internal(String),
}

leadscore_core::polars_errors_are_internal!(ChannelsError);

impl Classify for ChannelsError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Core(e) => e.exit_kind(),
            Self::MissingValue { .. } | Self::Spend { .. } => ExitKind::InputData,
            Self::Range(_) => ExitKind::Usage,
            Self::NothingScored(_) => ExitKind::NothingToDo,
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// Short for `Result<T, ChannelsError>`.
pub type Result<T, E = ChannelsError> = std::result::Result<T, E>;
