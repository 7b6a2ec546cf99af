//! The value model: E[value | converted, features], the second half of predicted value
//! (probability x conditional value).
//!
//! With enough converted training leads it is a forust-ml regression on the log of the value,
//! retransformed with Duan's smearing factor (the mean of the exponentiated residuals), so that
//! exp(prediction) x smearing estimates the mean, not the median. With too few it falls back to
//! the mean value of converted training leads per segment. Both give a 10th-90th percentile
//! interval of the conditional value.

use forust_ml::GradientBooster;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::forest::Forest;
use crate::spec::Design;

/// Conditional value of one segment (the fallback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentValue {
    /// Segment name.
    pub segment: String,
    /// Converted training leads in it.
    pub conversions: u64,
    /// Their mean value.
    pub mean: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// A fitted value model.
#[derive(Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ValueModel {
    /// Regression on log value (trees encoding).
    Boosted {
        /// Predicts ln(value).
        booster: Box<GradientBooster>,
        /// Duan's smearing factor: mean of exp(residual).
        smearing: f64,
        /// 10th percentile of the log residuals.
        resid_p10: f64,
        /// 90th percentile of the log residuals.
        resid_p90: f64,
    },
    /// Mean value per segment.
    SegmentMean {
        /// One entry per segment (by name); `overall` for segments without conversions.
        segments: Vec<SegmentValue>,
        /// All converted training leads together.
        overall: SegmentValue,
    },
}

impl std::fmt::Debug for ValueModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Boosted { smearing, booster, .. } => {
                f.debug_struct("Boosted").field("trees", &booster.trees.len()).field("smearing", smearing).finish()
            }
            Self::SegmentMean { segments, .. } => f.debug_struct("SegmentMean").field("segments", segments).finish(),
        }
    }
}

/// Conditional value of one lead: mean and 10th-90th percentile interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditional {
    /// E[value | converted].
    pub mean: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
}

impl ValueModel {
    /// Checks that every number is finite; the error names the first field that is not.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Self::Boosted { booster, smearing, resid_p10, resid_p90 } => {
                for (field, v) in [("smearing", smearing), ("resid_p10", resid_p10), ("resid_p90", resid_p90)] {
                    if !v.is_finite() {
                        return Err(format!("{field}` is not a finite number"));
                    }
                }
                if !booster.base_score.is_finite()
                    || booster.trees.iter().flat_map(|t| &t.nodes).any(|n| !f64::from(n.weight_value).is_finite())
                {
                    return Err("booster` holds a non-finite value".into());
                }
            }
            Self::SegmentMean { segments, overall } => {
                for (k, s) in segments.iter().chain(std::iter::once(overall)).enumerate() {
                    if ![s.mean, s.p10, s.p90].iter().all(|v| v.is_finite() && *v >= 0.0) {
                        return Err(format!("segments[{k}]` holds a value that is not a finite amount"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The method's name (`boosted`, `segment_mean`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::Boosted { .. } => "boosted",
            Self::SegmentMean { .. } => "segment_mean",
        }
    }

    /// Conditional values of the rows of `design` (trees encoding), given each row's segment
    /// (used by the fallback).
    pub fn conditional(&self, design: &Design, segments: &[&str]) -> Result<Vec<Conditional>> {
        Ok(match self {
            Self::Boosted { booster, smearing, resid_p10, resid_p90 } => Forest::new(booster)?
                .predict(&design.data, design.rows, design.columns.len())?
                .into_iter()
                .map(|f| Conditional {
                    mean: f.exp() * smearing,
                    p10: (f + resid_p10).exp(),
                    p90: (f + resid_p90).exp(),
                })
                .collect(),
            Self::SegmentMean { segments: per, overall } => segments
                .iter()
                .map(|s| {
                    let v = per.iter().find(|v| v.segment == *s && v.conversions > 0).unwrap_or(overall);
                    Conditional { mean: v.mean, p10: v.p10, p90: v.p90 }
                })
                .collect(),
        })
    }
}

/// The `q`-quantile (0..=1) of sorted values (nearest rank below).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).floor() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_means_fall_back_to_the_overall_mean_for_empty_segments() {
        let v = |segment: &str, conversions, mean| SegmentValue {
            segment: segment.into(),
            conversions,
            mean,
            p10: 1.0,
            p90: 9.0,
        };
        let m = ValueModel::SegmentMean {
            segments: vec![v("good", 10, 500.0), v("low", 0, 0.0)],
            overall: v("all", 10, 300.0),
        };
        let d = Design { columns: vec![], rows: 3, data: vec![] };
        let c = m.conditional(&d, &["good", "low", "unknown"]).expect("segment means");
        assert_eq!(c.iter().map(|c| c.mean).collect::<Vec<_>>(), [500.0, 300.0, 300.0]);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
