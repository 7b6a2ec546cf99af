//! `[qualify]`: the qualification policy, its parameters, and the days scored again.

use serde::{Deserialize, Serialize};

use super::raw::RawQualify;
use super::{KeyPath, Validator, one_of};
use crate::time::RunDate;

/// `policy`.
pub const DEFAULT_POLICY: Policy = Policy::TopFraction;
/// `top_fraction`.
pub const DEFAULT_TOP_FRACTION: f64 = 0.2;
/// `min_precision`.
pub const DEFAULT_MIN_PRECISION: f64 = 0.3;
/// `min_recall`.
pub const DEFAULT_MIN_RECALL: f64 = 0.8;
/// `min_probability`.
pub const DEFAULT_MIN_PROBABILITY: f64 = 0.1;
/// `rescore_days`.
pub const DEFAULT_RESCORE_DAYS: u32 = 0;

/// A qualification policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The highest-probability share of leads.
    TopFraction,
    /// The lowest threshold with at least the given validation precision.
    MinPrecision,
    /// The highest threshold with at least the given validation recall.
    MinRecall,
    /// A fixed calibrated probability.
    MinProbability,
}

impl Policy {
    /// Every policy, in documentation order.
    pub const ALL: [Policy; 4] = [Self::TopFraction, Self::MinPrecision, Self::MinRecall, Self::MinProbability];

    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::TopFraction => "top_fraction",
            Self::MinPrecision => "min_precision",
            Self::MinRecall => "min_recall",
            Self::MinProbability => "min_probability",
        }
    }
}

/// Validated `[qualify]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualify {
    /// The policy scoring applies.
    pub policy: Policy,
    /// Parameter of [`Policy::TopFraction`].
    pub top_fraction: f64,
    /// Parameter of [`Policy::MinPrecision`].
    pub min_precision: f64,
    /// Parameter of [`Policy::MinRecall`].
    pub min_recall: f64,
    /// Parameter of [`Policy::MinProbability`].
    pub min_probability: f64,
    /// Extra days before the run date's day that are scored again.
    pub rescore_days: u32,
}

impl Qualify {
    /// The first day the run for `run_date` scores: the leads created from it up to the run date
    /// are scored (the day before the run date, and `rescore_days` before that).
    pub fn first_scored_day(&self, run_date: RunDate) -> RunDate {
        let days = 1 + i64::from(self.rescore_days);
        RunDate::new(run_date.date().checked_sub_signed(chrono::Duration::days(days)).unwrap_or(run_date.date()))
    }

    /// The configured parameter of a policy.
    pub fn parameter(&self, policy: Policy) -> f64 {
        match policy {
            Policy::TopFraction => self.top_fraction,
            Policy::MinPrecision => self.min_precision,
            Policy::MinRecall => self.min_recall,
            Policy::MinProbability => self.min_probability,
        }
    }
}

impl Validator<'_> {
    pub(super) fn qualify(&mut self) -> Option<Qualify> {
        let path = KeyPath::root().key("qualify");
        let raw: RawQualify = match self.get(&path) {
            None => RawQualify::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let policy = match raw.policy.as_deref().map(str::trim) {
            None => Some(DEFAULT_POLICY),
            Some(name) => Policy::ALL.into_iter().find(|p| p.name() == name).or_else(|| {
                let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
                self.problem(
                    &path.key("policy"),
                    format!("unknown policy `{name}`, expected one of {}", one_of(&names)),
                );
                None
            }),
        };
        let mut share = |key: &str, value: Option<f64>, default: f64| {
            self.in_range(&path.key(key), value, default, |x| x > 0.0 && x < 1.0, "above 0 and below 1")
        };
        let top_fraction = share("top_fraction", raw.top_fraction, DEFAULT_TOP_FRACTION);
        let min_precision = share("min_precision", raw.min_precision, DEFAULT_MIN_PRECISION);
        let min_recall = share("min_recall", raw.min_recall, DEFAULT_MIN_RECALL);
        let min_probability = share("min_probability", raw.min_probability, DEFAULT_MIN_PROBABILITY);
        let rescore_days = self.in_range(
            &path.key("rescore_days"),
            raw.rescore_days,
            DEFAULT_RESCORE_DAYS,
            |d| d <= 3660,
            "between 0 and 3660",
        );
        Some(Qualify {
            rescore_days: rescore_days?,
            policy: policy?,
            top_fraction: top_fraction?,
            min_precision: min_precision?,
            min_recall: min_recall?,
            min_probability: min_probability?,
        })
    }
}
