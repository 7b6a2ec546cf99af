//! How each feature moves the chosen model's predictions on the validation leads (out of time):
//! a summary of the signed contributions qualify also explains leads with (SHAP-style: per
//! feature, how large, how spread, and in which direction), and partial dependence for the top
//! features (the mean calibrated probability when every lead is given one value of the feature).

use std::collections::BTreeMap;

use leadscore_core::frame;
use leadscore_model::{Calibrator, Classifier, FeatureSpec, FittedFeature, ModelKind};
use polars::prelude::*;
use serde::Serialize;

use crate::Result;
use crate::data::Slice;

/// Validation leads the contributions are summarised over (an even spread in time when more).
const SUMMARY_ROWS: usize = 5000;
/// Validation leads partial dependence averages over.
const DEPENDENCE_ROWS: usize = 1000;
/// Features shown with partial dependence.
const DEPENDENCE_FEATURES: usize = 3;
/// Features in the contribution summary.
const SUMMARY_FEATURES: usize = 15;
/// A level needs this many leads to be named as raising or lowering the odds.
const MIN_LEVEL_LEADS: usize = 20;

/// The effects of the chosen model's features (`report.json` → `trained.effects`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Effects {
    /// Validation leads the summary is over.
    pub rows: usize,
    /// The most important features' contributions, in importance order.
    pub features: Vec<FeatureEffect>,
    /// Partial dependence of the top features.
    pub dependence: Vec<Dependence>,
}

/// One feature's contributions to the log-odds over the leads.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureEffect {
    /// The feature.
    pub feature: String,
    /// Mean absolute contribution (log-odds).
    pub mean_abs: f64,
    /// 10th percentile of the signed contribution.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Share of the leads whose odds it raises.
    pub raises: f64,
    /// In words: which values raise and which lower the odds.
    pub direction: String,
}

/// Mean probability over the leads with the feature set to each value.
#[derive(Debug, Clone, Serialize)]
pub struct Dependence {
    /// The feature.
    pub feature: String,
    /// Whether it is a category (the values are levels) or a number (quantiles of its values).
    pub categorical: bool,
    /// `(value, mean calibrated probability)`.
    pub points: Vec<(String, f64)>,
}

/// Every `step`-th row of the slice's frame.
fn spread(df: &DataFrame, most: usize) -> Result<DataFrame> {
    let step = df.height().div_ceil(most.max(1)).max(1);
    let mask: BooleanChunked = (0..df.height()).map(|i| i % step == 0).collect();
    Ok(frame::rows_where(df, &mask)?)
}

/// The chosen model's effects on the validation leads, its features in `importance` order.
pub fn effects(
    (kind, classifier, calibrator): (ModelKind, &Classifier, &Calibrator),
    spec: &FeatureSpec,
    validation: &Slice,
    importance: &[(String, f64)],
) -> Result<Effects> {
    let sample = spread(&validation.frame, SUMMARY_ROWS)?;
    if sample.height() == 0 {
        return Ok(Effects::default());
    }
    let design = spec.transform(&sample, kind.encoding())?;
    let (_, contributions) = classifier.logits_and_contributions(&design)?;
    let cols = design.columns.len();
    // Each feature's contribution per lead: the sum over its design columns.
    let mut by_feature: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (j, c) in design.columns.iter().enumerate() {
        let sums = by_feature.entry(c.feature.as_str()).or_insert_with(|| vec![0.0; design.rows]);
        for (i, s) in sums.iter_mut().enumerate() {
            *s += contributions[i * cols + j];
        }
    }
    let mut features = Vec::new();
    for (name, _) in importance.iter().take(SUMMARY_FEATURES) {
        let (Some(c), Some(fitted)) = (by_feature.get(name.as_str()), spec.features.iter().find(|f| f.name() == name))
        else {
            continue;
        };
        features.push(summary(name, c, fitted, &sample)?);
    }
    let rows = design.rows;
    let few = spread(&validation.frame, DEPENDENCE_ROWS)?;
    let mut dependence = Vec::new();
    for (name, _) in importance.iter().take(DEPENDENCE_FEATURES) {
        if let Some(fitted) = spec.features.iter().find(|f| f.name() == name) {
            dependence.push(partial_dependence(fitted, &few, spec, (kind, classifier, calibrator))?);
        }
    }
    Ok(Effects { rows, features, dependence })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

fn summary(name: &str, c: &[f64], fitted: &FittedFeature, sample: &DataFrame) -> Result<FeatureEffect> {
    let mut sorted = c.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = c.len().max(1) as f64;
    let direction = match fitted {
        FittedFeature::Numeric { .. } => {
            let values = sample.column(name)?.cast(&DataType::Float64)?;
            let values: Vec<Option<f64>> = values.f64()?.iter().collect();
            let pairs: Vec<(f64, f64)> =
                values.iter().zip(c).filter_map(|(v, c)| v.filter(|v| v.is_finite()).map(|v| (v, *c))).collect();
            match correlation(&pairs) {
                Some(r) if r > 0.3 => "higher values raise the odds".to_string(),
                Some(r) if r < -0.3 => "higher values lower the odds".to_string(),
                Some(_) => "not monotone: middle or missing values matter".to_string(),
                None => "constant on these leads".to_string(),
            }
        }
        FittedFeature::Categorical { .. } => {
            let levels = sample.column(name)?.cast(&DataType::String)?;
            let mut by_level: BTreeMap<String, (f64, usize)> = BTreeMap::new();
            for (level, c) in levels.str()?.iter().zip(c) {
                let e = by_level.entry(level.unwrap_or("(missing)").to_string()).or_default();
                e.0 += c;
                e.1 += 1;
            }
            let mut means: Vec<(String, f64)> = by_level
                .into_iter()
                .filter(|(_, (_, k))| *k >= MIN_LEVEL_LEADS)
                .map(|(l, (s, k))| (l, s / k as f64))
                .collect();
            means.sort_by(|a, b| b.1.total_cmp(&a.1));
            match (means.first(), means.last()) {
                (Some(up), Some(down)) if means.len() >= 2 => {
                    format!("raises most: {} ({:+.2}); lowers most: {} ({:+.2})", up.0, up.1, down.0, down.1)
                }
                _ => "one level on these leads".to_string(),
            }
        }
    };
    Ok(FeatureEffect {
        feature: name.to_string(),
        mean_abs: c.iter().map(|v| v.abs()).sum::<f64>() / n,
        p10: quantile(&sorted, 0.1),
        p50: quantile(&sorted, 0.5),
        p90: quantile(&sorted, 0.9),
        raises: c.iter().filter(|v| **v > 0.0).count() as f64 / n,
        direction,
    })
}

/// Pearson's correlation; `None` when either side is constant.
fn correlation(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.len() < 3 {
        return None;
    }
    let (mx, my) = pairs.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The grid: nine quantiles of a number's values (distinct), or a category's most frequent levels.
fn grid(fitted: &FittedFeature, column: &Column) -> Result<Vec<AnyValue<'static>>> {
    Ok(match fitted {
        FittedFeature::Numeric { .. } => {
            let values = column.cast(&DataType::Float64)?;
            let mut v: Vec<f64> = values.f64()?.iter().flatten().filter(|v| v.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            let mut points: Vec<f64> = (1..=9).map(|k| quantile(&v, f64::from(k) / 10.0)).collect();
            points.retain(|p| p.is_finite());
            points.dedup();
            points.into_iter().map(AnyValue::Float64).collect()
        }
        FittedFeature::Categorical { levels, .. } => {
            levels.iter().take(8).map(|l| AnyValue::StringOwned(l.as_str().into())).collect()
        }
    })
}

fn partial_dependence(
    fitted: &FittedFeature,
    leads: &DataFrame,
    spec: &FeatureSpec,
    (kind, classifier, calibrator): (ModelKind, &Classifier, &Calibrator),
) -> Result<Dependence> {
    let name = fitted.name();
    let column = leads.column(name)?;
    let dtype = column.dtype().clone();
    let mut points = Vec::new();
    for value in grid(fitted, column)? {
        let label = match &value {
            AnyValue::Float64(v) => format_number(*v),
            v => v.str_value().to_string(),
        };
        let fixed = Column::new_scalar(name.into(), Scalar::new(value.dtype(), value), leads.height()).cast(&dtype)?;
        let mut frame = leads.clone();
        frame.with_column(fixed)?;
        let design = spec.transform(&frame, kind.encoding())?;
        let z = classifier.logits(&design)?;
        let p = calibrator.apply_all(&z);
        points.push((label, p.iter().sum::<f64>() / p.len().max(1) as f64));
    }
    Ok(Dependence {
        feature: name.to_string(),
        categorical: matches!(fitted, FittedFeature::Categorical { .. }),
        points,
    })
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 { format!("{v:.0}") } else { format!("{v:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_names_the_direction_and_refuses_constants() {
        let up: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 0.5 * f64::from(i))).collect();
        assert!((correlation(&up).unwrap_or(0.0) - 1.0).abs() < 1e-12);
        let down: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), -f64::from(i))).collect();
        assert!((correlation(&down).unwrap_or(0.0) + 1.0).abs() < 1e-12);
        assert_eq!(correlation(&[(1.0, 2.0), (1.0, 3.0), (1.0, 4.0)]), None);
    }
}
