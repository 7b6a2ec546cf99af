//! `leadscore.toml`: loading, validation, and the validated [`Config`] every stage runs with.
//!
//! Loading goes raw → validated. Each section is deserialized into its raw type
//! ([`raw`]) on its own, so a typo in `[project]` does not hide a wrong type in
//! `[sources.deals]`; then every rule is checked. All problems are reported at once, each with its
//! key path and line:column ([`ConfigError::Invalid`]).

pub mod conversions;
mod locate;
pub mod logic;
pub mod presets;
pub mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use conversions::{Condition, ConversionDef, DefinitionKind, Labels, Matcher, Operand, Scalar, ValueType};
pub use locate::{KeyPath, Seg};
pub use logic::Logic;
pub use presets::Preset;
pub use raw::{AttributeKind, Dedupe, FileFormat, Op};

use crate::currency::{Rates, iso4217};
use crate::schema::{FieldSpec, SourceKind, canonical_columns};
use crate::time::{RunDate, parse_tz};
use raw::{RawAttribute, RawCurrency, RawExport, RawFeatures, RawPrivacy, RawProject, RawQualify, RawSource, RawTrain};

/// The top-level sections `leadscore.toml` may have.
pub const SECTIONS: &[&str] = &[
    "project",
    "sources",
    "attributes",
    "currency",
    "conversions",
    "labels",
    "features",
    "train",
    "qualify",
    "export",
    "privacy",
];

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where: the key path (`sources.leads.mapping.lead_id`).
    pub path: String,
    /// 1-based line and column in the file, when known.
    pub line_col: Option<(usize, usize)>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((l, c)) => write!(f, "line {l}, column {c}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}: not valid TOML at line {line}, column {column}: {message}")]
    Syntax {
        /// The config file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The file is valid TOML but breaks one or more rules; every problem is listed.
    #[error("{file}: {} problem{} in the configuration:\n{}", problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The config file.
        file: String,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}

/// The validated configuration. Only this type can run a stage.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Folder that relative paths in the config are resolved against (the config file's folder).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// `[project]`.
    pub project: Project,
    /// `[sources]`.
    pub sources: Sources,
    /// `[[attributes]]`, in file order.
    pub attributes: Vec<Attribute>,
    /// `[currency]`, resolved to rates (inline rates merged over the rates file).
    pub currency: Rates,
    /// `[[conversions]]` in file order, then the preset's ready-made definitions not overridden.
    pub conversions: Vec<ConversionDef>,
    /// `[labels]`, when configured (or implied by a preset).
    pub labels: Option<Labels>,
    /// `[features]`.
    pub features: Features,
    /// `[train]`.
    pub train: Train,
    /// `[qualify]`.
    pub qualify: Qualify,
    /// `[export]`.
    pub export: Export,
    /// `[privacy]`.
    pub privacy: Privacy,
}

/// Validated `[privacy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Privacy {
    /// Keep raw e-mails, phones and names in `leads.parquet` besides their digests.
    pub keep_raw_identifiers: bool,
}

/// An upload file the export stage can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `qualified_leads.parquet` and `.csv`: the ad-analytics custom-conversion shape.
    Custom,
    /// `google_ads_click_conversions.csv`: Google Ads offline click conversions.
    GoogleClick,
    /// `google_ads_enhanced_conversions.jsonl`: Google Ads enhanced conversions for leads.
    GoogleEnhanced,
    /// `meta_capi_NNNN.json`: Meta Conversions API for CRM batches.
    MetaCapi,
}

impl ExportFormat {
    /// Every format.
    pub const ALL: [ExportFormat; 4] = [Self::Custom, Self::GoogleClick, Self::GoogleEnhanced, Self::MetaCapi];

    /// The name used in the config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::GoogleClick => "google_click",
            Self::GoogleEnhanced => "google_enhanced",
            Self::MetaCapi => "meta_capi",
        }
    }
}

/// A consent status sent to Google (`Consent` of the Google Ads API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// `GRANTED`.
    Granted,
    /// `DENIED`.
    Denied,
}

impl ConsentStatus {
    /// From `granted`/`denied`, or a boolean word (`yes`, `true`, `1` …), any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "granted" | "true" | "yes" | "y" | "1" => Some(Self::Granted),
            "denied" | "false" | "no" | "n" | "0" => Some(Self::Denied),
            _ => None,
        }
    }

    /// The Google Ads API's value.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Granted => "GRANTED",
            Self::Denied => "DENIED",
        }
    }
}

/// Consent for Google's user data and ad personalisation: a status, or an attribute per lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GoogleConsent {
    /// `adUserData` for every lead, unless its attribute says otherwise.
    pub ad_user_data: Option<ConsentStatus>,
    /// `adPersonalization` for every lead, unless its attribute says otherwise.
    pub ad_personalization: Option<ConsentStatus>,
    /// The attribute with each lead's `adUserData`.
    pub ad_user_data_attribute: Option<String>,
    /// The attribute with each lead's `adPersonalization`.
    pub ad_personalization_attribute: Option<String>,
}

/// What Meta's `external_id` is the SHA-256 of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalId {
    /// The lead's id: one person, one id.
    LeadId,
    /// The lead's user id (the account in the presets: colleagues share it).
    UserId,
}

/// Lead attributes sent to Meta as location match keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetaMatchKeys {
    /// `country`.
    pub country: Option<String>,
    /// `ct`.
    pub city: Option<String>,
    /// `st`.
    pub state: Option<String>,
    /// `zp`.
    pub zip: Option<String>,
}

/// Whether a Google Ads resource name is `customers/<digits>/conversionActions/<digits>`.
pub fn is_conversion_action(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 4
        && parts[0] == "customers"
        && digits(parts[1])
        && parts[2] == "conversionActions"
        && digits(parts[3])
}

/// Validated `[export]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Export {
    /// The files to write, in [`ExportFormat::ALL`] order.
    pub formats: Vec<ExportFormat>,
    /// Also write unqualified scored leads in the custom shape.
    pub include_unqualified: bool,
    /// Conversion name.
    pub conversion_name: String,
    /// Google Ads conversion action of enhanced conversions (a checked resource name); set
    /// whenever `formats` holds `google_enhanced`.
    pub google_conversion_action: Option<String>,
    /// Meta event name.
    pub meta_event_name: String,
    /// Meta `lead_event_source`.
    pub crm_name: String,
    /// Oldest accepted Google click, in days before the run date.
    pub google_click_window_days: u32,
    /// Oldest accepted Meta event, in days before the run date.
    pub meta_max_age_days: u32,
    /// Default phone country (ISO alpha-2, uppercase).
    pub default_phone_country: Option<String>,
    /// The attribute with the lead's country.
    pub phone_country_attribute: Option<String>,
    /// Hours after the run date starts within which the files are sent.
    pub upload_within_hours: u32,
    /// Consent sent with Google enhanced conversions.
    pub google_consent: GoogleConsent,
    /// What Meta's `external_id` hashes.
    pub external_id: ExternalId,
    /// Location match keys sent to Meta.
    pub meta_match_keys: MetaMatchKeys,
}

/// Validated `[features]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    /// Windows (days) for event counts, ascending.
    pub event_windows_days: Vec<u32>,
    /// Event names counted on their own; `None` means the most frequent ones.
    pub event_names: Option<Vec<String>>,
    /// Most levels per categorical feature.
    pub top_k: u32,
    /// Training leads a level needs.
    pub min_count: u32,
    /// Univariate AUC above which the audit flags an attribute.
    pub audit_max_auc: f64,
    /// Days before the run date whose leads count as recent for fill-rate drift.
    pub audit_recent_days: u32,
}

/// How the out-of-time validation slice is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// The most recent share of matured training leads.
    Fraction(f64),
    /// The leads of the last N weeks of the training window.
    Weeks(u32),
}

/// Validated `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Train {
    /// The validation slice.
    pub validation: Validation,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// Most boosting rounds.
    pub max_trees: u32,
    /// Learning rate of the boosted trees.
    pub learning_rate: f64,
    /// Depth of each boosted tree.
    pub max_depth: u32,
    /// L2 penalty of the logistic regression.
    pub l2: f64,
    /// Largest validation log-loss increase over the champion that still replaces it.
    pub champion_margin: f64,
    /// Champion age (days) after which the daily run retrains.
    pub retrain_after_days: u32,
    /// Correct the model's level with the outcomes known so far of the leads whose windows are
    /// still open (see the train stage's recency adjustment).
    pub recency_adjustment: bool,
    /// Above this many training leads the boosted trees see every positive and a weighted
    /// random sample of the negatives (about this many leads in all); 0 = never.
    pub sample_negatives_above: u64,
}

/// A qualification policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The highest-probability share of leads.
    TopFraction,
    /// The lowest threshold with at least the given validation precision.
    MinPrecision,
    /// The highest threshold with at least the given validation recall.
    MinRecall,
    /// A fixed calibrated probability.
    MinProbability,
}

impl Policy {
    /// Every policy, in documentation order.
    pub const ALL: [Policy; 4] = [Self::TopFraction, Self::MinPrecision, Self::MinRecall, Self::MinProbability];

    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::TopFraction => "top_fraction",
            Self::MinPrecision => "min_precision",
            Self::MinRecall => "min_recall",
            Self::MinProbability => "min_probability",
        }
    }
}

/// Validated `[qualify]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualify {
    /// The policy scoring applies.
    pub policy: Policy,
    /// Parameter of [`Policy::TopFraction`].
    pub top_fraction: f64,
    /// Parameter of [`Policy::MinPrecision`].
    pub min_precision: f64,
    /// Parameter of [`Policy::MinRecall`].
    pub min_recall: f64,
    /// Parameter of [`Policy::MinProbability`].
    pub min_probability: f64,
    /// Extra days before the run date's day that are scored again.
    pub rescore_days: u32,
}

impl Qualify {
    /// The first day the run for `run_date` scores: the leads created from it up to the run date
    /// are scored (the day before the run date, and `rescore_days` before that).
    pub fn first_scored_day(&self, run_date: RunDate) -> RunDate {
        let days = 1 + i64::from(self.rescore_days);
        RunDate::new(run_date.date().checked_sub_signed(chrono::Duration::days(days)).unwrap_or(run_date.date()))
    }

    /// The configured parameter of a policy.
    pub fn parameter(&self, policy: Policy) -> f64 {
        match policy {
            Policy::TopFraction => self.top_fraction,
            Policy::MinPrecision => self.min_precision,
            Policy::MinRecall => self.min_recall,
            Policy::MinProbability => self.min_probability,
        }
    }
}

/// Validated `[project]`.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// ISO 4217 code of the project currency.
    pub currency: String,
    /// Business time zone.
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Tz,
    /// Output folder as written (resolved against the config folder by [`Config::output_dir`]).
    pub output_dir: String,
    /// Model registry folder as written (resolved by [`Config::models_dir`]).
    pub models_dir: String,
    /// Run date used without `--date`; `None` means today in `timezone`.
    pub default_run_date: Option<RunDate>,
}

fn ser_tz<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// Validated `[sources]`.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// The preset that pre-filled mappings, if any.
    pub preset: Option<&'static str>,
    /// Leads / contacts.
    pub leads: Source,
    /// Deals / opportunities.
    pub deals: Source,
    /// Behavioural events, when configured.
    pub events: Option<Source>,
}

impl Sources {
    /// The configured sources with their kinds, in processing order.
    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        [Some(&self.leads), Some(&self.deals), self.events.as_ref()].into_iter().flatten()
    }
}

/// Where a mapped column name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingOrigin {
    /// Written in the source's `mapping` table.
    Config,
    /// Filled in by the preset.
    Preset,
}

/// One canonical field's column in a source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedColumn {
    /// Column name in the file.
    pub column: String,
    /// Whether the user wrote it or a preset filled it.
    pub origin: MappingOrigin,
}

/// A validated source.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Which source this is.
    pub kind: SourceKind,
    /// Path or glob as written, relative to the config folder.
    pub path: String,
    /// Explicit format; `None` means infer from each file's extension.
    pub format: Option<FileFormat>,
    /// CSV delimiter byte.
    pub delimiter: u8,
    /// Canonical field name → file column.
    pub mapping: BTreeMap<&'static str, MappedColumn>,
    /// Output column name → file column, carried through unchanged (as text).
    pub extra: BTreeMap<String, String>,
    /// Largest share of rows that may be rejected (duplicates not counted) before ingest fails.
    pub max_reject_rate: f64,
}

/// The default of `[sources.*] max_reject_rate`: a twentieth of the rows.
pub const DEFAULT_MAX_REJECT_RATE: f64 = 0.05;

impl Source {
    /// The file column mapped to `field`, if any.
    pub fn column(&self, field: &str) -> Option<&str> {
        self.mapping.get(field).map(|m| m.column.as_str())
    }
}

/// A validated attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    /// Name in `leads.parquet` and features.
    pub name: String,
    /// Column in the leads file.
    pub column: String,
    /// Declared kind; `None` means ingest infers it.
    pub kind: Option<AttributeKind>,
    /// Whether the value is known at lead creation.
    pub available_at_creation: bool,
    /// Read text as a job title.
    pub job_title: bool,
    /// Numeric bucket boundaries (empty: none).
    pub buckets: Vec<f64>,
    /// Keep even when the leakage audit flags it.
    pub keep_if_flagged: bool,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Self::from_toml(&text, &path.display().to_string(), &base)
    }

    /// Validates config text. `file` names it in messages; relative paths resolve against
    /// `base_dir`.
    pub fn from_toml(text: &str, file: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| {
            let (line, column) = e.span().map(|s| locate::line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax { file: file.to_string(), line, column, message: e.message().to_string() }
        })?;
        let mut v = Validator { text, doc: &doc, base_dir, problems: Vec::new() };
        let config = v.config();
        if let (true, Some(config)) = (v.problems.is_empty(), config) {
            return Ok(config);
        }
        let mut problems = v.problems;
        problems.sort_by_key(|p| p.line_col.unwrap_or((usize::MAX, 0)));
        problems.dedup();
        Err(ConfigError::Invalid { file: file.to_string(), problems })
    }

    /// The resolved config as pretty JSON (what ran: presets applied, defaults filled).
    pub fn resolved_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// SHA-256 (hex) of the resolved config. Equal configs give equal hashes whatever their
    /// formatting, comments or key order.
    pub fn hash(&self) -> String {
        crate::digest::sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// The output folder, resolved against the config folder.
    pub fn output_dir(&self) -> PathBuf {
        self.resolve(&self.project.output_dir)
    }

    /// The model registry folder, resolved against the config folder.
    pub fn models_dir(&self) -> PathBuf {
        self.resolve(&self.project.models_dir)
    }

    /// Resolves a path from the config against the config folder (`.` segments dropped).
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        let joined = if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) };
        let clean: PathBuf = joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
        if clean.as_os_str().is_empty() { PathBuf::from(".") } else { clean }
    }

    /// The source of one kind, if configured.
    pub fn source(&self, kind: SourceKind) -> Option<&Source> {
        match kind {
            SourceKind::Leads => Some(&self.sources.leads),
            SourceKind::Deals => Some(&self.sources.deals),
            SourceKind::Events => self.sources.events.as_ref(),
        }
    }

    /// A conversion definition by name.
    pub fn conversion(&self, name: &str) -> Option<&ConversionDef> {
        self.conversions.iter().find(|d| d.name == name)
    }

    /// The run date to use when the command line names none.
    pub fn default_run_date(&self) -> RunDate {
        self.project.default_run_date.unwrap_or_else(|| RunDate::today(self.project.timezone))
    }
}

/// Turns a column name into an attribute name: `Job Title` → `job_title`, `Country/Region` →
/// `country_region`, `NumberOfEmployees` → `number_of_employees`, `Budget__c` → `budget_c`.
pub fn snake_case(column: &str) -> String {
    let mut out = String::with_capacity(column.len() + 4);
    let mut prev_lower = false;
    for ch in column.chars() {
        if ch.is_ascii_alphanumeric() {
            if ch.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let trimmed = out.trim_matches('_').to_string();
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) { format!("a_{trimmed}") } else { trimmed }
}

/// Whether `name` is a valid column name for leadscore tables: `[a-z][a-z0-9_]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn one_of<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|s| format!("`{}`", s.as_ref())).collect::<Vec<_>>().join(", ")
}

struct Validator<'a> {
    text: &'a str,
    doc: &'a Spanned<DeTable<'a>>,
    base_dir: &'a Path,
    problems: Vec<ConfigProblem>,
}

impl<'a> Validator<'a> {
    fn problem(&mut self, path: &KeyPath, message: impl Into<String>) {
        let line_col = locate::span_of(self.doc, path).map(|s| locate::line_col(self.text, s.start));
        self.problems.push(ConfigProblem { path: path.to_string(), line_col, message: message.into() });
    }

    fn get(&self, path: &KeyPath) -> Option<&'a Spanned<DeValue<'a>>> {
        let mut table: &'a DeTable<'a> = self.doc.get_ref();
        let mut found = None;
        for seg in path.segs() {
            let Seg::Key(k) = seg else { return None };
            let v = table.get(k.as_str())?;
            found = Some(v);
            if let DeValue::Table(t) = v.get_ref() {
                table = t;
            }
        }
        found
    }

    /// Deserializes one value into its raw type, recording the error (with its exact span). An
    /// unknown key of a table is recorded and left out, and the rest deserialized again, so that
    /// it does not hide the other problems of the same section.
    fn deser<T: DeserializeOwned>(&mut self, path: &KeyPath, v: &Spanned<DeValue<'a>>) -> Option<T> {
        let mut value = v.clone();
        loop {
            let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let unknown = err
                .message()
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(key, _)| key.to_string());
            let DeValue::Table(table) = value.get_mut() else { return self.record(path, &err) };
            match unknown {
                Some(key) if table.get(key.as_str()).is_some() => {
                    self.record::<()>(path, &err);
                    table.remove(key.as_str());
                }
                _ => return self.record(path, &err),
            }
        }
    }

    /// Records a deserialization error at its span (or at `path`).
    fn record<T>(&mut self, path: &KeyPath, e: &toml::de::Error) -> Option<T> {
        let line_col = e.span().map(|s| locate::line_col(self.text, s.start));
        let line_col =
            line_col.or_else(|| locate::span_of(self.doc, path).map(|s| locate::line_col(self.text, s.start)));
        self.problems.push(ConfigProblem { path: path.to_string(), line_col, message: e.message().trim().to_string() });
        None
    }

    fn config(&mut self) -> Option<Config> {
        let root = KeyPath::root();
        let keys: Vec<String> = self.doc.get_ref().keys().map(|k| k.get_ref().to_string()).collect();
        for k in keys.iter().filter(|k| !SECTIONS.contains(&k.as_str())) {
            self.problem(&root.key(k), format!("unknown section `{k}`, expected one of {}", one_of(SECTIONS)));
        }
        let project = self.project();
        let sources = self.sources();
        let attributes = self.attributes(&sources);
        let currency = self.currency(project.as_ref().map(|p| p.currency.as_str()));
        // Conversion definitions are checked against the configured sources' columns.
        let conversions = sources.as_ref().and_then(|s| {
            let mut extras = BTreeMap::new();
            extras.insert(SourceKind::Deals, s.deals.extra.clone());
            if let Some(e) = &s.events {
                extras.insert(SourceKind::Events, e.extra.clone());
            }
            let tz = project.as_ref().map_or(chrono_tz::UTC, |p| p.timezone);
            self.conversions(s.preset.and_then(Preset::from_name), &extras, tz)
        });
        let features = self.features();
        let train = self.train();
        let qualify = self.qualify();
        let export = self.export(sources.as_ref().and_then(|s| s.preset), attributes.as_deref());
        let privacy = self.privacy();
        let (conversions, labels) = conversions?;
        Some(Config {
            base_dir: self.base_dir.to_path_buf(),
            project: project?,
            sources: sources?,
            attributes: attributes?,
            currency: currency?,
            conversions,
            labels,
            features: features?,
            train: train?,
            qualify: qualify?,
            export: export?,
            privacy: privacy?,
        })
    }

    fn privacy(&mut self) -> Option<Privacy> {
        let path = KeyPath::root().key("privacy");
        let raw: RawPrivacy = match self.get(&path) {
            None => RawPrivacy::default(),
            Some(v) => self.deser(&path, v)?,
        };
        Some(Privacy { keep_raw_identifiers: raw.keep_raw_identifiers.unwrap_or(false) })
    }

    fn export(&mut self, preset: Option<&str>, attributes: Option<&[Attribute]>) -> Option<Export> {
        let path = KeyPath::root().key("export");
        let raw: RawExport = match self.get(&path) {
            None => RawExport::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut ok = true;
        // Google rejects an upload whose conversion action is not a resource name (a conversion
        // name, say): checked here, once, rather than discovered by every upload.
        // <https://developers.google.com/google-ads/api/reference/rpc/latest/ClickConversion>
        let action = raw.google_conversion_action.as_deref().map(str::trim);
        let action_ok = action.is_some_and(is_conversion_action);
        if let Some(a) = action.filter(|_| !action_ok) {
            self.problem(
                &path.key("google_conversion_action"),
                format!(
                    "expected a Google Ads resource name `customers/<customer id>/conversionActions/<conversion action \
                     id>` (digits, as in `customers/1234567890/conversionActions/987654321`), found `{a}`"
                ),
            );
            ok = false;
        }
        let formats = match &raw.formats {
            // Without a conversion action there are no enhanced conversions to write.
            None => ExportFormat::ALL.into_iter().filter(|f| *f != ExportFormat::GoogleEnhanced || action_ok).collect(),
            Some(names) => {
                let mut v = Vec::new();
                for n in names {
                    match ExportFormat::ALL.into_iter().find(|f| f.name() == n.trim()) {
                        Some(f) => v.push(f),
                        None => {
                            let all: Vec<&str> = ExportFormat::ALL.iter().map(|f| f.name()).collect();
                            self.problem(
                                &path.key("formats"),
                                format!("unknown export format `{n}`, expected one of {}", one_of(&all)),
                            );
                            ok = false;
                        }
                    }
                }
                v.sort();
                v.dedup();
                v
            }
        };
        let mut text = |key: &str, value: Option<String>, default: &str| -> String {
            match value.map(|v| v.trim().to_string()) {
                Some(v) if v.is_empty() => {
                    self.problem(&path.key(key), "must not be empty");
                    ok = false;
                    String::new()
                }
                Some(v) => v,
                None => default.to_string(),
            }
        };
        let conversion_name = text("conversion_name", raw.conversion_name, "Qualified lead");
        let meta_event_name = text("meta_event_name", raw.meta_event_name, &conversion_name);
        let crm_default = match preset {
            Some("hubspot") => "HubSpot",
            Some("salesforce") => "Salesforce",
            _ => "CRM",
        };
        let crm_name = text("crm_name", raw.crm_name, crm_default);
        if formats.contains(&ExportFormat::GoogleEnhanced) && action.is_none() {
            self.problem(
                &path.key("formats"),
                "`google_enhanced` needs `google_conversion_action`: the resource name \
                 `customers/<customer id>/conversionActions/<conversion action id>` of the conversion action the \
                 enhanced conversions are uploaded to",
            );
            ok = false;
        }
        let google_click_window_days = self.in_range(
            &path.key("google_click_window_days"),
            raw.google_click_window_days,
            90,
            |d| (1..=540).contains(&d),
            "between 1 and 540",
        );
        // Meta accepts events up to 7 days old: a larger value would only write events Meta drops.
        // <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event>
        let meta_max_age_days = self.in_range(
            &path.key("meta_max_age_days"),
            raw.meta_max_age_days,
            7,
            |d| (1..=7).contains(&d),
            "between 1 and 7 (Meta's limit)",
        );
        let upload_within_hours = self.in_range(
            &path.key("upload_within_hours"),
            raw.upload_within_hours,
            24,
            |h| (1..=168).contains(&h),
            "between 1 and 168",
        );
        let mut status = |key: &str, v: Option<String>| -> Option<ConsentStatus> {
            let v = v?;
            let parsed = ConsentStatus::parse(&v);
            if parsed.is_none() {
                self.problem(
                    &path.key("google_consent").key(key),
                    format!("expected `granted` or `denied`, found `{v}`"),
                );
                ok = false;
            }
            parsed
        };
        let consent = raw.google_consent.unwrap_or_default();
        let consent_attrs = raw.google_consent_attributes.unwrap_or_default();
        let google_consent = GoogleConsent {
            ad_user_data: status("ad_user_data", consent.ad_user_data),
            ad_personalization: status("ad_personalization", consent.ad_personalization),
            ad_user_data_attribute: consent_attrs.ad_user_data,
            ad_personalization_attribute: consent_attrs.ad_personalization,
        };
        let external_id = match raw.external_id.as_deref().map(str::trim) {
            None | Some("lead_id") => ExternalId::LeadId,
            Some("user_id") => ExternalId::UserId,
            Some(other) => {
                self.problem(&path.key("external_id"), format!("expected `lead_id` or `user_id`, found `{other}`"));
                ok = false;
                ExternalId::LeadId
            }
        };
        let mut meta_match_keys = MetaMatchKeys::default();
        for (key, attribute) in raw.meta_match_keys.unwrap_or_default() {
            let slot = match key.as_str() {
                "country" => &mut meta_match_keys.country,
                "ct" => &mut meta_match_keys.city,
                "st" => &mut meta_match_keys.state,
                "zp" => &mut meta_match_keys.zip,
                other => {
                    self.problem(
                        &path.key("meta_match_keys").key(other),
                        format!("unknown Meta match key `{other}`, expected one of `country`, `ct`, `st`, `zp`"),
                    );
                    ok = false;
                    continue;
                }
            };
            *slot = Some(attribute);
        }
        let default_phone_country = raw.default_phone_country.map(|c| c.trim().to_ascii_uppercase());
        if let Some(c) = &default_phone_country
            && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            self.problem(
                &path.key("default_phone_country"),
                format!("expected an ISO 3166 alpha-2 code such as `NL`, found `{c}`"),
            );
            ok = false;
        }
        if let Some(attrs) = attributes {
            let names: Vec<&str> = attrs.iter().map(|x| x.name.as_str()).collect();
            let named = [
                (path.key("phone_country_attribute"), raw.phone_country_attribute.as_deref()),
                (
                    path.key("google_consent_attributes").key("ad_user_data"),
                    google_consent.ad_user_data_attribute.as_deref(),
                ),
                (
                    path.key("google_consent_attributes").key("ad_personalization"),
                    google_consent.ad_personalization_attribute.as_deref(),
                ),
                (path.key("meta_match_keys").key("country"), meta_match_keys.country.as_deref()),
                (path.key("meta_match_keys").key("ct"), meta_match_keys.city.as_deref()),
                (path.key("meta_match_keys").key("st"), meta_match_keys.state.as_deref()),
                (path.key("meta_match_keys").key("zp"), meta_match_keys.zip.as_deref()),
            ];
            for (key, a) in named {
                if let Some(a) = a.filter(|a| !names.contains(a)) {
                    self.problem(&key, format!("unknown attribute `{a}`, expected one of {}", one_of(&names)));
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        Some(Export {
            formats,
            include_unqualified: raw.include_unqualified.unwrap_or(false),
            conversion_name,
            google_conversion_action: action.filter(|_| action_ok).map(str::to_string),
            meta_event_name,
            crm_name,
            google_click_window_days: google_click_window_days?,
            meta_max_age_days: meta_max_age_days?,
            default_phone_country,
            phone_country_attribute: raw.phone_country_attribute,
            upload_within_hours: upload_within_hours?,
            google_consent,
            external_id,
            meta_match_keys,
        })
    }

    /// A number from the config that must lie in `range` (`what` describes it), or its default.
    fn in_range<T>(
        &mut self,
        path: &KeyPath,
        value: Option<T>,
        default: T,
        ok: impl Fn(T) -> bool,
        what: &str,
    ) -> Option<T>
    where
        T: Copy + std::fmt::Display,
    {
        let v = value.unwrap_or(default);
        if ok(v) {
            Some(v)
        } else {
            self.problem(path, format!("must be {what}, found {v}"));
            None
        }
    }

    fn qualify(&mut self) -> Option<Qualify> {
        let path = KeyPath::root().key("qualify");
        let raw: RawQualify = match self.get(&path) {
            None => RawQualify::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let policy = match raw.policy.as_deref().map(str::trim) {
            None => Some(Policy::TopFraction),
            Some(name) => Policy::ALL.into_iter().find(|p| p.name() == name).or_else(|| {
                let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
                self.problem(
                    &path.key("policy"),
                    format!("unknown policy `{name}`, expected one of {}", one_of(&names)),
                );
                None
            }),
        };
        let share = |x: f64| x > 0.0 && x < 1.0;
        let top_fraction =
            self.in_range(&path.key("top_fraction"), raw.top_fraction, 0.2, share, "above 0 and below 1");
        let min_precision =
            self.in_range(&path.key("min_precision"), raw.min_precision, 0.3, share, "above 0 and below 1");
        let min_recall = self.in_range(&path.key("min_recall"), raw.min_recall, 0.8, share, "above 0 and below 1");
        let min_probability =
            self.in_range(&path.key("min_probability"), raw.min_probability, 0.1, share, "above 0 and below 1");
        let rescore_days =
            self.in_range(&path.key("rescore_days"), raw.rescore_days, 0, |d| d <= 3660, "between 0 and 3660");
        Some(Qualify {
            rescore_days: rescore_days?,
            policy: policy?,
            top_fraction: top_fraction?,
            min_precision: min_precision?,
            min_recall: min_recall?,
            min_probability: min_probability?,
        })
    }

    fn features(&mut self) -> Option<Features> {
        let path = KeyPath::root().key("features");
        let raw: RawFeatures = match self.get(&path) {
            None => RawFeatures::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut ok = true;
        let mut windows = raw.event_windows_days.unwrap_or_else(|| vec![1, 7, 30]);
        windows.sort_unstable();
        windows.dedup();
        if windows.is_empty() || windows.iter().any(|w| !(1..=365).contains(w)) {
            self.problem(&path.key("event_windows_days"), "expected one or more windows between 1 and 365 days");
            ok = false;
        }
        if raw.event_names.as_ref().is_some_and(|names| names.iter().any(|n| n.trim().is_empty())) {
            self.problem(&path.key("event_names"), "event names must not be empty");
            ok = false;
        }
        let top_k = raw.top_k.unwrap_or(20);
        if !(1..=1000).contains(&top_k) {
            self.problem(&path.key("top_k"), format!("must be between 1 and 1000, found {top_k}"));
            ok = false;
        }
        let min_count = raw.min_count.unwrap_or(20);
        if min_count == 0 {
            self.problem(&path.key("min_count"), "must be at least 1");
            ok = false;
        }
        let audit_max_auc = raw.audit_max_auc.unwrap_or(0.9);
        if !(audit_max_auc > 0.5 && audit_max_auc <= 1.0) {
            self.problem(&path.key("audit_max_auc"), format!("must be above 0.5 and at most 1, found {audit_max_auc}"));
            ok = false;
        }
        let audit_recent_days = raw.audit_recent_days.unwrap_or(14);
        if !(1..=90).contains(&audit_recent_days) {
            self.problem(
                &path.key("audit_recent_days"),
                format!("must be between 1 and 90, found {audit_recent_days}"),
            );
            ok = false;
        }
        ok.then_some(Features {
            event_windows_days: windows,
            event_names: raw.event_names,
            top_k,
            min_count,
            audit_max_auc,
            audit_recent_days,
        })
    }

    fn train(&mut self) -> Option<Train> {
        let path = KeyPath::root().key("train");
        let raw: RawTrain = match self.get(&path) {
            None => RawTrain::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let validation = match (raw.validation_fraction, raw.validation_weeks) {
            (Some(_), Some(_)) => {
                self.problem(&path, "set either `validation_fraction` or `validation_weeks`, not both");
                return None;
            }
            (_, Some(w)) if !(1..=52).contains(&w) => {
                self.problem(&path.key("validation_weeks"), format!("must be between 1 and 52, found {w}"));
                return None;
            }
            (_, Some(w)) => Validation::Weeks(w),
            (Some(f), None) if !(f > 0.0 && f <= 0.5) => {
                self.problem(&path.key("validation_fraction"), format!("must be above 0 and at most 0.5, found {f}"));
                return None;
            }
            (Some(f), None) => Validation::Fraction(f),
            (None, None) => Validation::Fraction(0.2),
        };
        let p = |k: &str| path.key(k);
        let max_trees =
            self.in_range(&p("max_trees"), raw.max_trees, 1000, |x| (10..=10_000).contains(&x), "between 10 and 10000");
        let learning_rate = self.in_range(
            &p("learning_rate"),
            raw.learning_rate,
            0.1,
            |x| x > 0.0 && x <= 1.0,
            "above 0 and at most 1",
        );
        let max_depth = self.in_range(&p("max_depth"), raw.max_depth, 4, |x| (1..=12).contains(&x), "between 1 and 12");
        let l2 = self.in_range(&p("l2"), raw.l2, 1.0, |x| x >= 0.0 && x.is_finite(), "0 or more");
        let champion_margin = self.in_range(
            &p("champion_margin"),
            raw.champion_margin,
            0.002,
            |x| (0.0..=1.0).contains(&x),
            "between 0 and 1",
        );
        let retrain_after_days =
            self.in_range(&p("retrain_after_days"), raw.retrain_after_days, 7, |x| x >= 1, "at least 1");
        let sample_negatives_above = self.in_range(
            &p("sample_negatives_above"),
            raw.sample_negatives_above,
            100_000,
            |x| x == 0 || x >= 10_000,
            "0 (off) or at least 10000",
        );
        Some(Train {
            validation,
            seed: raw.seed.unwrap_or(42),
            max_trees: max_trees?,
            learning_rate: learning_rate?,
            max_depth: max_depth?,
            l2: l2?,
            champion_margin: champion_margin?,
            retrain_after_days: retrain_after_days?,
            recency_adjustment: raw.recency_adjustment.unwrap_or(true),
            sample_negatives_above: sample_negatives_above?,
        })
    }

    fn project(&mut self) -> Option<Project> {
        let path = KeyPath::root().key("project");
        let Some(v) = self.get(&path) else {
            self.problem(&path, "missing section [project] (with at least `name` and `currency`)");
            return None;
        };
        let raw: RawProject = self.deser(&path, v)?;
        let mut ok = true;
        if raw.name.trim().is_empty() {
            self.problem(&path.key("name"), "must not be empty");
            ok = false;
        }
        let currency = iso4217(&raw.currency);
        if currency.is_none() {
            self.problem(
                &path.key("currency"),
                format!("expected an ISO 4217 currency code such as `EUR` or `USD`, found `{}`", raw.currency),
            );
        }
        let tz_name = raw.timezone.as_deref().unwrap_or("UTC");
        let timezone = match parse_tz(tz_name) {
            Ok(tz) => Some(tz),
            Err(msg) => {
                self.problem(&path.key("timezone"), msg);
                None
            }
        };
        let default_run_date = match raw.default_run_date.as_deref().map(str::trim) {
            None | Some("today") => Some(None),
            Some(s) => match s.parse::<RunDate>() {
                Ok(d) => Some(Some(d)),
                Err(msg) => {
                    self.problem(&path.key("default_run_date"), format!("{msg} or `today`"));
                    None
                }
            },
        };
        let output_dir = raw.output_dir.unwrap_or_else(|| "data".to_string());
        if output_dir.trim().is_empty() {
            self.problem(&path.key("output_dir"), "must not be empty (default `data`)");
            ok = false;
        }
        let models_dir = raw.models_dir.unwrap_or_else(|| "models".to_string());
        if models_dir.trim().is_empty() {
            self.problem(&path.key("models_dir"), "must not be empty (default `models`)");
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Project {
            name: raw.name.trim().to_string(),
            currency: currency?,
            timezone: timezone?,
            output_dir,
            models_dir,
            default_run_date: default_run_date?,
        })
    }

    fn sources(&mut self) -> Option<Sources> {
        let path = KeyPath::root().key("sources");
        let Some(v) = self.get(&path) else {
            self.problem(&path, "missing section [sources] (with [sources.leads] and [sources.deals])");
            return None;
        };
        let DeValue::Table(table) = v.get_ref() else {
            self.problem(&path, "expected a table with `leads`, `deals` and optionally `events` and `preset`");
            return None;
        };
        let known = ["preset", "leads", "deals", "events"];
        for k in table.keys().map(|k| k.get_ref().to_string()) {
            if !known.contains(&k.as_str()) {
                self.problem(&path.key(&k), format!("unknown key `{k}`, expected one of {}", one_of(known)));
            }
        }
        let mut preset_ok = true;
        let preset = match table.get("preset").map(|v| v.get_ref()) {
            None => None,
            Some(DeValue::String(s)) => match Preset::from_name(s) {
                Some(p) => Some(p),
                None => {
                    self.problem(
                        &path.key("preset"),
                        format!("unknown preset `{s}`, expected one of {}", one_of(Preset::ALL.map(Preset::name))),
                    );
                    preset_ok = false;
                    None
                }
            },
            Some(_) => {
                self.problem(&path.key("preset"), "expected a string (`hubspot` or `salesforce`)");
                preset_ok = false;
                None
            }
        };
        let mut out: BTreeMap<SourceKind, Option<Source>> = BTreeMap::new();
        for kind in SourceKind::ALL {
            let sp = path.key(kind.name());
            match table.get(kind.name()) {
                None if kind == SourceKind::Events => {}
                None => {
                    self.problem(&sp, format!("missing [sources.{}] (a path and a mapping)", kind.name()));
                    out.insert(kind, None);
                }
                Some(v) => {
                    let raw: Option<RawSource> = self.deser(&sp, v);
                    let src = raw.and_then(|raw| self.source(kind, &sp, raw, preset));
                    out.insert(kind, src);
                }
            }
        }
        let leads = out.remove(&SourceKind::Leads).flatten();
        let deals = out.remove(&SourceKind::Deals).flatten();
        let events = out.remove(&SourceKind::Events);
        if !preset_ok {
            return None;
        }
        Some(Sources {
            preset: preset.map(Preset::name),
            leads: leads?,
            deals: deals?,
            events: match events {
                None => None,
                Some(e) => Some(e?),
            },
        })
    }

    fn source(&mut self, kind: SourceKind, path: &KeyPath, raw: RawSource, preset: Option<Preset>) -> Option<Source> {
        let mut ok = true;
        if raw.path.trim().is_empty() {
            self.problem(&path.key("path"), "must name a file or glob");
            ok = false;
        }
        let delimiter = match raw.delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some("\\t") => b'\t',
            Some(d) => {
                self.problem(
                    &path.key("delimiter"),
                    format!("expected one ASCII character such as `,` or `;`, found `{d}`"),
                );
                ok = false;
                b','
            }
        };
        let fields = kind.fields();
        let mut mapping: BTreeMap<&'static str, MappedColumn> = BTreeMap::new();
        if let Some(p) = preset {
            for (f, c) in p.mapping(kind) {
                mapping.insert(f, MappedColumn { column: (*c).to_string(), origin: MappingOrigin::Preset });
            }
        }
        for (field, column) in &raw.mapping {
            let mp = path.key("mapping").key(field);
            match fields.iter().find(|f| f.name == field) {
                None => {
                    self.problem(
                        &mp,
                        format!(
                            "unknown {} field `{field}`, expected one of {}",
                            kind.name(),
                            one_of(fields.iter().map(|f: &FieldSpec| f.name))
                        ),
                    );
                    ok = false;
                }
                Some(spec) if column.trim().is_empty() => {
                    if spec.required {
                        self.problem(&mp, format!("`{field}` is required and needs a column name"));
                        ok = false;
                    } else {
                        // An empty name switches off a preset's column.
                        mapping.remove(spec.name);
                    }
                }
                Some(spec) => {
                    mapping.insert(spec.name, MappedColumn { column: column.clone(), origin: MappingOrigin::Config });
                }
            }
        }
        for spec in fields.iter().filter(|f| f.required) {
            if !mapping.contains_key(spec.name) {
                self.problem(
                    &path.key("mapping"),
                    format!(
                        "required field `{}` ({}) is not mapped; add `{} = \"<column in the file>\"`{}",
                        spec.name,
                        spec.doc,
                        spec.name,
                        if preset.is_none() { " or set `[sources] preset`" } else { "" }
                    ),
                );
                ok = false;
            }
        }
        if kind == SourceKind::Leads && !raw.extra.is_empty() {
            self.problem(
                &path.key("extra"),
                "leads carry their extra columns as [[attributes]]; `extra` is for deals and events",
            );
            ok = false;
        }
        let canonical = canonical_columns(kind);
        for name in raw.extra.keys() {
            let ep = path.key("extra").key(name);
            if !valid_name(name) {
                self.problem(&ep, format!("`{name}` is not a valid column name: use lowercase letters, digits and `_`, starting with a letter"));
                ok = false;
            } else if canonical.contains(&name.as_str()) {
                self.problem(
                    &ep,
                    format!("`{name}` is a canonical {} column; map it under `mapping` instead", kind.name()),
                );
                ok = false;
            }
        }
        let max_reject_rate = raw.max_reject_rate.unwrap_or(DEFAULT_MAX_REJECT_RATE);
        if !(0.0..=1.0).contains(&max_reject_rate) {
            self.problem(
                &path.key("max_reject_rate"),
                format!("must be a share between 0 and 1 (0.05 is 5%), found {max_reject_rate}"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Source {
            kind,
            path: raw.path.trim().to_string(),
            format: raw.format,
            delimiter,
            mapping,
            extra: raw.extra,
            max_reject_rate,
        })
    }

    fn attributes(&mut self, sources: &Option<Sources>) -> Option<Vec<Attribute>> {
        let path = KeyPath::root().key("attributes");
        let Some(v) = self.get(&path) else {
            return Some(Vec::new());
        };
        let DeValue::Array(items) = v.get_ref() else {
            self.problem(&path, "expected an array of tables: write each attribute as [[attributes]]");
            return None;
        };
        let reserved = canonical_columns(SourceKind::Leads);
        let mut names = BTreeSet::new();
        let mut columns = BTreeSet::new();
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ip = path.index(i);
            let Some(raw) = self.deser::<RawAttribute>(&ip, item) else {
                ok = false;
                continue;
            };
            if raw.column.trim().is_empty() {
                self.problem(&ip.key("column"), "must name a column of the leads file");
                ok = false;
                continue;
            }
            let name = raw.name.clone().unwrap_or_else(|| snake_case(&raw.column));
            let name_path = if raw.name.is_some() { ip.key("name") } else { ip.key("column") };
            if !valid_name(&name) {
                self.problem(&name_path, format!("attribute name `{name}` is not valid: use lowercase letters, digits and `_`, starting with a letter"));
                ok = false;
            } else if reserved.contains(&name.as_str()) {
                self.problem(
                    &name_path,
                    format!("attribute name `{name}` is a canonical lead column; give the attribute another `name`"),
                );
                ok = false;
            } else if !names.insert(name.clone()) {
                self.problem(&name_path, format!("attribute name `{name}` is used twice"));
                ok = false;
            }
            if !columns.insert(raw.column.clone()) {
                self.problem(&ip.key("column"), format!("column `{}` is already an attribute", raw.column));
                ok = false;
            }
            // Identifiers and personal data are canonical fields, not features.
            let identity = sources
                .as_ref()
                .and_then(|s| s.leads.mapping.iter().find(|(_, m)| m.column == raw.column))
                .map(|(field, _)| *field)
                .filter(|f| {
                    matches!(*f, "lead_id" | "user_id" | "email" | "phone" | "first_name" | "last_name" | "updated_at")
                });
            if let Some(field) = identity {
                self.problem(
                    &ip.key("column"),
                    format!(
                        "column `{}` is mapped to the canonical field `{field}` and cannot be an attribute",
                        raw.column
                    ),
                );
                ok = false;
            }
            if raw.job_title.is_some() && raw.kind.is_some_and(|k| k != AttributeKind::Text) {
                self.problem(&ip.key("job_title"), "`job_title` applies to text attributes (`kind = \"text\"`)");
                ok = false;
            }
            let buckets = raw.buckets.clone().unwrap_or_default();
            if raw.buckets.is_some() && raw.kind.is_some_and(|k| k != AttributeKind::Numeric) {
                self.problem(&ip.key("buckets"), "`buckets` applies to numeric attributes (`kind = \"numeric\"`)");
                ok = false;
            }
            if buckets.iter().any(|b| !b.is_finite()) || buckets.windows(2).any(|w| w[0] >= w[1]) {
                self.problem(&ip.key("buckets"), "bucket boundaries must be finite and strictly ascending");
                ok = false;
            }
            let job_title = raw.job_title.unwrap_or(name.contains("title"));
            out.push(Attribute {
                name,
                column: raw.column,
                kind: raw.kind,
                available_at_creation: raw.available_at_creation.unwrap_or(true),
                job_title,
                buckets,
                keep_if_flagged: raw.keep_if_flagged.unwrap_or(false),
            });
        }
        ok.then_some(out)
    }

    fn currency(&mut self, project_currency: Option<&str>) -> Option<Rates> {
        let path = KeyPath::root().key("currency");
        let raw: RawCurrency = match self.get(&path) {
            None => RawCurrency::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut rates = BTreeMap::new();
        let mut ok = true;
        if let Some(file) = &raw.file {
            let fp = path.key("file");
            let full = if Path::new(file).is_absolute() { PathBuf::from(file) } else { self.base_dir.join(file) };
            match std::fs::read_to_string(&full) {
                Err(e) => {
                    self.problem(&fp, format!("cannot read rates file {}: {e}", full.display()));
                    ok = false;
                }
                Ok(text) => match parse_rates_csv(&text) {
                    Ok(r) => rates.extend(r),
                    Err(msg) => {
                        self.problem(&fp, format!("{}: {msg}", full.display()));
                        ok = false;
                    }
                },
            }
        }
        for (code, rate) in raw.rates {
            let rp = path.key("rates").key(&code);
            match iso4217(&code) {
                None => {
                    self.problem(&rp, format!("`{code}` is not an ISO 4217 currency code"));
                    ok = false;
                }
                Some(c) => {
                    rates.insert(c, rate);
                }
            }
        }
        for (code, rate) in &rates {
            if !(rate.is_finite() && *rate > 0.0) {
                self.problem(&path.key("rates").key(code), format!("rate must be a positive number, found {rate}"));
                ok = false;
            }
            if Some(code.as_str()) == project_currency && (*rate - 1.0).abs() > 1e-12 {
                self.problem(&path.key("rates").key(code), format!("the project currency converts at 1, found {rate}"));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(Rates::new(project_currency.unwrap_or_default(), rates))
    }
}

/// Parses a rates CSV: a header `currency,rate`, then one row per currency.
fn parse_rates_csv(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim().eq_ignore_ascii_case("currency,rate") => {}
        Some((_, h)) => {
            return Err(format!("expected the header `currency,rate`, found `{}`", h.trim()));
        }
        None => {
            return Err("empty file; expected the header `currency,rate` and one row per currency".into());
        }
    }
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        let mut parts = line.split(',');
        let (Some(c), Some(r), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("line {}: expected `CODE,rate`, found `{}`", i + 1, line.trim()));
        };
        let code = iso4217(c).ok_or_else(|| format!("line {}: `{}` is not an ISO 4217 code", i + 1, c.trim()))?;
        let rate: f64 = r.trim().parse().map_err(|_| format!("line {}: rate `{}` is not a number", i + 1, r.trim()))?;
        out.insert(code, rate);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
