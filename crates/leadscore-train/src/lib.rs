//! `leadscore-train`: models data scientists can trust.
//!
//! [`run`] is responsible for turning the features stage's training and validation leads into a
//! calibrated model with honest out-of-time figures:
//!
//! 1. the volume gate: fewer than `[labels] min_conversions` target conversions refuses to train
//!    (exit 4); short history or few conversions per month warn;
//! 2. a regularised logistic regression (argmin's L-BFGS on a one-pass loss, linear encoding) as the baseline and
//!    gradient-boosted trees (forust-ml, trees encoding, missing values native, learned from the
//!    older 85% of the training slice with early stopping on its newest 15%; refitted on all of
//!    it only with `[train] refit = false`);
//! 3. calibration of each on the validation slice, Platt, beta or isotonic by cross-fitted log loss
//!    ([`evaluate`]); the model with the lower validation log loss is chosen (AUC breaks ties;
//!    on small histories judged and calibrated on time-series folds too, [`refit`]), then
//!    refitted on every matured lead;
//! 4. metrics, reliability, deciles, segments and the threshold of every qualification policy on
//!    the validation slice; feature importance; a depth-3 decision tree as readable rules;
//! 5. the comparison with the current champion on the same validation leads.
//!
//! [`execute`] decides whether training is due (no champion, a champion older than
//! `[train] retrain_after_days`, or `--retrain`), writes the model folder to the registry
//! (`<models_dir>/<model-id>/`), moves `champion.json` when the new model is not worse than the
//! champion by more than `[train] champion_margin`, and writes the stage's `report.json`.

pub mod data;
pub mod definitions;
pub mod diagnose;
pub mod effects;
pub mod encoding;
mod error;
pub mod evaluate;
pub mod explain;
pub mod fit;
mod html;
pub mod logistic;
pub mod recency;
pub mod refit;
mod report;
pub mod tracking;
pub mod value;

use std::collections::BTreeMap;

use std::time::Instant;

use chrono::{DateTime, Datelike};
use leadscore_core::artifact::{self, AuditRow};
use leadscore_core::frame;
use leadscore_core::layout::{Manifest, StageWriter, Stopwatch, Timing};
use leadscore_core::schema::{conversions as cv, features as f, labels as la};
use leadscore_core::time::format_micros;
use leadscore_core::{Config, Outputs, RunContext, RunLayout, Stage, StageRun};
use leadscore_model::registry::{self, Champion, LoadedModel, Thresholds};
use leadscore_model::{
    Calibrator, Design, Encoding, FeatureSpec, FittedFeature, ModelArtifact, ModelKind, blend_logits, metrics,
};
use polars::prelude::*;
use serde::Serialize;

pub use error::{Result, TrainError};
pub use report::{
    BlendFit, Candidate, ChampionDecision, FoldCalibration, Importance, MonthVolume, OtherCandidate, Refit,
    SliceSummary, TrainReport, Trained, Unconstrained,
};

use crate::data::{Rows, Slice, TrainingSet};
use crate::evaluate::{calibrate, calibrate_blend, evaluate, headline, threshold_file};

/// Log-loss difference under which two candidates count as tied (AUC decides).
pub const TIE: f64 = 1e-4;

/// The tables train reads (the features stage's outputs).
#[derive(Debug, Clone)]
pub struct TrainInputs {
    /// `features.parquet`.
    pub features: DataFrame,
    /// `feature_spec.json`.
    pub spec: FeatureSpec,
    /// The features stage's leakage audit.
    pub audit: Vec<AuditRow>,
    /// The labels stage's `labels.parquet` and `conversions.parquet`, to check the chosen model
    /// against the config's other conversion definitions (`None`: not checked).
    pub outcomes: Option<(DataFrame, DataFrame)>,
}

/// A model ready for the registry.
#[derive(Debug)]
pub struct ModelBundle {
    /// `model.json`.
    pub artifact: ModelArtifact,
    /// `feature_spec.json`.
    pub spec: FeatureSpec,
    /// `thresholds.json`.
    pub thresholds: Thresholds,
    /// `report.html`.
    pub html: String,
    /// `validation.parquet`: each validation lead with its label and out-of-sample probability.
    pub validation: DataFrame,
}

/// What train produces.
#[derive(Debug)]
pub struct TrainOutputs {
    /// The report (trained part filled).
    pub report: TrainReport,
    /// The model.
    pub bundle: ModelBundle,
    /// Seconds spent in each inner step (prepare, logistic, boosted, explain, recency, value, …).
    pub timings: Vec<leadscore_core::layout::Timing>,
}

fn slice_summary(s: &Slice) -> SliceSummary {
    SliceSummary {
        leads: s.len() as u64,
        conversions: s.positives() as u64,
        from: s.created_us.first().map(|t| format_micros(*t)),
        to: s.created_us.last().map(|t| format_micros(*t)),
    }
}

fn months(set: &TrainingSet, tz: chrono_tz::Tz) -> Vec<MonthVolume> {
    let mut m: BTreeMap<String, (u64, u64, bool)> = BTreeMap::new();
    for (s, validation) in [(&set.train, false), (&set.validation, true)] {
        for (t, y) in s.created_us.iter().zip(&s.labels) {
            let Some(d) = DateTime::from_timestamp_micros(*t) else { continue };
            let d = d.with_timezone(&tz);
            let e = m.entry(format!("{:04}-{:02}", d.year(), d.month())).or_default();
            e.0 += 1;
            e.1 += u64::from(*y);
            e.2 |= validation;
        }
    }
    m.into_iter()
        .map(|(month, (leads, conversions, validation))| MonthVolume { month, leads, conversions, validation })
        .collect()
}

struct Fitted {
    candidate: Candidate,
    importance: Vec<(String, f64)>,
    classifier: leadscore_model::Classifier,
    calibrator: Calibrator,
    probabilities: Vec<f64>,
    /// The classifier's log-odds of the validation leads.
    logits: Vec<f64>,
}

/// A candidate on the validation leads: its log-odds and its importance per feature.
type Validated = (Vec<f64>, Vec<(String, f64)>);

/// How a candidate is scored on the validation leads.
type OnValidation<'a> = &'a dyn Fn(&leadscore_model::Classifier) -> Result<Validated>;

/// The log-odds and importance on the validation design `xv`.
fn on_design(xv: &Design) -> impl Fn(&leadscore_model::Classifier) -> Result<Validated> + '_ {
    move |c| Ok((c.logits(xv)?, fit::importance(c, xv)))
}

/// Validation leads one-hot encoded at a time for the logistic regression: a slice of this many
/// rows is 54 MB at 413 design columns, where the whole validation split (174k leads at 1M)
/// would be 0.57 GB.
const LINEAR_SLICE_ROWS: usize = 16_384;

/// The logistic regression's log-odds and importance on the validation leads, one-hot encoded a
/// slice of rows at a time: the same numbers as on the whole design (a row's log-odds and
/// contributions do not depend on the other rows).
fn logistic_on_validation(spec: &FeatureSpec, set: &TrainingSet, c: &leadscore_model::Classifier) -> Result<Validated> {
    let leadscore_model::Classifier::Logistic { coefficients, .. } = c else {
        return Err(TrainError::Internal("the linear design scores a logistic regression only".into()));
    };
    let n = set.validation.len();
    let mut z = Vec::with_capacity(n);
    let mut contributions: Vec<(String, Vec<f64>)> = Vec::new();
    // At least one slice, empty when there is no validation lead, so every feature is listed.
    for offset in (0..n.max(1)).step_by(LINEAR_SLICE_ROWS) {
        let rows: Vec<usize> = (offset..(offset + LINEAR_SLICE_ROWS).min(n)).collect();
        let x = spec.design(&[&set.validation.coded], Some(&rows), Encoding::Linear)?;
        z.extend(c.logits(&x)?);
        let part = fit::logistic_contributions(coefficients, &x);
        if contributions.is_empty() {
            contributions = part;
        } else {
            for ((_, all), (_, more)) in contributions.iter_mut().zip(part) {
                all.extend(more);
            }
        }
    }
    Ok((z, fit::spread_importance(contributions)))
}

/// What a candidate is fitted on: the logistic regression on the linear design of the rows it
/// picked (freed once fitted, before the validation leads' designs are built: 80 MB of one-hot
/// columns at 300k leads), the trees on the rows they sample.
enum Training<'a> {
    Logistic(Design),
    Boosted(&'a dyn Rows),
}

/// Whether the training slice is small enough (`[train] tune_below_leads`) for the settings to be
/// chosen out of time, the blend to be tried and the constraints' cost to be measured.
fn small_slice(config: &Config, set: &TrainingSet) -> bool {
    set.train.len() as u64 <= config.train.tune_below_leads
}

/// Fits one candidate on `x` (training rows, labels `y`) and calibrates it on its log-odds on the
/// validation leads.
fn fit_candidate(
    x: Training<'_>,
    y: &[bool],
    set: &TrainingSet,
    on_validation: OnValidation,
    config: &Config,
) -> Result<Fitted> {
    let started = Instant::now();
    let tune = small_slice(config, set);
    let (kind, classifier, rows, boosting, logistic) = match x {
        Training::Logistic(x) => {
            let (c, l) = fit::logistic(&x, y, &config.train, tune)?;
            (ModelKind::Logistic, c, x.rows, None, Some(l))
        }
        Training::Boosted(x) => {
            let (c, b, rows) = fit::boosted(x, y, &config.train, tune)?;
            (ModelKind::Boosted, c, rows, Some(b), None)
        }
    };
    let (z, importance) = on_validation(&classifier)?;
    let (calibrator, probabilities, calibration) = calibrate(&z, &set.validation.labels);
    tracing::info!(model = kind.label(), seconds = started.elapsed().as_secs_f64(), "fitted");
    Ok(Fitted {
        candidate: Candidate {
            kind,
            validation: headline(&probabilities, &set.validation.labels),
            calibration,
            seconds: started.elapsed().as_secs_f64(),
            rows: rows as u64,
            boosting,
            logistic,
            blend: None,
            folds: None,
        },
        importance,
        classifier,
        calibrator,
        probabilities,
        logits: z,
    })
}

/// Compares with the champion on the same validation leads.
fn champion_decision(
    config: &Config,
    champion: Option<(&Champion, std::result::Result<&LoadedModel, String>)>,
    validation: &Slice,
    new_log_loss: f64,
) -> ChampionDecision {
    let margin = config.train.champion_margin;
    let mut d = ChampionDecision {
        previous: None,
        previous_log_loss: None,
        previous_auc: None,
        new_log_loss,
        margin,
        promoted: true,
        reason: "promoted to champion: there was no champion".into(),
    };
    let Some((c, loaded)) = champion else { return d };
    d.previous = Some(c.model_id.clone());
    let loaded = match loaded {
        Ok(m) => m,
        Err(e) => {
            d.reason = format!("promoted to champion: the champion {} cannot be loaded ({e})", c.model_id);
            return d;
        }
    };
    let z = loaded
        .spec
        .transform(&validation.frame, loaded.artifact.encoding())
        .and_then(|x| loaded.artifact.validated_classifier().logits(&x));
    let z = match z {
        Ok(z) => z,
        Err(e) => {
            d.reason = format!(
                "promoted to champion: the champion {} cannot score this run's validation leads ({e})",
                c.model_id
            );
            return d;
        }
    };
    // Like the new model, the champion is judged by its log-odds calibrated by cross-fitting on
    // these leads; its own calibrator was fitted on a validation slice that overlaps them.
    let (_, p, _) = calibrate(&z, &validation.labels);
    let old = metrics::log_loss(&p, &validation.labels);
    d.previous_log_loss = Some(old);
    d.previous_auc = metrics::roc_auc(&p, &validation.labels);
    d.promoted = new_log_loss <= old + margin;
    d.reason = if d.promoted {
        format!(
            "promoted to champion: validation log loss {new_log_loss:.4} vs {old:.4} for the champion {} on the same {} leads (margin {margin})",
            c.model_id,
            validation.len()
        )
    } else {
        format!(
            "not promoted: validation log loss {new_log_loss:.4} is worse than {old:.4} for the champion {} on the same {} leads by more than the margin {margin}; {} stays champion",
            c.model_id,
            validation.len(),
            c.model_id
        )
    };
    d
}

/// The recency adjustment of the scoring model `(kind, classifier, calibrator)` (see [`recency`]).
fn recency_adjustment(
    config: &Config,
    ctx: &RunContext,
    set: &TrainingSet,
    spec: &FeatureSpec,
    (kind, classifier, calibrator): (ModelKind, &leadscore_model::Classifier, &Calibrator),
) -> Result<recency::RecencyReport> {
    let pending = &set.pending;
    let converted = pending.positives();
    if !config.train.recency_adjustment {
        return Ok(recency::RecencyReport::not_applied(
            pending.len(),
            converted,
            "turned off (`[train] recency_adjustment = false`)".into(),
        ));
    }
    if pending.is_empty() {
        return Ok(recency::estimate(&[], &[], &[], &[]));
    }
    let x = pending.design(spec, kind.encoding())?;
    let p = calibrator.apply_all(&classifier.logits(&x)?);
    let run_start = ctx.run_date.start_micros(config.project.timezone);
    let ages: Vec<f64> = pending.created_us.iter().map(|c| (run_start - c) as f64 / 86_400e6).collect();
    let recency = recency::estimate(&p, &ages, &pending.labels, &set.conversion_delays());
    if recency.applied {
        tracing::info!(shift = recency.shift, "recency adjustment: {}", recency.why);
    }
    Ok(recency)
}

/// The volume gate: too few conversions refuse to train (exit 4); a short history or few
/// conversions a month are warnings, returned.
fn volume_gate(config: &Config, set: &TrainingSet) -> Result<Vec<String>> {
    use leadscore_core::config::conversions::{DEFAULT_MIN_CONVERSIONS, DEFAULT_WARN_BELOW_PER_MONTH};
    let mut warnings = Vec::new();
    let conversions = set.train.positives() + set.validation.positives();
    let (floor, warn_per_month) =
        config.labels.as_ref().map_or((DEFAULT_MIN_CONVERSIONS as usize, DEFAULT_WARN_BELOW_PER_MONTH), |l| {
            (l.min_conversions as usize, l.warn_below_per_month)
        });
    if conversions < floor {
        return Err(TrainError::NotEnoughData {
            what: format!(
                "the training window holds {conversions} target conversions among {} matured leads, below the floor `[labels] min_conversions` = {floor}",
                set.train.len() + set.validation.len()
            ),
        });
    }
    if set.train.positives() < 5 || set.validation.positives() < 5 || set.validation.len() < 50 {
        return Err(TrainError::NotEnoughData {
            what: format!(
                "training has {} conversions and validation {} conversions among {} leads; each needs at least 5 conversions (and validation 50 leads)",
                set.train.positives(),
                set.validation.positives(),
                set.validation.len()
            ),
        });
    }
    let first = set.train.created_us.first().copied().unwrap_or(0);
    let last = set.validation.created_us.last().copied().unwrap_or(0);
    let span_months = (last - first) as f64 / (30.44 * 86_400e6);
    warnings.extend(short_history(span_months, leadscore_core::config::conversions::RECOMMENDED_HISTORY_MONTHS));
    let per_month = conversions as f64 / span_months.max(1.0);
    if per_month < f64::from(warn_per_month) {
        warnings.push(format!(
            "{per_month:.1} target conversions per month on average, below {warn_per_month} (`[labels] warn_below_per_month`): expect noisy estimates"
        ));
    }

    Ok(warnings)
}

/// `[train] monotone` against the features: each name must be a numeric feature, or an attribute
/// the leakage audit left out (then a warning, returned, says its constraint is not applied).
fn monotone_check(config: &Config, spec: &FeatureSpec, audit: &[AuditRow]) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let error = |feature: &str, why: String| TrainError::Monotone { feature: feature.to_string(), why };
    for name in config.train.monotone.keys() {
        match spec.features.iter().find(|f| f.name() == name) {
            Some(FittedFeature::Numeric { .. }) => {}
            Some(FittedFeature::Categorical { .. }) => {
                return Err(error(
                    name,
                    "a categorical feature has no order; only a numeric one can be monotone".into(),
                ));
            }
            None if audit.iter().any(|a| a.attribute == *name && a.excluded) => warnings.push(format!(
                "`[train] monotone.{name}` is not applied: the leakage audit left `{name}` out of the features"
            )),
            None => {
                let numeric = spec.features.iter().filter(|f| matches!(f, FittedFeature::Numeric { .. }));
                let names: Vec<&str> = numeric.map(FittedFeature::name).collect();
                return Err(error(name, format!("no such numeric feature; the model's are: {}", names.join(", "))));
            }
        }
    }
    Ok(warnings)
}

/// The warning for a history of matured leads spanning `span_months` (first to last lead) when it
/// is shorter than `recommended` months as the warning itself states it, to a tenth: a span the
/// report shows as 6.0 months is not shorter than 6.
fn short_history(span_months: f64, recommended: u32) -> Option<String> {
    let shown = (span_months * 10.0).round() / 10.0;
    (shown < f64::from(recommended)).then(|| {
        format!("the history spans {shown:.1} months of matured leads; at least {recommended} are recommended")
    })
}

/// The candidate with the lowest validation log loss; candidates within [`TIE`] of it tie, and the
/// highest ROC AUC among them wins (on an equal AUC the trees, then the logistic regression, then
/// a blend). The chosen candidate's index, the runner-up's (the best of the others by the same
/// rule) and why in words.
fn choose(candidates: &[Candidate]) -> (usize, usize, String) {
    let first_on_a_tie = |k: ModelKind| match k {
        ModelKind::Boosted => 0,
        ModelKind::Logistic => 1,
        ModelKind::Blend => 2,
    };
    // On the time-series folds when every candidate has them, else on the validation slice.
    let on_folds = candidates.iter().all(|c| c.folds.is_some());
    let judged = |i: usize| match (&candidates[i].folds, on_folds) {
        (Some(h), true) => h,
        _ => &candidates[i].validation,
    };
    let best = |among: &[usize]| -> Option<usize> {
        let low = among.iter().map(|i| judged(*i).log_loss).fold(f64::INFINITY, f64::min);
        among.iter().copied().filter(|i| judged(*i).log_loss - low < TIE).min_by(|a, b| {
            judged(*b)
                .roc_auc
                .total_cmp(&judged(*a).roc_auc)
                .then(first_on_a_tie(candidates[*a].kind).cmp(&first_on_a_tie(candidates[*b].kind)))
        })
    };
    let all: Vec<usize> = (0..candidates.len()).collect();
    let chosen = best(&all).unwrap_or(0);
    let others: Vec<usize> = all.iter().copied().filter(|i| *i != chosen).collect();
    let runner_up = best(&others).unwrap_or(chosen);
    let (c, o) = (judged(chosen), judged(runner_up));
    let on = if on_folds {
        format!(" on {} leads of the validation slice and {}", c.leads, refit::FOLDS_IN_WORDS)
    } else {
        String::new()
    };
    let (chosen_label, other_label) = (candidates[chosen].kind.label(), candidates[runner_up].kind.label());
    let mut why = if (o.log_loss - c.log_loss).abs() < TIE {
        let auc = if c.roc_auc > o.roc_auc {
            "its ROC AUC is higher"
        } else {
            "ROC AUC ties too, and it goes first on a full tie"
        };
        format!(
            "{chosen_label} chosen: out-of-time log loss{on} ties with the {other_label} ({:.4} vs {:.4}); {auc} ({:.4} vs {:.4})",
            c.log_loss, o.log_loss, c.roc_auc, o.roc_auc
        )
    } else {
        format!(
            "{chosen_label} chosen: lower out-of-time log loss{on} than the {other_label} ({:.4} vs {:.4}; ROC AUC {:.4} vs {:.4})",
            c.log_loss, o.log_loss, c.roc_auc, o.roc_auc
        )
    };
    for i in others.into_iter().filter(|i| *i != runner_up) {
        let v = judged(i);
        why.push_str(&format!(
            "; the {}: log loss {:.4}, ROC AUC {:.4}",
            candidates[i].kind.label(),
            v.log_loss,
            v.roc_auc
        ));
    }
    (chosen, runner_up, why)
}

/// Trains on in-memory inputs. `champion` is the current champion and the model it points at
/// (or why it could not be loaded).
pub fn run(
    config: &Config,
    mut inputs: TrainInputs,
    ctx: &RunContext,
    champion: Option<(&Champion, std::result::Result<&LoadedModel, String>)>,
) -> Result<TrainOutputs> {
    let mut sw = Stopwatch::new();
    let (set, spec, encoding, warnings) = prepare(config, &mut inputs, &mut sw)?;
    let spec = &spec;
    // The logistic baseline first: its one-hot designs (the validation leads' encoded in slices)
    // are dropped before the trees' design of the validation leads is built. The trees' rows of
    // the training leads are built from their codes as each fit samples them; the validation
    // leads' design is whole (every fit scores all of them).
    let logistic = fit_logistic(config, spec, &set, &mut sw)?;
    let xt = set.train.rows(spec, Encoding::Trees);
    let xv = set.validation.design(spec, Encoding::Trees)?;
    sw.lap("prepare trees");
    let Choice { mut chosen, other, candidates, why, folds } =
        fit_and_choose(config, (spec, &set), logistic, (&xt, &xv), &mut sw)?;
    let unconstrained = unconstrained(config, spec, &set, (&xt, &xv), &candidates, &mut sw)?;
    let kind = chosen.candidate.kind;
    let columns = spec.design_columns(kind.encoding());
    let (importance, rules, effects) = explain_chosen(spec, &set, (&xt, &xv), &chosen, &mut sw)?;
    let y = &set.validation.labels;
    let validation = validation_probabilities(&set, &chosen.probabilities)?;
    let evaluation = evaluate(&chosen.probabilities, y);
    let thresholds = threshold_file(&chosen.probabilities, y, &config.qualify);
    sw.lap("evaluate");
    let (diagnostics, other_definitions) = diagnose_chosen(config, &inputs, &set, &chosen.probabilities, &thresholds)?;
    sw.lap("diagnose");
    let Scoring { refitted, refit, folds, recency } =
        scoring(config, (ctx, spec, &set), (&mut chosen, &candidates), folds, &mut sw)?;
    let (value_model, value_report, refit) = fit_value(config, (spec, &set), (&xt, xv), (&chosen, &thresholds), refit)?;
    sw.lap("value");
    let champion_decision = champion_decision(config, champion, &set.validation, chosen.candidate.validation.log_loss);
    sw.lap("champion");

    // Scoring sees shifted probabilities: the thresholds, segments and score percentiles are
    // those of the shifted validation probabilities (the same leads in the same order).
    let thresholds = threshold_file(&recency::apply(&chosen.probabilities, &recency), y, &config.qualify);
    let columns = columns.into_iter().map(|c| c.name).collect();
    let artifact = model_artifact(columns, (chosen, refitted), value_model, recency.shift, ctx)?;

    let trained = Trained {
        model_id: artifact.model_id.clone(),
        train: slice_summary(&set.train),
        validation: slice_summary(&set.validation),
        months: months(&set, config.project.timezone),
        candidates,
        chosen: kind,
        why,
        encoding,
        refit,
        folds,
        evaluation,
        other,
        diagnostics,
        other_definitions,
        thresholds: thresholds.clone(),
        importance,
        effects,
        rules,
        champion: champion_decision,
        value: value_report,
        recency,
        audit: inputs.audit.clone(),
        design_columns: (spec.design_columns(Encoding::Trees).len(), spec.design_columns(Encoding::Linear).len()),
        monotone: config.train.monotone.clone(),
        unconstrained,
    };
    let html = report_html(config, ctx, &trained, &warnings)?;
    sw.lap("report");
    Ok(TrainOutputs {
        report: TrainReport::trained(ctx.run_date, trained, warnings),
        bundle: ModelBundle { artifact, spec: spec.clone(), thresholds, html, validation },
        timings: sw.into_timings(),
    })
}

/// The training set out of the features table (taken from `inputs`), after the volume gate and
/// the monotone check (their warnings), and the spec the model uses: the features stage's, with
/// the trees' encoding of categories of many levels chosen out of time on small slices.
fn prepare(
    config: &Config,
    inputs: &mut TrainInputs,
    sw: &mut Stopwatch,
) -> Result<(TrainingSet, FeatureSpec, Option<encoding::EncodingChoice>, Vec<String>)> {
    let set = TrainingSet::from_features(std::mem::take(&mut inputs.features), &inputs.spec)?;
    let mut warnings = volume_gate(config, &set)?;
    warnings.extend(monotone_check(config, &inputs.spec, &inputs.audit)?);
    let (spec, encoding) = encoding::choose(config, &set, inputs.spec.clone())?;
    if encoding.is_some() {
        sw.lap("encoding");
    }
    Ok((set, spec, encoding, warnings))
}

/// The model file: the chosen classifier, or its refit with the chosen one kept beside it as
/// validated; its calibrator, the value model and the recency shift. Its id digests it.
fn model_artifact(
    columns: Vec<String>,
    (chosen, refitted): (Fitted, Option<leadscore_model::Classifier>),
    value_model: leadscore_model::value::ValueModel,
    shift: f64,
    ctx: &RunContext,
) -> Result<ModelArtifact> {
    let (classifier, validated) = match refitted {
        Some(refitted) => (refitted, Some(chosen.classifier)),
        None => (chosen.classifier, None),
    };
    let artifact = ModelArtifact::new(columns, classifier, chosen.calibrator, value_model, shift);
    with_model_id(ModelArtifact { validated, ..artifact }, ctx)
}

/// What scores, once the choice is made.
struct Scoring {
    /// The chosen model refitted on every matured lead (`[train] refit`).
    refitted: Option<leadscore_model::Classifier>,
    refit: Option<Refit>,
    /// The calibrator on the time-series folds, when the slice has them.
    folds: Option<FoldCalibration>,
    recency: recency::RecencyReport,
}

/// The refit of the chosen model, its calibrator on the time-series folds (replacing the
/// validation slice's in `chosen` when the level agrees, see [`refit`]) and the recency
/// adjustment of the model that scores.
fn scoring(
    config: &Config,
    (ctx, spec, set): (&RunContext, &FeatureSpec, &TrainingSet),
    (chosen, candidates): (&mut Fitted, &[Candidate]),
    folds: Option<refit::Folds>,
    sw: &mut Stopwatch,
) -> Result<Scoring> {
    let (refitted, refit) = refit::refit_chosen(config, spec, set, (chosen, candidates))?.unzip();
    sw.lap("refit");
    let folds = folds.map(|folds| {
        let (calibrator, report) = refit::fold_calibration(set, chosen, &folds);
        if let Some(calibrator) = calibrator {
            chosen.calibrator = calibrator;
        }
        report
    });
    let model = (chosen.candidate.kind, refitted.as_ref().unwrap_or(&chosen.classifier), &chosen.calibrator);
    let recency = recency_adjustment(config, ctx, set, spec, model)?;
    sw.lap("recency");
    Ok(Scoring { refitted, refit, folds, recency })
}

/// What explains the chosen model: its feature importance, the explainer tree's rules (on the
/// tree designs of the training and validation rows) and the features' effects.
fn explain_chosen(
    spec: &FeatureSpec,
    set: &TrainingSet,
    (xt, xv): (&dyn Rows, &Design),
    chosen: &Fitted,
    sw: &mut Stopwatch,
) -> Result<(Vec<Importance>, Vec<explain::Rule>, effects::Effects)> {
    let importance = chosen
        .importance
        .iter()
        .map(|(feature, importance)| Importance { feature: feature.clone(), importance: *importance })
        .collect();
    let rules = explain::explain(xt, &set.train.labels, xv, &set.validation.labels, spec)?;
    sw.lap("explain");
    let model = (chosen.candidate.kind, &chosen.classifier, &chosen.calibrator);
    let effects = effects::effects(model, spec, &set.validation, &chosen.importance)?;
    sw.lap("effects");
    Ok((importance, rules, effects))
}

/// The chosen model's diagnostics at the configured policy's threshold (before the recency
/// adjustment, as the curves), and the model against the config's other conversion definitions.
fn diagnose_chosen(
    config: &Config,
    inputs: &TrainInputs,
    set: &TrainingSet,
    p: &[f64],
    thresholds: &Thresholds,
) -> Result<(diagnose::Diagnostics, Vec<definitions::DefinitionCheck>)> {
    let configured = thresholds.policies.iter().find(|q| q.policy == thresholds.configured_policy);
    let diagnostics = diagnose::diagnose(
        p,
        &set.validation.labels,
        &set.validation.created_us,
        &set.validation.frame,
        (thresholds.configured_policy.name(), configured.map_or(0.5, |q| q.threshold)),
        config.project.timezone,
        config.train.seed,
    );
    let other_definitions = match (&inputs.outcomes, config.labels.as_ref()) {
        (Some((labels, conversions)), Some(l)) => {
            let names: Vec<String> = config.conversions.iter().map(|c| c.name.clone()).collect();
            let window = (&l.target[..], l.window_days);
            definitions::check(
                &set.validation,
                p,
                (labels, conversions),
                &names,
                window,
                diagnostics.confusion.threshold,
            )?
        }
        _ => Vec::new(),
    };
    Ok((diagnostics, other_definitions))
}

/// The model's `report.html`; the warnings are also logged.
fn report_html(config: &Config, ctx: &RunContext, trained: &Trained, warnings: &[String]) -> Result<String> {
    let target = config.labels.as_ref().map_or("", |l| l.target.as_str());
    let html = html::render(
        trained,
        &html::PageContext {
            project: &config.project.name,
            run_date: ctx.run_date.to_string(),
            target,
            window_days: config.labels.as_ref().map_or(0, |l| l.window_days),
            config_hash: &ctx.config_hash,
            warnings,
        },
    )?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(html)
}

/// Fits the trees on the tree design of the training and validation rows, blends them with the
/// fitted logistic baseline when the training slice is small (`[train] tune_below_leads`), and
/// chooses ([`choose`]).
fn fit_and_choose(
    config: &Config,
    (spec, set): (&FeatureSpec, &TrainingSet),
    mut logistic: Fitted,
    (xt, xv): (&dyn Rows, &Design),
    sw: &mut Stopwatch,
) -> Result<Choice> {
    let mut boosted = fit_candidate(Training::Boosted(xt), &set.train.labels, set, &on_design(xv), config)?;
    sw.lap("boosted");
    let folds = refit::folds(config, spec, set, &[logistic.candidate.clone(), boosted.candidate.clone()])?;
    if let Some(f) = &folds {
        for fitted in [&mut logistic, &mut boosted] {
            let (z, y) = f.pooled(fitted.candidate.kind, 0.0, (&fitted.logits, &set.validation.labels));
            fitted.candidate.folds = Some(headline(&calibrate(&z, &y).1, &y));
        }
        sw.lap("folds");
    }
    let blend = small_slice(config, set).then(|| {
        let started = Instant::now();
        let (blended, on_folds) = blend(&logistic, &boosted, set, folds.as_ref());
        let parts = (&logistic.candidate, &boosted.candidate);
        let mut candidate = blend_candidate(parts, &blended, &set.validation.labels, started.elapsed().as_secs_f64());
        candidate.folds = on_folds;
        (candidate, blended)
    });
    if blend.is_some() {
        sw.lap("blend");
    }
    let mut candidates = vec![logistic.candidate.clone(), boosted.candidate.clone()];
    candidates.extend(blend.as_ref().map(|(c, _)| c.clone()));
    let (chosen, runner_up, why) = choose(&candidates);
    let probabilities = match (runner_up, &blend) {
        (0, _) => &logistic.probabilities,
        (1, _) | (_, None) => &boosted.probabilities,
        (_, Some((_, b))) => &b.probabilities,
    };
    let other = OtherCandidate {
        kind: candidates[runner_up].kind,
        evaluation: evaluate(probabilities, &set.validation.labels),
    };
    let chosen = match (chosen, blend) {
        (0, _) => logistic,
        (1, _) | (_, None) => boosted,
        (_, Some((candidate, b))) => Fitted {
            importance: fit::blend_importance(b.weight, &logistic.importance, &boosted.importance),
            classifier: leadscore_model::Classifier::blend(b.weight, logistic.classifier, boosted.classifier)
                .ok_or_else(|| TrainError::Internal("a blend of other kinds than its parts".into()))?,
            candidate,
            calibrator: b.calibrator,
            probabilities: b.probabilities,
            logits: b.logits,
        },
    };
    Ok(Choice { chosen, other, candidates, why, folds })
}

/// The blend of both models' log-odds. With time-series folds its weight is chosen with its
/// calibrator over the folds and the validation slice together, cross-fitted (each half of
/// those leads, in time order, scored with the weight and calibrator of the other), which gives
/// its figures there. On the validation slice, as the other candidates: the calibrator that
/// scores is fitted there, and the figures are cross-fitted on its halves, at the weight chosen
/// on the older half of the pooled leads, which the validation slice is not part of. Without
/// folds, everything on the validation slice ([`calibrate_blend`]).
fn blend(
    logistic: &Fitted,
    boosted: &Fitted,
    set: &TrainingSet,
    folds: Option<&refit::Folds>,
) -> (evaluate::Blended, Option<evaluate::Headline>) {
    let y = &set.validation.labels;
    let Some(f) = folds else { return (calibrate_blend(&logistic.logits, &boosted.logits, y), None) };
    let (a, labels) = f.pooled(ModelKind::Logistic, 0.0, (&logistic.logits, y));
    let (b, _) = f.pooled(ModelKind::Boosted, 0.0, (&boosted.logits, y));
    let pooled = calibrate_blend(&a, &b, &labels);
    let on_folds = headline(&pooled.probabilities, &labels);
    let logits = blend_logits(pooled.weight, &logistic.logits, &boosted.logits);
    let (_, probabilities, choice) = calibrate(&blend_logits(pooled.halves.0, &logistic.logits, &boosted.logits), y);
    let blended = evaluate::Blended {
        weight: pooled.weight,
        halves: pooled.halves,
        calibrator: calibrate(&logits, y).0,
        probabilities,
        choice,
        logits,
    };
    (blended, Some(on_folds))
}

/// With `[train] monotone` on a training slice small enough to tune on, the logistic regression
/// and the trees fitted again without the constraints (the same settings tried, the same
/// calibration), beside the constrained `candidates`: what the constraints cost.
fn unconstrained(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    (xt, xv): (&dyn Rows, &Design),
    candidates: &[Candidate],
    sw: &mut Stopwatch,
) -> Result<Vec<Unconstrained>> {
    if config.train.monotone.is_empty() || !small_slice(config, set) {
        return Ok(Vec::new());
    }
    let mut free = config.clone();
    free.train.monotone.clear();
    let logistic = fit_logistic(&free, spec, set, &mut Stopwatch::new())?;
    let boosted = fit_candidate(Training::Boosted(xt), &set.train.labels, set, &on_design(xv), &free)?;
    let pair = |f: Fitted| {
        let constrained = candidates.iter().find(|c| c.kind == f.candidate.kind).map(|c| c.validation.clone());
        constrained.map(|constrained| Unconstrained {
            kind: f.candidate.kind,
            free: f.candidate.validation,
            constrained,
        })
    };
    let unconstrained = [logistic, boosted].into_iter().filter_map(pair).collect();
    sw.lap("unconstrained");
    Ok(unconstrained)
}

/// The candidates and the choice among them.
struct Choice {
    chosen: Fitted,
    /// The runner-up, on the validation leads.
    other: OtherCandidate,
    /// Every candidate, in a fixed order.
    candidates: Vec<Candidate>,
    why: String,
    /// Both models' time-series folds, when the slice has them.
    folds: Option<refit::Folds>,
}

/// The blend's candidate: its cross-fitted figures and weights; its time is its parts' and the
/// `seconds` its blending took, its rows the larger part's.
fn blend_candidate(
    (logistic, boosted): (&Candidate, &Candidate),
    b: &evaluate::Blended,
    y: &[bool],
    seconds: f64,
) -> Candidate {
    Candidate {
        kind: ModelKind::Blend,
        validation: headline(&b.probabilities, y),
        calibration: b.choice.clone(),
        seconds: logistic.seconds + boosted.seconds + seconds,
        rows: logistic.rows.max(boosted.rows),
        boosting: None,
        logistic: None,
        blend: Some(BlendFit { weight: b.weight, halves: b.halves, tried: evaluate::BLEND_WEIGHTS.to_vec() }),
        folds: None,
    }
}

/// The value model fitted and checked on the same rows as the chosen classifier (the designs are
/// dropped after), and a regression refitted on every matured conversion when the classifier was
/// (`refit`, which then says so).
fn fit_value(
    config: &Config,
    (spec, set): (&FeatureSpec, &TrainingSet),
    (xt, xv): (&dyn Rows, Design),
    (chosen, thresholds): (&Fitted, &Thresholds),
    refit: Option<Refit>,
) -> Result<(leadscore_model::value::ValueModel, value::ValueReport, Option<Refit>)> {
    let (mut model, report) = value::fit_and_check(
        &config.train,
        spec,
        &set.train,
        &set.validation,
        xt,
        &xv,
        value::Chosen { classifier: &chosen.classifier, calibrator: &chosen.calibrator },
        thresholds,
        &chosen.probabilities,
    )?;
    let value = refit::refit_value(config, spec, set, (&mut model, report.boosting.as_ref()))?;
    Ok((model, report, refit.map(|r| Refit { value, ..r })))
}

/// The validation leads with the chosen model's probabilities (`validation.parquet`).
fn validation_probabilities(set: &TrainingSet, probabilities: &[f64]) -> Result<DataFrame> {
    let mut validation = set.validation.frame.select([f::LEAD_ID, f::CREATED_AT, f::CONVERTED])?;
    validation.with_column(Column::new(registry::PROBABILITY.into(), probabilities.to_vec()))?;
    Ok(validation)
}

/// The logistic baseline, fitted on the rows it samples: only those are one-hot encoded (on 4M
/// training leads the full linear design would take 13 GB).
fn fit_logistic(config: &Config, spec: &FeatureSpec, set: &TrainingSet, sw: &mut Stopwatch) -> Result<Fitted> {
    let picked = fit::logistic_rows(&set.train.labels, spec.design_columns(Encoding::Linear).len());
    let yt_lin: Vec<bool> = picked.iter().map(|i| set.train.labels[*i]).collect();
    let xt_lin = spec.design(&[&set.train.coded], Some(&picked), Encoding::Linear)?;
    sw.lap("prepare");
    let on_validation = |c: &leadscore_model::Classifier| logistic_on_validation(spec, set, c);
    let logistic = fit_candidate(Training::Logistic(xt_lin), &yt_lin, set, &on_validation, config)?;
    sw.lap("logistic");
    Ok(logistic)
}

/// The model with its id: the run date and the model's content, so that the same data and seed
/// give the same id.
fn with_model_id(mut artifact: ModelArtifact, ctx: &RunContext) -> Result<ModelArtifact> {
    let bytes = serde_json::to_vec(&artifact).map_err(|e| TrainError::Internal(e.to_string()))?;
    let digest = leadscore_core::digest::sha256_hex(&bytes);
    artifact.model_id = format!("{}-{}", ctx.run_date.date().format("%Y%m%d"), &digest[..10]);
    Ok(artifact)
}

#[derive(Serialize)]
struct ResolvedConfig<'a> {
    config_hash: &'a str,
    config: &'a Config,
}

#[derive(Serialize)]
struct TrainingWindow<'a> {
    run_date: String,
    target: &'a str,
    window_days: u32,
    seed: u64,
    train: &'a SliceSummary,
    validation: &'a SliceSummary,
    months: &'a [MonthVolume],
}

/// Writes the model folder to the registry.
fn write_model(config: &Config, ctx: &RunContext, out: &TrainOutputs, t: &Trained) -> Result<()> {
    let _span = tracing::info_span!("write model", id = %out.bundle.artifact.model_id).entered();
    let target = config.labels.as_ref().map_or("", |l| l.target.as_str());
    let training = TrainingWindow {
        run_date: ctx.run_date.to_string(),
        target,
        window_days: config.labels.as_ref().map_or(0, |l| l.window_days),
        seed: config.train.seed,
        train: &t.train,
        validation: &t.validation,
        months: &t.months,
    };
    let mut validation = out.bundle.validation.clone();
    registry::write_model(
        &config.models_dir(),
        registry::ModelFiles {
            artifact: &out.bundle.artifact,
            spec: &out.bundle.spec,
            thresholds: &out.bundle.thresholds,
            metrics: t,
            training: &training,
            config: &ResolvedConfig { config_hash: &ctx.config_hash, config },
            html: &out.bundle.html,
            validation: &mut validation,
            meta: &ctx.table_meta(Stage::Train),
        },
    )?;
    Ok(())
}

/// Decides whether training is due; if so reads the features, trains, writes the model folder
/// and moves the champion pointer when the new model earns it; writes `report.json` and the
/// manifest either way.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(TrainReport, Manifest)> {
    let models = config.models_dir();
    let read = |stage: &mut StageRun| -> Result<_> {
        let state = registry::read_usable_champion(&models)?;
        if let registry::ChampionState::Dangling(c) = &state {
            tracing::warn!(model = %c.model_id, "champion.json names a model whose folder is missing: training a new champion");
        }
        let champion = state.usable().cloned();
        if let Some(c) = champion.as_ref().filter(|c| c.trained_for > ctx.run_date) {
            return Err(TrainError::FutureChampion {
                model_id: c.model_id.clone(),
                trained_for: c.trained_for.to_string(),
                run_date: ctx.run_date.to_string(),
            });
        }
        match registry::due(&state, ctx.run_date, ctx.retrain, config.train.retrain_after_days) {
            registry::Due::Skip(reason) => Ok(Err(reason)),
            registry::Due::Train(reason) => {
                tracing::info!("training: {reason}");
                Ok(Ok((read_inputs(stage)?, champion)))
            }
        }
    };
    let train = |due: std::result::Result<(TrainInputs, Option<Champion>), String>| {
        let (inputs, champion) = match due {
            Err(reason) => {
                tracing::info!("{reason}");
                return Ok(Trainer { report: TrainReport::skipped(ctx.run_date, reason), timings: Vec::new() });
            }
            Ok(due) => due,
        };
        let loaded = champion.as_ref().map(|c| registry::load_model(&models, &c.model_id).map_err(|e| e.to_string()));
        let pair = champion.as_ref().zip(loaded.as_ref()).map(|(c, l)| (c, l.as_ref().map_err(Clone::clone)));
        let mut out = run(config, inputs, ctx, pair)?;
        publish(config, ctx, &models, &mut out)?;
        Ok(Trainer { report: out.report, timings: out.timings })
    };
    StageRun::execute((Stage::Train, "train"), layout, ctx, read, train)
}

/// Train's inputs: the features, their spec and leakage audit, and the labels and conversions
/// from the first validation lead on (the only leads the other definitions are checked on; both
/// tables are read by row group).
fn read_inputs(stage: &mut StageRun) -> Result<TrainInputs> {
    let features = stage.table(&artifact::FEATURES)?;
    let outcomes = match validation_start(&features)? {
        Some(from) => Some((
            stage.table_where(&artifact::LABELS, frame::at_or_after(la::CREATED_AT, from))?,
            stage.table_where(&artifact::CONVERSIONS, frame::at_or_after(cv::AT, from))?,
        )),
        None => None,
    };
    Ok(TrainInputs {
        features,
        spec: stage.document(&artifact::FEATURE_SPEC)?,
        audit: stage.document(&artifact::LEAKAGE_AUDIT)?,
        outcomes,
    })
}

/// Writes the trained model's folder, moves the champion pointer when the model earns it, and
/// logs the model to MLflow when a server is configured (a failure to log is a warning).
fn publish(config: &Config, ctx: &RunContext, models: &std::path::Path, out: &mut TrainOutputs) -> Result<()> {
    let started = Instant::now();
    let Some(t) = out.report.trained.as_deref() else {
        return Err(TrainError::Internal("a trained report without its model".into()));
    };
    write_model(config, ctx, out, t)?;
    if t.champion.promoted {
        registry::promote(
            models,
            &Champion {
                model_id: t.model_id.clone(),
                trained_for: ctx.run_date,
                promoted_on: ctx.run_date,
                validation_log_loss: t.champion.new_log_loss,
                reason: t.champion.reason.clone(),
            },
        )?;
    }
    out.timings.push(Timing { step: "write model".into(), seconds: started.elapsed().as_secs_f64() });
    let started = Instant::now();
    let model_dir = registry::model_dir(models, &t.model_id);
    if let Some(tracked) = tracking::log(config, ctx, t, &model_dir) {
        if let tracking::Tracked::Failed(why) = &tracked {
            out.report.warnings.push(format!("not logged to MLflow: {why}"));
        }
        out.report.mlflow = Some(tracked);
        out.timings.push(Timing { step: "mlflow".into(), seconds: started.elapsed().as_secs_f64() });
    }
    Ok(())
}

/// When the first validation lead was created (µs), if there is one.
fn validation_start(features: &DataFrame) -> Result<Option<i64>> {
    let mask = features.column(f::SPLIT)?.str()?.equal(f::VALIDATION);
    let created = features.column(f::CREATED_AT)?.as_materialized_series().to_physical_repr().into_owned();
    Ok(created.i64()?.filter(&mask)?.min())
}

/// What train leaves in its run folder: the report (the model goes to the registry).
struct Trainer {
    report: TrainReport,
    timings: Vec<Timing>,
}

impl Outputs for Trainer {
    type Report = TrainReport;
    fn write(self, _: &mut StageWriter) -> leadscore_core::error::Result<TrainReport> {
        Ok(self.report)
    }
    fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }
}

#[cfg(test)]
mod tests {
    use super::short_history;

    #[test]
    fn a_history_shown_as_six_months_is_not_shorter_than_six() {
        // 181 days of leads (1 January to 30 June) are 5.95 months of 30.44 days: shown as 6.0.
        assert_eq!(short_history(5.95, 6), None);
        assert_eq!(short_history(6.0, 6), None);
        assert_eq!(short_history(11.2, 6), None);
        let w = short_history(5.94, 6).expect("5.9 months are fewer than 6");
        assert_eq!(w, "the history spans 5.9 months of matured leads; at least 6 are recommended");
        assert!(short_history(2.0, 6).is_some_and(|w| w.starts_with("the history spans 2.0 months")));
    }
}
