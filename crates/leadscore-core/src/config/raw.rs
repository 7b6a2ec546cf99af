//! The raw, as-written form of `leadscore.toml`.
//!
//! These types mirror the file one to one and reject unknown keys. The doc comments on their
//! fields are the user documentation of the configuration; README's configuration reference says
//! the same (a test checks it names every key). Only [`super::Config`], the validated form, can
//! run a stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[project]`: what the project is and where its outputs go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// Project name, shown in reports and written into export parameters. Required, non-empty.
    pub name: String,
    /// ISO 4217 code of the project currency (e.g. `EUR`). Every amount is converted into it.
    pub currency: String,
    /// IANA time zone of the business (e.g. `Europe/Amsterdam`). Run dates start at midnight in
    /// this zone, and timestamps written without an offset are read in it. Default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Folder that receives run outputs, `<output_dir>/runs/<YYYY-MM-DD>/<stage>/`. Relative paths
    /// are relative to the folder of this config file. Default `data`.
    #[serde(default)]
    pub output_dir: Option<String>,
    /// Run date used when the command line gives no `--date`: `today` (in `timezone`, the
    /// default) or a date `YYYY-MM-DD`.
    #[serde(default)]
    pub default_run_date: Option<String>,
}

/// File format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// JSON Lines, one object per line (`.jsonl`, `.ndjson`).
    Jsonl,
}

impl FileFormat {
    /// The format a file extension implies, if any.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }

    /// The lowercase name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Jsonl => "jsonl",
        }
    }
}

/// `[sources.leads]`, `[sources.deals]`, `[sources.events]`: one CRM export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// File path or glob (`exports/contacts-*.csv`), relative to the folder of this config file.
    /// Files matching a glob are read in sorted order; later files win when ids repeat.
    pub path: String,
    /// `csv`, `parquet` or `jsonl`. Inferred from the file extension when absent.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// CSV field delimiter, one character. Default `,`.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Canonical field → column name in the file. A preset fills the standard names; entries here
    /// override it. See the configuration reference for the fields of each source.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Further file columns to carry into the canonical table (deals and events only), as output
    /// name → file column. Conversion definitions can test them (e.g. `pipeline = "Pipeline"`).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// What an attribute holds, which decides how it is parsed and turned into features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    /// A number (`12`, `3.5`, `1e3`); unparsable values become null and are counted.
    Numeric,
    /// A value from a small set (industry, country, lead source).
    Categorical,
    /// `true/false`, `yes/no`, `y/n`, `1/0` (any case).
    Boolean,
    /// Free text (job title, message).
    Text,
    /// A point in time, in any format timestamps are accepted in.
    Timestamp,
}

impl AttributeKind {
    /// The lowercase name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Categorical => "categorical",
            Self::Boolean => "boolean",
            Self::Text => "text",
            Self::Timestamp => "timestamp",
        }
    }
}

/// `[[attributes]]`: a lead column used as a model feature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttribute {
    /// Column name in the leads file.
    pub column: String,
    /// Name in `leads.parquet` and in features: lowercase letters, digits and `_`, starting with
    /// a letter. Default: the column name in snake_case (`Job Title` → `job_title`).
    #[serde(default)]
    pub name: Option<String>,
    /// `numeric`, `categorical`, `boolean`, `text` or `timestamp`. Inferred from the values when
    /// absent (the ingest report says what was inferred).
    #[serde(default)]
    pub kind: Option<AttributeKind>,
    /// Whether the value is known when the lead is created. Attributes the CRM fills in later
    /// (lead status, customer tier) leak the outcome: set `false` and they are never used as
    /// features. Default `true`.
    #[serde(default)]
    pub available_at_creation: Option<bool>,
}

/// `[currency]`: exchange rates into the project currency.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCurrency {
    /// Inline rates, ISO code → units of project currency per unit (`USD = 0.92`).
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    /// A CSV file with columns `currency,rate` (same meaning as `rates`; inline rates win).
    #[serde(default)]
    pub file: Option<String>,
}
