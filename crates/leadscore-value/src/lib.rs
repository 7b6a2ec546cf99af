//! `leadscore-value`: predicted value within the conversion window.
//!
//! [`run`] is responsible for the value of every lead qualify scored: predicted value =
//! calibrated probability (from `scores.parquet`) x E[value | converted, features] from the
//! champion's value model, with a 10th-90th percentile interval of the conditional value, in the
//! project currency. The features are derived again with the champion's recipe, exactly as
//! qualify did. It reads qualify's `scores.parquet`, ingest's `leads.parquet` and
//! `events.parquet`, and the champion from the registry; it writes `values.parquet` and
//! `report.json`.

mod error;
mod report;

use std::time::Instant;

use leadscore_core::layout::{InputFile, Manifest, Stopwatch};
use leadscore_core::schema::{files, leads, scores, values as v};
use leadscore_core::{Config, RunContext, RunLayout, Stage};
use leadscore_model::registry::{self, LoadedModel};
use leadscore_model::value::Conditional;
use leadscore_model::{Encoding, ModelError};
use polars::prelude::*;

pub use error::{Result, ValueError};
pub use report::{SegmentValue, ValueStageReport};

/// Inputs of the stage.
#[derive(Debug, Clone)]
pub struct ValueInputs {
    /// qualify's scores.
    pub scores: DataFrame,
    /// Canonical leads (ingest).
    pub leads: DataFrame,
    /// Canonical events (ingest; may be empty).
    pub events: DataFrame,
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct ValueOutputs {
    /// `values.parquet`.
    pub values: DataFrame,
    /// The report.
    pub report: ValueStageReport,
}

/// Values the scored leads with `model` (the model that scored them).
pub fn run(
    config: &Config,
    inputs: &ValueInputs,
    ctx: &leadscore_core::RunContext,
    model: &LoadedModel,
) -> Result<ValueOutputs> {
    let value_model = model.artifact.value.as_ref().ok_or_else(|| {
        ValueError::Model(ModelError::Invalid(format!(
            "model {} has no value model (it was trained before value models existed): run `leadscore train`",
            model.artifact.model_id
        )))
    })?;
    let scored_ids = inputs.scores.select([
        scores::LEAD_ID,
        scores::CREATED_AT,
        scores::MODEL_ID,
        scores::PROBABILITY,
        scores::SEGMENT,
    ])?;
    if let Some(other) =
        scored_ids.column(scores::MODEL_ID)?.str()?.iter().flatten().find(|m| *m != model.artifact.model_id)
    {
        return Err(ValueError::ModelMismatch {
            scored_by: other.to_string(),
            champion: model.artifact.model_id.clone(),
        });
    }
    let todays = scored_leads(&scored_ids, &inputs.leads)?;
    let missing = todays.column(leads::CREATED_AT)?.null_count();
    if missing > 0 {
        return Err(ValueError::UnknownLeads { count: missing });
    }
    let events = (inputs.events.height() > 0).then_some(&inputs.events);
    let (_, design) = model.encode(&todays, events, Encoding::Trees)?;
    let probability: Vec<f64> =
        scored_ids.column(scores::PROBABILITY)?.f64()?.iter().map(|p| p.unwrap_or(0.0)).collect();
    let segment: Vec<&str> = scored_ids.column(scores::SEGMENT)?.str()?.iter().map(|s| s.unwrap_or("low")).collect();
    let cond: Vec<Conditional> = value_model.conditional(&design, &segment)?;
    tracing::debug!("predicted the conditional values");
    let predicted: Vec<f64> = probability.iter().zip(&cond).map(|(p, c)| p * c.mean).collect();
    let bad =
        cond.iter().zip(&predicted).filter(|(c, p)| ![c.mean, c.p10, c.p90, **p].iter().all(|v| v.is_finite())).count();
    if bad > 0 {
        return Err(ValueError::Model(ModelError::Invalid(format!(
            "{}: field `value` gives values that are not finite numbers for {bad} of {} leads; retrain with \
             `leadscore train`",
            model.dir.join(leadscore_model::registry::MODEL_FILE).display(),
            cond.len()
        ))));
    }

    let n = todays.height();
    let mut out = todays.select([leads::LEAD_ID, leads::CREATED_AT])?;
    out.with_column(Column::new(v::MODEL_ID.into(), vec![model.artifact.model_id.as_str(); n]))?;
    out.with_column(Column::new(v::PROBABILITY.into(), &probability))?;
    out.with_column(Column::new(v::CONDITIONAL_VALUE.into(), cond.iter().map(|c| c.mean).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::PREDICTED_VALUE.into(), &predicted))?;
    out.with_column(Column::new(v::VALUE_P10.into(), cond.iter().map(|c| c.p10).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::VALUE_P90.into(), cond.iter().map(|c| c.p90).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::CURRENCY.into(), vec![config.project.currency.as_str(); n]))?;
    let report = report::build(ctx, model, value_model.method(), &config.project.currency, &predicted, &segment);
    Ok(ValueOutputs { values: out, report })
}

/// The scored leads, in the order of the scores. Qualify scores every lead of a time range, and
/// both tables are ordered by `created_at`, then `lead_id`, so the scores are usually a run of
/// consecutive leads: then that slice is taken (after checking every id); otherwise the leads are
/// joined to the scores.
fn scored_leads(scored: &DataFrame, leads_df: &DataFrame) -> Result<DataFrame> {
    let n = scored.height();
    let created = leads_df.column(leads::CREATED_AT)?.datetime()?.physical().rechunk();
    // `get` panics past the end: an empty table has no first lead.
    let first = if n > 0 { scored.column(scores::CREATED_AT)?.datetime()?.physical().get(0) } else { None };
    if let (Ok(created), Some(first)) = (created.cont_slice(), first) {
        let start = created.partition_point(|t| *t < first);
        if start + n <= leads_df.height() {
            let run = leads_df.slice(start as i64, n);
            if run.column(leads::LEAD_ID)?.str()?.equal_missing(scored.column(scores::LEAD_ID)?.str()?).all() {
                return Ok(run);
            }
        }
    }
    Ok(scored
        .clone()
        .lazy()
        .select([col(scores::LEAD_ID)])
        .join(leads_df.clone().lazy(), [col(scores::LEAD_ID)], [col(leads::LEAD_ID)], JoinArgs::new(JoinType::Left))
        .collect()?)
}

/// Reads qualify's scores and ingest's leads and events for the run date.
pub fn read_inputs(layout: &RunLayout, ctx: &RunContext) -> Result<(ValueInputs, Vec<InputFile>)> {
    let (scores, a) = layout.read_output(ctx.run_date, Stage::Qualify, files::SCORES)?;
    let (leads, b) = layout.read_output(ctx.run_date, Stage::Ingest, files::LEADS)?;
    let (events, c) = layout.read_output(ctx.run_date, Stage::Ingest, files::EVENTS)?;
    Ok((ValueInputs { scores, leads, events }, vec![a, b, c]))
}

/// Loads the model that scored the day (named in `scores.parquet`), values the leads and writes
/// `values.parquet`, `report.json` and the manifest.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(ValueStageReport, Manifest)> {
    let started = Instant::now();
    let mut sw = Stopwatch::new();
    let (inputs, mut files_read) = read_inputs(layout, ctx)?;
    let model_id = inputs
        .scores
        .column(scores::MODEL_ID)?
        .str()?
        .iter()
        .flatten()
        .next()
        .map(str::to_string)
        .ok_or(ValueError::NoScores)?;
    let model = registry::load_model(&config.models_dir(), &model_id)?;
    files_read.push(InputFile::hash(&model.dir.join(registry::MODEL_FILE), None)?);
    sw.lap("read");
    let mut out = run(config, &inputs, ctx, &model)?;
    sw.lap("value");
    let mut w = layout.begin(ctx, Stage::Value)?;
    w.write_parquet(files::VALUES, &mut out.values)?;
    w.write_json(files::REPORT, &out.report)?;
    sw.lap("write");
    let manifest = w.commit(files_read, sw.into_timings(), started)?;
    Ok((out.report, manifest))
}
