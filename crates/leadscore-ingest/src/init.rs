//! `leadscore init`: a first `leadscore.toml` proposed from the exports themselves.
//!
//! The files are read as ingest reads them (CSV with its delimiter guessed from the header, JSON
//! Lines, Parquet), and a sample of their rows is looked at:
//!
//! - a preset is chosen when the files carry its columns (HubSpot, Salesforce); otherwise each
//!   canonical field is matched to a column by its usual names in CRM exports (`Contact ID`,
//!   `Created On`, `E-mail Address`, …), compared without case, spaces or punctuation;
//! - every other leads column becomes an attribute with the kind ingest would infer; one whose
//!   name says it is filled in after the lead is created (status, stage, tier, owner, score, …) is
//!   written with `available_at_creation = false` and a comment saying why;
//! - without a preset, a `closed_won` definition is proposed from the deals' stage values.
//!
//! The text is commented TOML that `leadscore validate` accepts; a field no column could be found
//! for is an error naming it and listing the columns, never a guess written silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use leadscore_core::config::{EventPreset, FileFormat, Preset, snake_case, valid_name};
use leadscore_core::schema::{SourceKind, UPDATED_AT, deals, events, leads};
use polars::prelude::*;

use crate::error::{IngestError, Result};
use crate::read::{RawFile, read_head};

/// Rows looked at per file.
const SAMPLE_ROWS: usize = 5_000;

/// The exports `init` looks at.
#[derive(Debug, Clone)]
pub struct InitFiles {
    /// Leads or contacts.
    pub leads: PathBuf,
    /// Deals or opportunities.
    pub deals: PathBuf,
    /// Behavioural events, if any.
    pub events: Option<PathBuf>,
}

/// What `init` proposes.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The config text.
    pub toml: String,
    /// The preset recognised, if any.
    pub preset: Option<Preset>,
    /// The events file's preset recognised, if any.
    pub event_preset: Option<EventPreset>,
    /// Attribute names proposed.
    pub attributes: Vec<String>,
    /// Those flagged as filled in after creation.
    pub flagged: Vec<String>,
    /// Currencies of the deals other than the project's, whose rates the user must fill in.
    pub rates_to_fill: Vec<String>,
}

/// Usual column names of each canonical field in CRM exports, compared by [`squash`].
fn synonyms(kind: SourceKind, field: &str) -> &'static [&'static str] {
    match (kind, field) {
        (SourceKind::Leads, leads::LEAD_ID) => &["lead id", "contact id", "record id", "id", "leadid", "person id"],
        (SourceKind::Leads, leads::CREATED_AT) => {
            &["created at", "create date", "created date", "created on", "createdon", "date created", "add time"]
        }
        (_, leads::USER_ID) => &[
            "user id",
            "account id",
            "company id",
            "associated company id",
            "organization id",
            "org id",
            "parent account id",
            "parentaccountid",
            "converted account id",
        ],
        (SourceKind::Leads, leads::EMAIL) => &["email", "e-mail", "email address", "e-mail address", "emailaddress1"],
        (SourceKind::Leads, leads::PHONE) => &["phone", "phone number", "telephone", "mobile", "telephone1"],
        (SourceKind::Leads, leads::FIRST_NAME) => &["first name", "firstname", "given name"],
        (SourceKind::Leads, leads::LAST_NAME) => &["last name", "lastname", "surname", "family name"],
        (SourceKind::Leads, leads::GCLID) => &["gclid", "google click id", "google ad click id"],
        (SourceKind::Leads, leads::FBCLID) => &["fbclid", "facebook click id"],
        (SourceKind::Leads, leads::CLIENT_ID) => &["client id", "ga client id", "google analytics client id"],
        (_, UPDATED_AT) => {
            &["updated at", "last modified date", "last modified", "modified on", "modifiedon", "update time"]
        }
        (SourceKind::Deals, deals::DEAL_ID) => {
            &["deal id", "opportunity id", "record id", "id", "opportunityid", "dealid"]
        }
        (SourceKind::Deals, deals::CREATED_AT) => {
            &["created at", "create date", "created date", "created on", "createdon", "date created", "add time"]
        }
        (SourceKind::Deals, deals::CLOSED_AT) => {
            &["closed at", "close date", "closed date", "closed on", "won time", "actual close date", "actualclosedate"]
        }
        (SourceKind::Deals, deals::STAGE) => &["stage", "deal stage", "stage name", "stagename", "status"],
        (SourceKind::Deals, deals::TYPE) => &["type", "deal type", "opportunity type"],
        (SourceKind::Deals, deals::PROBABILITY) => &["probability", "deal probability", "close probability"],
        (SourceKind::Deals, deals::AMOUNT) => &["amount", "value", "deal value", "deal amount", "actual value"],
        (SourceKind::Deals | SourceKind::Events, deals::CURRENCY) => {
            &["currency", "currency code", "deal currency code", "currency iso code", "currencyisocode"]
        }
        (SourceKind::Events, events::EVENT_ID) => &["event id", "message id", "insert id", "id"],
        (SourceKind::Events, events::NAME) => &["name", "event", "event name", "event type"],
        (SourceKind::Events, events::AT) => &["at", "timestamp", "time", "event time", "occurred at"],
        (SourceKind::Events, events::VALUE) => &["value", "revenue", "amount"],
        _ => &[],
    }
}

/// A column name without case, spaces or punctuation: `Create Date` and `create_date` match.
fn squash(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Attribute names that say the value is filled in after the lead is created.
const LATER: [&str; 14] = [
    "status",
    "stage",
    "tier",
    "owner",
    "lifecycle",
    "score",
    "rating",
    "converted",
    "qualified",
    "closed",
    "won",
    "lost",
    "disqualif",
    "customer",
];

/// Why a column's name suggests it is filled in later, if it does.
fn filled_in_later(column: &str) -> Option<&'static str> {
    let s = squash(column);
    LATER.into_iter().find(|w| s.contains(w))
}

/// The delimiter of a CSV file guessed from its header: the most frequent of `,` `;` tab `|`.
fn sniff_delimiter(path: &Path) -> Result<u8> {
    use std::io::Read;
    let rerr = |source| leadscore_core::CoreError::Read { path: path.into(), source };
    let mut text = Vec::new();
    std::fs::File::open(path).map_err(rerr)?.take(1 << 16).read_to_end(&mut text).map_err(rerr)?;
    let header = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| header.iter().filter(|b| **b == d).count();
    Ok([b',', b';', b'\t', b'|'].into_iter().max_by_key(|d| count(*d)).unwrap_or(b','))
}

/// A sample of a file: its format, delimiter, columns and first rows.
struct Sample {
    path: PathBuf,
    format: FileFormat,
    delimiter: u8,
    frame: DataFrame,
}

impl Sample {
    fn read(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        let format = FileFormat::from_extension(ext)
            .ok_or_else(|| IngestError::Init(format!("{}: not a .csv, .parquet or .jsonl file", path.display())))?;
        let delimiter = if format == FileFormat::Csv { sniff_delimiter(path)? } else { b',' };
        let RawFile { frame, .. } = read_head(path, format, delimiter, SAMPLE_ROWS)?;
        Ok(Self { path: path.to_path_buf(), format, delimiter, frame: frame.to_frame()? })
    }

    fn columns(&self) -> Vec<String> {
        self.frame.get_column_names().iter().map(|c| c.to_string()).collect()
    }

    fn has(&self, column: &str) -> bool {
        self.frame.get_column_index(column).is_some()
    }
}

/// Whether `file` has the column `mapping` gives each required field of `kind`.
fn has_required(kind: SourceKind, mapping: &[(&str, &str)], file: &Sample) -> bool {
    kind.fields()
        .iter()
        .filter(|f| f.required)
        .all(|f| mapping.iter().any(|(field, c)| *field == f.name && file.has(c)))
}

/// The preset whose required columns every file has, if one does.
fn recognise(leads_file: &Sample, deals_file: &Sample) -> Option<Preset> {
    Preset::ALL.into_iter().find(|p| {
        [(SourceKind::Leads, leads_file), (SourceKind::Deals, deals_file)]
            .iter()
            .all(|(kind, file)| has_required(*kind, p.mapping(*kind), file))
    })
}

/// Canonical field → column, found by the fields' usual names; a required field without a
/// column is an error naming the file's columns.
fn guess_mapping(kind: SourceKind, file: &Sample) -> Result<BTreeMap<&'static str, String>> {
    let columns = file.columns();
    let mut taken: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    for spec in kind.fields() {
        let names: Vec<String> = synonyms(kind, spec.name).iter().map(|s| squash(s)).collect();
        // The first usual name (in order of preference) that a column carries.
        let found = names.iter().find_map(|n| columns.iter().find(|c| squash(c) == *n && !taken.contains(c)));
        match found {
            Some(c) => {
                taken.push(c.clone());
                out.insert(spec.name, c.clone());
            }
            None if spec.required => {
                return Err(IngestError::Init(format!(
                    "{}: no column looks like the {} field `{}` ({}); the file has: {}. Rename that column to \
                     one of {}, or write the config by hand (README: Configuration reference)",
                    file.path.display(),
                    kind.name(),
                    spec.name,
                    spec.doc,
                    columns.join(", "),
                    synonyms(kind, spec.name).join(", ")
                )));
            }
            None => {}
        }
    }
    Ok(out)
}

/// A TOML basic string holding `s`.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A source's section: path relative to the config's folder, format and delimiter when not the
/// defaults, and the mapping unless a preset gives it.
/// How a source section names its columns.
#[derive(Clone, Copy)]
enum Columns<'a> {
    /// By the `[sources] preset`: no mapping written.
    CrmPreset,
    /// By its own `preset` (an event export's).
    EventPreset(EventPreset),
    /// By a `mapping` table.
    Mapping(&'a BTreeMap<&'static str, String>),
}

fn source_section(out: &mut String, kind: SourceKind, file: &Sample, base: &Path, columns: Columns<'_>) {
    let rel = pathdiff(&file.path, base);
    let _ = writeln!(out, "[sources.{}]\npath = {}", kind.name(), quoted(&rel));
    if let Columns::EventPreset(e) = columns {
        let _ = writeln!(out, "# Columns as {} exports them.\npreset = {}", e.tool_name(), quoted(e.name()));
    }
    if file.delimiter != b',' {
        let d = if file.delimiter == b'\t' { "\\t".to_string() } else { (file.delimiter as char).to_string() };
        let _ = writeln!(out, "delimiter = {}", quoted(&d));
    }
    if FileFormat::from_extension(file.path.extension().and_then(|e| e.to_str()).unwrap_or_default())
        != Some(file.format)
    {
        let _ = writeln!(out, "format = {}", quoted(file.format.name()));
    }
    if let Columns::Mapping(m) = columns {
        let pairs: Vec<String> = m.iter().map(|(f, c)| format!("{f} = {}", quoted(c))).collect();
        let _ = writeln!(out, "mapping = {{ {} }}", pairs.join(", "));
    }
    out.push('\n');
}

/// `path` relative to `base` when it lies under it, else as given (absolute).
fn pathdiff(path: &Path, base: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, b) = (abs(path), abs(base));
    p.strip_prefix(&b).map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
}

/// The deals' stage value that means won (`closedwon`, `Closed Won`, `won`), if one does.
fn won_stage(file: &Sample, stage_column: &str) -> Option<String> {
    let won = |v: &str| {
        let s = squash(v);
        (s.contains("won") && !s.contains("lost")).then(|| v.to_string())
    };
    most_common_first(file, stage_column, won).into_iter().next()
}

/// The values of a sample's column that `keep` turns into a value, most common first (ties in
/// value order).
fn most_common_first(file: &Sample, column: &str, keep: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let Some(col) = file.frame.column(column).ok().and_then(|c| c.cast(&DataType::String).ok()) else {
        return Vec::new();
    };
    let Ok(values) = col.str() else { return Vec::new() };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in values.iter().flatten().filter_map(keep) {
        *counts.entry(v).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(c, _)| c).collect()
}

/// Proposes a config for the files; `config_path` is where it will be written (paths in it are
/// relative to its folder).
pub fn propose(files: &InitFiles, config_path: &Path) -> Result<Proposal> {
    let base = config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let leads_file = Sample::read(&files.leads)?;
    let deals_file = Sample::read(&files.deals)?;
    let events_file = files.events.as_deref().map(Sample::read).transpose()?;
    let preset = recognise(&leads_file, &deals_file);
    let mapping = |kind: SourceKind, file: &Sample| -> Result<BTreeMap<&'static str, String>> {
        match preset {
            Some(p) => {
                Ok(p.mapping(kind).iter().filter(|(_, c)| file.has(c)).map(|(f, c)| (*f, (*c).to_string())).collect())
            }
            None => guess_mapping(kind, file),
        }
    };
    let lead_map = mapping(SourceKind::Leads, &leads_file)?;
    let deal_map = mapping(SourceKind::Deals, &deals_file)?;
    // An event export's own preset wins over the CRM preset's events mapping.
    let event_preset = events_file
        .as_ref()
        .and_then(|f| EventPreset::ALL.into_iter().find(|p| has_required(SourceKind::Events, p.mapping(), f)));
    let event_map = match &events_file {
        Some(_) if event_preset.is_some() => None,
        Some(f) if preset.is_none() || preset.is_some_and(|p| p.mapping(SourceKind::Events).is_empty()) => {
            Some(guess_mapping(SourceKind::Events, f)?)
        }
        Some(f) => Some(mapping(SourceKind::Events, f)?),
        None => None,
    };

    let mut out = String::new();
    let (currency, rates_to_fill) = project_section(&mut out, files, base, &deals_file, &deal_map);
    out.push_str("[sources]\n");
    if let Some(p) = preset {
        let _ = writeln!(out, "# The columns are those of a {} export.\npreset = {}", p.crm_name(), quoted(p.name()));
    }
    out.push('\n');
    let (lead_columns, deal_columns) = match preset {
        None => (Columns::Mapping(&lead_map), Columns::Mapping(&deal_map)),
        Some(_) => (Columns::CrmPreset, Columns::CrmPreset),
    };
    source_section(&mut out, SourceKind::Leads, &leads_file, base, lead_columns);
    source_section(&mut out, SourceKind::Deals, &deals_file, base, deal_columns);
    match (&events_file, &event_map, event_preset) {
        (Some(f), _, Some(e)) => source_section(&mut out, SourceKind::Events, f, base, Columns::EventPreset(e)),
        (Some(f), Some(m), None) => {
            let own = preset.is_none_or(|p| p.mapping(SourceKind::Events).is_empty());
            source_section(
                &mut out,
                SourceKind::Events,
                f,
                base,
                if own { Columns::Mapping(m) } else { Columns::CrmPreset },
            );
        }
        _ => {}
    }

    let (attributes, flagged) = attribute_sections(&mut out, &leads_file, &lead_map)?;
    if preset.is_none() {
        conversion_section(&mut out, &deals_file, &deal_map);
    }
    if !rates_to_fill.is_empty() {
        let _ = writeln!(
            out,
            "[currency]\n# PLACEHOLDERS, to replace: 1 unit of each currency in {currency}. leadscore cannot know your rates;\n\
             # until these are set, amounts in these currencies are counted at par.\nrates = {{ {} }}",
            rates_to_fill.iter().map(|c| format!("{c} = 1.0")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Proposal { toml: out, preset, event_preset, attributes, flagged, rates_to_fill })
}

/// The proposal's opening comment and its `[project]` section, whose currency is the deals' most
/// common; with that currency and the others the deals hold (their rates are to be filled).
fn project_section(
    out: &mut String,
    files: &InitFiles,
    base: &Path,
    deals_file: &Sample,
    deal_map: &BTreeMap<&'static str, String>,
) -> (String, Vec<String>) {
    let _ = writeln!(
        out,
        "# Proposed by `leadscore init` from {}. Check every line, then run `leadscore validate`.\n\
         # Paths are relative to this file's folder. Reference: README, \"Configuration reference\".\n",
        [Some(&files.leads), Some(&files.deals), files.events.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let codes = deal_map.get(deals::CURRENCY).map(|c| currencies(deals_file, c)).unwrap_or_default();
    let currency = codes.first().cloned().unwrap_or_else(|| "EUR".into());
    let rates_to_fill: Vec<String> = codes.iter().skip(1).cloned().collect();
    let _ = writeln!(
        out,
        "[project]\nname = {}\n# The currency amounts are converted into (the deals' most common code).\ncurrency = {}\n\
         # The time zone local timestamps of the exports are in, and run dates start at midnight of.\n\
         timezone = \"UTC\"\noutput_dir = \".\"\n",
        quoted(&project_name(base)),
        quoted(&currency.to_uppercase())
    );
    (currency, rates_to_fill)
}

/// The config folder's name as a project name (`leads` when it has none).
fn project_name(base: &Path) -> String {
    let folder = std::fs::canonicalize(base).ok().and_then(|b| b.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = snake_case(&folder.unwrap_or_default()).replace('_', "-");
    if name.is_empty() { "leads".into() } else { name }
}

/// The ISO 4217 codes of a column of the sample, most common first.
fn currencies(file: &Sample, column: &str) -> Vec<String> {
    most_common_first(file, column, leadscore_core::currency::iso4217)
}

/// An `[[attributes]]` entry per leads column not mapped to a canonical field, with its kind as
/// ingest would infer it; the attribute names and those flagged as filled in later.
fn attribute_sections(
    out: &mut String,
    file: &Sample,
    mapped: &BTreeMap<&'static str, String>,
) -> Result<(Vec<String>, Vec<String>)> {
    out.push_str("# Lead attributes used as features, with the kind inferred from the first rows.\n\n");
    let (mut names, mut flagged) = (Vec::new(), Vec::new());
    for column in file.columns() {
        if mapped.values().any(|c| *c == column) {
            continue;
        }
        let name = snake_case(&column);
        if !valid_name(&name)
            || names.contains(&name)
            || leadscore_core::schema::canonical_columns(SourceKind::Leads).contains(&name.as_str())
        {
            let _ = writeln!(out, "# Column {} left out: its name gives no usable attribute name.\n", quoted(&column));
            continue;
        }
        let c = file.frame.column(&column)?;
        let kind = crate::attributes::infer_kind(&[c], chrono_tz::UTC)?;
        let _ = writeln!(out, "[[attributes]]\ncolumn = {}", quoted(&column));
        if name != snake_case(&column) {
            let _ = writeln!(out, "name = {}", quoted(&name));
        }
        let _ = writeln!(out, "kind = {}", quoted(kind.name()));
        if let Some(word) = filled_in_later(&column) {
            let _ = writeln!(
                out,
                "# Its name (\"{word}\") suggests it is filled in after the lead is created: a model would learn the \
                 outcome from it. Keep it out of the features unless it is known at creation.\navailable_at_creation = false"
            );
            flagged.push(name.clone());
        }
        out.push('\n');
        names.push(name);
    }
    Ok((names, flagged))
}

/// Without a preset: a `closed_won` definition from the stage value that means won, and the
/// label settings that make it the target.
fn conversion_section(out: &mut String, deals_file: &Sample, mapped: &BTreeMap<&'static str, String>) {
    let won = mapped.get(deals::STAGE).and_then(|c| won_stage(deals_file, c));
    let at = if mapped.contains_key(deals::CLOSED_AT) { "closed_at" } else { "created_at" };
    out.push_str("# What counts as a conversion: the label models learn.\n[[conversions]]\nname = \"closed_won\"\nsource = \"deals\"\n");
    match won {
        Some(v) => {
            let _ = writeln!(out, "conditions = [{{ field = \"stage\", op = \"is\", value = {} }}]", quoted(&v));
        }
        None => out
            .push_str("# No stage value says \"won\": every deal counts. Add conditions (README: [[conversions]]).\n"),
    }
    let _ = writeln!(out, "at = \"{at}\"\n\n[labels]\ntarget = \"closed_won\"\nwindow_days = 40");
}
