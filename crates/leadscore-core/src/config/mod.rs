//! `leadscore.toml`: loading, validation, and the validated [`Config`] every stage runs with.
//!
//! Loading goes raw → validated. Each section is deserialized into its raw type
//! ([`raw`]) on its own, so a typo in `[project]` does not hide a wrong type in
//! `[sources.deals]`; then every rule is checked. All problems are reported at once, each with its
//! key path and line:column ([`ConfigError::Invalid`]).

pub mod channels;
pub mod conversions;
pub mod export;
pub mod features;
mod locate;
pub mod logic;
pub mod presets;
pub mod project;
pub mod qualify;
mod rates;
pub mod raw;
pub mod sources;
pub mod train;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use channels::{Channels, Spend};
pub use conversions::{Condition, ConversionDef, DefinitionKind, Labels, Matcher, Operand, Scalar, ValueType};
pub use export::{ConsentStatus, Export, ExportFormat, ExternalId, GoogleConsent, MetaMatchKeys, is_conversion_action};
pub use features::Features;
pub use locate::{KeyPath, Seg};
pub use logic::Logic;
pub use presets::{EventPreset, Preset};
pub use project::{Privacy, Project};
pub use qualify::{Policy, Qualify};
pub use raw::{AttributeKind, Dedupe, FileFormat, Op, TextEncoding};
pub use sources::{
    Attribute, DEFAULT_MAX_REJECT_RATE, Database, Location, MappedColumn, MappingOrigin, Source, Sources, Table,
    select_all, snake_case, valid_name,
};
pub use train::{Mlflow, Monotone, Train, Validation};

use crate::currency::Rates;
use crate::schema::SourceKind;
use crate::time::RunDate;

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
    "channels",
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
    /// The config text as read (not part of the resolved config or its hash): a pipeline applies
    /// its stages' options to it without reading the file a second time.
    #[serde(skip)]
    pub source_text: String,
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
    /// `[channels]`.
    pub channels: Channels,
    /// `[privacy]`.
    pub privacy: Privacy,
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

    /// The first day whose leads the run for `run_date` may tell a platform of: the scoring
    /// range's or the adjustment window's, whichever reaches further back. Ingest keeps the
    /// digests of these leads; export keeps them in its ledger.
    pub fn first_exported_day(&self, run_date: crate::RunDate) -> crate::RunDate {
        self.qualify.first_scored_day(run_date).min(self.export.first_adjusted_day(run_date))
    }

    /// The first day of a source's history that the run for `run_date` uses, so that a
    /// date-partitioned source folder need not be read further back (the partitions after the
    /// run date hold nothing the run may know either). Leads: those of the training window and
    /// of the days the run may export ([`Self::first_exported_day`]), from the earlier of the run
    /// date and [`Sources::read_from`]. Events: from the longest look back before those leads (an
    /// event window, or the year of the recency feature, [`features::EVENT_RECENCY_DAYS`]). Deals: `None`, all of them, since a won deal of any age makes its user an existing
    /// customer.
    pub fn first_needed_day(&self, kind: SourceKind, run_date: crate::RunDate) -> Option<crate::RunDate> {
        let earliest = self.sources.read_from.map_or(run_date, |d| d.min(run_date));
        let mut leads = self.first_exported_day(earliest);
        if let Some(labels) = &self.labels {
            leads = leads.min(labels.training_window(earliest).0);
        }
        let longest_window =
            self.features.event_windows_days.iter().copied().chain([features::EVENT_RECENCY_DAYS]).max().unwrap_or(0);
        match kind {
            SourceKind::Leads => Some(leads),
            SourceKind::Events => {
                Some(crate::RunDate::new(leads.date() - chrono::Duration::days(longest_window.into())))
            }
            SourceKind::Deals => None,
        }
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
            let names = |extra: &BTreeMap<String, String>| extra.keys().cloned().collect::<Vec<_>>();
            let event_extra = s.events.as_ref().map(|e| names(&e.extra));
            let sql_tables = crate::sql::empty_tables(
                attributes.as_deref().unwrap_or_default(),
                &names(&s.deals.extra),
                event_extra.as_deref(),
                &s.tables,
            );
            let tz = project.as_ref().map_or(chrono_tz::UTC, |p| p.timezone);
            self.conversions(s.preset, &conversions::DefinitionSources { extras, sql_tables }, tz)
        });
        let features = self.features();
        let train = self.train();
        let qualify = self.qualify();
        let export = self.export(sources.as_ref().and_then(|s| s.preset), attributes.as_deref());
        let channels = self.channels(attributes.as_deref());
        let privacy = self.privacy();
        let (conversions, labels) = conversions?;
        Some(Config {
            base_dir: self.base_dir.to_path_buf(),
            source_text: self.text.to_string(),
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
            channels: channels?,
            privacy: privacy?,
        })
    }

    /// A number from the config that must lie in `range` (`what` describes it), or its default.
    pub(super) fn in_range<T>(
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
}

#[cfg(test)]
mod tests;
