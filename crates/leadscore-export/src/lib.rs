//! `leadscore-export`: the day's qualified leads in the files ad platforms accept, and the
//! adjustments that keep what the platforms were told true.
//!
//! [`run`] is responsible for turning qualify's scores and value's predicted values into upload
//! files (no network calls), under the run's `export/` folder:
//!
//! - `qualified_leads.parquet` / `.csv`: the ad-analytics custom-conversion shape (`id`,
//!   `client_id`, `created`, `value`, `currency`, `is_qualified`, `params`, `user_id`, `reason`,
//!   `adjusted_at`), upserted by `id`;
//! - `google_ads_click_conversions.csv`: Google Ads offline click conversions;
//! - `google_ads_enhanced_conversions.jsonl`: Google Ads enhanced conversions for leads;
//! - `google_ads_*_adjustments.csv` and `google_ads_enhanced_adjustments_0001.json`, …: Google
//!   Ads conversion adjustments (retractions, restatements) of conversions already sent;
//! - `meta_capi_0001.json`, …: Meta Conversions API (CRM) batches of at most 1000 events;
//! - `hubspot_contacts_import.csv`, `salesforce_bulk_leads.csv`: every scored lead's score for
//!   the CRM ([`crm`]);
//! - `ledger.parquet`: what every destination holds of every lead of the adjustment window
//!   ([`adjust`] has the state machine); `refused.parquet`: every lead an export refused, with
//!   the reason; `report.json`.
//!
//! Guarantees: platform rules are checked before writing and every refused lead is counted with
//! its id (never silently dropped); raw e-mails, phones and names never reach this stage (ingest
//! keeps only the SHA-256 digests of their normalised forms, which are what the files send); the
//! same inputs (the earlier ledger included) give byte-identical files, and ids are deterministic
//! so that platforms de-duplicate re-uploads; the ledger is written with the files, in one
//! commit, so it never says something was sent that was not written. The ledger assumes that
//! every run's files are uploaded.
//! It reads qualify's `scores.parquet`, value's `values.parquet`, ingest's `leads.parquet` and
//! `identities.parquet`, labels' `labels.parquet` and the latest earlier run's `ledger.parquet`.

mod adjust;
mod crm;
mod error;
mod formats;
mod report;

use std::borrow::Cow;
use std::collections::HashMap;

use adjust::Ledger;
use leadscore_core::config::{ConsentStatus, ExportFormat};
use leadscore_core::identity::Digests;
use leadscore_core::layout::{Manifest, StageWriter, Stopwatch, Timing};
use leadscore_core::schema::{files, identities as id, labels as la, leads, scores, values as v};
use leadscore_core::{Config, Outputs, RunContext, RunDate, RunLayout, Stage, StageRun};
use leadscore_core::{artifact, frame};
use polars::prelude::*;

pub use adjust::{Reason, State};
pub use crm::header as crm_header;
pub use error::{ExportError, Result};
pub use formats::META_BATCH;
pub use report::{ChangeCount, ExportReport, FormatReport, Refusal, RefusedCount};

/// Inputs of the stage.
#[derive(Debug, Clone)]
pub struct ExportInputs {
    /// qualify's scores.
    pub scores: DataFrame,
    /// value's predicted values.
    pub values: DataFrame,
    /// Canonical leads (ingest): click and lead-ad identifiers.
    pub leads: DataFrame,
    /// The digests of the leads' personal data (ingest).
    pub identities: DataFrame,
    /// Per-lead labels (labels): which leads converted, when, and for how much.
    pub labels: DataFrame,
    /// The ledger of the latest earlier run, with its run date: what every destination was told.
    pub ledger: Option<(RunDate, DataFrame)>,
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct ExportOutputs {
    /// Upload files: name, bytes and, for a table, its rows; in a fixed order.
    pub files: Vec<(String, Vec<u8>, Option<u64>)>,
    /// `refused.parquet`: `format`, `lead_id`, `reason`.
    pub refused: DataFrame,
    /// `ledger.parquet`: what every destination holds now of the leads of the adjustment window.
    pub ledger: DataFrame,
    /// Seconds of each inner step (gather, each format, ledger).
    pub timings: Vec<Timing>,
    /// The report.
    pub report: ExportReport,
}

/// One lead the exports may tell a platform of (scored this run, in the ledger, or converted late)
/// with what the exports need.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lead {
    /// Scored this run (otherwise the score fields are empty).
    pub scored: bool,
    /// Still in the CRM export (a deleted or merged lead is not).
    pub in_crm: bool,
    /// When its target conversion happened within its window, and the deal value (project
    /// currency).
    pub converted: Option<(i64, f64)>,
    pub probability: Option<f64>,
    /// The strongest reasons of its score.
    pub reasons: Vec<String>,
    /// Sent now as a late conversion (its value is the deal's).
    pub late: bool,
    pub lead_id: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub created_at: i64,
    pub model_id: String,
    pub score: f64,
    pub segment: String,
    pub qualified: bool,
    pub value: Option<f64>,
    pub currency: Option<String>,
    /// Its digests (ingest's `identities.parquet`).
    pub digests: Digests,
    pub gclid: Option<String>,
    pub fbclid: Option<String>,
    pub meta_lead_id: Option<String>,
    /// The lead's own consent, from its attributes.
    pub ad_user_data: Option<ConsentStatus>,
    pub ad_personalization: Option<ConsentStatus>,
}

const KNOWN: &str = "__known";
const HASHED: &str = "__hashed";
const SCORED: &str = "__scored";
const AD_USER_DATA: &str = "__ad_user_data";
const AD_PERSONALIZATION: &str = "__ad_personalization";
const LEAD_USER_ID: &str = "__lead_user_id";
const LEAD_CLIENT_ID: &str = "__lead_client_id";
const CONVERTED: &str = "__converted";
const CONVERTED_AT: &str = "__converted_at";
const DEAL_VALUE: &str = "__deal_value";

/// A text column, read by name: each row's trimmed value, none when empty.
pub(crate) struct Text(StringChunked);

impl Text {
    pub(crate) fn of(df: &DataFrame, name: &str) -> Result<Self> {
        Ok(Self(df.column(name)?.cast(&DataType::String)?.str()?.rechunk().into_owned()))
    }

    /// Row `i`'s value. (Straight from the one Arrow chunk: the chunked array's own `get` costs
    /// more than the rest of reading a lead.)
    pub(crate) fn get_str(&self, i: usize) -> Option<&str> {
        self.0.downcast_iter().next()?.get(i).map(str::trim).filter(|s| !s.is_empty())
    }

    pub(crate) fn get(&self, i: usize) -> Option<String> {
        self.get_str(i).map(str::to_string)
    }

    /// Every row's value.
    fn values(&self) -> impl Iterator<Item = Option<&str>> {
        (0..self.0.len()).map(|i| self.get_str(i))
    }
}

/// A boolean column's values, in order (a chunked array's `get` is slow by the million).
pub(crate) fn bools(df: &DataFrame, name: &str) -> Result<Vec<Option<bool>>> {
    Ok(df.column(name)?.bool()?.iter().collect())
}

/// A float column's values, in order.
pub(crate) fn floats(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
}

/// A timestamp column's values in UTC microseconds, in order.
pub(crate) fn instants(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>> {
    let c = df.column(name)?.cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))?;
    Ok(c.datetime()?.physical().iter().collect())
}

/// The scored leads' columns the exports read, flagged as scored.
fn scored_base(scores_df: &DataFrame) -> LazyFrame {
    let mut cols = vec![
        col(scores::LEAD_ID),
        col(scores::USER_ID),
        col(scores::CLIENT_ID),
        col(scores::CREATED_AT),
        col(scores::MODEL_ID),
        col(scores::PROBABILITY).cast(DataType::Float64),
        col(scores::SCORE).cast(DataType::Float64),
        col(scores::SEGMENT),
        col(scores::QUALIFIED),
    ];
    cols.extend(scores::REASONS.iter().map(|r| {
        if scores_df.column(r).is_ok() {
            col(*r).cast(DataType::String)
        } else {
            lit(NULL).cast(DataType::String).alias(*r)
        }
    }));
    cols.push(lit(true).alias(SCORED));
    scores_df.clone().lazy().select(cols)
}

/// Leads not scored this run that the exports must look at again (`ids`, with their creation
/// time as the ledger or the labels know it), in the scored base's columns.
fn other_base(ids: Vec<(String, i64)>, like: &Schema) -> Result<LazyFrame> {
    let (ids, created): (Vec<String>, Vec<i64>) = ids.into_iter().unzip();
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let df = df!(scores::LEAD_ID => ids, scores::CREATED_AT => created)?;
    let cols: Vec<Expr> = like
        .iter()
        .map(|(name, dtype)| match name.as_str() {
            scores::LEAD_ID => col(scores::LEAD_ID),
            scores::CREATED_AT => col(scores::CREATED_AT).cast(utc.clone()),
            SCORED => lit(false).alias(SCORED),
            _ => lit(NULL).cast(dtype.clone()).alias(name.clone()),
        })
        .collect();
    Ok(df.lazy().select(cols))
}

/// Every lead the exports look at (the scored ones; those of the ledger; those that converted in
/// the adjustment window), joined with its values, lead fields, consent attributes, digests and
/// label, oldest first.
fn joined(config: &Config, inputs: &ExportInputs, others: Vec<(String, i64)>) -> Result<DataFrame> {
    // Each lead's consent, from the attributes the config names (text: `granted`, `yes`, …).
    let consent = &config.export.google_consent;
    let attribute = |name: &Option<String>, alias: &str| match name {
        Some(a) => col(a.as_str()).cast(DataType::String).alias(alias),
        None => lit(NULL).cast(DataType::String).alias(alias),
    };
    let lead_cols = [
        col(leads::LEAD_ID),
        lit(true).alias(KNOWN),
        col(leads::USER_ID).alias(LEAD_USER_ID),
        col(leads::CLIENT_ID).alias(LEAD_CLIENT_ID),
        col(leads::GCLID),
        col(leads::FBCLID),
        col(leads::META_LEAD_ID),
        attribute(&consent.ad_user_data_attribute, AD_USER_DATA),
        attribute(&consent.ad_personalization_attribute, AD_PERSONALIZATION),
    ];
    let mut digest_cols = vec![col(id::LEAD_ID), lit(true).alias(HASHED)];
    digest_cols.extend(id::DIGESTS.map(col));
    let label_cols = [
        col(la::LEAD_ID),
        col(la::CONVERTED).alias(CONVERTED),
        col(la::FIRST_CONVERSION_AT).alias(CONVERTED_AT),
        col(la::VALUE_IN_WINDOW).cast(DataType::Float64).alias(DEAL_VALUE),
    ];
    let mut base = scored_base(&inputs.scores);
    if !others.is_empty() {
        let schema = base.collect_schema()?;
        base = concat([base, other_base(others, &schema)?], UnionArgs::default())?;
    }
    let left = |df: &DataFrame, cols: &[Expr], key: &str| {
        (df.clone().lazy().select(cols), [col(scores::LEAD_ID)], [col(key)], JoinArgs::new(JoinType::Left))
    };
    let joins = [
        left(&inputs.values, &[col(v::LEAD_ID), col(v::PREDICTED_VALUE), col(v::CURRENCY)], v::LEAD_ID),
        left(&inputs.leads, &lead_cols, leads::LEAD_ID),
        left(&inputs.identities, &digest_cols, id::LEAD_ID),
        left(&inputs.labels, &label_cols, la::LEAD_ID),
    ];
    for (other, l, r, args) in joins {
        base = base.join(other, l, r, args);
    }
    Ok(base
        .with_columns([
            col(scores::USER_ID).fill_null(col(LEAD_USER_ID)),
            col(scores::CLIENT_ID).fill_null(col(LEAD_CLIENT_ID)),
        ])
        .sort([scores::CREATED_AT, scores::LEAD_ID], SortMultipleOptions::default())
        .collect()?)
}

/// The leads the exports look at, oldest first: the scored ones, and `others`.
fn gather(config: &Config, inputs: &ExportInputs, others: Vec<(String, i64)>) -> Result<Vec<Lead>> {
    let df = joined(config, inputs, others)?;
    let (scored, in_crm, hashed) = (bools(&df, SCORED)?, bools(&df, KNOWN)?, bools(&df, HASHED)?);
    for (known, table) in [(&in_crm, files::LEADS), (&hashed, files::IDENTITIES)] {
        // A scored lead must be in ingest's tables; another may have left the CRM since.
        let missing: Vec<usize> =
            (0..df.height()).filter(|i| known[*i].is_none() && scored[*i] == Some(true)).collect();
        if let Some(first) = missing.first() {
            return Err(ExportError::UnknownLeads { count: missing.len(), table, first_row: first + 1 });
        }
    }
    let (qualified, converted) = (bools(&df, scores::QUALIFIED)?, bools(&df, CONVERTED)?);
    let [probability, score, value, deal_value] =
        [scores::PROBABILITY, scores::SCORE, v::PREDICTED_VALUE, DEAL_VALUE].map(|c| floats(&df, c));
    let (probability, score, value, deal_value) = (probability?, score?, value?, deal_value?);
    let (created, converted_at) = (instants(&df, scores::CREATED_AT)?, instants(&df, CONVERTED_AT)?);
    // Read by name: each column's values, taken one lead at a time (the reasons only for a CRM).
    let t = |name: &str| Text::of(&df, name);
    let ids = t(scores::LEAD_ID)?;
    let (user, client, model, segment, currency) =
        (t(scores::USER_ID)?, t(scores::CLIENT_ID)?, t(scores::MODEL_ID)?, t(scores::SEGMENT)?, t(v::CURRENCY)?);
    let (gclid, fbclid, meta_lead_id) = (t(leads::GCLID)?, t(leads::FBCLID)?, t(leads::META_LEAD_ID)?);
    let (ad_user_data, ad_personalization) = (t(AD_USER_DATA)?, t(AD_PERSONALIZATION)?);
    let digests = id::DIGESTS.iter().map(|c| t(c)).collect::<Result<Vec<_>>>()?;
    let crm = config.export.formats.iter().any(|f| !f.is_conversion());
    let reasons = if crm { &scores::REASONS[..] } else { &[] };
    let reasons = reasons.iter().map(|c| t(c)).collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        out.push(Lead {
            scored: scored[i].unwrap_or(false),
            in_crm: in_crm[i].unwrap_or(false),
            converted: match (converted[i], converted_at[i]) {
                (Some(true), Some(at)) => Some((at, deal_value[i].unwrap_or(0.0))),
                _ => None,
            },
            probability: probability[i],
            reasons: reasons.iter().filter_map(|r| r.get(i)).collect(),
            late: false,
            lead_id: ids.get(i).unwrap_or_default(),
            user_id: user.get(i),
            client_id: client.get(i),
            model_id: model.get(i).unwrap_or_default(),
            segment: segment.get(i).unwrap_or_default(),
            currency: currency.get(i),
            gclid: gclid.get(i),
            fbclid: fbclid.get(i),
            meta_lead_id: meta_lead_id.get(i),
            ad_user_data: ad_user_data.get_str(i).and_then(ConsentStatus::parse),
            ad_personalization: ad_personalization.get_str(i).and_then(ConsentStatus::parse),
            digests: Digests(std::array::from_fn(|k| digests[k].get(i))),
            created_at: created[i].unwrap_or_default(),
            score: score[i].unwrap_or_default(),
            qualified: qualified[i].unwrap_or(false),
            value: value[i],
        });
    }
    Ok(out)
}

/// Leads not scored this run that the exports must look at: those of the ledger, and (with
/// `send_late_conversions`) those of the adjustment window that converted.
fn others(config: &Config, inputs: &ExportInputs, ledger: &Ledger, ctx: &RunContext) -> Result<Vec<(String, i64)>> {
    let mut ids = ledger.leads();
    let e = &config.export;
    if e.adjustment_window_days > 0 && e.send_late_conversions {
        let from = e.first_adjusted_day(ctx.run_date).start_micros(config.project.timezone);
        let late = inputs
            .labels
            .clone()
            .lazy()
            .filter(col(la::CONVERTED).eq(lit(true)))
            .select([col(la::LEAD_ID), col(la::CREATED_AT).dt().timestamp(TimeUnit::Microseconds)])
            .collect()?;
        for (id, at) in Text::of(&late, la::LEAD_ID)?.values().zip(late.column(la::CREATED_AT)?.i64()?.iter()) {
            if let (Some(id), Some(at)) = (id, at.filter(|t| *t >= from)) {
                ids.entry(id.to_string()).or_insert(at);
            }
        }
    }
    let scored_ids = Text::of(&inputs.scores, scores::LEAD_ID)?;
    let scored: std::collections::HashSet<&str> = scored_ids.values().flatten().collect();
    Ok(ids.into_iter().filter(|(id, _)| !scored.contains(id.as_str())).collect())
}

/// The new conversions of `format`: qualified scored leads (every scored lead for the custom
/// shape with `include_unqualified`) the destination was not told of yet, and, with
/// `send_late_conversions`, converted leads it was never told of. A lead that already converted
/// is sent with its deal's value.
fn new_conversions<'a>(
    config: &Config,
    format: ExportFormat,
    rows: &'a [Lead],
    ledger: &Ledger,
    closed: bool,
) -> Vec<Cow<'a, Lead>> {
    let e = &config.export;
    // Most are sent as they are; a converted or late one is sent with its deal's value.
    let deal = |lead: &'a Lead, late: bool| match lead.converted.filter(|_| closed) {
        None if !late => Cow::Borrowed(lead),
        converted => {
            let mut n = lead.clone();
            if let Some((_, value)) = converted {
                n.value = Some(value);
                n.currency = Some(config.project.currency.clone());
            }
            n.late = late;
            n.qualified |= late;
            Cow::Owned(n)
        }
    };
    rows.iter()
        .filter(|l| !closed || ledger.get(format, &l.lead_id).is_none())
        .filter_map(|l| {
            if l.scored && (l.qualified || (format == ExportFormat::Custom && e.include_unqualified)) {
                Some(deal(l, false))
            } else if closed && e.send_late_conversions && l.in_crm && l.converted.is_some() {
                Some(deal(l, true))
            } else {
                None
            }
        })
        .collect()
}

/// Exports the scored leads of `ctx`'s run date and the adjustments of the conversions already
/// sent of the leads of the adjustment window.
pub fn run(config: &Config, inputs: &ExportInputs, ctx: &RunContext) -> Result<ExportOutputs> {
    if inputs.scores.height() == 0 {
        return Err(ExportError::NoScores);
    }
    let closed = config.export.adjustment_window_days > 0;
    let mut ledger = match (&inputs.ledger, closed) {
        (Some((_, df)), true) => {
            Ledger::read(df, config.first_exported_day(ctx.run_date).start_micros(config.project.timezone))?
        }
        _ => Ledger::default(),
    };
    let mut watch = Stopwatch::new();
    let rows = gather(config, inputs, others(config, inputs, &ledger, ctx)?)?;
    watch.lap("gather");
    let by_id: HashMap<&str, &Lead> = rows.iter().map(|l| (l.lead_id.as_str(), l)).collect();
    let settings = formats::Settings::new(config, ctx);
    let mut files = Vec::new();
    let mut reports = Vec::new();
    let mut refused: Vec<(ExportFormat, String, Refusal)> = Vec::new();
    let mut updates = Vec::new();
    for format in &config.export.formats {
        let out = if format.is_conversion() {
            let adjustments = if closed { adjust::plan(*format, &ledger, &by_id) } else { Vec::new() };
            let news = new_conversions(config, *format, &rows, &ledger, closed);
            formats::write(*format, &news, &adjustments, &settings)?
        } else {
            crm::write(*format, &rows, config)?
        };
        refused.extend(out.refused.iter().map(|(id, r)| (*format, id.clone(), *r)));
        reports.push(out.report(*format, ledger.of(*format).count()));
        files.extend(out.files);
        updates.extend(out.ledger);
        watch.lap(format.name());
    }
    for e in updates {
        ledger.put(e);
    }
    let refused_df = df!(
        "format" => refused.iter().map(|r| r.0.name()).collect::<Vec<_>>(),
        "lead_id" => refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "reason" => refused.iter().map(|r| r.2.name()).collect::<Vec<_>>(),
    )?;
    let scored = rows.iter().filter(|r| r.scored);
    let report = ExportReport {
        run_date: ctx.run_date,
        scored: scored.clone().count() as u64,
        qualified: scored.filter(|r| r.qualified).count() as u64,
        adjustment_window_days: config.export.adjustment_window_days,
        ledger_from: inputs.ledger.as_ref().filter(|_| closed).map(|(d, _)| *d),
        formats: reports,
    };
    for f in &report.formats {
        for r in &f.refused {
            tracing::warn!(format = %f.format, reason = r.reason.name(), leads = r.leads, "export refused leads");
        }
    }
    let ledger = ledger.to_frame()?;
    watch.lap("ledger");
    Ok(ExportOutputs { files, refused: refused_df, ledger, report, timings: watch.into_timings() })
}

/// Reads the inputs, writes the export files, `refused.parquet`, `report.json` and the manifest.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(ExportReport, Manifest)> {
    let read = |stage: &mut StageRun| -> Result<_> {
        // The exports tell the platforms of leads created from the first exported day on (the
        // scored ones, the ledger's, the late conversions): only those leads and labels are read.
        let from = config.first_exported_day(ctx.run_date).start_micros(config.project.timezone);
        Ok(ExportInputs {
            scores: stage.table(&artifact::SCORES)?,
            values: stage.table(&artifact::VALUES)?,
            leads: stage.table_where(&artifact::LEADS, frame::at_or_after(leads::CREATED_AT, from))?,
            identities: stage.table(&artifact::IDENTITIES)?,
            labels: stage.table_where(&artifact::LABELS, frame::at_or_after(la::CREATED_AT, from))?,
            ledger: stage.previous_table(&artifact::LEDGER)?,
        })
    };
    StageRun::execute((Stage::Export, "export"), layout, ctx, read, |inputs| run(config, &inputs, ctx))
}

impl Outputs for ExportOutputs {
    type Report = ExportReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<ExportReport> {
        for (name, bytes, rows) in &self.files {
            match rows {
                Some(rows) => w.write_table_bytes(name, bytes, *rows)?,
                None => w.write_bytes(name, bytes)?,
            }
        }
        w.write_parquet(files::REFUSED, &mut self.refused)?;
        w.write_table(&artifact::LEDGER, &mut self.ledger)?;
        Ok(self.report)
    }
    fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }
}
