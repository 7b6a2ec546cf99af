//! The contract between stages: every table and document one stage writes and another reads,
//! declared once.
//!
//! An [`Artifact`] names its producer, its file, and the columns (with their kinds) every reader
//! may rely on. A stage lists what it reads in [`inputs`]; the DAG's edges ([`Stage::reads`]) are
//! derived from those lists, and a stage can only read through them ([`crate::StageRun::table`]
//! refuses an undeclared read), so the edges cannot drift from what the stages read. Reading a
//! table checks its columns and names the file and the column that is missing or of the wrong
//! kind (an input error, exit 3), never "internal".

use polars::prelude::{DataFrame, DataType};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::layout::Stage;
use crate::schema::{
    channel_leads as cl, channels as ch, conversions as cv, deals as de, events as ev, features as fe, files,
    identities as id, labels as la, leads as le, ledger as lg, rejects as rj, scores as sc, values as va,
};

/// Where an artifact lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `<output_dir>/runs/<date>/<producer>/<file>`: one per run date.
    Run,
    /// `<models_dir>/…`: the model registry, which outlives run dates.
    Registry,
    /// `<output_dir>/runs/<date>/<producer>/<file>` of the latest earlier run date that has it:
    /// state carried from run to run (the export ledger).
    Previous,
}

/// What a column holds, as readers rely on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (UTF-8).
    Text,
    /// A UTC instant (microseconds).
    Instant,
    /// A 64-bit float.
    Float,
    /// A boolean.
    Bool,
    /// An unsigned or signed integer.
    Integer,
    /// A calendar date.
    Date,
}

impl Kind {
    fn accepts(self, dtype: &DataType) -> bool {
        match (self, dtype) {
            // A column that is null throughout may carry no type of its own.
            (_, DataType::Null) => true,
            (Self::Text, DataType::String) => true,
            (Self::Instant, DataType::Datetime(_, _)) => true,
            (Self::Float, DataType::Float64 | DataType::Float32) => true,
            (Self::Bool, DataType::Boolean) => true,
            (Self::Integer, d) => d.is_integer(),
            (Self::Date, DataType::Date) => true,
            _ => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Instant => "a UTC timestamp",
            Self::Float => "a number (float64)",
            Self::Bool => "a boolean",
            Self::Integer => "an integer",
            Self::Date => "a date",
        }
    }
}

/// One table or document passed between stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// The stage that writes it.
    pub producer: Stage,
    /// Its file name.
    pub file: &'static str,
    /// Where it lives.
    pub place: Place,
    /// The columns every reader may rely on, in order, with their kinds (Parquet tables; empty
    /// for documents). A table may hold more columns after them (lead attributes, features).
    pub columns: &'static [(&'static str, Kind)],
    /// What it holds.
    pub about: &'static str,
}

use Kind::{Bool, Date, Float, Instant, Integer, Text};

const fn table(
    producer: Stage,
    file: &'static str,
    columns: &'static [(&'static str, Kind)],
    about: &'static str,
) -> Artifact {
    Artifact { producer, file, place: Place::Run, columns, about }
}

const fn document(producer: Stage, file: &'static str, about: &'static str) -> Artifact {
    Artifact { producer, file, place: Place::Run, columns: &[], about }
}

/// Canonical leads, one row per lead, ordered by `created_at` then `lead_id`; attribute columns
/// follow (no raw personal data unless `[privacy] keep_raw_identifiers`).
pub const LEADS: Artifact = table(
    Stage::Ingest,
    files::LEADS,
    &[
        (le::LEAD_ID, Text),
        (le::CREATED_AT, Instant),
        (le::USER_ID, Text),
        (le::CLIENT_ID, Text),
        (le::GCLID, Text),
        (le::FBCLID, Text),
        (le::META_LEAD_ID, Text),
        (le::EMAIL_DOMAIN, Text),
        (le::EMAIL_CLASS, Text),
        (le::PHONE_COUNTRY, Text),
    ],
    "canonical leads with their attributes and the parts derived from their identity",
);

/// SHA-256 digests of the personal data of the leads the exports may send.
pub const IDENTITIES: Artifact = table(
    Stage::Ingest,
    files::IDENTITIES,
    &[
        (id::LEAD_ID, Text),
        (id::CREATED_AT, Instant),
        (id::EMAIL_SHA256, Text),
        (id::EMAIL_SHA256_GOOGLE, Text),
        (id::PHONE_SHA256, Text),
        (id::PHONE_SHA256_GOOGLE, Text),
        (id::FIRST_NAME_SHA256, Text),
        (id::LAST_NAME_SHA256, Text),
        (id::COUNTRY_SHA256, Text),
        (id::CITY_SHA256, Text),
        (id::STATE_SHA256, Text),
        (id::ZIP_SHA256, Text),
    ],
    "digests of the scoring range's personal data, normalised per platform",
);

/// Canonical deals; extra mapped columns follow.
pub const DEALS: Artifact = table(
    Stage::Ingest,
    files::DEALS,
    &[
        (de::DEAL_ID, Text),
        (de::USER_ID, Text),
        (de::CREATED_AT, Instant),
        (de::CLOSED_AT, Instant),
        (de::STAGE, Text),
        (de::TYPE, Text),
        (de::PROBABILITY, Float),
        (de::AMOUNT, Float),
        (de::AMOUNT_ORIGINAL, Float),
        (de::CURRENCY, Text),
    ],
    "canonical deals, amounts in the project currency",
);

/// Canonical events (empty when no events source is configured).
pub const EVENTS: Artifact = table(
    Stage::Ingest,
    files::EVENTS,
    &[
        (ev::EVENT_ID, Text),
        (ev::USER_ID, Text),
        (ev::NAME, Text),
        (ev::AT, Instant),
        (ev::VALUE, Float),
        (ev::CURRENCY, Text),
    ],
    "canonical behavioural events",
);

/// Every input row ingest did not keep, with the reason.
pub const REJECTS: Artifact = table(
    Stage::Ingest,
    files::REJECTS,
    &[
        (rj::SOURCE, Text),
        (rj::FILE, Text),
        (rj::ROW, Integer),
        (rj::COLUMN, Text),
        (rj::REASON, Text),
        (rj::DETAIL, Text),
        (rj::RAW, Text),
    ],
    "input rows that were not kept, with their record, column and reason (identity values masked)",
);

/// The extra tables of `[sources.tables]`, one Parquet file per table in this folder
/// (`tables/<name>.parquet`, read with [`crate::StageRun::member_table`]), their columns as the
/// config declares them.
pub const SOURCE_TABLES: Artifact = table(
    Stage::Ingest,
    files::SOURCE_TABLES,
    &[],
    "the extra tables SQL conversion definitions may name, one file per table",
);

/// Conversions of every definition known before the run date.
pub const CONVERSIONS: Artifact = table(
    Stage::Labels,
    files::CONVERSIONS,
    &[
        (cv::CONVERSION_ID, Text),
        (cv::CONVERSION_NAME, Text),
        (cv::USER_ID, Text),
        (cv::AT, Instant),
        (cv::VALUE, Float),
        (cv::SOURCE, Text),
        (cv::SOURCE_ID, Text),
    ],
    "one row per conversion of every definition",
);

/// Per-lead window labels.
pub const LABELS: Artifact = table(
    Stage::Labels,
    files::LABELS,
    &[
        (la::LEAD_ID, Text),
        (la::USER_ID, Text),
        (la::CREATED_AT, Instant),
        (la::MATURED, Bool),
        (la::CONVERTED, Bool),
        (la::FIRST_CONVERSION_AT, Instant),
        (la::DAYS_TO_CONVERT, Float),
        (la::VALUE_IN_WINDOW, Float),
        (la::CONVERSIONS_IN_WINDOW, Integer),
        (la::EXISTING_CUSTOMER, Bool),
    ],
    "one row per lead created before the run date: matured, converted in its window, value",
);

/// Derived features of the training, validation and pending leads.
pub const FEATURES: Artifact = table(
    Stage::Features,
    files::FEATURES,
    &[
        (fe::LEAD_ID, Text),
        (fe::CREATED_AT, Instant),
        (fe::SPLIT, Text),
        (fe::CONVERTED, Bool),
        (fe::VALUE_IN_WINDOW, Float),
        (fe::DAYS_TO_CONVERT, Float),
    ],
    "point-in-time features of the training leads with their split and labels; feature columns follow",
);

/// The feature spec fitted on the training split.
pub const FEATURE_SPEC: Artifact = document(Stage::Features, files::FEATURE_SPEC, "the recipe and the fitted encoding");

/// The leakage audit: one [`AuditRow`] per attribute.
pub const LEAKAGE_AUDIT: Artifact =
    document(Stage::Features, files::LEAKAGE_AUDIT, "the leakage audit's verdict on every attribute");

/// The champion pointer of the model registry.
pub const CHAMPION: Artifact = Artifact {
    producer: Stage::Train,
    file: "champion.json",
    place: Place::Registry,
    columns: &[],
    about: "which model scores (`<models_dir>/champion.json`) and the model folders it names",
};

/// Scored leads of the run date.
pub const SCORES: Artifact = table(
    Stage::Qualify,
    files::SCORES,
    &[
        (sc::LEAD_ID, Text),
        (sc::USER_ID, Text),
        (sc::CLIENT_ID, Text),
        (sc::CREATED_AT, Instant),
        (sc::MODEL_ID, Text),
        (sc::PROBABILITY, Float),
        (sc::SCORE, Float),
        (sc::SEGMENT, Text),
        (sc::QUALIFIED, Bool),
    ],
    "probability, score, segment, qualified flag and reasons per scored lead",
);

/// The derived features of the scored leads, in the order of [`SCORES`], as the champion's
/// recipe derived them (lead_id, then the features).
pub const SCORED_FEATURES: Artifact = table(
    Stage::Qualify,
    files::SCORED_FEATURES,
    &[(le::LEAD_ID, Text)],
    "the scored leads' features, derived once with the champion's recipe",
);

/// Predicted values of the scored leads.
pub const VALUES: Artifact = table(
    Stage::Value,
    files::VALUES,
    &[
        (va::LEAD_ID, Text),
        (va::CREATED_AT, Instant),
        (va::MODEL_ID, Text),
        (va::PROBABILITY, Float),
        (va::CONDITIONAL_VALUE, Float),
        (va::PREDICTED_VALUE, Float),
        (va::VALUE_P10, Float),
        (va::VALUE_P90, Float),
        (va::CURRENCY, Text),
    ],
    "predicted value within the window per scored lead, with a 10th-90th percentile interval",
);

/// What every destination was last told of every lead of the adjustment window: the export
/// reads the latest earlier run's and writes the run's own.
pub const LEDGER: Artifact = Artifact {
    producer: Stage::Export,
    file: files::LEDGER,
    place: Place::Previous,
    columns: &[
        (lg::DESTINATION, Text),
        (lg::LEAD_ID, Text),
        (lg::LEAD_CREATED_AT, Instant),
        (lg::CONVERSION_ID, Text),
        (lg::CONVERSION_AT, Instant),
        (lg::VALUE, Float),
        (lg::CURRENCY, Text),
        (lg::QUALIFIED, Bool),
        (lg::STATE, Text),
        (lg::SENT_ON, Text),
        (lg::CHANGED_ON, Text),
        (lg::ADJUSTED_AT, Instant),
        (lg::GCLID, Text),
    ],
    about: "what every destination was last told of every lead of the adjustment window",
};

/// Every lead the run scored, with its channels (one column per dimension follows) and what
/// was predicted for it: what `leadscore report channels` gathers over a range of days.
pub const CHANNEL_LEADS: Artifact = table(
    Stage::Channels,
    files::CHANNEL_LEADS,
    &[
        (cl::LEAD_ID, Text),
        (cl::CREATED_AT, Instant),
        (cl::WEEK, Date),
        (cl::GOOGLE_CLICK, Bool),
        (cl::META_CLICK, Bool),
        (cl::MODEL_ID, Text),
        (cl::PROBABILITY, Float),
        (cl::QUALIFIED, Bool),
        (cl::PREDICTED_VALUE, Float),
    ],
    "the scored leads with their channels and predictions",
);

/// The channel table: leads, qualified share, predicted and actual value (and spend) per
/// dimension x channel x week.
pub const CHANNELS: Artifact = table(
    Stage::Channels,
    files::CHANNELS,
    &[
        (ch::DIMENSION, Text),
        (ch::CHANNEL, Text),
        (ch::WEEK, Date),
        (ch::LEADS, Integer),
        (ch::QUALIFIED, Integer),
        (ch::QUALIFIED_SHARE, Float),
        (ch::QUALIFIED_SHARE_LOW, Float),
        (ch::QUALIFIED_SHARE_HIGH, Float),
        (ch::MEAN_PROBABILITY, Float),
        (ch::PREDICTED_VALUE, Float),
        (ch::PREDICTED_VALUE_PER_LEAD, Float),
        (ch::PREDICTED_VALUE_PER_LEAD_LOW, Float),
        (ch::PREDICTED_VALUE_PER_LEAD_HIGH, Float),
        (ch::MATURED_LEADS, Integer),
        (ch::MATURED_PREDICTED_VALUE, Float),
        (ch::ACTUAL_CONVERSIONS, Integer),
        (ch::ACTUAL_VALUE, Float),
        (ch::ACTUAL_VALUE_PER_LEAD, Float),
        (ch::ACTUAL_VALUE_PER_LEAD_LOW, Float),
        (ch::ACTUAL_VALUE_PER_LEAD_HIGH, Float),
        (ch::COST, Float),
        (ch::COST_PER_LEAD, Float),
        (ch::COST_PER_QUALIFIED_LEAD, Float),
        (ch::PREDICTED_ROAS, Float),
        (ch::ACTUAL_ROAS, Float),
        (ch::TOO_SMALL, Bool),
        (ch::CURRENCY, Text),
    ],
    "leads, qualified share, predicted and actual value, spend and ROAS per channel and week",
);

/// Every artifact, in producer order.
pub const ALL: [Artifact; 18] = [
    LEADS,
    IDENTITIES,
    DEALS,
    EVENTS,
    REJECTS,
    SOURCE_TABLES,
    CONVERSIONS,
    LABELS,
    FEATURES,
    FEATURE_SPEC,
    LEAKAGE_AUDIT,
    CHAMPION,
    SCORES,
    SCORED_FEATURES,
    VALUES,
    LEDGER,
    CHANNEL_LEADS,
    CHANNELS,
];

/// What each stage reads: the single source of the DAG's edges.
pub fn inputs(stage: Stage) -> &'static [Artifact] {
    match stage {
        Stage::Ingest => &[],
        Stage::Labels => &[LEADS, DEALS, EVENTS, SOURCE_TABLES],
        Stage::Features => &[LEADS, EVENTS, LABELS],
        Stage::Train => &[FEATURES, FEATURE_SPEC, LEAKAGE_AUDIT, LABELS, CONVERSIONS, CHAMPION],
        Stage::Qualify => &[LEADS, EVENTS, CHAMPION],
        Stage::Value => &[SCORES, SCORED_FEATURES, CHAMPION],
        Stage::Export => &[LEADS, IDENTITIES, LABELS, SCORES, VALUES, LEDGER],
        Stage::Channels => &[LEADS, LABELS, SCORES, VALUES],
    }
}

impl Artifact {
    /// The file of one member of a folder artifact ([`SOURCE_TABLES`]): `<folder>/<name>.parquet`.
    pub fn member(&self, name: &str) -> String {
        format!("{}/{name}.parquet", self.file)
    }

    /// Checks that `df` (read from `path`) has the declared columns with their kinds.
    pub fn check(&self, df: &DataFrame, path: &std::path::Path) -> Result<()> {
        self.check_read(df, path, None)
    }

    /// [`Self::check`] of a table read in part: only the declared columns among `columns` (every
    /// declared column when `None`) are checked.
    pub fn check_read(&self, df: &DataFrame, path: &std::path::Path, columns: Option<&[&str]>) -> Result<()> {
        let available = || df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        let read = |name: &str| columns.is_none_or(|cs| cs.contains(&name));
        for (name, kind) in self.columns.iter().filter(|(name, _)| read(name)) {
            match df.column(name) {
                Err(_) => {
                    return Err(CoreError::MissingColumn {
                        path: path.to_path_buf(),
                        column: (*name).to_string(),
                        expected: format!("{} of {}, written by `{}`", kind.name(), self.file, self.producer),
                        available: available(),
                    });
                }
                Ok(c) if !kind.accepts(c.dtype()) => {
                    return Err(CoreError::ColumnKind {
                        path: path.to_path_buf(),
                        column: (*name).to_string(),
                        expected: kind.name(),
                        found: c.dtype().to_string(),
                    });
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }
}

/// Why the leakage audit flagged an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Declared not available at creation.
    Declared,
    /// Filled much less often for recent leads.
    FillDrift,
    /// Separates the outcome almost perfectly on its own.
    Separates,
}

/// The audit's verdict on one attribute ([`LEAKAGE_AUDIT`] holds one per attribute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Attribute name.
    pub attribute: String,
    /// Share of training leads with a value.
    pub fill_training: Option<f64>,
    /// Share of recent leads with a value.
    pub fill_recent: Option<f64>,
    /// Recent leads looked at.
    pub recent_leads: u64,
    /// Univariate ROC AUC on training leads (folded so that it is at least 0.5).
    pub univariate_auc: Option<f64>,
    /// What was found.
    pub flags: Vec<Flag>,
    /// Whether the attribute is left out of the features.
    pub excluded: bool,
    /// The verdict in words.
    pub verdict: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_written_by_an_earlier_stage_and_declared_once() {
        for stage in Stage::ALL {
            for a in inputs(stage) {
                assert!(a.producer <= stage, "{stage} reads {} of the later stage {}", a.file, a.producer);
                assert!(ALL.contains(a), "{} is not among the artifacts", a.file);
            }
        }
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                !ALL[..i].iter().any(|b| b.producer == a.producer && b.file == a.file),
                "{} of {} is declared twice",
                a.file,
                a.producer
            );
        }
    }

    #[test]
    fn the_edges_are_the_producers_of_the_inputs() {
        // Value reads the model that scored the day from the registry.
        assert_eq!(Stage::Value.reads(), vec![Stage::Train, Stage::Qualify]);
        // Export reads labels (deals that closed) and its own earlier ledger: not an edge.
        assert_eq!(Stage::Export.reads(), vec![Stage::Ingest, Stage::Labels, Stage::Qualify, Stage::Value]);
        assert_eq!(Stage::Channels.reads(), vec![Stage::Ingest, Stage::Labels, Stage::Qualify, Stage::Value]);
        assert_eq!(Stage::Qualify.reads(), vec![Stage::Ingest, Stage::Train]);
        // Train reads its own earlier champion: not an edge; labels and conversions to check the
        // model against the other definitions.
        assert_eq!(Stage::Train.reads(), vec![Stage::Labels, Stage::Features]);
        assert!(Stage::Ingest.reads().is_empty());
    }

    #[test]
    fn a_missing_or_mistyped_column_names_the_file_and_column() {
        let path = std::path::Path::new("runs/2026-01-01/qualify/scores.parquet");
        let df = DataFrame::new(1, vec![polars::prelude::Column::new("lead_id".into(), ["a"])]).unwrap_or_default();
        let e = SCORES.check(&df, path).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("scores.parquet") && e.contains("`user_id`") && e.contains("qualify"), "{e}");
        let df = DataFrame::new(1, vec![polars::prelude::Column::new("lead_id".into(), [1i64])]).unwrap_or_default();
        let e = SCORED_FEATURES.check(&df, path).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("`lead_id`") && e.contains("text") && e.contains("i64"), "{e}");
    }
}
