//! The ingest logic on in-memory frames: map, parse, reject, de-duplicate, account.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono_tz::Tz;
use leadscore_core::artifact;
use leadscore_core::config::{AttributeKind, MappingOrigin, Source, Table};
use leadscore_core::currency::iso4217;
use leadscore_core::digest::{sha256_hex, stable_id};
use leadscore_core::frame;
use leadscore_core::layout::{InputFile, StageWriter, Stopwatch, Timing};
use leadscore_core::schema::{
    self, FieldType, RejectReason, SourceKind, UPDATED_AT, canonical_columns, deals, events, leads,
};
use leadscore_core::{Config, CoreError, RunContext, Scope};
use polars::prelude::*;
use rayon::prelude::*;

use crate::attributes;
use crate::error::{IngestError, Result};
use crate::parse::{self, Cells};
use crate::read::{Block, RawFile, Sources, id_digest};
use crate::report::{AttributeReport, FileReport, IngestReport, SourceReport};
use leadscore_core::identity::{Derived, Digests, Raw, country_iso};

/// What ingest produces: the canonical tables, the rejects, and the report.
#[derive(Debug, Clone)]
pub struct IngestOutputs {
    /// Canonical leads, one row per `lead_id`, sorted by `created_at`, then `lead_id`.
    pub leads: DataFrame,
    /// Canonical deals, one row per `deal_id`, sorted by `created_at`, then `deal_id`.
    pub deals: DataFrame,
    /// Canonical events (empty, with the canonical columns, when no events source is configured).
    pub events: DataFrame,
    /// Every rejected input row with its reason and raw values.
    pub rejects: DataFrame,
    /// The digests of the personal data of the leads the run's exports may send.
    pub identities: DataFrame,
    /// The `[sources.tables]` tables by name, in the config's order: their declared columns.
    pub tables: Vec<(String, DataFrame)>,
    /// The accounting.
    pub report: IngestReport,
    /// How long each step took (reading each source, parsing it).
    pub timings: Vec<Timing>,
    /// The source files read, with their hashes, when `run` read them ([`crate::SourceReader`]):
    /// the manifest's inputs.
    pub inputs: Vec<InputFile>,
    /// Whether the leads and identities were written while ingest ran ([`run_writing`]): then
    /// `leads` and `identities` are empty.
    pub leads_written: bool,
}

/// Rejected rows, column by column.
#[derive(Debug, Default)]
struct Rejects {
    source: Vec<String>,
    file: Vec<String>,
    row: Vec<u64>,
    column: Vec<Option<String>>,
    reason: Vec<&'static str>,
    detail: Vec<String>,
    raw: Vec<String>,
}

/// One rejected input row, as the rejects table gives it.
struct RejectRow {
    file: String,
    row: u64,
    column: Option<String>,
    reason: RejectReason,
    detail: String,
    raw: String,
}

impl Rejects {
    /// Records a rejected row of `report`'s source and counts it there.
    fn add(&mut self, report: &mut SourceReport, r: RejectRow) {
        self.source.push(report.source.clone());
        self.file.push(r.file);
        self.row.push(r.row);
        self.column.push(r.column);
        self.reason.push(r.reason.code());
        self.detail.push(r.detail);
        self.raw.push(r.raw);
        *report.rejected_by_reason.entry(r.reason.code().to_string()).or_default() += 1;
        report.rejected += 1;
    }

    fn len(&self) -> usize {
        self.row.len()
    }

    fn into_frame(self) -> PolarsResult<DataFrame> {
        use schema::rejects as r;
        DataFrame::new_infer_height(vec![
            Column::new(r::SOURCE.into(), self.source),
            Column::new(r::FILE.into(), self.file),
            Column::new(r::ROW.into(), self.row),
            Column::new(r::COLUMN.into(), self.column),
            Column::new(r::REASON.into(), self.reason),
            Column::new(r::DETAIL.into(), self.detail),
            Column::new(r::RAW.into(), self.raw),
        ])
    }
}

/// One problem with one row.
#[derive(Debug, Clone)]
struct Issue {
    row: usize,
    reason: RejectReason,
    column: String,
    detail: String,
}

/// File columns whose values the rejects table masks: the identity columns of a source, unless
/// the config keeps raw identifiers.
fn masked_columns<'a>(config: &Config, source: &'a Source) -> HashSet<&'a str> {
    if config.privacy.keep_raw_identifiers || source.kind != SourceKind::Leads {
        return HashSet::new();
    }
    leads::RAW_IDENTITY.iter().filter_map(|f| source.column(f)).collect()
}

/// A value for the rejects table's `raw` column: as read, or for a masked (identity) column its
/// SHA-256 (of the trimmed text) so that no personal data is kept in clear.
fn raw_value(column: &str, value: &str, masked: &HashSet<&str>) -> String {
    if masked.contains(column) { format!("sha256:{}", sha256_hex(value.trim().as_bytes())) } else { value.to_string() }
}

/// Values as a JSON object, in order.
fn values_json<'v>(values: impl Iterator<Item = (&'v str, Option<String>)>, masked: &HashSet<&str>) -> String {
    let mut s = String::from("{");
    for (k, (name, value)) in values.enumerate() {
        if k > 0 {
            s.push(',');
        }
        let key = serde_json::to_string(name).unwrap_or_default();
        let value = match value {
            None => "null".to_string(),
            Some(v) => serde_json::to_string(&raw_value(name, &v, masked)).unwrap_or_default(),
        };
        let _ = write!(s, "{key}:{value}");
    }
    s.push('}');
    s
}

/// The raw values of row `i` as a JSON object, in file column order (identity columns masked).
fn raw_json(block: &Block<'_>, i: usize, masked: &HashSet<&str>) -> String {
    values_json(block.row(i).into_iter(), masked)
}

/// Whether a header name looks like a value (an e-mail, a phone number, a date): then the file
/// probably has no header row, and its "names" are a lead's data.
fn looks_like_data(name: &str) -> bool {
    let digits = name.chars().filter(char::is_ascii_digit).count();
    name.contains('@') || digits >= 6 || (digits >= 4 && digits * 2 >= name.chars().count())
}

/// The file's columns for a "the file has: …" message; withheld when the first row looks like
/// data rather than a header, so that no lead's values reach a message.
fn available_columns(file: &RawFile) -> String {
    let names = file.frame.names();
    if names.iter().any(|n| looks_like_data(n)) {
        return format!(
            "{} columns, not listed: the first row looks like data, not a header (an e-mail, a phone number or a \
             date); does the file have a header row?",
            names.len()
        );
    }
    names.join(", ") + &delimiter_hint(&names)
}

/// A hint when the header was read as one column that holds another delimiter several times
/// (`opp_id;opp_name;amount` read with `,`): the usual cause of every mapped column missing.
fn delimiter_hint(names: &[&str]) -> String {
    let [only] = names else { return String::new() };
    let shown = |d: char| if d == '\t' { "\\t".to_string() } else { d.to_string() };
    [';', '\t', '|', ','].into_iter().find(|d| only.matches(*d).count() >= 2).map_or_else(String::new, |d| {
        format!(
            " (read as one column that holds `{}` between names: is the file delimited by `{}`? set `delimiter = \"{}\"` \
             for this source)",
            shown(d),
            shown(d),
            shown(d)
        )
    })
}

fn missing_column(file: &RawFile, column: &str, expected: String) -> IngestError {
    IngestError::Core(CoreError::MissingColumn {
        path: file.path.clone(),
        column: column.to_string(),
        expected,
        available: available_columns(file),
    })
}

/// The column each mapped field reads in `file`, checking that configured columns exist.
/// Preset columns of optional fields that the file lacks are skipped and listed in `missing`.
fn present_mapping<'a>(source: &'a Source, file: &RawFile, missing: &mut Vec<String>) -> Result<Mapping<'a>> {
    let has = |c: &str| file.frame.has(c);
    let mut out = Vec::new();
    for spec in source.kind.fields() {
        let Some(m) = source.mapping.get(spec.name) else {
            continue;
        };
        if has(&m.column) {
            out.push((spec, m.column.as_str()));
        } else if m.origin == MappingOrigin::Preset && !spec.required {
            if !missing.contains(&m.column) {
                missing.push(m.column.clone());
            }
        } else {
            let origin = if m.origin == MappingOrigin::Preset { " (column name from the preset)" } else { "" };
            return Err(missing_column(
                file,
                &m.column,
                format!("the `{}` field of [sources.{}]{origin}", spec.name, source.kind),
            ));
        }
    }
    for (name, column) in &source.extra {
        if !has(column) {
            return Err(missing_column(file, column, format!("extra column `{name}` of [sources.{}]", source.kind)));
        }
    }
    Ok(out)
}

/// An attribute's name, its column in the file and its kind.
type AttrKind = (String, String, AttributeKind);

/// The canonical fields a file has, with the column each is read from.
type Mapping<'s> = Vec<(&'static schema::FieldSpec, &'s str)>;

/// Per-file parsed canonical columns plus the file's issues.
struct ParsedFile {
    columns: Vec<Column>,
    issues: Vec<Issue>,
    /// Optional values that could not be used (field, row); counted for kept rows only.
    left_empty: Vec<(&'static str, usize)>,
    /// Attribute values that could not be parsed (attribute index, row).
    unparsable_attrs: Vec<(usize, usize)>,
}

/// The type of a canonical column (a field, or a column ingest derives).
fn canonical_type(kind: SourceKind, name: &str) -> FieldType {
    match kind.field(name) {
        Some(f) => f.ty,
        None if leads::DERIVED_IDENTITY.contains(&name) => FieldType::Text,
        None => FieldType::Amount,
    }
}

/// The parts of the leads' e-mails and phones the features use ([`leads::DERIVED_IDENTITY`]),
/// from the parsed raw fields.
fn derived_columns(parsed: &HashMap<&'static str, Column>, n: usize) -> Result<Vec<Column>> {
    let text = |field: &str| -> Result<Option<StringChunked>> {
        parsed.get(field).map(|c| Ok(c.str()?.rechunk().into_owned())).transpose()
    };
    let (email, phone) = (text(leads::EMAIL)?, text(leads::PHONE)?);
    text_columns(&leads::DERIVED_IDENTITY, n, |i, b| {
        let d = Derived::of(text_at(&email, i), text_at(&phone, i));
        b[0].append_option(d.email_domain);
        b[1].append_value(d.email_class);
        b[2].append_value(d.phone_country);
    })
}

/// Value `i` of an optional column.
fn text_at(c: &Option<StringChunked>, i: usize) -> Option<&str> {
    c.as_ref().and_then(|c| c.get(i))
}

/// Text columns named `names` of `n` rows, `row(i, builders)` appending row `i`'s value to each
/// builder; built in parallel over slices of rows.
fn text_columns(
    names: &[&str],
    n: usize,
    row: impl Fn(usize, &mut [StringChunkedBuilder]) + Sync,
) -> Result<Vec<Column>> {
    let starts: Vec<usize> = (0..n.div_ceil(ROW_SLICE)).map(|k| k * ROW_SLICE).collect();
    let parts: Vec<Vec<Column>> = starts
        .into_par_iter()
        .map(|from| {
            let to = (from + ROW_SLICE).min(n);
            let mut b: Vec<StringChunkedBuilder> =
                names.iter().map(|name| StringChunkedBuilder::new((*name).into(), to - from)).collect();
            for i in from..to {
                row(i, &mut b);
            }
            b.into_iter().map(|b| b.finish().into_column()).collect()
        })
        .collect();
    let mut out: Vec<Column> =
        names.iter().map(|name| Column::full_null((*name).into(), 0, &DataType::String)).collect();
    for part in parts {
        for (acc, c) in out.iter_mut().zip(part) {
            acc.append_owned(c)?;
        }
    }
    Ok(out)
}

/// Leads per slice when identity parts and digests are computed in parallel.
const ROW_SLICE: usize = 16 * 1024;

/// `identities.parquet`: the digests of the leads the run's exports may send, those created in
/// the scoring range or the adjustment window ([`Config::first_exported_day`]). `leads` is the
/// final leads table (sorted by creation), with its raw identity columns.
fn identities_table(config: &Config, ctx: &RunContext, leads_df: &DataFrame) -> Result<DataFrame> {
    use leadscore_core::schema::identities as id;
    let tz = config.project.timezone;
    let (from, to) = (config.first_exported_day(ctx.run_date).start_micros(tz), ctx.run_date.start_micros(tz));
    let created = leads_df.column(leads::CREATED_AT)?.datetime()?.physical().rechunk();
    let created = created.cont_slice().map_err(|e| IngestError::Internal(e.to_string()))?;
    let (lo, hi) = (created.partition_point(|t| *t < from), created.partition_point(|t| *t < to));
    let range = leads_df.slice(lo as i64, hi - lo);
    let n = range.height();
    let text = |field: &str| -> Result<StringChunked> { Ok(range.column(field)?.str()?.rechunk().into_owned()) };
    let [email, phone, first, last] = [leads::EMAIL, leads::PHONE, leads::FIRST_NAME, leads::LAST_NAME].map(text);
    let (email, phone, first, last) = (email?, phone?, first?, last?);
    // Attributes the digests need: the phone's country, Meta's location keys.
    let attribute = |name: Option<&str>| -> Result<Option<StringChunked>> {
        match name {
            Some(a) => Ok(Some(range.column(a)?.cast(&DataType::String)?.str()?.rechunk().into_owned())),
            None => Ok(None),
        }
    };
    let e = &config.export;
    let phone_country = attribute(e.phone_country_attribute.as_deref())?;
    let keys = &e.meta_match_keys;
    let [country, city, state, zip] =
        [&keys.country, &keys.city, &keys.state, &keys.zip].map(|a| attribute(a.as_deref()));
    let (country, city, state, zip) = (country?, city?, state?, zip?);
    let default_country = e.default_phone_country.as_deref();
    let digests = text_columns(&id::DIGESTS, n, |i, b| {
        let lead_country = text_at(&phone_country, i).and_then(country_iso);
        let raw = Raw {
            email: email.get(i),
            phone: phone.get(i),
            first_name: first.get(i),
            last_name: last.get(i),
            phone_country: lead_country.as_deref().or(default_country),
            country: text_at(&country, i),
            city: text_at(&city, i),
            state: text_at(&state, i),
            zip: text_at(&zip, i),
        };
        for (b, v) in b.iter_mut().zip(Digests::of(&raw).0) {
            b.append_option(v);
        }
    })?;
    let mut columns = vec![range.column(leads::LEAD_ID)?.clone(), range.column(leads::CREATED_AT)?.clone()];
    columns.extend(digests);
    Ok(DataFrame::new(n, columns)?)
}

fn null_column(name: &str, ty: FieldType, n: usize) -> Column {
    match ty {
        FieldType::Id | FieldType::Text | FieldType::Currency => Column::full_null(name.into(), n, &DataType::String),
        FieldType::Timestamp => {
            Column::full_null(name.into(), n, &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
        }
        FieldType::Amount | FieldType::Probability => Column::full_null(name.into(), n, &DataType::Float64),
    }
}

/// The mapped fields of one file, parsed: canonical columns, and the amount and currency
/// columns money conversion still needs, with the problems found.
#[derive(Default)]
struct Fields {
    parsed: HashMap<&'static str, Column>,
    issues: Vec<Issue>,
    left_empty: Vec<(&'static str, usize)>,
    amount: Option<Vec<Option<f64>>>,
    currency: Option<(StringChunked, String)>,
}

impl Fields {
    fn issue(&mut self, row: usize, reason: RejectReason, column: &str, detail: String) {
        self.issues.push(Issue { row, reason, column: column.to_string(), detail });
    }

    /// Parses one mapped field from its file column.
    fn parse(
        &mut self,
        spec: &'static schema::FieldSpec,
        col: Cells<'_>,
        column: &str,
        id_field: bool,
        (tz, format): (Tz, Option<&str>),
    ) -> Result<()> {
        let name = spec.name;
        match spec.ty {
            FieldType::Id | FieldType::Text => {
                let t = parse::text(col)?.with_name(name.into());
                // A mapped id field is required even where the source allows it unmapped (events
                // without `event_id` get one derived from their content).
                if spec.required || id_field {
                    for (i, _) in t.iter().enumerate().filter(|(_, v)| v.is_none()) {
                        self.issue(i, RejectReason::MissingId, column, format!("`{column}` ({name}) is empty"));
                    }
                }
                self.parsed.insert(name, t.into_column());
            }
            FieldType::Timestamp => {
                let (v, errs) = parse::timestamps(col, tz, format)?;
                let mut bad = vec![false; v.len()];
                for (i, msg) in errs {
                    bad[i] = true;
                    self.issue(i, RejectReason::UnparsableTimestamp, column, format!("`{column}` ({name}): {msg}"));
                }
                if spec.required {
                    for (i, x) in v.iter().enumerate() {
                        if x.is_none() && !bad[i] {
                            let detail = format!("`{column}` ({name}) is empty");
                            self.issue(i, RejectReason::MissingTimestamp, column, detail);
                        }
                    }
                }
                self.parsed.insert(name, parse::datetime_column(name, v));
            }
            FieldType::Amount => {
                let (v, errs) = parse::numbers(col)?;
                for (i, msg) in errs {
                    self.issue(i, RejectReason::UnparsableAmount, column, format!("`{column}` ({name}): {msg}"));
                }
                for (i, x) in v.iter().enumerate() {
                    if x.is_some_and(|x| x < 0.0) {
                        let detail = format!("`{column}` ({name}) is negative; expected 0 or more");
                        self.issue(i, RejectReason::NegativeAmount, column, detail);
                    }
                }
                self.amount = Some(v);
            }
            FieldType::Currency => self.currency = Some((parse::text(col)?, column.to_string())),
            FieldType::Probability => {
                let (v, errs) = parse::numbers(col)?;
                self.left_empty.extend(errs.into_iter().map(|(row, _)| (name, row)));
                let v: Vec<Option<f64>> = v
                    .into_iter()
                    .enumerate()
                    .map(|(row, x)| match x {
                        Some(p) if (0.0..=1.0).contains(&p) => Some(p),
                        Some(p) if p > 1.0 && p <= 100.0 => Some(p / 100.0),
                        Some(_) => {
                            self.left_empty.push((name, row));
                            None
                        }
                        None => None,
                    })
                    .collect();
                self.parsed.insert(name, Column::new(name.into(), v));
            }
        }
        Ok(())
    }

    /// Each row's ISO code and exchange rate into the project currency. A code only matters where
    /// there is an amount: a deal without one is not rejected for its currency.
    fn currency_rates(&mut self, config: &Config, n: usize) -> (Vec<Option<String>>, Vec<f64>) {
        let project = config.currency.project().to_string();
        let mut codes: Vec<Option<String>> = vec![None; n];
        let mut rates: Vec<f64> = vec![1.0; n];
        let Some((cur, column)) = self.currency.take() else { return (codes, rates) };
        for (i, v) in cur.iter().enumerate() {
            let Some(raw) = v else { continue };
            if self.amount.as_ref().is_none_or(|a| a[i].is_none()) {
                codes[i] = iso4217(raw);
                continue;
            }
            match iso4217(raw) {
                None => self.issue(
                    i,
                    RejectReason::UnknownCurrency,
                    &column,
                    format!("`{column}` is not an ISO 4217 currency code (three letters, such as EUR)"),
                ),
                Some(code) => match config.currency.rate(&code) {
                    None => self.issue(
                        i,
                        RejectReason::UnknownCurrency,
                        &column,
                        format!(
                            "`{column}`: no exchange rate for {code} into {project}; add it under [currency] rates"
                        ),
                    ),
                    Some(r) => {
                        rates[i] = r;
                        codes[i] = Some(code);
                    }
                },
            }
        }
        (codes, rates)
    }

    /// Deals' amounts and events' values in the project currency, with the original amounts and
    /// the codes; a conversion that overflows is a reject, never infinity.
    fn convert_money(&mut self, config: &Config, source: &Source, n: usize) {
        let (amount_name, original_name, currency_name) = match source.kind {
            SourceKind::Deals => (deals::AMOUNT, Some(deals::AMOUNT_ORIGINAL), deals::CURRENCY),
            SourceKind::Events => (events::VALUE, None, events::CURRENCY),
            SourceKind::Leads => return,
        };
        let project = config.currency.project().to_string();
        let (codes, rates) = self.currency_rates(config, n);
        let original = self.amount.take().unwrap_or_else(|| vec![None; n]);
        let converted: Vec<Option<f64>> = original.iter().zip(&rates).map(|(a, r)| a.map(|a| a * r)).collect();
        // A finite amount can overflow when converted (1.7e308 GBP).
        let amount_column = source.column(amount_name).unwrap_or(amount_name).to_string();
        for (i, (c, r)) in converted.iter().zip(&rates).enumerate() {
            if c.is_some_and(|c| !c.is_finite()) {
                let detail = format!(
                    "`{amount_column}` times the exchange rate {r} into {project} is not a finite number; \
                     expected an amount below {:e}",
                    f64::MAX / r.max(1.0)
                );
                self.issue(i, RejectReason::NonFiniteAmount, &amount_column, detail);
            }
        }
        let converted: Vec<Option<f64>> = converted.into_iter().map(|c| c.filter(|c| c.is_finite())).collect();
        let codes: Vec<Option<String>> =
            codes.into_iter().zip(&original).map(|(c, a)| c.or_else(|| a.map(|_| project.clone()))).collect();
        self.parsed.insert(amount_name, Column::new(amount_name.into(), converted));
        if let Some(o) = original_name {
            self.parsed.insert(o, Column::new(o.into(), original));
        }
        self.parsed.insert(currency_name, Column::new(currency_name.into(), codes));
    }
}

fn parse_file(
    config: &Config,
    source: &Source,
    block: &Block<'_>,
    mapping: &Mapping<'_>,
    attr_kinds: &[AttrKind],
    tz: Tz,
) -> Result<ParsedFile> {
    let n = block.height();
    let mut fields = Fields::default();
    for (spec, column) in mapping {
        fields.parse(
            spec,
            block.cells(column)?,
            column,
            spec.name == source.kind.id_field(),
            (tz, source.timestamp_format(spec.name)),
        )?;
    }
    fields.convert_money(config, source, n);
    let Fields { mut parsed, issues, left_empty, .. } = fields;
    // The parts of the e-mail and phone the features use (the raw values go after the digests
    // are made, in `run`).
    if source.kind == SourceKind::Leads {
        for (name, col) in leads::DERIVED_IDENTITY.into_iter().zip(derived_columns(&parsed, n)?) {
            parsed.insert(name, col);
        }
    }
    // Assemble canonical columns in order; unmapped fields are typed nulls.
    let mut columns = Vec::new();
    for name in canonical_columns(source.kind) {
        let col = match parsed.remove(name) {
            Some(c) => c,
            None => null_column(name, canonical_type(source.kind, name), n),
        };
        columns.push(col);
    }
    // Ingest-internal: the update time orders duplicates.
    let updated = parsed.remove(UPDATED_AT).unwrap_or_else(|| null_column(UPDATED_AT, FieldType::Timestamp, n));
    columns.push(updated.with_name(UPDATED_AT.into()));
    for (name, column) in &source.extra {
        columns.push(parse::text(block.cells(column)?)?.with_name(name.as_str().into()).into_column());
    }
    // Attributes are independent columns: parsed in parallel, kept in their declared order.
    let parsed_attrs: Vec<Result<_>> = attr_kinds
        .par_iter()
        .map(|(name, column, kind)| {
            Ok(attributes::parse_attribute(block.cells(column)?, name, *kind, (tz, source.timestamp_format(name)))?)
        })
        .collect();
    let mut unparsable_attrs = Vec::new();
    for (k, parsed) in parsed_attrs.into_iter().enumerate() {
        let (col, errs) = parsed?;
        unparsable_attrs.extend(errs.into_iter().map(|(row, _)| (k, row)));
        columns.push(col);
    }
    Ok(ParsedFile { columns, issues, left_empty, unparsable_attrs })
}

/// The main time field of a source (for ordering and the report).
fn time_field(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Leads => schema::leads::CREATED_AT,
        SourceKind::Deals => deals::CREATED_AT,
        SourceKind::Events => events::AT,
    }
}

const FILE_IDX: &str = "__file";
const ROW_IDX: &str = "__row";

struct SourceResult {
    table: DataFrame,
    report: SourceReport,
    attributes: Vec<AttributeReport>,
}

/// Each file's mapping, checked before any parsing so that a bad file fails fast (an empty file
/// has none), and the preset's optional columns the files lack.
fn file_mappings<'s>(
    config: &Config,
    source: &'s Source,
    files: &[RawFile],
) -> Result<(Vec<Option<Mapping<'s>>>, Vec<String>)> {
    let mut preset_missing = Vec::new();
    let mut mappings = Vec::with_capacity(files.len());
    for f in files {
        if f.frame.width() == 0 {
            mappings.push(None);
            continue;
        }
        let m = present_mapping(source, f, &mut preset_missing)?;
        if source.kind == SourceKind::Leads {
            for a in &config.attributes {
                if !f.frame.has(&a.column) {
                    return Err(missing_column(f, &a.column, format!("attribute `{}` of [[attributes]]", a.name)));
                }
            }
        }
        mappings.push(Some(m));
    }
    Ok((mappings, preset_missing))
}

/// The attributes' kinds (declared, or inferred across all files) and their report rows; none
/// for sources other than leads.
fn attribute_kinds(
    config: &Config,
    kind: SourceKind,
    files: &[RawFile],
) -> Result<(Vec<AttrKind>, Vec<AttributeReport>)> {
    let mut attr_kinds = Vec::new();
    let mut attr_reports = Vec::new();
    if kind != SourceKind::Leads {
        return Ok((attr_kinds, attr_reports));
    }
    for a in &config.attributes {
        let (k, inferred) = match a.kind {
            Some(k) => (k, false),
            None => {
                let mut cols = Vec::new();
                for f in files {
                    cols.extend(f.frame.column(&a.column)?);
                }
                (
                    attributes::infer_kind(
                        &cols.iter().collect::<Vec<_>>(),
                        config.sources.leads.timezone.unwrap_or(config.project.timezone),
                    )?,
                    true,
                )
            }
        };
        attr_kinds.push((a.name.clone(), a.column.clone(), k));
        attr_reports.push(AttributeReport {
            name: a.name.clone(),
            column: a.column.clone(),
            kind: k,
            inferred,
            available_at_creation: a.available_at_creation,
            filled: 0,
            unparsable: 0,
        });
    }
    Ok((attr_kinds, attr_reports))
}

/// Rejects the records of a file that could not be read as rows at all.
fn reject_unreadable(f: &RawFile, masked: &HashSet<&str>, rejects: &mut Rejects, report: &mut SourceReport) {
    let file_name = f.path.display().to_string();
    for u in &f.unreadable {
        // A record that could not be read may have its values under the wrong names (a shifted
        // field, a swallowed line): when identity columns are masked, every value is.
        let all: HashSet<&str> =
            if masked.is_empty() { HashSet::new() } else { u.values.iter().map(|(k, _)| k.as_str()).collect() };
        let raw = values_json(u.values.iter().map(|(k, v)| (k.as_str(), v.clone())), &all);
        let (row, column, reason, detail) = (u.record, u.column.clone(), u.reason, u.detail.clone());
        rejects.add(report, RejectRow { file: file_name.clone(), row, column, reason, detail, raw });
    }
}

/// Rejects the rows of a block of a file (`block`, from the file's row `first` on) with problems,
/// one reject per row: the first problem is its reason; the detail lists them all. Returns which
/// rows of the block are kept.
fn reject_rows(
    (f, block, first): (&RawFile, &Block<'_>, usize),
    mut issues: Vec<Issue>,
    masked: &HashSet<&str>,
    rejects: &mut Rejects,
    report: &mut SourceReport,
) -> Vec<bool> {
    let file_name = f.path.display().to_string();
    issues.sort_by_key(|i| i.row);
    let mut keep = vec![true; block.height()];
    for group in issues.chunk_by(|a, b| a.row == b.row) {
        let row = group[0].row;
        keep[row] = false;
        rejects.add(
            report,
            RejectRow {
                file: file_name.clone(),
                row: f.record(first + row),
                column: Some(group[0].column.clone()),
                reason: group[0].reason,
                detail: group.iter().map(|i| i.detail.as_str()).collect::<Vec<_>>().join("; "),
                raw: raw_json(block, row, masked),
            },
        );
    }
    keep
}

/// Which rows of a source's files a run keeps: every row, except in a run without training
/// ([`Scope::Scoring`]).
#[derive(Clone, Copy)]
enum Keep<'a> {
    /// Every row.
    All,
    /// Leads created from this instant (microseconds) on, those whose creation time cannot be
    /// read (rejected as in any run), and every row of an id one of them has, so that
    /// de-duplication sees each version a run of the whole history sees.
    CreatedFrom(i64),
    /// Deals or events of these users: every row a kept lead's labels and features can use.
    Users(&'a HashSet<&'a str>),
}

/// The rows of each file that `keep` keeps, from the raw text of the fields it looks at (`None`
/// where every row is kept). The same parsers as [`parse_file`] read those fields.
fn scope_masks(
    source: &Source,
    files: &[RawFile],
    mappings: &[Option<Mapping<'_>>],
    keep: Keep<'_>,
    tz: Tz,
) -> Result<Option<Vec<Vec<bool>>>> {
    fn mapped<'m>(m: &Option<Mapping<'m>>, field: &str) -> Option<&'m str> {
        m.as_ref()?.iter().find(|(spec, _)| spec.name == field).map(|(_, name)| *name)
    }
    let texts = |field: &str| -> Result<Vec<Option<StringChunked>>> {
        let mut out = Vec::with_capacity(files.len());
        for (f, m) in files.iter().zip(mappings) {
            out.push(match mapped(m, field) {
                Some(name) => f.frame.text(name)?,
                None => None,
            });
        }
        Ok(out)
    };
    match keep {
        Keep::All => Ok(None),
        Keep::Users(users) => {
            // Deals' and events' user fields have the same name.
            let masks = texts(events::USER_ID)?
                .iter()
                .zip(files)
                .map(|(t, f)| match t {
                    Some(t) => t.iter().map(|u| u.is_some_and(|u| users.contains(u))).collect(),
                    None => vec![false; f.frame.height()],
                })
                .collect();
            Ok(Some(masks))
        }
        Keep::CreatedFrom(from) => {
            let mut masks = Vec::with_capacity(files.len());
            for (f, m) in files.iter().zip(mappings) {
                let created = match mapped(m, leads::CREATED_AT) {
                    Some(name) => f.frame.column(name)?,
                    None => None,
                };
                masks.push(match created {
                    Some(c) => {
                        let (times, _) = parse::timestamps(&c, tz, source.timestamp_format(leads::CREATED_AT))?;
                        times.iter().map(|t| t.is_none_or(|t| t >= from)).collect()
                    }
                    None => vec![true; f.frame.height()],
                });
            }
            let ids = texts(leads::LEAD_ID)?;
            let kept: HashSet<&str> = ids
                .iter()
                .zip(&masks)
                .filter_map(|(t, m)| t.as_ref().map(|t| (t, m)))
                .flat_map(|(t, m)| t.iter().zip(m).filter(|(_, k)| **k).filter_map(|(id, _)| id))
                .collect();
            for (t, m) in ids.iter().zip(&mut masks) {
                let Some(t) = t else { continue };
                for (id, k) in t.iter().zip(m.iter_mut()) {
                    *k = *k || id.is_some_and(|id| kept.contains(id));
                }
            }
            Ok(Some(masks))
        }
    }
}

/// The raw values (as the rejects table gives them) of the rows de-duplication may reject, by
/// file (its index among the source's) and record number.
type RawRows = HashMap<(u32, u32), String>;

/// Digests ([`id_digest`]) of the ids that more than one row of `files` has, as parsed (trimmed):
/// the rows de-duplication may reject, whose raw values are kept when their file's text is freed.
/// `None` when some file's ids are not read from a column (events without an id column get one
/// derived from their parsed content): which rows repeat is known only once every row is parsed,
/// so those files keep their text until then.
fn repeated_ids(source: &Source, files: &[RawFile], mappings: &[Option<Mapping<'_>>]) -> Result<Option<HashSet<u64>>> {
    let id = source.kind.id_field();
    let mut digests = Vec::new();
    for (f, m) in files.iter().zip(mappings) {
        let Some(m) = m else { continue };
        let Some((_, column)) = m.iter().find(|(spec, _)| spec.name == id) else { return Ok(None) };
        let Some(ids) = f.frame.text(column)? else { continue };
        digests.extend(ids.iter().flatten().map(id_digest));
    }
    // Sorted rather than counted in a set: 8 bytes an id, freed before the rows are parsed.
    digests.sort_unstable();
    Ok(Some(digests.chunk_by(|a, b| a == b).filter(|run| run.len() > 1).map(|run| run[0]).collect()))
}

/// How the files of one source are parsed.
struct SourceParse<'a> {
    config: &'a Config,
    source: &'a Source,
    attr_kinds: &'a [AttrKind],
    tz: Tz,
    masked: &'a HashSet<&'a str>,
    /// The ids more than one row has ([`repeated_ids`]).
    repeated: Option<&'a HashSet<u64>>,
}

/// What parsing the files of a source gathers.
struct Parsed {
    /// The rows kept, typed, with their file and record number.
    accepted: Option<DataFrame>,
    /// The raw values of the rows whose id is repeated.
    raws: RawRows,
    report: SourceReport,
    attributes: Vec<AttributeReport>,
}

impl SourceParse<'_> {
    /// Parses file `fi` a block at a time (a chunk of a frame's columns, or a block of a CSV
    /// file's text: 262,144 rows), rejecting the rows with problems and adding the others to
    /// `parsed`. The parsers read a block's text as it is (polars text is built only for the
    /// fields kept as text). Unless the source's repeated ids are unknown, the blocks are taken
    /// out of the file and each block's text is freed once the block is parsed: ingest holds the
    /// typed table beside the compact text not yet parsed, never a typed copy of the whole file
    /// beside its text.
    fn parse_blocks(
        &self,
        (fi, f): (usize, &mut RawFile),
        mapping: &Mapping<'_>,
        parsed: &mut Parsed,
        rejects: &mut Rejects,
    ) -> Result<()> {
        let taken = self.repeated.map(|_| std::mem::take(&mut f.frame));
        let taken_blocks = taken.is_some();
        let f = &*f;
        let blocks = match taken {
            Some(frame) => frame.into_blocks(),
            None => f.frame.blocks(),
        };
        let mut first = 0;
        for block in blocks {
            let n = block.height();
            let p = parse_file(self.config, self.source, &block, mapping, self.attr_kinds, self.tz)?;
            let keep = reject_rows((f, &block, first), p.issues, self.masked, rejects, &mut parsed.report);
            for (field, row) in &p.left_empty {
                if keep[*row] {
                    *parsed.report.values_left_empty.entry((*field).to_string()).or_default() += 1;
                }
            }
            for (k, row) in &p.unparsable_attrs {
                if keep[*row] {
                    parsed.attributes[*k].unparsable += 1;
                }
            }
            // The record number (1-based) of each row, as the rejects table gives it.
            let records: Vec<u32> = (first..first + n).map(|i| f.record(i) as u32).collect();
            let mut df = DataFrame::new_infer_height(p.columns)?;
            if let Some(repeated) = self.repeated {
                // The parsed ids, as `repeated_ids` digested them.
                for (i, id) in df.column(self.source.kind.id_field())?.str()?.iter().enumerate() {
                    if keep[i] && id.is_some_and(|id| repeated.contains(&id_digest(id))) {
                        parsed.raws.insert((fi as u32, records[i]), raw_json(&block, i, self.masked));
                    }
                }
            }
            df.with_column(Column::new(FILE_IDX.into(), vec![fi as u32; n]))?;
            df.with_column(Column::new(ROW_IDX.into(), records))?;
            append(&mut parsed.accepted, kept_rows(&df, &keep)?)?;
            first += n;
            if taken_blocks {
                // The block's text is freed: its columns under the allocator's mmap threshold
                // (a block read in a stretch of a file holds fewer rows) go back to the system
                // too, not only those above it.
                drop(block);
                leadscore_core::memory::release_freed();
            }
        }
        Ok(())
    }
}

fn process_source(
    config: &Config,
    source: &Source,
    mut files: Vec<RawFile>,
    run_start: i64,
    keep: Keep<'_>,
    rejects: &mut Rejects,
    warnings: &mut Vec<String>,
) -> Result<SourceResult> {
    // Times without an offset are in the source's time zone (its own, or its preset's).
    let tz = source.timezone.unwrap_or(config.project.timezone);
    let kind = source.kind;
    let (mappings, preset_missing) = file_mappings(config, source, &files)?;
    warn_empty_files(&files, kind.name(), warnings);
    let masked = masked_columns(config, source);
    // Kinds are inferred from every row, kept or not: a run without training infers what a run
    // of the whole history does.
    let (attr_kinds, attr_reports) = attribute_kinds(config, kind, &files)?;
    let masks = scope_masks(source, &files, &mappings, keep, tz)?;
    let repeated = repeated_ids(source, &files, &mappings)?;
    let mut parsed = Parsed {
        accepted: None,
        raws: HashMap::new(),
        report: SourceReport::new(kind.name().to_string(), preset_missing),
        attributes: attr_reports,
    };
    let how = SourceParse { config, source, attr_kinds: &attr_kinds, tz, masked: &masked, repeated: repeated.as_ref() };
    for (fi, (f, mapping)) in files.iter_mut().zip(&mappings).enumerate() {
        count_file(&mut parsed.report, f);
        reject_unreadable(f, &masked, rejects, &mut parsed.report);
        // What the reader left out, then what it kept that the run does not.
        parsed.report.left_out += f.left_out;
        if let Some(m) = masks.as_ref().and_then(|m| m.get(fi)) {
            parsed.report.left_out += f.retain(m)?;
        }
        let Some(mapping) = mapping else { continue };
        how.parse_blocks((fi, f), mapping, &mut parsed, rejects)?;
    }
    let Parsed { accepted, raws, mut report, attributes: mut attr_reports } = parsed;
    let mut table = match accepted {
        Some(df) => df,
        None => empty_table(source, &attr_kinds)?,
    };
    if kind == SourceKind::Events && table.column(events::EVENT_ID)?.null_count() > 0 {
        table = with_derived_event_ids(table)?;
    }
    let table = dedupe(table, source, (&files, &raws), repeated.as_ref(), &masked, rejects, &mut report)?;
    // The files' text is not needed past this point: freed before the typed table is sorted.
    drop(files);
    accounted(&mut report, table.height())?;
    let tf = time_field(kind);
    report.record_span(table.column(tf)?.datetime()?.physical(), run_start);
    for a in &mut attr_reports {
        a.filled = (table.height() - table.column(&a.name)?.null_count()) as u64;
    }
    let id = kind.id_field();
    // The table with the ingest-internal columns is moved into the block and freed there, so that
    // each column below is freed once copied.
    let table = {
        let with_internal = table;
        with_internal.drop_many([FILE_IDX, ROW_IDX, UPDATED_AT])
    };
    // In order (ids are unique here, so the order is total) and in one chunk, as the Parquet
    // writer's row groups expect.
    let table = frame::sorted_by_time_owned(table, tf, id)?;
    // What the unsorted table and the text held goes back to the system before the table is
    // written (whose encoder would otherwise start on top of it: 455 -> 434 MB for 300k leads).
    leadscore_core::memory::release_freed();
    Ok(SourceResult { table, report, attributes: attr_reports })
}

/// Warns of the files of a source that are empty (0 bytes): no `what` is read from them.
fn warn_empty_files(files: &[RawFile], what: &str, warnings: &mut Vec<String>) {
    for f in files.iter().filter(|f| f.frame.width() == 0 && f.unreadable.is_empty()) {
        warnings.push(format!("{}: empty file (0 bytes), no {what} read from it", f.path.display()));
    }
}

/// Counts a file and its records in its source's report.
fn count_file(report: &mut SourceReport, f: &RawFile) {
    report.files.push(FileReport { path: f.path.display().to_string(), rows: f.records_read() });
    report.read += f.records_read();
}

/// Adds a file's kept rows to those of the files before it.
fn append(acc: &mut Option<DataFrame>, df: DataFrame) -> Result<()> {
    match acc {
        None => *acc = Some(df),
        Some(acc) => {
            acc.vstack_mut(&df)?;
        }
    }
    Ok(())
}

/// Records the rows a source accepted, and checks that every row read is accepted or rejected.
fn accounted(report: &mut SourceReport, accepted: usize) -> Result<()> {
    report.accepted = accepted as u64;
    if report.read == report.accepted + report.rejected + report.left_out {
        return Ok(());
    }
    Err(IngestError::Internal(format!(
        "{}: read {} rows but accepted {} + rejected {} + left out {}",
        report.source, report.read, report.accepted, report.rejected, report.left_out
    )))
}

/// Reads a `[sources.tables]` table: its declared columns parsed by kind, in the config's order;
/// a row with a value that is not of its column's kind is rejected. What a table holds is not
/// known, so its rejected rows' values are masked like identities unless `[privacy]
/// keep_raw_identifiers`.
fn process_table(
    config: &Config,
    table: &Table,
    files: &[RawFile],
    rejects: &mut Rejects,
    warnings: &mut Vec<String>,
) -> Result<(DataFrame, SourceReport)> {
    let tz = table.timezone.unwrap_or(config.project.timezone);
    let section = table.section();
    let mut report = SourceReport::new(section.clone(), Vec::new());
    warn_empty_files(files, &format!("rows of [sources.{section}]"), warnings);
    let mut parts: Option<DataFrame> = None;
    for f in files {
        count_file(&mut report, f);
        let masked: HashSet<&str> = if config.privacy.keep_raw_identifiers {
            HashSet::new()
        } else {
            f.frame
                .names()
                .into_iter()
                .chain(f.unreadable.iter().flat_map(|u| u.values.iter().map(|(k, _)| k.as_str())))
                .collect()
        };
        reject_unreadable(f, &masked, rejects, &mut report);
        if f.frame.width() == 0 {
            continue;
        }
        let frame = f.frame.to_frame()?;
        let mut issues = Vec::new();
        let mut columns = Vec::with_capacity(table.columns.len());
        for (name, kind) in &table.columns {
            let raw = frame.column(name).map_err(|_| {
                missing_column(f, name, format!("the {} column declared in [sources.{section}] columns", kind.name()))
            })?;
            let (parsed, errs) =
                attributes::parse_attribute(raw, name, *kind, (tz, table.timestamp_format.as_deref()))?;
            issues.extend(errs.into_iter().map(|(row, msg)| Issue {
                row,
                reason: RejectReason::UnparsableValue,
                column: name.clone(),
                detail: format!("`{name}` is not {}: {msg}", kind.name()),
            }));
            columns.push(parsed);
        }
        let keep = reject_rows((f, &Block::Frame(frame), 0), issues, &masked, rejects, &mut report);
        let df = DataFrame::new_infer_height(columns)?;
        append(&mut parts, kept_rows(&df, &keep)?)?;
    }
    let df = parts.unwrap_or_else(|| DataFrame::empty_with_schema(&table.schema()));
    accounted(&mut report, df.height())?;
    Ok((df, report))
}

/// An empty canonical table with the right column types.
fn empty_table(source: &Source, attr_kinds: &[AttrKind]) -> Result<DataFrame> {
    let mut cols = Vec::new();
    for name in canonical_columns(source.kind) {
        cols.push(null_column(name, canonical_type(source.kind, name), 0));
    }
    cols.push(null_column(UPDATED_AT, FieldType::Timestamp, 0));
    for name in source.extra.keys() {
        cols.push(Column::full_null(name.as_str().into(), 0, &DataType::String));
    }
    for (name, _, kind) in attr_kinds {
        cols.push(Column::full_null(name.as_str().into(), 0, &attributes::dtype_of(*kind)));
    }
    cols.push(Column::new(FILE_IDX.into(), Vec::<u32>::new()));
    cols.push(Column::new(ROW_IDX.into(), Vec::<u32>::new()));
    Ok(DataFrame::new_infer_height(cols)?)
}

/// Events without an id get a deterministic one from their content, so exact repeats
/// de-duplicate: every event when no `event_id` is mapped, and those of a file without the
/// preset's id column. (A file that has the column and leaves a row's id empty had the row
/// rejected as `missing_id`.)
fn with_derived_event_ids(mut df: DataFrame) -> Result<DataFrame> {
    let given = df.column(events::EVENT_ID)?.str()?.clone();
    let user = df.column(events::USER_ID)?.str()?.clone();
    let name = df.column(events::NAME)?.str()?.clone();
    let at = df.column(events::AT)?.datetime()?.physical().clone();
    let value = df.column(events::VALUE)?.f64()?.clone();
    let ids: StringChunked = (0..df.height())
        .map(|i| {
            if let Some(id) = given.get(i) {
                return Some(id.to_string());
            }
            let at = at.get(i).map(|v| v.to_string()).unwrap_or_default();
            let value = value.get(i).map(|v| v.to_string()).unwrap_or_default();
            Some(stable_id(&[user.get(i).unwrap_or(""), name.get(i).unwrap_or(""), &at, &value]))
        })
        .collect();
    df.with_column(ids.with_name(events::EVENT_ID.into()).into_column())?;
    Ok(df)
}

/// Keeps one row per id: the newest `updated_at` wins, then the later file, then the later row.
/// The others go to rejects as `duplicate_id`.
fn dedupe(
    df: DataFrame,
    source: &Source,
    (files, raws): (&[RawFile], &RawRows),
    repeated: Option<&HashSet<u64>>,
    masked: &HashSet<&str>,
    rejects: &mut Rejects,
    report: &mut SourceReport,
) -> Result<DataFrame> {
    let id_name = source.kind.id_field();
    let id_column = df.column(id_name)?.str()?.clone();
    if id_column.null_count() > 0 {
        return Err(IngestError::Internal(format!("{id_name} is empty in rows that were not rejected")));
    }
    // No id is repeated in the files (the usual export): nothing to look for.
    if repeated.is_some_and(HashSet::is_empty) {
        return Ok(df);
    }
    // As vectors: indexing a column of many chunks (a chunk per file) walks the chunks.
    let ids: Vec<Option<&str>> = id_column.iter().collect();
    let upd: Vec<Option<i64>> = df.column(UPDATED_AT)?.datetime()?.physical().iter().collect();
    let fidx: Vec<u32> = df.column(FILE_IDX)?.u32()?.iter().map(|v| v.unwrap_or(0)).collect();
    let ridx: Vec<u32> = df.column(ROW_IDX)?.u32()?.iter().map(|v| v.unwrap_or(0)).collect();
    let winner = latest_rows(&ids, |i: usize| (upd[i], fidx[i], ridx[i]));
    if winner.len() == df.height() {
        return Ok(df);
    }
    let mut keep = vec![false; df.height()];
    for &w in winner.values() {
        keep[w] = true;
    }
    for (i, k) in keep.iter().enumerate() {
        if *k {
            continue;
        }
        let id = ids[i].unwrap_or_default();
        let w = winner.get(id).copied().unwrap_or(i);
        let file = |j: usize| files.get(fidx[j] as usize);
        let (Some(this), Some(kept)) = (file(i), file(w)) else {
            return Err(IngestError::Internal("duplicate refers to an unknown file".into()));
        };
        let why = if upd[w].is_some() && upd[w] != upd[i] { "newer update time" } else { "later in the export" };
        let record = u64::from(ridx[i]);
        // Kept as the file's text was freed, or from the text the file kept.
        let raw = match raws.get(&(fidx[i], ridx[i])) {
            Some(raw) => raw.clone(),
            None => {
                let row = this
                    .row_of(record)
                    .ok_or_else(|| IngestError::Internal("duplicate of an unknown record".into()))?;
                values_json(this.frame.row(row).into_iter(), masked)
            }
        };
        rejects.add(
            report,
            RejectRow {
                file: this.path.display().to_string(),
                row: record,
                column: source.column(id_name).map(str::to_string),
                reason: RejectReason::DuplicateId,
                detail: format!(
                    "the same {id_name} is in {} row {}, which is kept ({why})",
                    kept.path.display(),
                    ridx[w]
                ),
                raw,
            },
        );
    }
    kept_rows(&df, &keep)
}

/// The row kept for each id: the one with the greatest `key` (the update time, then the file and
/// the row in it: the latest in the export).
fn latest_rows<'a, K: Ord>(ids: &[Option<&'a str>], key: impl Fn(usize) -> K) -> HashMap<&'a str, usize> {
    let mut winner: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = *id else { continue };
        winner
            .entry(id)
            .and_modify(|w| {
                if key(i) >= key(*w) {
                    *w = i;
                }
            })
            .or_insert(i);
    }
    winner
}

/// The rows of `df` marked in `keep`: `df`'s own rows (no copy) when they are one run, every row
/// say.
fn kept_rows(df: &DataFrame, keep: &[bool]) -> Result<DataFrame> {
    Ok(frame::rows_where(df, &BooleanChunked::from_slice("keep".into(), keep))?)
}

/// The most frequent reject reasons of a source, with counts and the first rows of each
/// (`missing_id 36 (rows 3, 17, 95 of leads.csv)`); duplicates left out unless `with_duplicates`.
fn top_reasons(report: &SourceReport, rejects: &Rejects, with_duplicates: bool) -> String {
    let mut reasons: Vec<(&String, &u64)> = report
        .rejected_by_reason
        .iter()
        .filter(|(r, _)| with_duplicates || r.as_str() != RejectReason::DuplicateId.code())
        .collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    reasons
        .into_iter()
        .take(3)
        .map(|(reason, n)| {
            let examples: Vec<usize> = (0..rejects.len())
                .filter(|&i| rejects.source[i] == report.source && rejects.reason[i] == reason.as_str())
                .take(3)
                .collect();
            let file = examples.first().map(|&i| rejects.file[i].as_str()).unwrap_or_default();
            let rows = examples.iter().map(|&i| rejects.row[i].to_string()).collect::<Vec<_>>().join(", ");
            format!("{reason} {n} (rows {rows} of {file})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fails when a source rejected more rows than `max_reject_rate` allows (duplicates do not count:
/// repeated versions of a record are normal in CRM exports).
fn reject_gate(max_reject_rate: f64, report: &SourceReport, rejects: &Rejects) -> Result<()> {
    let duplicates = report.rejected_by_reason.get(RejectReason::DuplicateId.code()).copied().unwrap_or(0);
    let counted = report.rejected - duplicates;
    if report.read == 0 || counted as f64 <= max_reject_rate * report.read as f64 {
        return Ok(());
    }
    Err(IngestError::TooManyRejects {
        section: report.source.clone(),
        rejected: counted,
        read: report.read,
        rate: 100.0 * counted as f64 / report.read as f64,
        max: 100.0 * max_reject_rate,
        reasons: top_reasons(report, rejects, false),
    })
}

/// The events table when no events source is configured: empty, with the canonical columns.
fn no_events() -> Result<DataFrame> {
    let src = Source {
        kind: SourceKind::Events,
        location: leadscore_core::config::Location {
            path: String::new(),
            database: None,
            encoding: leadscore_core::config::TextEncoding::Utf8,
            format: None,
            delimiter: b',',
        },
        mapping: BTreeMap::new(),
        extra: BTreeMap::new(),
        max_reject_rate: 1.0,
        timestamp_format: None,
        timestamp_formats: BTreeMap::new(),
        preset: None,
        timezone: None,
    };
    Ok(empty_table(&src, &[])?.drop_many([FILE_IDX, ROW_IDX, UPDATED_AT]))
}

/// Logs a source's rejected rows, and warns when they are more than 5% (below its gate, or it
/// would have failed, but worth a look).
fn rejected_share_warning(r: &SourceReport) -> Option<String> {
    if !r.preset_columns_missing.is_empty() {
        tracing::info!(source = r.source.as_str(), columns = ?r.preset_columns_missing, "preset columns not in the file; their fields are empty");
    }
    if r.rejected == 0 {
        return None;
    }
    let share = r.rejected as f64 / r.read.max(1) as f64;
    tracing::warn!(
        source = r.source.as_str(),
        rejected = r.rejected,
        read = r.read,
        share = format!("{:.2}%", share * 100.0),
        "rows rejected (see rejects.parquet)"
    );
    (share > 0.05)
        .then(|| format!("{}: {:.1}% of rows rejected; check the mapping and rejects.parquet", r.source, share * 100.0))
}

/// Runs ingest on the sources `sources` gives, one source at a time: the stage's logic, free of
/// file I/O when they are frames already read ([`crate::RawSources`]). Each source's text is
/// freed once its table is made, before the next source is asked for.
pub fn run(config: &Config, sources: impl Sources, ctx: &RunContext) -> Result<IngestOutputs> {
    run_writing(config, sources, ctx, None)
}

/// `[sources.tables]`' tables by name, in config order.
type NamedTables = Vec<(String, DataFrame)>;

/// Each `[sources.tables]` table read and parsed (its rejects gated like a source's), with its
/// report.
fn process_tables(
    config: &Config,
    sources: &mut impl Sources,
    rejects: &mut Rejects,
    warnings: &mut Vec<String>,
) -> Result<(NamedTables, Vec<SourceReport>)> {
    let table_files = sources.tables()?;
    if table_files.len() != config.sources.tables.len() {
        return Err(IngestError::Internal(format!(
            "{} tables read for the {} of [sources.tables]",
            table_files.len(),
            config.sources.tables.len()
        )));
    }
    let mut tables = Vec::with_capacity(table_files.len());
    let mut reports = Vec::with_capacity(table_files.len());
    for (t, files) in config.sources.tables.iter().zip(&table_files) {
        let (df, report) = process_table(config, t, files, rejects, warnings)?;
        reject_gate(t.max_reject_rate, &report, rejects)?;
        tables.push((t.name.clone(), df));
        reports.push(report);
    }
    Ok((tables, reports))
}

/// The report of each source (the leads, the deals, the events if any, then the tables), with the
/// warnings about what was read added to `warnings`, which are logged.
fn source_reports(
    (leads, deals, events): (&SourceResult, &SourceResult, Option<&SourceResult>),
    table_reports: Vec<SourceReport>,
    warnings: &mut Vec<String>,
) -> Vec<SourceReport> {
    if deals.report.accepted == 0 {
        warnings.push("no deals accepted: no lead can be labelled as converted".into());
    }
    let reports: Vec<SourceReport> = [Some(leads), Some(deals), events]
        .into_iter()
        .flatten()
        .map(|s| s.report.clone())
        .chain(table_reports)
        .collect();
    warnings.extend(quality_warnings(&reports, &leads.attributes));
    for w in warnings.iter() {
        tracing::warn!("{w}");
    }
    reports
}

/// The warnings about what was read: a source's share of rejected rows, and attribute values
/// that could not be read as their kind.
fn quality_warnings(reports: &[SourceReport], attributes: &[AttributeReport]) -> Vec<String> {
    let rejected = reports.iter().filter_map(rejected_share_warning);
    let unparsable = attributes.iter().filter(|a| a.unparsable > 0).map(|a| {
        format!("attribute `{}`: {} values are not {} and were left empty", a.name, a.unparsable, a.kind.name())
    });
    rejected.chain(unparsable).collect()
}

/// What ingest has parsed so far: the rejected rows, and the warnings for the report.
#[derive(Default)]
struct Parsing {
    rejects: Rejects,
    warnings: Vec<String>,
}

/// Reads and parses the leads: an error when the sources hold no lead, or none was accepted.
fn parse_leads(
    config: &Config,
    sources: &mut impl Sources,
    ctx: &RunContext,
    run_start: i64,
    parsing: &mut Parsing,
) -> Result<SourceResult> {
    let leads = sources.leads()?;
    let lead_rows: u64 = leads.iter().map(RawFile::records_read).sum();
    if lead_rows == 0 {
        let files = leads.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>();
        return Err(IngestError::NoLeads {
            verb: if files.len() == 1 { "has" } else { "have" },
            files: files.join(", "),
        });
    }
    let keep_leads = match ctx.scope {
        Scope::Full => Keep::All,
        Scope::Scoring => {
            Keep::CreatedFrom(config.first_exported_day(ctx.run_date).start_micros(config.project.timezone))
        }
    };
    let Parsing { rejects, warnings } = parsing;
    let leads = process_source(config, &config.sources.leads, leads, run_start, keep_leads, rejects, warnings)?;
    reject_gate(config.sources.leads.max_reject_rate, &leads.report, rejects)?;
    if leads.report.accepted == 0 {
        return Err(IngestError::NoUsableLeads {
            read: leads.report.read,
            reasons: top_reasons(&leads.report, rejects, false),
        });
    }
    Ok(leads)
}

/// Reads and parses the deals and the events (none when no events source is configured) of
/// `users`' leads, or of every lead when `users` is `None`.
fn parse_deals_and_events(
    config: &Config,
    sources: &mut impl Sources,
    users: Option<&HashSet<&str>>,
    run_start: i64,
    parsing: &mut Parsing,
    watch: &mut Stopwatch,
) -> Result<(SourceResult, Option<SourceResult>)> {
    let Parsing { rejects, warnings } = parsing;
    let keep_users = users.map_or(Keep::All, Keep::Users);
    let deals = sources.deals(users)?;
    watch.lap("read deals");
    let deals = process_source(config, &config.sources.deals, deals, run_start, keep_users, rejects, warnings)?;
    reject_gate(config.sources.deals.max_reject_rate, &deals.report, rejects)?;
    watch.lap("parse deals");
    let events = sources.events(users)?;
    watch.lap("read events");
    let events = match (&config.sources.events, events) {
        (Some(src), Some(files)) => {
            let events = process_source(config, src, files, run_start, keep_users, rejects, warnings)?;
            reject_gate(src.max_reject_rate, &events.report, rejects)?;
            Some(events)
        }
        _ => None,
    };
    watch.lap("parse events");
    Ok((deals, events))
}

/// [`run`], writing the leads and their identities with `writer` as soon as they are complete,
/// before the deals and events are read: the typed leads (about 1 KB a lead with 50 attributes)
/// are not held beside the events' text. The outputs returned are the others.
pub fn run_writing(
    config: &Config,
    mut sources: impl Sources,
    ctx: &RunContext,
    writer: Option<&mut StageWriter>,
) -> Result<IngestOutputs> {
    let mut watch = Stopwatch::new();
    let run_start = ctx.run_date.start_micros(config.project.timezone);
    let mut parsing = Parsing::default();
    let mut leads = parse_leads(config, &mut sources, ctx, run_start, &mut parsing)?;
    // With the reading of the leads, unless they were read before (the stage's read step).
    watch.lap("parse leads");
    // Personal data stops here: the exports get digests, the later stages no raw value.
    let mut identities = identities_table(config, ctx, &leads.table)?;
    let mut leads_table = std::mem::take(&mut leads.table);
    if !config.privacy.keep_raw_identifiers {
        leads_table = leads_table.drop_many(leads::RAW_IDENTITY);
    }
    watch.lap("digests");
    // The deals and events of the kept leads' users: a lead's labels and features use its user's.
    let lead_users = match ctx.scope {
        Scope::Full => None,
        Scope::Scoring => Some(leads_table.column(leads::USER_ID)?.clone()),
    };
    let leads_written = match writer {
        Some(w) => {
            w.write_table(&artifact::LEADS, &mut leads_table)?;
            w.write_table(&artifact::IDENTITIES, &mut identities)?;
            (leads_table, identities) = (DataFrame::empty(), DataFrame::empty());
            watch.lap("write leads");
            true
        }
        None => false,
    };
    let users: Option<HashSet<&str>> = match &lead_users {
        Some(c) => Some(c.str()?.iter().flatten().collect()),
        None => None,
    };
    let (deals, events) =
        parse_deals_and_events(config, &mut sources, users.as_ref(), run_start, &mut parsing, &mut watch)?;
    let events_table = match &events {
        Some(e) => e.table.clone(),
        None => no_events()?,
    };
    let Parsing { mut rejects, mut warnings } = parsing;
    let (tables, table_reports) = process_tables(config, &mut sources, &mut rejects, &mut warnings)?;
    let reports = source_reports((&leads, &deals, events.as_ref()), table_reports, &mut warnings);
    let rejected_total = rejects.len() as u64;
    let report = IngestReport {
        run_date: ctx.run_date,
        sources: reports,
        attributes: leads.attributes.clone(),
        rejected_total,
        warnings,
    };
    Ok(IngestOutputs {
        leads: leads_table,
        deals: deals.table,
        events: events_table,
        rejects: rejects.into_frame()?,
        identities,
        tables,
        report,
        timings: {
            watch.lap("tables");
            watch.into_timings()
        },
        inputs: Vec::new(),
        leads_written,
    })
}
