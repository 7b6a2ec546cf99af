//! Fitting the value model with the classifier, and its out-of-time check: predicted value =
//! calibrated probability x E[value | converted], against the value that converted in the window.

use leadscore_core::config::Train;
use leadscore_model::registry::Thresholds;
use leadscore_model::value::ValueModel;
use leadscore_model::{Calibrator, Classifier, Design, FeatureSpec};
use serde::Serialize;

use crate::data::{Rows, Slice};
use crate::error::Result;
use crate::fit::{self, BoostedFit, VALUE_MIN_CONVERSIONS};

/// One decile of validation leads by predicted value, the highest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueDecile {
    /// 1 = the highest predicted values.
    pub decile: u32,
    /// Leads.
    pub leads: u64,
    /// Sum of predicted values.
    pub predicted: f64,
    /// Sum of the values that converted within the window.
    pub actual: f64,
}

/// How the value model did on the validation leads.
#[derive(Debug, Clone, Serialize)]
pub struct ValueReport {
    /// `boosted` (log-value regression) or `segment_mean` (too few conversions).
    pub method: String,
    /// Why that method.
    pub why: String,
    /// Valued conversions of the training slice (a regression learns from a sample of
    /// [`fit::VALUE_MAX_CONVERSIONS`] of them above that many).
    pub conversions: u64,
    /// Early stopping of the regression.
    pub boosting: Option<BoostedFit>,
    /// Normalised Gini of predicted against actual value (1 = perfect ordering).
    pub gini: f64,
    /// Sum of predicted values.
    pub total_predicted: f64,
    /// Sum of actual values.
    pub total_actual: f64,
    /// Predicted over actual.
    pub ratio: f64,
    /// Share of converted validation leads whose value lies in their 10th-90th percentile interval.
    pub interval_coverage: f64,
    /// Value calibration by decile.
    pub deciles: Vec<ValueDecile>,
}

fn gini_raw(actual: &[f64], order: &[usize]) -> f64 {
    let total: f64 = actual.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let n = order.len() as f64;
    let mut cum = 0.0;
    let mut sum_cum = 0.0;
    for i in order {
        cum += actual[*i];
        sum_cum += cum / total;
    }
    sum_cum / n - (n + 1.0) / (2.0 * n)
}

/// Normalised Gini: how well `predicted` orders `actual`, relative to the perfect ordering.
pub fn gini(actual: &[f64], predicted: &[f64]) -> f64 {
    let by_pred = leadscore_model::metrics::descending(predicted);
    let by_actual = leadscore_model::metrics::descending(actual);
    let best = gini_raw(actual, &by_actual);
    if best > 0.0 { gini_raw(actual, &by_pred) / best } else { 0.0 }
}

/// The classifier and calibrator of the chosen model, to segment leads for the fallback.
pub struct Chosen<'a> {
    /// The classifier.
    pub classifier: &'a Classifier,
    /// Its calibrator.
    pub calibrator: &'a Calibrator,
}

/// The log-value regression on the valued conversions `idx` (values `values`) of the training
/// rows `xt`, above [`fit::VALUE_MAX_CONVERSIONS`] on a sample of them; with how it did against a
/// constant and what it learnt from, in words.
fn regression(
    xt: &dyn Rows,
    (idx, values): (&[usize], &[f64]),
    cfg: &Train,
) -> Result<(ValueModel, BoostedFit, fit::ValueCheck, String)> {
    let (rows, sampled) = fit::sample_conversions(idx, values, cfg.seed);
    let (model, fitted, check) = fit::value_regression(xt.select(&rows)?, &sampled, cfg)?;
    let learnt = if rows.len() < idx.len() {
        format!("a sample of {} of {} valued conversions", rows.len(), idx.len())
    } else {
        format!("{} valued conversions", idx.len())
    };
    Ok((model, fitted, check, learnt))
}

/// Fits the value model on the converted training leads and checks it on validation.
#[allow(clippy::too_many_arguments)]
pub fn fit_and_check(
    cfg: &Train,
    spec: &FeatureSpec,
    train: &Slice,
    validation: &Slice,
    xt: &dyn Rows,
    xv: &Design,
    chosen: Chosen<'_>,
    thresholds: &Thresholds,
    validation_probabilities: &[f64],
) -> Result<(ValueModel, ValueReport)> {
    let idx = train.valued_conversions();
    let values: Vec<f64> = idx.iter().map(|i| train.values[*i]).collect();
    let seg_of = |p: &[f64]| -> Vec<&str> { p.iter().map(|p| thresholds.segment(*p)).collect() };
    let names: Vec<&str> = thresholds.segments.iter().map(|s| s.name.as_str()).collect();
    let by_segment = || -> Result<ValueModel> {
        let d = train.rows(spec, chosen.classifier.kind().encoding()).select(&idx)?;
        let p = chosen.calibrator.apply_all(&chosen.classifier.logits(&d)?);
        let segs = seg_of(&p);
        Ok(fit::value_by_segment(&values, &segs, &names))
    };
    let (model, boosting, why) = if idx.len() >= VALUE_MIN_CONVERSIONS {
        let (m, b, check, learnt) = regression(xt, (&idx, &values), cfg)?;
        let errors = format!(
            "error of ln(value) on the newest 15% of them {:.3} against {:.3} for a constant",
            check.regression, check.constant
        );
        if check.regression < check.constant {
            (m, Some(b), format!("{learnt}: regression on log value with a smearing correction ({errors})"))
        } else {
            let why = format!(
                "{learnt}, but a regression on log value did not beat a constant ({errors}): mean value per segment"
            );
            (by_segment()?, None, why)
        }
    } else {
        let why = format!(
            "only {} valued conversions (a regression needs {VALUE_MIN_CONVERSIONS}): mean value per segment",
            idx.len()
        );
        (by_segment()?, None, why)
    };
    // Out of time: predicted value against the value that converted within the window.
    let vsegs = seg_of(validation_probabilities);
    let cond = model.conditional(xv, &vsegs)?;
    let predicted: Vec<f64> = validation_probabilities.iter().zip(&cond).map(|(p, c)| p * c.mean).collect();
    let actual = &validation.values;
    let order = leadscore_model::metrics::descending(&predicted);
    let n = order.len();
    let deciles = leadscore_model::metrics::equal_bins(n, 10)
        .map(|(d, range)| ValueDecile {
            decile: d as u32 + 1,
            leads: range.len() as u64,
            predicted: order[range.clone()].iter().map(|i| predicted[*i]).sum(),
            actual: order[range].iter().map(|i| actual[*i]).sum(),
        })
        .collect();
    let converted: Vec<usize> = (0..n).filter(|i| validation.labels[*i] && actual[*i] > 0.0).collect();
    let inside = converted.iter().filter(|i| (cond[**i].p10..=cond[**i].p90).contains(&actual[**i])).count();
    let (total_predicted, total_actual) = (predicted.iter().sum::<f64>(), actual.iter().sum::<f64>());
    let report = ValueReport {
        method: model.method().to_string(),
        why,
        conversions: idx.len() as u64,
        boosting,
        gini: gini(actual, &predicted),
        total_predicted,
        total_actual,
        ratio: if total_actual > 0.0 { total_predicted / total_actual } else { 0.0 },
        interval_coverage: inside as f64 / converted.len().max(1) as f64,
        deciles,
    };
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_is_one_for_the_perfect_order_and_near_zero_for_noise() {
        let actual = [0.0, 0.0, 10.0, 0.0, 50.0, 0.0, 5.0];
        assert!((gini(&actual, &actual) - 1.0).abs() < 1e-12);
        let reversed: Vec<f64> = actual.iter().map(|a| -a).collect();
        assert!(gini(&actual, &reversed) < 0.0);
        assert!((gini(&actual, &[1.0; 7]) - gini(&actual, &[1.0; 7])).abs() < 1e-12);
    }
}
