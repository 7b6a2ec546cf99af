//! The raw, as-written form of `leadscore.toml`.
//!
//! These types mirror the file one to one and reject unknown keys. The doc comments on their
//! fields are the user documentation of the configuration; README's configuration reference says
//! the same (a test checks it names every key). Only [`super::Config`], the validated form, can
//! run a stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::SourceKind;

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
    pub timezone: Option<String>,
    /// Folder that receives run outputs, `<output_dir>/runs/<YYYY-MM-DD>/<stage>/`. Relative paths
    /// are relative to the folder of this config file. Default `data`.
    pub output_dir: Option<String>,
    /// Run date used when the command line gives no `--date`: `today` (in `timezone`, the
    /// default) or a date `YYYY-MM-DD`.
    pub default_run_date: Option<String>,
    /// Folder of the model registry: `<models_dir>/<model-id>/` per trained model and
    /// `<models_dir>/champion.json`, the model daily scoring uses. Relative paths are relative to
    /// the folder of this config file. Default `models`.
    pub models_dir: Option<String>,
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

/// The character encoding of a text source (CSV, JSON Lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark (the default).
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// Windows-1252, what Excel on Windows writes for "CSV" in Western locales (`€` is byte 0x80).
    #[serde(rename = "windows-1252")]
    Windows1252,
    /// ISO-8859-1 exactly: every byte is the code point of the same number (bytes 0x80–0x9F are
    /// control characters; an Excel export wants `windows-1252`).
    #[serde(rename = "latin-1")]
    Latin1,
    /// UTF-16 with a byte-order mark (little- or big-endian, as the mark says), as Excel's
    /// "Unicode text" writes.
    #[serde(rename = "utf-16")]
    Utf16,
}

impl TextEncoding {
    /// Every encoding, in the order the reference lists them.
    pub const ALL: [Self; 4] = [Self::Utf8, Self::Windows1252, Self::Latin1, Self::Utf16];

    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
            Self::Latin1 => "latin-1",
            Self::Utf16 => "utf-16",
        }
    }

    /// Whether this is UTF-8, the default (kept out of the config hash, so that configs written
    /// before `encoding` existed keep their hash).
    pub fn is_utf8(&self) -> bool {
        *self == Self::Utf8
    }
}

/// `[sources.leads]`, `[sources.deals]`, `[sources.events]`: one CRM export, as files or as the
/// result of a PostgreSQL query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// File path or glob (`exports/contacts-*.csv`), relative to the folder of this config file.
    /// Files matching a glob are read in sorted order; later files win when ids repeat. A source
    /// has a `path`, or a `query` or `table` with a `connection`.
    pub path: Option<String>,
    /// PostgreSQL: the query whose result is the source (`SELECT … FROM crm.contacts`).
    pub query: Option<String>,
    /// PostgreSQL: a table or view read whole (`crm.contacts`), instead of a `query`.
    pub table: Option<String>,
    /// PostgreSQL: `env:NAME`, the environment variable that holds the connection URL
    /// (`postgresql://user:password@host:5432/db`). Never the URL itself: a config is shared and
    /// recorded, a password must not be.
    pub connection: Option<String>,
    /// Character encoding of text files: `utf-8` (default), `windows-1252`, `latin-1`, `utf-16`.
    pub encoding: Option<String>,
    /// `csv`, `parquet` or `jsonl`. Inferred from the file extension when absent.
    pub format: Option<FileFormat>,
    /// CSV field delimiter, one character. Default `,`.
    pub delimiter: Option<String>,
    /// Canonical field → column name in the file. A preset fills the standard names; entries here
    /// override it. See the configuration reference for the fields of each source.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Further file columns to carry into the canonical table (deals and events only), as output
    /// name → file column. Conversion definitions can test them (e.g. `pipeline = "Pipeline"`).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// strftime format of the source's text timestamps (`%m/%d/%Y %I:%M %p` for a US Salesforce
    /// report), instead of the formats recognised by default. Default: none.
    pub timestamp_format: Option<String>,
    /// Per canonical timestamp field, a format that wins over `timestamp_format`
    /// (`{ closed_at = "%d.%m.%Y" }`).
    #[serde(default)]
    pub timestamp_formats: BTreeMap<String, String>,
    /// Largest share of the source's rows that may be rejected (duplicates not counted) before
    /// ingest fails with exit code 3 instead of writing tables from a broken export. Default 0.05.
    pub max_reject_rate: Option<f64>,
    /// Events only: the export's preset, `segment`, `mixpanel` or `amplitude`, instead of the
    /// `[sources] preset`'s events mapping.
    pub preset: Option<String>,
    /// IANA time zone of the source's timestamps that carry no offset (and of its dates), when
    /// it is not the project's: `UTC` for a warehouse or an API that writes UTC without saying
    /// so. Default: the preset's (UTC for `pipedrive` and `amplitude`), else the project's.
    pub timezone: Option<String>,
    /// `[sources.tables.<name>]` only: the columns read from the table (named as in the file or
    /// the query's result) and their kinds, `numeric`, `categorical`, `boolean`, `text` or
    /// `timestamp` (`{ opp_id = "text", amount = "numeric", closed = "timestamp" }`).
    #[serde(default)]
    pub columns: BTreeMap<String, AttributeKind>,
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

    /// The column type ingest writes an attribute of this kind as.
    pub fn dtype(self) -> polars::prelude::DataType {
        use polars::prelude::{DataType, TimeUnit, TimeZone};
        match self {
            Self::Numeric => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Timestamp => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
            Self::Categorical | Self::Text => DataType::String,
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
    pub name: Option<String>,
    /// `numeric`, `categorical`, `boolean`, `text` or `timestamp`. Inferred from the values when
    /// absent (the ingest report says what was inferred).
    pub kind: Option<AttributeKind>,
    /// Whether the value is known when the lead is created. Attributes the CRM fills in later
    /// (lead status, customer tier) leak the outcome: set `false` and they are never used as
    /// features. Default `true`.
    pub available_at_creation: Option<bool>,
    /// Text only: read the value as a job title (seniority and department features from the
    /// keyword rules). Default: `true` for text attributes whose name contains `title`.
    pub job_title: Option<bool>,
    /// Numeric only: ascending bucket boundaries; adds a categorical `<name>_bucket` feature
    /// (for example company-size bands `[10, 50, 200, 1000, 5000]`).
    pub buckets: Option<Vec<f64>>,
    /// Keep the attribute as a feature even when the leakage audit flags it. Default `false`.
    pub keep_if_flagged: Option<bool>,
}

/// `[currency]`: exchange rates into the project currency.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCurrency {
    /// Inline rates, ISO code → units of project currency per unit (`USD = 0.92`).
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    /// A CSV file with columns `currency,rate` (same meaning as `rates`; inline rates win).
    pub file: Option<String>,
}

/// The comparison a condition makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to `value`.
    Is,
    /// Not equal to `value` (true when the field is empty).
    IsNot,
    /// Equal to one of `values`.
    IsAnyOf,
    /// Equal to none of `values` (true when the field is empty).
    IsNoneOf,
    /// Text containing `value`.
    Contains,
    /// Text not containing `value` (true when the field is empty).
    DoesNotContain,
    /// Text starting with `value`.
    StartsWith,
    /// Greater than `value` (numbers; timestamps: after).
    IsMoreThan,
    /// Less than `value` (numbers; timestamps: before).
    IsLessThan,
    /// Greater than or equal to `value`.
    IsAtLeast,
    /// Less than or equal to `value`.
    IsAtMost,
    /// Between the two `values`, both included.
    IsBetween,
    /// The field has a value.
    IsSet,
    /// The field is empty.
    IsNotSet,
}

impl Op {
    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Is => "is",
            Self::IsNot => "is_not",
            Self::IsAnyOf => "is_any_of",
            Self::IsNoneOf => "is_none_of",
            Self::Contains => "contains",
            Self::DoesNotContain => "does_not_contain",
            Self::StartsWith => "starts_with",
            Self::IsMoreThan => "is_more_than",
            Self::IsLessThan => "is_less_than",
            Self::IsAtLeast => "is_at_least",
            Self::IsAtMost => "is_at_most",
            Self::IsBetween => "is_between",
            Self::IsSet => "is_set",
            Self::IsNotSet => "is_not_set",
        }
    }
}

/// One condition of a conversion definition: `{ field, op, value | values, case_insensitive }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// A column of the definition's source (canonical or `extra`).
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The operand of `is`, `is_not`, `contains`, `does_not_contain`, `starts_with` and the
    /// ordering comparisons: a string, a number, or a date/timestamp (as a string or a TOML date).
    pub value: Option<toml::Value>,
    /// The operands of `is_any_of`, `is_none_of` (one or more) and `is_between` (exactly two).
    pub values: Option<Vec<toml::Value>>,
    /// Compare text ignoring case. Default `false`.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// Which conversions of a definition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedupe {
    /// One conversion per source record (deal or event id). The default.
    Id,
    /// Only each user's first conversion ("first purchase").
    FirstPerUser,
    /// At most one conversion per user in this many days: a user's first conversion counts and
    /// opens a window; the conversions inside it do not, and the first one after it counts and
    /// opens the next (`dedupe = { per_user_days = 30 }`).
    PerUserDays(u32),
}

/// `[[conversions]]`: a named success criterion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConversion {
    /// Unique name; `[labels] target` and `combine` refer to it.
    pub name: String,
    /// `deals` or `events`. Required unless `combine` is given.
    pub source: Option<SourceKind>,
    /// Conditions on the source's rows, numbered `$1`, `$2`, … in this order.
    #[serde(default)]
    pub conditions: Vec<RawCondition>,
    /// How the conditions combine, e.g. `$1 AND ($2 OR NOT $3)`. Default: all ANDed.
    pub logic: Option<String>,
    /// The timestamp field that dates the conversion. Default `closed_at` (deals) or `at` (events).
    pub at: Option<String>,
    /// The numeric field that is the conversion's value. Default `amount` (deals; already in the
    /// project currency) or `value` (events).
    pub value: Option<String>,
    /// A field holding the ISO 4217 code of `value`; the value is then converted with the
    /// `[currency]` rates. Default: `value` is already in the project currency.
    pub currency: Option<String>,
    /// Events only: the event name that is the conversion (ANDed with the conditions).
    pub event_name: Option<String>,
    /// The union of other definitions, by name (instead of `source` and `conditions`).
    #[serde(default)]
    pub combine: Vec<String>,
    /// A SQL query over the ingested tables `leads`, `deals` and `events` whose result is the
    /// conversions: `id`, `user_id`, `at`, optionally `value` and `currency` (instead of
    /// `source` and `conditions`).
    pub sql: Option<String>,
    /// `id` (default) or `first_per_user`.
    pub dedupe: Option<Dedupe>,
}

/// `[labels]`: which conversion the models learn, and over which window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabels {
    /// The conversion definition models learn to predict. Default `closed_won` when a preset is set.
    pub target: Option<String>,
    /// Conversion window in days: a lead is positive if its user converts within this many days
    /// of its creation. Default 40.
    pub window_days: Option<u32>,
    /// Months of history used for training, before the most recent matured lead. Default 12;
    /// fewer than 6 is warned about.
    pub history_months: Option<u32>,
    /// Warn when a month of history has fewer target conversions than this. Default 30.
    pub warn_below_per_month: Option<u32>,
    /// Refuse to train (exit 4) with fewer target conversions than this in the training window.
    /// Default 100.
    pub min_conversions: Option<u32>,
}

/// `[features]`: how derived features are built and audited.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {
    /// Windows (days before creation) over which all events are counted. Default `[1, 7, 30]`.
    pub event_windows_days: Option<Vec<u32>>,
    /// Event names counted on their own (over the longest window). Default: the 8 most frequent
    /// names in the events before the run date that the run reads for its leads (from the longest
    /// window before the first lead it trains on or exports).
    pub event_names: Option<Vec<String>>,
    /// Most levels kept per categorical feature (by training frequency). Default 20.
    pub top_k: Option<u32>,
    /// Training leads a level needs to be kept. Default 20.
    pub min_count: Option<u32>,
    /// The leakage audit flags an attribute whose values alone separate converted from not
    /// converted training leads with a ROC AUC above this. Default 0.9.
    pub audit_max_auc: Option<f64>,
    /// "Recent" leads for the fill-rate drift check: those created in this many days before the
    /// run date. Default 14.
    pub audit_recent_days: Option<u32>,
}

/// `[train]`: how the training leads are split and models are trained.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    /// Share of the matured training leads, the most recent by creation time, held out for
    /// out-of-time validation. Default 0.2.
    pub validation_fraction: Option<f64>,
    /// Hold out the leads of the last N weeks of the training window instead of a fraction.
    pub validation_weeks: Option<u32>,
    /// Seed of every random choice in training (row subsampling of the boosted trees). The same
    /// data and seed give the same model bytes. Default 42.
    pub seed: Option<u64>,
    /// Most boosting rounds; early stopping on the latest 15% of the training slice picks fewer.
    /// Default 1000.
    pub max_trees: Option<u32>,
    /// Learning rate of the boosted trees. Default 0.1.
    pub learning_rate: Option<f64>,
    /// Depth of each boosted tree. Default 4.
    pub max_depth: Option<u32>,
    /// L2 penalty of the logistic regression (on standardised features). Default 1.0.
    pub l2: Option<f64>,
    /// The new model becomes champion unless its validation log loss is worse than the
    /// champion's on the same validation leads by more than this. Default 0.002.
    pub champion_margin: Option<f64>,
    /// The daily run retrains when the champion is older than this many days (or when there is
    /// none, or with `--retrain`). Default 7.
    pub retrain_after_days: Option<u32>,
    /// Shift the model's log-odds so that the leads whose windows are still open have converted
    /// so far as often as the model expects by their age. Default true.
    pub recency_adjustment: Option<bool>,
    /// Once the model is chosen and its figures are measured on the validation slice, refit it on
    /// every matured lead (training and validation slices) for scoring. Default true.
    pub refit: Option<bool>,
    /// When the training slice holds at most this many leads, the boosted trees' depth, leaf
    /// size, penalty and column share are chosen out of time among a few settings, and a blend
    /// of the logistic regression and the trees is a third candidate; 0 = never. Default 50000.
    pub tune_below_leads: Option<u64>,
    /// When the training slice holds more leads than this, the boosted trees learn from every
    /// converted lead and a seeded random sample of the others, about this many leads in all;
    /// each sampled negative weighs 1 / its sampling rate. 0 turns sampling off. Default 100000.
    pub sample_negatives_above: Option<u64>,
    /// Numeric features whose effect on the conversion probability may only go one way, as
    /// `{ feature = "increasing" }` or `"decreasing"` (attribute names, or derived features such
    /// as `events_30d`): the trees only split that way, and the logistic regression's coefficient
    /// keeps that sign (held at 0 when the data would want the other). On training slices of at
    /// most `tune_below_leads` leads the report also shows both models fitted without them.
    /// None by default.
    pub monotone: Option<BTreeMap<String, super::train::Monotone>>,
    /// An MLflow tracking server (`http://…` or `https://…`): each training logs a run there
    /// (parameters, validation metrics, the champion decision, `report.html` and the model
    /// folder as artifacts). None by default.
    pub mlflow_tracking_uri: Option<String>,
    /// The MLflow experiment the runs go to (created when missing). Default: the project's name.
    pub mlflow_experiment: Option<String>,
}

/// `[qualify]`: which leads are qualified. Training stores a threshold for every policy, computed
/// on the validation leads with these parameters; scoring applies the chosen `policy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQualify {
    /// `top_fraction`, `min_precision`, `min_recall` or `min_probability`. Default `top_fraction`.
    pub policy: Option<String>,
    /// Share of leads qualified under `top_fraction` (the highest probabilities). Default 0.2.
    pub top_fraction: Option<f64>,
    /// Under `min_precision`: the lowest threshold whose validation precision reaches this.
    /// Default 0.3.
    pub min_precision: Option<f64>,
    /// Under `min_recall`: the highest threshold whose validation recall reaches this. Default 0.8.
    pub min_recall: Option<f64>,
    /// Under `min_probability`: qualify leads whose calibrated probability is at least this.
    /// Default 0.1.
    pub min_probability: Option<f64>,
    /// Days before the run date's day that are scored again (CRM records of recent leads are
    /// often completed a day or two late). 0 scores only the leads created the day before the
    /// run date. Default 0.
    pub rescore_days: Option<u32>,
}

/// `[export]`: which upload files the export stage writes and what they say.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// Which files to write: any of `custom`, `google_click`, `google_enhanced`, `meta_capi`,
    /// `hubspot`, `salesforce`. Default the first four and the preset's CRM.
    pub formats: Option<Vec<String>>,
    /// Custom-conversion shape: also write scored leads that are not qualified (with
    /// `is_qualified = false`). Default false.
    pub include_unqualified: Option<bool>,
    /// Conversion name (Google click conversions, the custom shape's params). Default
    /// `Qualified lead`.
    pub conversion_name: Option<String>,
    /// Google Ads conversion action of enhanced conversions for leads: its resource name,
    /// `customers/<customer id>/conversionActions/<conversion action id>`. Required for the
    /// `google_enhanced` format; without it that format is left out of the default `formats`.
    pub google_conversion_action: Option<String>,
    /// Meta `event_name` (the CRM stage). Default: the conversion name.
    pub meta_event_name: Option<String>,
    /// Meta `lead_event_source`: the CRM's name. Default from the preset (`HubSpot`,
    /// `Salesforce`), else `CRM`.
    pub crm_name: Option<String>,
    /// Google clicks older than this many days on the run date are refused. Default 90.
    pub google_click_window_days: Option<u32>,
    /// Meta events older than this many days when the files are sent are refused (1 to 7, Meta's
    /// limit). Default 7.
    pub meta_max_age_days: Option<u32>,
    /// ISO 3166 alpha-2 country of phone numbers written without an international prefix, when
    /// the lead's own country is unknown. Default none (such numbers are not used).
    pub default_phone_country: Option<String>,
    /// The lead attribute holding the lead's country (an ISO alpha-2 code or an English name),
    /// used for phone numbers without an international prefix. Default none.
    pub phone_country_attribute: Option<String>,
    /// Hours after the run date starts within which the upload files are sent; the platforms'
    /// age limits are checked at that moment. Default 24.
    pub upload_within_hours: Option<u32>,
    /// Google consent sent with enhanced conversions (required for users in the EEA):
    /// `{ ad_user_data = "granted", ad_personalization = "denied" }`. Default: none sent.
    pub google_consent: Option<RawConsent>,
    /// Lead attributes that hold each lead's consent (a boolean, or `granted`/`denied`); they win
    /// over `google_consent`: `{ ad_user_data = "gdpr_ads", ad_personalization = "gdpr_ads" }`.
    pub google_consent_attributes: Option<RawConsent>,
    /// What Meta's `external_id` is the SHA-256 of: `lead_id` (the default) or `user_id`.
    pub external_id: Option<String>,
    /// Lead attributes sent to Meta as location match keys, normalised and hashed: any of
    /// `country`, `ct` (city), `st` (state), `zp` (ZIP code) → attribute name.
    pub meta_match_keys: Option<BTreeMap<String, String>>,
    /// Days after a lead is created during which every run compares what the platforms were
    /// told of it with what is true now and writes the differences as adjustments (0 turns
    /// adjustments off). Default 30.
    pub adjustment_window_days: Option<u32>,
    /// Send a lead that converts within the adjustment window although it was never qualified
    /// as a new conversion with its deal value. Default false.
    pub send_late_conversions: Option<bool>,
    /// Meta `event_name` sent when a lead's deal closes (with the deal's value). Default
    /// `Converted`.
    pub meta_converted_event_name: Option<String>,
    /// Start of the names of the CRM write-back files' properties (HubSpot) and custom fields
    /// (Salesforce, which appends `__c`). Default `leadscore_`.
    pub crm_field_prefix: Option<String>,
}

/// The two fields of Google's `Consent` message: statuses (`granted`/`denied`) in
/// `google_consent`, attribute names in `google_consent_attributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    /// For `adUserData`.
    pub ad_user_data: Option<String>,
    /// For `adPersonalization`.
    pub ad_personalization: Option<String>,
}

/// `[privacy]`: what personal data leadscore keeps at rest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrivacy {
    /// Keep the raw e-mail, phone and names in ingest's `leads.parquet` (`email`, `phone`,
    /// `first_name`, `last_name`) besides their digests. Default false: only the SHA-256 digests
    /// the exports send and the derived parts the features use (e-mail domain and class, phone
    /// country) are kept, and the rejects table's `raw` column masks those columns.
    pub keep_raw_identifiers: Option<bool>,
}

/// `[channels]`: the channel report (`channels.parquet`, `leadscore report channels`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannels {
    /// Attributes that say where a lead came from, each reported on its own. Default: those of
    /// `lead_source`, `utm_source`, `utm_medium`, `utm_campaign` that are configured attributes.
    pub dimensions: Option<Vec<String>>,
    /// Leads a channel needs to be ranked. Default 30.
    pub min_leads: Option<u32>,
    /// Ad spend per day and campaign, joined on a dimension.
    pub spend: Option<RawSpend>,
}

/// `[channels.spend]`: a spend report as Google Ads and Meta export it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpend {
    /// CSV or Parquet file (relative to the config's folder).
    pub path: String,
    /// The dimension whose values are the spend's campaign names. Default `utm_campaign`.
    pub join_on: Option<String>,
    /// Column of the day. Default: the first of `date`, `Day`, `Reporting starts`, … present.
    pub date_column: Option<String>,
    /// Column of the campaign name. Default: `campaign`, `Campaign`, `Campaign name`, …
    pub campaign_column: Option<String>,
    /// Column of the cost. Default: `cost`, `Cost`, `Amount spent (EUR)`, …
    pub cost_column: Option<String>,
    /// Column of the cost's ISO 4217 currency. Default: `currency`, `Currency code`, …; absent,
    /// the currency named in the cost column's header (`Amount spent (EUR)`) or `currency`.
    pub currency_column: Option<String>,
    /// The currency of every cost when the file names none. Default: the project currency.
    pub currency: Option<String>,
}
