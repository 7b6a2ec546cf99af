//! After the choice: the chosen model refitted on every matured lead, and its calibrator fitted on
//! more out-of-time leads than the validation slice holds.
//!
//! **Refit** ([`refit_chosen`], `[train] refit`): the chosen kind with its chosen settings learns
//! from the training and validation slices together. The trees get early stopping's count of
//! rounds scaled to the leads; the logistic regression is put on the scale of the fit its
//! calibrator was fitted for (a case-control sample moves the intercept by
//! [`fit::case_control_offset`]).
//!
//! **Calibration on time-series folds** ([`fold_calibration`]): on a training slice small enough
//! to tune on (`[train] tune_below_leads`), the validation slice holds a few hundred conversions
//! at most, which leaves the calibrator's level uncertain by 10-20% (one draw of the panel's
//! `lending_club` predicted 1.35 times the conversions its 130 out-of-time leads had). So the
//! chosen model, with its chosen settings, is also fitted on the matured leads before each of the
//! training slice's last [`FOLDS`] blocks (each as long as the validation slice) and scores that
//! block: every log-odds is out of time, and the calibrator that scores is fitted on
//! `FOLDS + 1` times the validation leads (Platt or isotonic chosen on them as on the validation
//! slice). The candidates' figures, the choice and every validation figure of the report stay
//! those of the validation slice, cross-fitted as before. Pooling older leads trades drift for
//! noise, so it is done only when the older blocks agree with the validation slice: its
//! calibrator must predict their conversions within [`LEVEL_NOISE`] binomial standard
//! deviations; otherwise the level has moved, the validation slice's calibrator stays, and the
//! report says so.

use std::time::Instant;

use leadscore_core::Config;
use leadscore_model::{Calibrator, Classifier, Encoding, FeatureSpec, ModelKind, metrics};

use crate::data::{Encoded, Prefix, Rows, TrainingSet};
use crate::error::{Result, TrainError};
use crate::evaluate::calibrate;
use crate::report::{FoldCalibration, Refit};
use crate::{Candidate, Fitted, fit, small_slice};

/// Blocks of the training slice, each as long as the validation slice, that the chosen model
/// scores out of time for the calibrator, besides the validation slice.
pub const FOLDS: usize = 2;

/// The older blocks are pooled with the validation slice only when the validation slice's
/// calibrator predicts their conversions within this many binomial standard deviations: beyond,
/// the conversion level has moved, and the newest matured leads alone set it.
pub const LEVEL_NOISE: f64 = 2.0;

/// The matured leads' labels in time order: the training slice's, then the validation slice's.
fn matured_labels(set: &TrainingSet) -> Vec<bool> {
    set.train.labels.iter().chain(&set.validation.labels).copied().collect()
}

/// The chosen model refitted on every matured lead, with its report; `None` with `[train] refit
/// = false`.
pub(crate) fn refit_chosen(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    chosen: (&Fitted, &[Candidate]),
) -> Result<Option<(Classifier, Refit)>> {
    if !config.train.refit {
        return Ok(None);
    }
    let started = Instant::now();
    let y = matured_labels(set);
    let (classifier, rows, rounds) = fit_prefix(config, spec, set, chosen, &y)?;
    let report = Refit {
        leads: y.len() as u64,
        conversions: y.iter().filter(|v| **v).count() as u64,
        rows: rows as u64,
        rounds,
        seconds: started.elapsed().as_secs_f64(),
        calibration: None,
    };
    tracing::info!(model = chosen.0.candidate.kind.label(), leads = report.leads, "refitted on every matured lead");
    Ok(Some((classifier, report)))
}

/// The calibrator fitted on time-series folds (see the module's doc), or `None` when the level
/// moved, with the folds' report; `None` without a refit, on a training slice too large to tune
/// on, or one shorter than `FOLDS + 1` validation slices.
pub(crate) fn fold_calibration(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    (chosen, candidates): (&Fitted, &[Candidate]),
) -> Result<Option<(Option<Calibrator>, FoldCalibration)>> {
    let (n_train, n_validation) = (set.train.len(), set.validation.len());
    if !config.train.refit || !small_slice(config, set) || n_validation == 0 || n_train < (FOLDS + 1) * n_validation {
        return Ok(None);
    }
    let started = Instant::now();
    let y = matured_labels(set);
    let kind = chosen.candidate.kind;
    let matured = Encoded { spec, parts: vec![&set.train.coded, &set.validation.coded], encoding: kind.encoding() };
    let (mut z, mut labels) = (Vec::new(), Vec::new());
    for k in (1..=FOLDS).rev() {
        let start = n_train - k * n_validation;
        let (classifier, _, _) = fit_prefix(config, spec, set, (chosen, candidates), &y[..start])?;
        let block: Vec<usize> = (start..start + n_validation).collect();
        z.extend(classifier.logits(&matured.select(&block)?)?);
        labels.extend_from_slice(&y[start..start + n_validation]);
    }
    // The level check: the validation slice's calibrator on the older blocks.
    let older = chosen.calibrator.apply_all(&z);
    let expected: f64 = older.iter().sum();
    let noise = older.iter().map(|p| p * (1.0 - p)).sum::<f64>().sqrt();
    let converted = labels.iter().filter(|v| **v).count() as f64;
    let level_moved = (converted - expected).abs() > LEVEL_NOISE * noise.max(f64::MIN_POSITIVE);
    z.extend_from_slice(&chosen.logits);
    labels.extend_from_slice(&set.validation.labels);
    let (calibrator, _, choice) = calibrate(&z, &labels);
    let mean = |p: Vec<f64>| p.iter().sum::<f64>() / p.len().max(1) as f64;
    let report = FoldCalibration {
        blocks: FOLDS + 1,
        leads: labels.len() as u64,
        conversions: labels.iter().filter(|v| **v).count() as u64,
        method: choice.method,
        actual_rate: mean(labels.iter().map(|v| f64::from(u8::from(*v))).collect()),
        validation_calibrator_rate: mean(chosen.calibrator.apply_all(&z)),
        log_loss: (
            metrics::log_loss(&chosen.calibrator.apply_all(&z), &labels),
            metrics::log_loss(&calibrator.apply_all(&z), &labels),
        ),
        older: (converted as u64, expected),
        used: !level_moved,
        seconds: started.elapsed().as_secs_f64(),
    };
    if level_moved {
        tracing::info!(
            converted = report.older.0,
            expected = report.older.1,
            "time-series folds not used for the calibrator: the conversion level moved since the older blocks"
        );
        return Ok(Some((None, report)));
    }
    tracing::info!(leads = report.leads, method = %report.method, "calibrator fitted on time-series folds");
    Ok(Some((Some(calibrator), report)))
}

/// The chosen kind with its chosen settings fitted on the first `y.len()` matured leads (labels
/// `y`); with the rows it learned from and the trees' rounds.
fn fit_prefix(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    (chosen, candidates): (&Fitted, &[Candidate]),
    y: &[bool],
) -> Result<(Classifier, usize, Option<usize>)> {
    let fitted = |kind: ModelKind| candidates.iter().find(|c| c.kind == kind);
    let early_stopping = || {
        fitted(ModelKind::Boosted)
            .and_then(|c| c.boosting.as_ref())
            .ok_or_else(|| TrainError::Internal("boosted trees without their early stopping".into()))
    };
    let l2 = || fitted(ModelKind::Logistic).and_then(|c| c.logistic.as_ref()).map_or(config.train.l2, |l| l.l2);
    Ok(match chosen.candidate.kind {
        ModelKind::Boosted => {
            let (classifier, rows, rounds) = refit_trees(config, spec, set, y, early_stopping()?)?;
            (classifier, rows, Some(rounds))
        }
        ModelKind::Logistic => {
            let (classifier, rows) = refit_logistic(spec, set, y, (l2(), &config.train))?;
            (classifier, rows, None)
        }
        ModelKind::Blend => {
            let weight = chosen.candidate.blend.as_ref().map(|b| b.weight);
            let weight = weight.ok_or_else(|| TrainError::Internal("a blend without its weight".into()))?;
            let (trees, rows, rounds) = refit_trees(config, spec, set, y, early_stopping()?)?;
            let (linear, _) = refit_logistic(spec, set, y, (l2(), &config.train))?;
            let blend = Classifier::blend(weight, linear, trees)
                .ok_or_else(|| TrainError::Internal("a blend of other kinds than its parts".into()))?;
            (blend, rows, Some(rounds))
        }
    })
}

/// The trees fitted on the first `y.len()` matured leads (labels `y`) with early stopping's
/// settings and its count of rounds scaled to the leads; with the rows they learned from and the
/// rounds.
fn refit_trees(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    y: &[bool],
    b: &fit::BoostedFit,
) -> Result<(Classifier, usize, usize)> {
    let rounds = fit::refit_rounds(b.best_rounds, set.train.len(), y.len());
    let matured = Encoded { spec, parts: vec![&set.train.coded, &set.validation.coded], encoding: Encoding::Trees };
    let leads = Prefix { rows: &matured, len: y.len() };
    let (classifier, rows) = fit::boosted_refit(&leads, y, &config.train, (b.settings, rounds))?;
    Ok((classifier, rows, rounds))
}

/// The logistic regression with penalty `l2` (and `cfg`'s monotone signs) fitted on the rows
/// [`fit::logistic_rows`] picks of the first `y.len()` matured leads (labels `y`: the training
/// slice's, then the validation slice's), its intercept moved to the case-control scale of the fit
/// on the training slice alone, which its calibrator was fitted for; with the rows it learned
/// from.
fn refit_logistic(
    spec: &FeatureSpec,
    set: &TrainingSet,
    y: &[bool],
    (l2, cfg): (f64, &leadscore_core::config::Train),
) -> Result<(Classifier, usize)> {
    let columns = spec.design_columns(Encoding::Linear).len();
    let picked = fit::logistic_rows(y, columns);
    let offset = fit::case_control_offset(&set.train.labels, &fit::logistic_rows(&set.train.labels, columns))
        - fit::case_control_offset(y, &picked);
    let labels: Vec<bool> = picked.iter().map(|i| y[*i]).collect();
    let x = spec.design(&[&set.train.coded, &set.validation.coded], Some(&picked), Encoding::Linear)?;
    let (coefficients, intercept) = fit::logistic_coefficients(&x, &labels, l2, &cfg.monotone)?;
    Ok((Classifier::Logistic { coefficients, intercept: intercept + offset }, x.rows))
}
