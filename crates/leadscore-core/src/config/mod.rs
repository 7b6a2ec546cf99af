//! `leadscore.toml`: loading, validation, and the validated [`Config`] every stage runs with.
//!
//! Loading goes raw → validated. Each section is deserialized into its raw type
//! ([`raw`]) on its own, so a typo in `[project]` does not hide a wrong type in
//! `[sources.deals]`; then every rule is checked. All problems are reported at once, each with its
//! key path and line:column ([`ConfigError::Invalid`]).

pub mod conversions;
pub mod export;
pub mod features;
mod locate;
pub mod logic;
pub mod presets;
pub mod project;
pub mod qualify;
pub mod raw;
pub mod train;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use conversions::{Condition, ConversionDef, DefinitionKind, Labels, Matcher, Operand, Scalar, ValueType};
pub use export::{ConsentStatus, Export, ExportFormat, ExternalId, GoogleConsent, MetaMatchKeys, is_conversion_action};
pub use features::Features;
pub use locate::{KeyPath, Seg};
pub use logic::Logic;
pub use presets::Preset;
pub use project::{Privacy, Project};
pub use qualify::{Policy, Qualify};
pub use raw::{AttributeKind, Dedupe, FileFormat, Op};
pub use train::{Train, Validation};

use crate::currency::{Rates, iso4217};
use crate::schema::{FieldSpec, SourceKind, canonical_columns};
use crate::time::RunDate;
use raw::{RawAttribute, RawCurrency, RawSource};

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
    /// `[privacy]`.
    pub privacy: Privacy,
}

/// Validated `[sources]`.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// The preset that pre-filled mappings, if any.
    pub preset: Option<Preset>,
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
            self.conversions(s.preset, &extras, tz)
        });
        let features = self.features();
        let train = self.train();
        let qualify = self.qualify();
        let export = self.export(sources.as_ref().and_then(|s| s.preset), attributes.as_deref());
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
            preset,
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
