//! `leadscore-value`: predicted value within the conversion window.
//!
//! [`run`] is responsible for the value of every lead qualify scored: predicted value =
//! calibrated probability (from `scores.parquet`) x E[value | converted, features] from the
//! champion's value model, with a 10th-90th percentile interval of the conditional value, in the
//! project currency. The features are those qualify derived for the same leads with the same
//! model (`scored_features.parquet`), never derived again. It reads qualify's `scores.parquet`
//! and `scored_features.parquet` and the model that scored them from the registry; it writes
//! `values.parquet` and `report.json`.

mod error;
mod report;

use leadscore_core::layout::{Manifest, Partition, StageWriter};
use leadscore_core::schema::{leads, scores, values as v};
use leadscore_core::{Config, Outputs, RunContext, RunLayout, Stage, StageRun};
use leadscore_core::{artifact, frame};
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
    /// qualify's derived features of the scored leads, in the order of the scores.
    pub features: DataFrame,
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct ValueOutputs {
    /// `values.parquet`.
    pub values: DataFrame,
    /// The report.
    pub report: ValueStageReport,
}

/// The model's value model.
fn value_model(model: &LoadedModel) -> Result<&leadscore_model::value::ValueModel> {
    model.artifact.value.as_ref().ok_or_else(|| {
        ValueError::Model(ModelError::Invalid(format!(
            "model {} has no value model (it was trained before value models existed): run `leadscore train`",
            model.artifact.model_id
        )))
    })
}

/// The report of the leads' `predicted` values and their `segment`s (a run's, or the merge of
/// its parts').
fn report_of(
    config: &Config,
    ctx: &RunContext,
    model: &LoadedModel,
    predicted: &[f64],
    segment: &[&str],
) -> Result<ValueStageReport> {
    let method = value_model(model)?.method();
    Ok(report::build(ctx, model, method, &config.project.currency, predicted, segment))
}

/// Values the scored leads with `model` (the model that scored them).
pub fn run(
    config: &Config,
    inputs: &ValueInputs,
    ctx: &leadscore_core::RunContext,
    model: &LoadedModel,
) -> Result<ValueOutputs> {
    let value_model = value_model(model)?;
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
    let ids = inputs.features.column(leads::LEAD_ID)?.str()?;
    if inputs.features.height() != scored_ids.height()
        || !ids.equal_missing(scored_ids.column(scores::LEAD_ID)?.str()?).all()
    {
        return Err(ValueError::FeaturesMismatch { scores: scored_ids.height(), features: inputs.features.height() });
    }
    let design = model.spec.transform(&inputs.features, Encoding::Trees)?;
    let probability: Vec<f64> = scored_ids
        .column(scores::PROBABILITY)?
        .f64()?
        .iter()
        .map(|p| p.ok_or(ValueError::MissingScore { column: scores::PROBABILITY }))
        .collect::<Result<_>>()?;
    let segment: Vec<&str> = scored_ids
        .column(scores::SEGMENT)?
        .str()?
        .iter()
        .map(|s| s.ok_or(ValueError::MissingScore { column: scores::SEGMENT }))
        .collect::<Result<_>>()?;
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

    let n = scored_ids.height();
    let mut out = scored_ids.select([scores::LEAD_ID, scores::CREATED_AT])?;
    out.with_column(Column::new(v::MODEL_ID.into(), vec![model.artifact.model_id.as_str(); n]))?;
    out.with_column(Column::new(v::PROBABILITY.into(), &probability))?;
    out.with_column(Column::new(v::CONDITIONAL_VALUE.into(), cond.iter().map(|c| c.mean).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::PREDICTED_VALUE.into(), &predicted))?;
    out.with_column(Column::new(v::VALUE_P10.into(), cond.iter().map(|c| c.p10).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::VALUE_P90.into(), cond.iter().map(|c| c.p90).collect::<Vec<_>>()))?;
    out.with_column(Column::new(v::CURRENCY.into(), vec![config.project.currency.as_str(); n]))?;
    let report = report_of(config, ctx, model, &predicted, &segment)?;
    // One chunk, as a merge of parts writes it: the same table gives the same bytes.
    out.rechunk_mut_par();
    Ok(ValueOutputs { values: out, report })
}

/// Merges the `parts` parts of the run date's values (`leadscore merge`, after qualify's parts
/// are merged): every part's values in the order of the merged scores, with the report of them
/// all: the same table, byte for byte, and the same report as `value` on every lead.
pub fn merge(
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
    parts: u32,
) -> Result<(ValueStageReport, Manifest)> {
    StageRun::merge((Stage::Value, parts), layout, ctx, |stage| {
        let values =
            frame::sorted_by_time(frame::stacked(stage.parts(&artifact::VALUES)?)?, v::CREATED_AT, v::LEAD_ID)?;
        // Read (and recorded) as an unpartitioned run reads them.
        let scores = stage.table(&artifact::SCORES)?;
        stage.table(&artifact::SCORED_FEATURES)?;
        let ids = values.column(v::LEAD_ID)?.str()?;
        if !ids.equal_missing(scores.column(scores::LEAD_ID)?.str()?).all() || values.height() != scores.height() {
            return Err(ValueError::Core(leadscore_core::CoreError::PartsDisagree {
                stage: Stage::Value.name(),
                part: Partition::new(1, parts).unwrap_or(Partition { index: 1, count: 1 }),
                run_date: ctx.run_date,
                why: format!(
                    "the parts value {} leads, not the {} leads of qualify's merged scores (merge qualify's parts \
                     first, from the parts value read)",
                    values.height(),
                    scores.height()
                ),
            }));
        }
        let model_id = values.column(v::MODEL_ID)?.str()?.iter().flatten().next().ok_or(ValueError::NoScores)?;
        let model = registry::load_model(&config.models_dir(), model_id)?;
        stage.registry_file(&artifact::CHAMPION, &model.dir.join(registry::MODEL_FILE))?;
        let predicted: Vec<f64> =
            values.column(v::PREDICTED_VALUE)?.f64()?.iter().map(Option::unwrap_or_default).collect();
        let segment: Vec<&str> = scores.column(scores::SEGMENT)?.str()?.iter().map(Option::unwrap_or_default).collect();
        let report = report_of(config, ctx, &model, &predicted, &segment)?;
        Ok(ValueOutputs { values, report })
    })
}

/// Loads the model that scored the day (named in `scores.parquet`), values the leads and writes
/// `values.parquet`, `report.json` and the manifest.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(ValueStageReport, Manifest)> {
    let read = |stage: &mut StageRun| -> Result<_> {
        let (scores, features) = (stage.table(&artifact::SCORES)?, stage.table(&artifact::SCORED_FEATURES)?);
        let model_id = match scores.column(scores::MODEL_ID)?.str()?.iter().flatten().next() {
            Some(id) => id.to_string(),
            // A part none of whose leads was created that day values nothing, with the champion.
            None if ctx.partition.is_some() => {
                registry::read_champion(&config.models_dir())?.ok_or(ValueError::NoScores)?.model_id
            }
            None => return Err(ValueError::NoScores),
        };
        let model = registry::load_model(&config.models_dir(), &model_id)?;
        // The model is an input: the values depend on its bytes.
        stage.registry_file(&artifact::CHAMPION, &model.dir.join(registry::MODEL_FILE))?;
        Ok((ValueInputs { scores, features }, model))
    };
    StageRun::execute((Stage::Value, "value"), layout, ctx, read, |(inputs, model)| run(config, &inputs, ctx, &model))
}

impl Outputs for ValueOutputs {
    type Report = ValueStageReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<ValueStageReport> {
        w.write_table(&artifact::VALUES, &mut self.values)?;
        Ok(self.report)
    }
}
