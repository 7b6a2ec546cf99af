//! More out-of-time leads than the validation slice holds for the choice and the calibrator, and
//! the chosen model refitted on every matured lead.
//!
//! **Refit** ([`refit_chosen`], `[train] refit`): the chosen kind with its chosen settings learns
//! from the training and validation slices together. The trees get early stopping's count of
//! rounds scaled to the leads; the logistic regression is put on the scale of the fit its
//! calibrator was fitted for (a case-control sample moves the intercept by
//! [`fit::case_control_offset`]).
//!
//! **Time-series folds** ([`folds`], [`fold_calibration`]): on a training slice small enough to
//! tune on (`[train] tune_below_leads`), the validation slice holds a few hundred conversions at
//! most, which leaves the choice between candidates to chance and the calibrator's level
//! uncertain by 10-20% (one draw of the panel's `lending_club` predicted 1.35 times the
//! conversions its 130 out-of-time leads had). So both models, with their chosen settings, are
//! also fitted on the matured leads before each of the training slice's last [`FOLDS`] blocks
//! (each as long as the validation slice) and score that block: every log-odds is out of time.
//! The candidates are judged on these and the validation slice's, `FOLDS + 1` times the
//! validation leads (in the crate's root), and the calibrator that scores is fitted on the chosen
//! model's (Platt, beta or isotonic chosen on them as on the validation slice). Every validation figure
//! of the report stays the validation slice's, cross-fitted as before. Pooling older leads trades
//! drift for noise, so the calibrator pools them only when they agree with the validation slice:
//! its calibrator must predict their conversions within [`LEVEL_NOISE`] standard deviations of
//! both sides' noise ([`level_noise`]); otherwise the level has moved, the validation slice's
//! calibrator stays, and the report says so.

use std::time::Instant;

use leadscore_core::Config;
use leadscore_model::value::ValueModel;
use leadscore_model::{Calibrator, Classifier, Encoding, FeatureSpec, ModelKind, metrics};

use crate::data::{Encoded, Prefix, Rows, TrainingSet};
use crate::error::{Result, TrainError};
use crate::evaluate::calibrate;
use crate::report::{FoldCalibration, Refit, ValueRefit};
use crate::{Candidate, Fitted, fit, small_slice};

/// Blocks of the training slice, each as long as the validation slice, that both models score out
/// of time for the choice and the calibrator, besides the validation slice.
pub const FOLDS: usize = 2;

/// The reports' words for the folds ("on the validation slice and two time-series folds").
pub const FOLDS_IN_WORDS: &str = "two time-series folds";
const _: () = assert!(FOLDS == 2, "FOLDS_IN_WORDS names the number of folds");

/// The older blocks are pooled with the validation slice only when the validation slice's
/// calibrator predicts their conversions within this many standard deviations ([`level_noise`]):
/// beyond, the conversion level has moved, and the newest matured leads alone set it.
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
        value: None,
    };
    tracing::info!(model = chosen.0.candidate.kind.label(), leads = report.leads, "refitted on every matured lead");
    Ok(Some((classifier, report)))
}

/// The value regression refitted on the valued conversions of every matured lead (`[train]
/// refit`), as the classifier is: early stopping's count of rounds scaled to the conversions.
/// Its smearing factor and interval stay those of the fit on the training slice (out-of-sample
/// residuals); a mean per segment stays as it is. Above [`fit::VALUE_MAX_CONVERSIONS`] it learns
/// from a sample of them, as the first fit does.
pub(crate) fn refit_value(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    (model, fitted): (&mut ValueModel, Option<&fit::BoostedFit>),
) -> Result<Option<ValueRefit>> {
    let (ValueModel::Boosted { booster, .. }, Some(b), true) = (model, fitted, config.train.refit) else {
        return Ok(None);
    };
    let (train, validation) = (set.train.valued_conversions(), set.validation.valued_conversions());
    let trained = train.len().min(fit::VALUE_MAX_CONVERSIONS);
    let values: Vec<f64> = train
        .iter()
        .map(|i| set.train.values[*i])
        .chain(validation.iter().map(|i| set.validation.values[*i]))
        .collect();
    let rows: Vec<usize> = train.into_iter().chain(validation.into_iter().map(|i| i + set.train.len())).collect();
    let (idx, values) = fit::sample_conversions(&rows, &values, config.train.seed);
    let rounds = fit::refit_rounds(b.best_rounds, trained, idx.len());
    let matured = Encoded { spec, parts: vec![&set.train.coded, &set.validation.coded], encoding: Encoding::Trees };
    let x = matured.select(&idx)?;
    **booster = fit::value_refit(&x, &values, &config.train, (b.settings, rounds))?;
    tracing::info!(
        conversions = rows.len(),
        rows = idx.len(),
        rounds,
        "value regression refitted on every matured conversion"
    );
    Ok(Some(ValueRefit { conversions: rows.len() as u64, rows: idx.len() as u64, rounds }))
}

/// Out-of-time log-odds of the training slice's [`FOLDS`] newest blocks (each as long as the
/// validation slice, oldest first): each block scored by both models, with their chosen settings,
/// fitted on the matured leads before it.
#[derive(Debug, Clone)]
pub(crate) struct Folds {
    /// The logistic regression's log-odds.
    pub linear: Vec<f64>,
    /// The trees' log-odds.
    pub trees: Vec<f64>,
    /// Whether each lead converted.
    pub labels: Vec<bool>,
}

impl Folds {
    /// `kind`'s log-odds of the blocks followed by `validation` (its log-odds of the validation
    /// slice), with the labels; a blend's at `weight`.
    pub fn pooled(&self, kind: ModelKind, weight: f64, validation: (&[f64], &[bool])) -> (Vec<f64>, Vec<bool>) {
        let mut z = match kind {
            ModelKind::Logistic => self.linear.clone(),
            ModelKind::Boosted => self.trees.clone(),
            ModelKind::Blend => leadscore_model::blend_logits(weight, &self.linear, &self.trees),
        };
        z.extend_from_slice(validation.0);
        let mut labels = self.labels.clone();
        labels.extend_from_slice(validation.1);
        (z, labels)
    }
}

/// The time-series folds of the logistic regression and the trees (`candidates` hold their chosen
/// settings); `None` on a training slice too large to tune on, or one shorter than `FOLDS + 1`
/// validation slices.
pub(crate) fn folds(
    config: &Config,
    spec: &FeatureSpec,
    set: &TrainingSet,
    candidates: &[Candidate],
) -> Result<Option<Folds>> {
    let (n_train, n_validation) = (set.train.len(), set.validation.len());
    if !small_slice(config, set) || n_validation == 0 || n_train < (FOLDS + 1) * n_validation {
        return Ok(None);
    }
    let y = matured_labels(set);
    let parts = [&set.train.coded, &set.validation.coded];
    let (l2, early_stopping) = (l2(config, candidates), early_stopping(candidates)?);
    let mut folds = Folds { linear: Vec::new(), trees: Vec::new(), labels: Vec::new() };
    for k in (1..=FOLDS).rev() {
        let start = n_train - k * n_validation;
        let block: Vec<usize> = (start..start + n_validation).collect();
        let (linear, _) = refit_logistic(spec, set, &y[..start], (l2, &config.train))?;
        let x = spec.design(&parts, Some(&block), Encoding::Linear)?;
        folds.linear.extend(linear.logits(&x)?);
        let (trees, _, _) = refit_trees(config, spec, set, &y[..start], early_stopping)?;
        let x = spec.design(&parts, Some(&block), Encoding::Trees)?;
        folds.trees.extend(trees.logits(&x)?);
        folds.labels.extend_from_slice(&y[start..start + n_validation]);
    }
    Ok(Some(folds))
}

/// The calibrator fitted on the chosen model's time-series folds and the validation slice (see
/// the module's doc), or `None` when the level moved, with the folds' report.
pub(crate) fn fold_calibration(
    set: &TrainingSet,
    chosen: &Fitted,
    folds: &Folds,
) -> (Option<Calibrator>, FoldCalibration) {
    let weight = chosen.candidate.blend.as_ref().map_or(0.0, |b| b.weight);
    let (z, labels) = folds.pooled(chosen.candidate.kind, weight, (&chosen.logits, &set.validation.labels));
    // The level check: the validation slice's calibrator on the older blocks.
    let by_validation = chosen.calibrator.apply_all(&z);
    let (older, newest) = by_validation.split_at(folds.labels.len());
    let expected: f64 = older.iter().sum();
    let converted = folds.labels.iter().filter(|v| **v).count() as f64;
    let level_moved = (converted - expected).abs() > LEVEL_NOISE * level_noise(older, newest).max(f64::MIN_POSITIVE);
    let (calibrator, _, choice) = calibrate(&z, &labels);
    let conversions = labels.iter().filter(|v| **v).count();
    let leads = labels.len().max(1) as f64;
    let report = FoldCalibration {
        blocks: FOLDS + 1,
        leads: labels.len() as u64,
        conversions: conversions as u64,
        method: choice.method,
        actual_rate: conversions as f64 / leads,
        validation_calibrator_rate: by_validation.iter().sum::<f64>() / leads,
        log_loss: (metrics::log_loss(&by_validation, &labels), metrics::log_loss(&calibrator.apply_all(&z), &labels)),
        older: (converted as u64, expected),
        used: !level_moved,
    };
    if level_moved {
        tracing::info!(
            converted = report.older.0,
            expected = report.older.1,
            "time-series folds not used for the calibrator: the conversion level moved since the older blocks"
        );
        return (None, report);
    }
    tracing::info!(leads = report.leads, method = %report.method, "calibrator fitted on time-series folds");
    (Some(calibrator), report)
}

/// The standard deviation of the older blocks' conversions less what the validation slice's
/// calibrator expects of them (its probabilities `older`), when the level has not moved: their
/// own binomial noise, and the calibrator's, whose level was learnt from the validation slice's
/// conversions (probabilities `newest`) and is uncertain by their binomial noise relative to their
/// count. Without the second term, a panel built without drift failed the check in 4 of 20 fits.
fn level_noise(older: &[f64], newest: &[f64]) -> f64 {
    let variance = |p: &[f64]| p.iter().map(|p| p * (1.0 - p)).sum::<f64>();
    let (expected, learnt) = (older.iter().sum::<f64>(), newest.iter().sum::<f64>());
    let relative = if learnt > 0.0 { variance(newest) / (learnt * learnt) } else { 0.0 };
    (variance(older) + expected * expected * relative).sqrt()
}

/// The trees' early stopping among `candidates`.
fn early_stopping(candidates: &[Candidate]) -> Result<&fit::BoostedFit> {
    candidates
        .iter()
        .find(|c| c.kind == ModelKind::Boosted)
        .and_then(|c| c.boosting.as_ref())
        .ok_or_else(|| TrainError::Internal("boosted trees without their early stopping".into()))
}

/// The logistic regression's chosen penalty among `candidates` (the configured one without it).
fn l2(config: &Config, candidates: &[Candidate]) -> f64 {
    let fitted = candidates.iter().find(|c| c.kind == ModelKind::Logistic).and_then(|c| c.logistic.as_ref());
    fitted.map_or(config.train.l2, |l| l.l2)
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
    let l2 = l2(config, candidates);
    Ok(match chosen.candidate.kind {
        ModelKind::Boosted => {
            let (classifier, rows, rounds) = refit_trees(config, spec, set, y, early_stopping(candidates)?)?;
            (classifier, rows, Some(rounds))
        }
        ModelKind::Logistic => {
            let (classifier, rows) = refit_logistic(spec, set, y, (l2, &config.train))?;
            (classifier, rows, None)
        }
        ModelKind::Blend => {
            let weight = chosen.candidate.blend.as_ref().map(|b| b.weight);
            let weight = weight.ok_or_else(|| TrainError::Internal("a blend without its weight".into()))?;
            let (trees, rows, rounds) = refit_trees(config, spec, set, y, early_stopping(candidates)?)?;
            let (linear, _) = refit_logistic(spec, set, y, (l2, &config.train))?;
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// How often the level check declines the older blocks (`drift` times the newest level in
    /// them) over 2,000 draws of a panel-sized slice: 3,972 leads at 2-10%, the newest third the
    /// validation slice, whose calibrator gets the level of its own conversions. `noise` is the
    /// check's standard deviation.
    fn declined(drift: f64, noise: impl Fn(&[f64], &[f64]) -> f64) -> f64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let p: Vec<f64> = (0..3_972).map(|i| 0.02 + 0.08 * (i % 97) as f64 / 96.0).collect();
        let (older, newest) = p.split_at(2_648);
        let draws = 2_000;
        let mut declined = 0;
        for _ in 0..draws {
            let converted_newest = newest.iter().filter(|p| rng.r#gen::<f64>() < **p).count() as f64;
            let converted_older = older.iter().filter(|p| rng.r#gen::<f64>() < drift * **p).count() as f64;
            let level = converted_newest / newest.iter().sum::<f64>();
            let (older, newest): (Vec<f64>, Vec<f64>) =
                (older.iter().map(|p| p * level).collect(), newest.iter().map(|p| p * level).collect());
            let expected: f64 = older.iter().sum();
            if (converted_older - expected).abs() > LEVEL_NOISE * noise(&older, &newest) {
                declined += 1;
            }
        }
        declined as f64 / draws as f64
    }

    #[test]
    fn the_level_check_declines_one_in_twenty_slices_without_drift_and_most_with_it() {
        let without = declined(1.0, level_noise);
        assert!((0.02..0.08).contains(&without), "declined {without} without drift");
        let binomial_only = declined(1.0, |older, _| older.iter().map(|p| p * (1.0 - p)).sum::<f64>().sqrt());
        assert!(binomial_only > 0.12, "the older blocks' noise alone declined {binomial_only}");
        let with = declined(1.5, level_noise);
        assert!(with > 0.8, "declined {with} where the older blocks converted 1.5 times as often");
    }

    #[test]
    fn without_a_validation_level_the_noise_is_the_older_blocks_binomial_noise() {
        let older = [0.1, 0.5];
        assert_eq!(level_noise(&older, &[]), (0.1f64 * 0.9 + 0.5 * 0.5).sqrt());
        assert_eq!(level_noise(&older, &[0.0, 0.0]), (0.1f64 * 0.9 + 0.5 * 0.5).sqrt());
    }
}
