//! `[sources]` and `[[attributes]]`: the CRM exports, their mappings and limits, and the lead
//! attributes used as features.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use toml::de::DeValue;

use super::raw::{RawAttribute, RawSource};
use super::{AttributeKind, EventPreset, FileFormat, KeyPath, Preset, TextEncoding, Validator, one_of};
use crate::schema::{FieldSpec, FieldType, SourceKind, canonical_columns};

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
    /// Further tables for SQL conversion definitions (`[sources.tables.<name>]`), by name. (Left
    /// out of the hash when there are none, so that configs without any keep their hash.)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Table>,
    /// The first day whose leads a run must read although the run itself would not: set by a
    /// backtest, which scores leads from before its `as_of` run's window. Not part of the config
    /// file (nor of its hash).
    #[serde(skip)]
    pub read_from: Option<crate::RunDate>,
}

impl Sources {
    /// The configured sources with their kinds, in processing order.
    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        [Some(&self.leads), Some(&self.deals), self.events.as_ref()].into_iter().flatten()
    }
}

/// A further table (`[sources.tables.<name>]`), read like a source but with no canonical
/// fields: its declared columns are parsed by kind (a value that does not parse rejects its row)
/// and SQL conversion definitions can name it. Ingest writes it as `tables/<name>.parquet`.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Its name in SQL (`[a-z][a-z0-9_]*`, not `leads`, `deals` or `events`).
    pub name: String,
    /// Where it is read from.
    #[serde(flatten)]
    pub location: Location,
    /// The columns read, as named in the file, with their kinds, by name.
    pub columns: Vec<(String, AttributeKind)>,
    /// Largest share of rows that may be rejected before ingest fails.
    pub max_reject_rate: f64,
    /// strftime format of its text timestamps, when the defaults do not fit.
    pub timestamp_format: Option<String>,
    /// The time zone of timestamps without an offset, when not the project's.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_tz")]
    pub timezone: Option<chrono_tz::Tz>,
}

impl Table {
    /// The config section it is written in (`tables.opportunities`), as messages, reports and the
    /// rejects table name it.
    pub fn section(&self) -> String {
        format!("tables.{}", self.name)
    }

    /// The columns ingest writes, with their types: what a query sees.
    pub fn schema(&self) -> polars::prelude::Schema {
        self.columns.iter().map(|(n, k)| polars::prelude::Field::new(n.as_str().into(), k.dtype())).collect()
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

/// Where a source's or a table's rows come from, and how its files are written.
#[derive(Debug, Clone, Serialize)]
pub struct Location {
    /// Path, glob or folder as written, relative to the config folder; empty for a database
    /// source.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The PostgreSQL query that is the source, instead of files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// Character encoding of the text files.
    #[serde(skip_serializing_if = "TextEncoding::is_utf8")]
    pub encoding: TextEncoding,
    /// Explicit format; `None` means infer from each file's extension.
    pub format: Option<FileFormat>,
    /// CSV delimiter byte.
    pub delimiter: u8,
}

/// A validated source.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Which source this is.
    pub kind: SourceKind,
    /// Where it is read from.
    #[serde(flatten)]
    pub location: Location,
    /// Canonical field name → file column.
    pub mapping: BTreeMap<&'static str, MappedColumn>,
    /// Output column name → file column, carried through unchanged (as text).
    pub extra: BTreeMap<String, String>,
    /// Largest share of rows that may be rejected (duplicates not counted) before ingest fails.
    pub max_reject_rate: f64,
    /// strftime format of the source's text timestamps, when the defaults do not fit.
    pub timestamp_format: Option<String>,
    /// Per canonical timestamp field, a format that wins over `timestamp_format`.
    pub timestamp_formats: BTreeMap<String, String>,
    /// The events export's preset (`[sources.events] preset`), when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<EventPreset>,
    /// The time zone of timestamps without an offset, when not the project's (the source's
    /// `timezone`, or its preset's).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_tz")]
    pub timezone: Option<chrono_tz::Tz>,
}

fn ser_tz<S: serde::Serializer>(tz: &Option<chrono_tz::Tz>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.map_or("", |t| t.name()))
}

/// A source read from PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Database {
    /// The environment variable that holds the connection URL (`connection = "env:NAME"`).
    pub connection_env: String,
    /// The query run (a `table` is read as `SELECT * FROM` it).
    pub query: String,
}

impl Database {
    /// Where the source comes from, for messages and the manifest: never the URL (it may hold a
    /// password), only the variable that holds it.
    pub fn origin(&self) -> String {
        format!("postgresql (env:{})", self.connection_env)
    }
}

/// `SELECT * FROM` a table named as written, each dotted part quoted as an identifier
/// (`crm.Contacts` → `"crm"."Contacts"`); `None` when a part is empty.
pub fn select_all(table: &str) -> Option<String> {
    let parts: Vec<&str> = table.trim().split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let quoted: Vec<String> = parts.iter().map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect();
    Some(format!("SELECT * FROM {}", quoted.join(".")))
}

/// What a source and a table both say of how to read them ([`Validator::reading`]).
struct Reading {
    location: Location,
    max_reject_rate: f64,
    /// The `timezone` written, when valid.
    timezone: Option<chrono_tz::Tz>,
}

/// The default of `[sources.*] max_reject_rate`: a twentieth of the rows.
pub const DEFAULT_MAX_REJECT_RATE: f64 = 0.05;

impl Source {
    /// The file column mapped to `field`, if any.
    pub fn column(&self, field: &str) -> Option<&str> {
        self.mapping.get(field).map(|m| m.column.as_str())
    }

    /// The configured format of a timestamp field (or of the source's timestamp attributes, by
    /// the name of no canonical field), if any.
    pub fn timestamp_format(&self, field: &str) -> Option<&str> {
        self.timestamp_formats.get(field).or(self.timestamp_format.as_ref()).map(String::as_str)
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

impl<'a> Validator<'a> {
    pub(super) fn sources(&mut self) -> Option<Sources> {
        let path = KeyPath::root().key("sources");
        let Some(v) = self.get(&path) else {
            self.problem(&path, "missing section [sources] (with [sources.leads] and [sources.deals])");
            return None;
        };
        let DeValue::Table(table) = v.get_ref() else {
            self.problem(&path, "expected a table with `leads`, `deals` and optionally `events` and `preset`");
            return None;
        };
        let known = ["preset", "leads", "deals", "events", "tables"];
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
                self.problem(
                    &path.key("preset"),
                    "expected a string (`hubspot`, `salesforce`, `dynamics365` or `pipedrive`)",
                );
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
        let tables = self.tables(&path.key("tables"), table.get("tables").map(|v| v.get_ref()));
        if !preset_ok {
            return None;
        }
        Some(Sources {
            read_from: None,
            preset,
            tables: tables?,
            leads: leads?,
            deals: deals?,
            events: match events {
                None => None,
                Some(e) => Some(e?),
            },
        })
    }

    pub(super) fn source(
        &mut self,
        kind: SourceKind,
        path: &KeyPath,
        raw: RawSource,
        preset: Option<Preset>,
    ) -> Option<Source> {
        let mut ok = true;
        let Reading { location, max_reject_rate, timezone } = self.reading(path, &raw, &mut ok);
        if !raw.columns.is_empty() {
            self.problem(
                &path.key("columns"),
                format!("`columns` declares a table of [sources.tables]; [sources.{kind}] takes a `mapping`"),
            );
            ok = false;
        }
        let event_preset = self.event_preset(kind, path, raw.preset.as_deref(), &mut ok);
        // Without its own `timezone`, a source's times are in its preset's, if it has one.
        let timezone = match (timezone, raw.timezone.is_some()) {
            (None, false) => event_preset.and_then(EventPreset::timezone).or_else(|| preset.and_then(Preset::timezone)),
            (tz, _) => tz,
        };
        let mapping = self.mapping(kind, path, &raw.mapping, (preset, event_preset), &mut ok);
        self.extra_columns(kind, path, &raw.extra, &mut ok);
        self.timestamp_formats(kind, path, &raw.timestamp_formats, &mut ok);
        if !ok {
            return None;
        }
        Some(Source {
            kind,
            location,
            mapping,
            extra: raw.extra,
            max_reject_rate,
            preset: event_preset,
            timezone,
            timestamp_format: raw.timestamp_format,
            timestamp_formats: raw.timestamp_formats,
        })
    }

    /// What a source and a table both say of how to read them, checked: where from (a file path,
    /// or a PostgreSQL query; the encoding, the delimiter), the reject limit, the time zone (its
    /// own `timezone`, if given) and the `timestamp_format`.
    fn reading(&mut self, path: &KeyPath, raw: &RawSource, ok: &mut bool) -> Reading {
        let database = self.database(path, raw, ok);
        let file_path = raw.path.as_deref().map(str::trim).unwrap_or_default().to_string();
        let database_keys = raw.query.is_some() || raw.table.is_some() || raw.connection.is_some();
        if database.is_none() && file_path.is_empty() && !database_keys {
            let why = if raw.path.is_some() {
                "must name a file or glob"
            } else {
                "missing: a file or glob (or a PostgreSQL `query` or `table` with a `connection`)"
            };
            self.problem(&path.key("path"), why);
            *ok = false;
        }
        let encoding = self.encoding(path, raw.encoding.as_deref(), ok);
        let delimiter = self.delimiter(path, raw.delimiter.as_deref(), ok);
        let max_reject_rate = raw.max_reject_rate.unwrap_or(DEFAULT_MAX_REJECT_RATE);
        if !(0.0..=1.0).contains(&max_reject_rate) {
            self.problem(
                &path.key("max_reject_rate"),
                format!("must be a share between 0 and 1 (0.05 is 5%), found {max_reject_rate}"),
            );
            *ok = false;
        }
        if let Some(Err(e)) = raw.timestamp_format.as_deref().map(crate::time::check_format) {
            self.problem(&path.key("timestamp_format"), e);
            *ok = false;
        }
        let timezone = match raw.timezone.as_deref().map(crate::time::parse_tz) {
            None => None,
            Some(Ok(tz)) => Some(tz),
            Some(Err(msg)) => {
                self.problem(&path.key("timezone"), msg);
                *ok = false;
                None
            }
        };
        let location = Location { path: file_path, database, encoding, format: raw.format, delimiter };
        Reading { location, max_reject_rate, timezone }
    }

    /// `[sources.tables]`: each `[sources.tables.<name>]` read like a source, with the kinds of
    /// the columns it gives instead of a mapping.
    fn tables(&mut self, path: &KeyPath, value: Option<&DeValue<'a>>) -> Option<Vec<Table>> {
        let Some(value) = value else { return Some(Vec::new()) };
        let DeValue::Table(entries) = value else {
            self.problem(path, "expected tables: `[sources.tables.<name>]` with a `path` (or a `query`) and `columns`");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (name, v) in entries {
            let name = name.get_ref().to_string();
            let tp = path.key(&name);
            if !valid_name(&name) {
                self.problem(&tp, format!("`{name}` is not a valid table name: use lowercase letters, digits and `_`, starting with a letter"));
                ok = false;
                continue;
            }
            if crate::sql::TABLES.contains(&name.as_str()) {
                self.problem(&tp, format!("`{name}` is the ingested {name} table; give the extra table another name"));
                ok = false;
                continue;
            }
            let Some(raw) = self.deser::<RawSource>(&tp, v) else {
                ok = false;
                continue;
            };
            let mut table_ok = true;
            let reading = self.reading(&tp, &raw, &mut table_ok);
            for (key, set) in [
                ("mapping", !raw.mapping.is_empty()),
                ("extra", !raw.extra.is_empty()),
                ("timestamp_formats", !raw.timestamp_formats.is_empty()),
                ("preset", raw.preset.is_some()),
            ] {
                if set {
                    self.problem(
                        &tp.key(key),
                        format!(
                            "`{key}` applies to leads, deals and events; a table declares its `columns` and their kinds"
                        ),
                    );
                    table_ok = false;
                }
            }
            if raw.columns.is_empty() {
                self.problem(&tp.key("columns"), "missing: the columns to read and their kinds (`{ opp_id = \"text\", amount = \"numeric\", closed = \"timestamp\" }`)");
                table_ok = false;
            }
            for column in raw.columns.keys().filter(|c| c.trim().is_empty()) {
                self.problem(&tp.key("columns").key(column), "must name a column of the table");
                table_ok = false;
            }
            ok &= table_ok;
            let Reading { location, max_reject_rate, timezone } = reading;
            out.push(Table {
                name,
                location,
                columns: raw.columns.into_iter().collect(),
                max_reject_rate,
                timestamp_format: raw.timestamp_format,
                timezone,
            });
        }
        ok.then_some(out)
    }

    /// `query` or `table` with `connection = "env:NAME"`: the source is a PostgreSQL query. File
    /// options do not apply to it.
    fn database(&mut self, path: &KeyPath, raw: &RawSource, ok: &mut bool) -> Option<Database> {
        let query = match (&raw.query, &raw.table) {
            (None, None) => {
                if raw.connection.is_some() {
                    self.problem(&path.key("connection"), "a `connection` needs a `query` or a `table` to read");
                    *ok = false;
                }
                return None;
            }
            (Some(_), Some(_)) => {
                self.problem(&path.key("table"), "give a `query` or a `table`, not both");
                *ok = false;
                return None;
            }
            (Some(q), None) if q.trim().is_empty() => {
                self.problem(&path.key("query"), "must be a SELECT (or any statement that returns rows)");
                *ok = false;
                return None;
            }
            (Some(q), None) => q.trim().trim_end_matches(';').trim_end().to_string(),
            (None, Some(t)) => match select_all(t) {
                Some(q) => q,
                None => {
                    self.problem(
                        &path.key("table"),
                        format!("expected a table name such as `contacts` or `crm.contacts`, found `{t}`"),
                    );
                    *ok = false;
                    return None;
                }
            },
        };
        for (key, set) in [
            ("path", raw.path.is_some()),
            ("format", raw.format.is_some()),
            ("delimiter", raw.delimiter.is_some()),
            ("encoding", raw.encoding.is_some()),
        ] {
            if set {
                self.problem(
                    &path.key(key),
                    format!("`{key}` applies to files; a source read with a `query` or `table` has none"),
                );
                *ok = false;
            }
        }
        let connection_env = match raw.connection.as_deref().map(str::trim) {
            Some(c)
                if c.strip_prefix("env:")
                    .is_some_and(|v| !v.is_empty() && v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')) =>
            {
                c["env:".len()..].to_string()
            }
            Some(c) if c.contains("://") || c.contains('=') => {
                // Never echo it: it may hold a password.
                self.problem(&path.key("connection"), "expected `env:NAME`, the environment variable that holds the connection URL; a URL written in the config would put its password in a shared file and in the run's records");
                *ok = false;
                return None;
            }
            Some(_) => {
                self.problem(&path.key("connection"), "expected `env:NAME` (NAME: letters, digits and `_`), the environment variable that holds the connection URL");
                *ok = false;
                return None;
            }
            None => {
                self.problem(&path.key("connection"), "missing: a `query` or `table` needs `connection = \"env:NAME\"`, the environment variable that holds the PostgreSQL URL");
                *ok = false;
                return None;
            }
        };
        Some(Database { connection_env, query })
    }

    /// `encoding`: one of the names of [`TextEncoding`]; UTF-8 when not given.
    fn encoding(&mut self, path: &KeyPath, raw: Option<&str>, ok: &mut bool) -> TextEncoding {
        let Some(name) = raw else { return TextEncoding::Utf8 };
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match wanted.as_str() {
            "utf8" => "utf-8",
            "cp1252" | "windows1252" => "windows-1252",
            "latin1" | "iso-8859-1" => "latin-1",
            "utf16" => "utf-16",
            other => other,
        };
        match TextEncoding::ALL.into_iter().find(|e| e.name() == alias) {
            Some(e) => e,
            None => {
                self.problem(
                    &path.key("encoding"),
                    format!(
                        "unknown encoding `{name}`, expected one of {}",
                        one_of(TextEncoding::ALL.map(TextEncoding::name))
                    ),
                );
                *ok = false;
                TextEncoding::Utf8
            }
        }
    }

    /// The field delimiter: one ASCII character, or `\t` for a tab; a comma when not given.
    fn delimiter(&mut self, path: &KeyPath, raw: Option<&str>, ok: &mut bool) -> u8 {
        match raw {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some("\\t") => b'\t',
            Some(d) => {
                self.problem(
                    &path.key("delimiter"),
                    format!("expected one ASCII character such as `,` or `;`, found `{d}`"),
                );
                *ok = false;
                b','
            }
        }
    }

    /// `[sources.events] preset`: an event export's name; only the events source has one.
    fn event_preset(
        &mut self,
        kind: SourceKind,
        path: &KeyPath,
        name: Option<&str>,
        ok: &mut bool,
    ) -> Option<EventPreset> {
        let name = name?;
        let known = || one_of(EventPreset::ALL.map(EventPreset::name));
        if kind != SourceKind::Events {
            self.problem(
                &path.key("preset"),
                format!(
                    "only [sources.events] takes a preset of its own ({}); a CRM's goes in [sources] preset",
                    known()
                ),
            );
            *ok = false;
            return None;
        }
        let preset = EventPreset::from_name(name);
        if preset.is_none() {
            self.problem(&path.key("preset"), format!("unknown events preset `{name}`, expected one of {}", known()));
            *ok = false;
        }
        preset
    }

    /// The source's canonical fields mapped to columns: the preset's (the events preset's over
    /// the CRM preset's), then the config's (an empty column name switches a preset's column
    /// off); every required field must be mapped.
    fn mapping(
        &mut self,
        kind: SourceKind,
        path: &KeyPath,
        raw_mapping: &BTreeMap<String, String>,
        (preset, event_preset): (Option<Preset>, Option<EventPreset>),
        ok: &mut bool,
    ) -> BTreeMap<&'static str, MappedColumn> {
        let fields = kind.fields();
        let mut mapping: BTreeMap<&'static str, MappedColumn> = BTreeMap::new();
        let preset_mapping = match (event_preset, preset) {
            (Some(e), _) => e.mapping(),
            (None, Some(p)) => p.mapping(kind),
            (None, None) => &[],
        };
        for (f, c) in preset_mapping {
            mapping.insert(f, MappedColumn { column: (*c).to_string(), origin: MappingOrigin::Preset });
        }
        for (field, column) in raw_mapping {
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
                    *ok = false;
                }
                Some(spec) if column.trim().is_empty() => {
                    if spec.required {
                        self.problem(&mp, format!("`{field}` is required and needs a column name"));
                        *ok = false;
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
                        if preset.is_none() && event_preset.is_none() { " or set `[sources] preset`" } else { "" }
                    ),
                );
                *ok = false;
            }
        }
        mapping
    }

    /// `timestamp_formats` may name only the source's canonical timestamp fields, each with a
    /// strftime format with a date.
    fn timestamp_formats(
        &mut self,
        kind: SourceKind,
        path: &KeyPath,
        per_field: &BTreeMap<String, String>,
        ok: &mut bool,
    ) {
        let fields: Vec<&str> = kind.fields().iter().filter(|f| f.ty == FieldType::Timestamp).map(|f| f.name).collect();
        for (field, format) in per_field {
            let key = path.key("timestamp_formats").key(field);
            if !fields.contains(&field.as_str()) {
                let message = format!("not a timestamp field of {}; expected one of {}", kind.name(), one_of(&fields));
                self.problem(&key, message);
                *ok = false;
            } else if let Err(e) = crate::time::check_format(format) {
                self.problem(&key, e);
                *ok = false;
            }
        }
    }

    /// `extra` columns (deals and events only) must have valid names that are not canonical.
    fn extra_columns(&mut self, kind: SourceKind, path: &KeyPath, extra: &BTreeMap<String, String>, ok: &mut bool) {
        if kind == SourceKind::Leads && !extra.is_empty() {
            self.problem(
                &path.key("extra"),
                "leads carry their extra columns as [[attributes]]; `extra` is for deals and events",
            );
            *ok = false;
        }
        let canonical = canonical_columns(kind);
        for name in extra.keys() {
            let ep = path.key("extra").key(name);
            if !valid_name(name) {
                self.problem(&ep, format!("`{name}` is not a valid column name: use lowercase letters, digits and `_`, starting with a letter"));
                *ok = false;
            } else if canonical.contains(&name.as_str()) {
                self.problem(
                    &ep,
                    format!("`{name}` is a canonical {} column; map it under `mapping` instead", kind.name()),
                );
                *ok = false;
            }
        }
    }

    pub(super) fn attributes(&mut self, sources: &Option<Sources>) -> Option<Vec<Attribute>> {
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
            let buckets = self.attribute_options(&ip, &raw, sources, &mut ok);
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

    /// An attribute's options: its column must not be a mapped identifier or personal field,
    /// `job_title` fits text attributes and `buckets` (returned) numeric ones.
    fn attribute_options(
        &mut self,
        ip: &KeyPath,
        raw: &RawAttribute,
        sources: &Option<Sources>,
        ok: &mut bool,
    ) -> Vec<f64> {
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
            *ok = false;
        }
        if raw.job_title.is_some() && raw.kind.is_some_and(|k| k != AttributeKind::Text) {
            self.problem(&ip.key("job_title"), "`job_title` applies to text attributes (`kind = \"text\"`)");
            *ok = false;
        }
        let buckets = raw.buckets.clone().unwrap_or_default();
        if raw.buckets.is_some() && raw.kind.is_some_and(|k| k != AttributeKind::Numeric) {
            self.problem(&ip.key("buckets"), "`buckets` applies to numeric attributes (`kind = \"numeric\"`)");
            *ok = false;
        }
        if buckets.iter().any(|b| !b.is_finite()) || buckets.windows(2).any(|w| w[0] >= w[1]) {
            self.problem(&ip.key("buckets"), "bucket boundaries must be finite and strictly ascending");
            *ok = false;
        }
        buckets
    }
}
