//! `leadscore-export`: the day's qualified leads in the files ad platforms accept.
//!
//! [`run`] is responsible for turning qualify's scores and value's predicted values into upload
//! files (no network calls), under the run's `export/` folder:
//!
//! - `qualified_leads.parquet` / `.csv`: the ad-analytics custom-conversion shape (`id`,
//!   `client_id`, `created`, `value`, `currency`, `is_qualified`, `params`, `user_id`);
//! - `google_ads_click_conversions.csv`: Google Ads offline click conversions;
//! - `google_ads_enhanced_conversions.jsonl`: Google Ads enhanced conversions for leads;
//! - `meta_capi_0001.json`, …: Meta Conversions API (CRM) batches of at most 1000 events;
//! - `refused.parquet`: every lead an export refused, with the reason; `report.json`.
//!
//! Guarantees: platform rules are checked before writing and every refused lead is counted with
//! its id (never silently dropped); raw e-mails, phones and names never reach this stage (ingest
//! keeps only the SHA-256 digests of their normalised forms, which are what the files send); the
//! same inputs give
//! byte-identical files, and ids are deterministic so that platforms de-duplicate re-uploads.
//! It reads qualify's `scores.parquet`, value's `values.parquet` and ingest's `leads.parquet` and
//! `identities.parquet`.

mod error;
mod formats;
mod report;

use leadscore_core::artifact;
use leadscore_core::config::{ConsentStatus, ExportFormat};
use leadscore_core::identity::Digests;
use leadscore_core::layout::Manifest;
use leadscore_core::schema::{files, identities as id, leads, scores, values as v};
use leadscore_core::{Config, RunContext, RunLayout, Stage, StageRun};
use polars::prelude::*;

pub use error::{ExportError, Result};
pub use formats::META_BATCH;
pub use report::{ExportReport, FormatReport, Refusal, RefusedCount};

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
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct ExportOutputs {
    /// Upload files: name, bytes and, for a table, its rows; in a fixed order.
    pub files: Vec<(String, Vec<u8>, Option<u64>)>,
    /// `refused.parquet`: `format`, `lead_id`, `reason`.
    pub refused: DataFrame,
    /// The report.
    pub report: ExportReport,
}

/// One scored lead with what the exports need.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lead {
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
const AD_USER_DATA: &str = "__ad_user_data";
const AD_PERSONALIZATION: &str = "__ad_personalization";

fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|s| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)).collect())
}

/// The scored leads joined with their values, lead fields, consent attributes and digests,
/// oldest first.
fn joined(config: &Config, inputs: &ExportInputs) -> Result<DataFrame> {
    // Each lead's consent, from the attributes the config names (text: `granted`, `yes`, …).
    let consent = &config.export.google_consent;
    let attribute = |name: &Option<String>, alias: &str| match name {
        Some(a) => col(a.as_str()).cast(DataType::String).alias(alias),
        None => lit(NULL).cast(DataType::String).alias(alias),
    };
    let lead_cols = [
        col(leads::LEAD_ID),
        lit(true).alias(KNOWN),
        col(leads::GCLID),
        col(leads::FBCLID),
        col(leads::META_LEAD_ID),
        attribute(&consent.ad_user_data_attribute, AD_USER_DATA),
        attribute(&consent.ad_personalization_attribute, AD_PERSONALIZATION),
    ];
    let mut digest_cols = vec![col(id::LEAD_ID), lit(true).alias(HASHED)];
    digest_cols.extend(id::DIGESTS.map(col));
    Ok(inputs
        .scores
        .clone()
        .lazy()
        .select([
            col(scores::LEAD_ID),
            col(scores::USER_ID),
            col(scores::CLIENT_ID),
            col(scores::CREATED_AT),
            col(scores::MODEL_ID),
            col(scores::SCORE).cast(DataType::Float64),
            col(scores::SEGMENT),
            col(scores::QUALIFIED),
        ])
        .join(
            inputs.values.clone().lazy().select([col(v::LEAD_ID), col(v::PREDICTED_VALUE), col(v::CURRENCY)]),
            [col(scores::LEAD_ID)],
            [col(v::LEAD_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            inputs.leads.clone().lazy().select(lead_cols),
            [col(scores::LEAD_ID)],
            [col(leads::LEAD_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            inputs.identities.clone().lazy().select(digest_cols),
            [col(scores::LEAD_ID)],
            [col(id::LEAD_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .sort([scores::CREATED_AT, scores::LEAD_ID], SortMultipleOptions::default())
        .collect()?)
}

/// The scored leads with what the exports need, oldest first.
fn gather(config: &Config, inputs: &ExportInputs) -> Result<Vec<Lead>> {
    let df = joined(config, inputs)?;
    let ids = strings(&df, scores::LEAD_ID)?;
    for (flag, table) in [(KNOWN, files::LEADS), (HASHED, files::IDENTITIES)] {
        let known = df.column(flag)?.bool()?.clone();
        if let Some(i) = known.iter().position(|k| k.is_none()) {
            return Err(ExportError::UnknownLeads { count: known.null_count(), table, first_row: i + 1 });
        }
    }
    let created = df.column(scores::CREATED_AT)?.datetime()?.physical().clone();
    let score = df.column(scores::SCORE)?.f64()?.clone();
    let qualified = df.column(scores::QUALIFIED)?.bool()?.clone();
    let value = df.column(v::PREDICTED_VALUE)?.f64()?.clone();
    let text = [
        scores::USER_ID,
        scores::CLIENT_ID,
        scores::MODEL_ID,
        scores::SEGMENT,
        v::CURRENCY,
        leads::GCLID,
        leads::FBCLID,
        leads::META_LEAD_ID,
        AD_USER_DATA,
        AD_PERSONALIZATION,
    ];
    // Read by name: each column's values, taken one lead at a time.
    let mut cols = text
        .into_iter()
        .chain(id::DIGESTS)
        .map(|c| strings(&df, c).map(|v| (c, v.into_iter())))
        .collect::<Result<std::collections::HashMap<_, _>>>()?;
    let mut next = |name: &str| cols.get_mut(name).and_then(Iterator::next).flatten();
    let mut out = Vec::with_capacity(df.height());
    for (i, lead_id) in ids.into_iter().enumerate() {
        out.push(Lead {
            lead_id: lead_id.unwrap_or_default(),
            user_id: next(scores::USER_ID),
            client_id: next(scores::CLIENT_ID),
            model_id: next(scores::MODEL_ID).unwrap_or_default(),
            segment: next(scores::SEGMENT).unwrap_or_default(),
            currency: next(v::CURRENCY),
            gclid: next(leads::GCLID),
            fbclid: next(leads::FBCLID),
            meta_lead_id: next(leads::META_LEAD_ID),
            ad_user_data: next(AD_USER_DATA).as_deref().and_then(ConsentStatus::parse),
            ad_personalization: next(AD_PERSONALIZATION).as_deref().and_then(ConsentStatus::parse),
            digests: Digests(std::array::from_fn(|k| next(id::DIGESTS[k]))),
            created_at: created.get(i).unwrap_or_default(),
            score: score.get(i).unwrap_or_default(),
            qualified: qualified.get(i).unwrap_or(false),
            value: value.get(i),
        });
    }
    Ok(out)
}

/// Exports the scored leads of `ctx`'s run date.
pub fn run(config: &Config, inputs: &ExportInputs, ctx: &RunContext) -> Result<ExportOutputs> {
    if inputs.scores.height() == 0 {
        return Err(ExportError::NoScores);
    }
    let rows = gather(config, inputs)?;
    let settings = formats::Settings::new(config, ctx);
    let mut files = Vec::new();
    let mut reports = Vec::new();
    let mut refused: Vec<(ExportFormat, String, Refusal)> = Vec::new();
    for format in &config.export.formats {
        let out = formats::write(*format, &rows, &settings)?;
        refused.extend(out.refused.iter().map(|(id, r)| (*format, id.clone(), *r)));
        reports.push(out.report(*format));
        files.extend(out.files);
    }
    let refused_df = df!(
        "format" => refused.iter().map(|r| r.0.name()).collect::<Vec<_>>(),
        "lead_id" => refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "reason" => refused.iter().map(|r| r.2.name()).collect::<Vec<_>>(),
    )?;
    let report = ExportReport {
        run_date: ctx.run_date,
        scored: rows.len() as u64,
        qualified: rows.iter().filter(|r| r.qualified).count() as u64,
        formats: reports,
    };
    for f in &report.formats {
        for r in &f.refused {
            tracing::warn!(format = %f.format, reason = r.reason.name(), leads = r.leads, "export refused leads");
        }
    }
    Ok(ExportOutputs { files, refused: refused_df, report })
}

/// Reads the inputs, writes the export files, `refused.parquet`, `report.json` and the manifest.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(ExportReport, Manifest)> {
    let mut stage = StageRun::start(Stage::Export, layout, ctx);
    let inputs = ExportInputs {
        scores: stage.table(&artifact::SCORES)?,
        values: stage.table(&artifact::VALUES)?,
        leads: stage.table(&artifact::LEADS)?,
        identities: stage.table(&artifact::IDENTITIES)?,
    };
    stage.lap("read");
    let mut out = run(config, &inputs, ctx)?;
    stage.lap("export");
    let manifest = stage.finish(|w| {
        for (name, bytes, rows) in &out.files {
            match rows {
                Some(rows) => w.write_table_bytes(name, bytes, *rows)?,
                None => w.write_bytes(name, bytes)?,
            }
        }
        w.write_parquet(files::REFUSED, &mut out.refused)?;
        w.write_json(files::REPORT, &out.report)
    })?;
    Ok((out.report, manifest))
}
