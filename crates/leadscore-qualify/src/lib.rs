//! `leadscore-qualify`: the daily scores.
//!
//! [`run`] is responsible for scoring the leads of the run date with the champion model:
//!
//! 1. it selects the leads created in `[D - 1 - rescore_days, D)` (project time zone);
//! 2. it derives their features with the champion's own recipe (events strictly before each
//!    lead's creation) and encodes them with the champion's fitted spec, so scoring sees exactly
//!    the columns training saw;
//! 3. it computes the calibrated probability, the score (0-100: the share of the champion's
//!    validation leads with a lower probability, so it is monotone in the probability), the
//!    segment, the qualified flag of the configured `[qualify] policy`, and the three strongest
//!    signed contributions as readable reasons;
//! 4. it compares today's qualified share with the share validation promised and flags a drift.
//!
//! No leads for the date is not an error but "nothing to do" (exit 99, Airflow's skip). It reads
//! ingest's `leads.parquet` and `events.parquet` and the champion from the model registry, and
//! writes `scores.parquet`, the scored leads' derived features (`scored_features.parquet`, which
//! value reads instead of deriving them again) and `report.json`.

mod error;
mod reasons;
mod report;

use std::time::Instant;

use leadscore_core::layout::{Manifest, Partition, StageWriter};
use leadscore_core::schema::{events as ev, leads, scores as s};
use leadscore_core::{Config, Outputs, RunContext, RunDate, RunLayout, Stage, StageRun};
use leadscore_core::{artifact, frame};
use leadscore_model::registry::{self, LoadedModel, PolicyThreshold};
use polars::prelude::*;

pub use error::{QualifyError, Result};
pub use report::QualifyReport;

/// Inputs of the stage.
#[derive(Debug, Clone)]
pub struct QualifyInputs {
    /// Canonical leads (ingest).
    pub leads: DataFrame,
    /// Canonical events (ingest; empty when none are configured).
    pub events: DataFrame,
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct QualifyOutputs {
    /// `scores.parquet`.
    pub scores: DataFrame,
    /// `scored_features.parquet`: the scored leads' derived features, in the order of the scores.
    pub features: DataFrame,
    /// The report.
    pub report: QualifyReport,
}

/// The leads to score: created in `[D - 1 - rescore_days, D)`, oldest first.
fn leads_to_score(config: &Config, leads_df: &DataFrame, ctx: &RunContext) -> Result<(DataFrame, RunDate)> {
    let tz = config.project.timezone;
    let to = ctx.run_date.start_micros(tz);
    let from_date = config.qualify.first_scored_day(ctx.run_date);
    let from = from_date.start_micros(tz);
    let at = col(leads::CREATED_AT).dt().timestamp(TimeUnit::Microseconds);
    let df = leads_df.clone().lazy().filter(at.clone().gt_eq(lit(from)).and(at.lt(lit(to)))).collect()?;
    // Ingest writes the leads in this order already; sorted only when they are not.
    Ok((frame::sorted_by_time(df, leads::CREATED_AT, leads::LEAD_ID)?, from_date))
}

/// The leads of `part`, when the run is on one part of the day's leads (see
/// [`leadscore_core::layout::Partition`]).
fn leads_of_part(todays: DataFrame, part: Option<Partition>) -> Result<DataFrame> {
    let Some(part) = part else { return Ok(todays) };
    let mask: BooleanChunked =
        todays.column(leads::LEAD_ID)?.str()?.iter().map(|id| Some(part.contains(id.unwrap_or_default()))).collect();
    Ok(frame::rows_where(&todays, &mask)?)
}

/// The model's probability threshold for the configured `[qualify] policy`.
fn policy_threshold<'m>(config: &Config, model: &'m LoadedModel) -> Result<&'m PolicyThreshold> {
    let policy = config.qualify.policy;
    model.thresholds.policy(policy).ok_or_else(|| {
        QualifyError::Model(leadscore_model::ModelError::Invalid(format!(
            "model {} has no threshold for policy `{}`",
            model.artifact.model_id,
            policy.name()
        )))
    })
}

/// Scores the leads of the run date with `model` (those of the run's part, on one part).
pub fn run(config: &Config, inputs: &QualifyInputs, ctx: &RunContext, model: &LoadedModel) -> Result<QualifyOutputs> {
    let (todays, from) = leads_to_score(config, &inputs.leads, ctx)?;
    if todays.height() == 0 {
        return Err(QualifyError::NoLeads { from, to: ctx.run_date });
    }
    // A part with no lead of the day is not "nothing to do": its empty tables join the merge.
    let todays = leads_of_part(todays, ctx.partition)?;
    let events = (inputs.events.height() > 0).then_some(&inputs.events);
    let t0 = Instant::now();
    let (derived, design) = model.encode(&todays, events, model.artifact.encoding())?;
    tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "derived and encoded");
    let (z, contributions) = model.artifact.classifier.logits_and_contributions(&design)?;
    tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "predicted with contributions");
    let probability = model.calibrated(&z)?;
    let t = &model.thresholds;
    let threshold = policy_threshold(config, model)?;
    let score: Vec<f64> = probability.iter().map(|p| (t.score(*p) * 10.0).round() / 10.0).collect();
    let segment: Vec<&str> = probability.iter().map(|p| t.segment(*p)).collect();
    let qualified: Vec<bool> = probability.iter().map(|p| *p >= threshold.threshold).collect();
    let reasons = reasons::top_reasons(&contributions, &design, &model.spec, &derived, 3);
    tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "reasons");

    let n = todays.height();
    let mut out = todays.select([leads::LEAD_ID, leads::USER_ID, leads::CLIENT_ID, leads::CREATED_AT])?;
    out.with_column(Column::new(s::MODEL_ID.into(), vec![model.artifact.model_id.as_str(); n]))?;
    out.with_column(Column::new(s::PROBABILITY.into(), &probability))?;
    out.with_column(Column::new(s::SCORE.into(), &score))?;
    out.with_column(Column::new(s::SEGMENT.into(), &segment))?;
    out.with_column(Column::new(s::QUALIFIED.into(), &qualified))?;
    for (k, name) in s::REASONS.iter().enumerate() {
        let col: Vec<Option<&str>> = reasons.iter().map(|r| r.get(k).map(String::as_str)).collect();
        out.with_column(Column::new((*name).into(), col))?;
    }
    let report = report_of(config, ctx, model, &out)?;
    debug_assert_eq!(from, report.scored_from);
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    // One chunk each, as a merge of parts writes them: the same tables give the same bytes.
    out.rechunk_mut_par();
    let mut features = derived;
    features.rechunk_mut_par();
    Ok(QualifyOutputs { scores: out, features, report })
}

/// The report of the scores `scores` (a run's, or the merge of its parts').
fn report_of(config: &Config, ctx: &RunContext, model: &LoadedModel, scores: &DataFrame) -> Result<QualifyReport> {
    let probability: Vec<f64> = scores.column(s::PROBABILITY)?.f64()?.iter().map(Option::unwrap_or_default).collect();
    let qualified: Vec<bool> = scores.column(s::QUALIFIED)?.bool()?.iter().map(Option::unwrap_or_default).collect();
    let segment: Vec<&str> = scores.column(s::SEGMENT)?.str()?.iter().map(Option::unwrap_or_default).collect();
    let from = config.qualify.first_scored_day(ctx.run_date);
    let threshold = policy_threshold(config, model)?;
    Ok(report::build(config, ctx, model, threshold, &probability, &qualified, &segment, from))
}

/// Merges the `parts` parts of the run date's scores (`leadscore merge`): the scores and scored
/// features of every part, in the order an unpartitioned run writes them (by creation time,
/// then lead id), with the report of them all: the same tables, byte for byte, and the same
/// report as `qualify` on every lead.
pub fn merge(config: &Config, ctx: &RunContext, layout: &RunLayout, parts: u32) -> Result<(QualifyReport, Manifest)> {
    StageRun::merge((Stage::Qualify, parts), layout, ctx, |stage| {
        let scores = frame::stacked(stage.parts(&artifact::SCORES)?)?;
        let features = frame::stacked(stage.parts(&artifact::SCORED_FEATURES)?)?;
        if features.height() != scores.height() {
            return Err(QualifyError::Internal(format!(
                "the parts hold {} scores but {} rows of scored features",
                scores.height(),
                features.height()
            )));
        }
        let (scores, features) = match frame::time_order(&scores, s::CREATED_AT, s::LEAD_ID)? {
            None => (scores, features),
            Some(order) => (scores.take(&order)?, features.take(&order)?),
        };
        let (models, ids) = (scores.column(s::MODEL_ID)?.str()?, scores.column(s::LEAD_ID)?.str()?);
        let Some(model_id) = models.iter().flatten().next() else {
            return Err(QualifyError::NoLeads {
                from: config.qualify.first_scored_day(ctx.run_date),
                to: ctx.run_date,
            });
        };
        if let Some((other, id)) = models.iter().zip(ids.iter()).find(|(m, _)| *m != Some(model_id)) {
            let index = Partition::of(id.unwrap_or_default(), parts);
            return Err(QualifyError::Core(leadscore_core::CoreError::PartsDisagree {
                stage: Stage::Qualify.name(),
                part: Partition::new(index, parts).unwrap_or(Partition { index: 1, count: 1 }),
                run_date: ctx.run_date,
                why: format!(
                    "its leads were scored by model {} and others by {model_id} (a new champion between the parts)",
                    other.unwrap_or("(none)")
                ),
            }));
        }
        let model = registry::load_model(&config.models_dir(), model_id)?;
        let report = report_of(config, ctx, &model, &scores)?;
        Ok(QualifyOutputs { scores, features, report })
    })
}

/// Loads the champion named by `<models_dir>/champion.json`.
pub fn load_champion(config: &Config) -> Result<LoadedModel> {
    let models = config.models_dir();
    let champion =
        registry::read_champion(&models)?.ok_or_else(|| QualifyError::NoChampion { models_dir: models.clone() })?;
    Ok(registry::load_model(&models, &champion.model_id)?)
}

/// Loads the champion, scores the run date's leads and writes `scores.parquet`, `report.json`
/// and the manifest.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(QualifyReport, Manifest)> {
    let read = |stage: &mut StageRun| -> Result<_> {
        let model = load_champion(config)?;
        // Only the leads of the scoring range are read (ingest writes them in time order, so
        // the row groups of earlier days are skipped); `run` keeps the range's leads as before.
        let from = config.qualify.first_scored_day(ctx.run_date).start_micros(config.project.timezone);
        let leads = stage.table_where(&artifact::LEADS, frame::at_or_after(leads::CREATED_AT, from))?;
        // Features use the events of the scored leads' users only: the others are not kept.
        // (Those of every lead of the range, in a part too: every part then reads the same rows,
        // as the merged manifest records them.)
        let users = leads.column(leads::USER_ID)?.as_materialized_series().unique()?.implode()?.into_series();
        let events =
            stage.table_where(&artifact::EVENTS, frame::Rows::Where(col(ev::USER_ID).is_in(lit(users), false)))?;
        let inputs = QualifyInputs { leads, events };
        // The champion pointer is an input: a new champion makes the day's scores stale.
        stage.registry_file(&artifact::CHAMPION, &config.models_dir().join(registry::CHAMPION_FILE))?;
        stage.registry_file(&artifact::CHAMPION, &model.dir.join(registry::MODEL_FILE))?;
        Ok((inputs, model))
    };
    StageRun::execute((Stage::Qualify, "score"), layout, ctx, read, |(inputs, model)| run(config, &inputs, ctx, &model))
}

impl Outputs for QualifyOutputs {
    type Report = QualifyReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<QualifyReport> {
        w.write_table(&artifact::SCORES, &mut self.scores)?;
        w.write_table(&artifact::SCORED_FEATURES, &mut self.features)?;
        Ok(self.report)
    }
}
