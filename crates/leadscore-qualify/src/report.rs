//! The qualify stage report.

use std::fmt::Write as _;

use leadscore_core::config::Policy;
use leadscore_core::{Config, RunContext, RunDate};
use leadscore_model::registry::{LoadedModel, PolicyThreshold};
use serde::Serialize;

/// Leads per segment today against the validation shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentCount {
    /// Segment name.
    pub segment: String,
    /// Leads scored into it today.
    pub leads: u64,
    /// Today's share.
    pub share: f64,
    /// Its share of validation leads.
    pub expected_share: f64,
    /// Its validation conversion rate.
    pub expected_rate: f64,
}

/// `report.json` of the qualify stage.
#[derive(Debug, Clone, Serialize)]
pub struct QualifyReport {
    /// The run date.
    pub run_date: RunDate,
    /// First day scored.
    pub scored_from: RunDate,
    /// The champion that scored.
    pub model_id: String,
    /// Leads scored.
    pub leads: u64,
    /// Mean calibrated probability (the expected conversion rate of today's leads).
    pub mean_probability: f64,
    /// The policy applied.
    pub policy: Policy,
    /// Its parameter when the model was trained.
    pub parameter: f64,
    /// The probability threshold.
    pub threshold: f64,
    /// Leads qualified today.
    pub qualified: u64,
    /// Today's qualified share.
    pub qualified_share: f64,
    /// The share qualified on validation.
    pub expected_share: f64,
    /// Validation precision of the qualified leads.
    pub expected_precision: f64,
    /// Validation recall.
    pub expected_recall: f64,
    /// Whether today's share is far from the expected one (see [`drifted`]).
    pub drift: bool,
    /// Segment counts.
    pub segments: Vec<SegmentCount>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Whether a qualified share `share` of `n` leads is far from the `expected` share: more than
/// three binomial standard errors and more than 5 points away.
pub fn drifted(share: f64, expected: f64, n: u64) -> bool {
    let se = (expected * (1.0 - expected) / n.max(1) as f64).sqrt();
    (share - expected).abs() > (3.0 * se).max(0.05)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    config: &Config,
    ctx: &RunContext,
    model: &LoadedModel,
    threshold: &PolicyThreshold,
    probability: &[f64],
    qualified: &[bool],
    segment: &[&str],
    scored_from: RunDate,
) -> QualifyReport {
    let n = probability.len() as u64;
    let q = qualified.iter().filter(|x| **x).count() as u64;
    let share = q as f64 / n.max(1) as f64;
    let mut warnings = Vec::new();
    let drift = drifted(share, threshold.qualified_share, n);
    if drift {
        warnings.push(format!(
            "{:.1}% of today's {n} leads are qualified, but validation qualified {:.1}% under `{}`: the leads (or the tracking) changed; check the sources and consider retraining",
            100.0 * share,
            100.0 * threshold.qualified_share,
            threshold.policy.name()
        ));
    }
    let configured = config.qualify.parameter(threshold.policy);
    if (configured - threshold.parameter).abs() > 1e-12 {
        warnings.push(format!(
            "`[qualify] {}` is {configured} but model {} computed its threshold for {}; retrain (`leadscore train`) to apply the new value",
            threshold.policy.name(),
            model.artifact.model_id,
            threshold.parameter
        ));
    }
    let segments = model
        .thresholds
        .segments
        .iter()
        .map(|seg| {
            let k = segment.iter().filter(|s| **s == seg.name).count() as u64;
            SegmentCount {
                segment: seg.name.clone(),
                leads: k,
                share: k as f64 / n.max(1) as f64,
                expected_share: seg.share_of_leads,
                expected_rate: seg.conversion_rate,
            }
        })
        .collect();
    QualifyReport {
        run_date: ctx.run_date,
        scored_from,
        model_id: model.artifact.model_id.clone(),
        leads: n,
        // Folded from +0: no lead gives 0, not the -0 of `Sum` for floats.
        mean_probability: probability.iter().fold(0.0, |sum, p| sum + p) / n.max(1) as f64,
        policy: threshold.policy,
        parameter: threshold.parameter,
        threshold: threshold.threshold,
        qualified: q,
        qualified_share: share,
        expected_share: threshold.qualified_share,
        expected_precision: threshold.precision,
        expected_recall: threshold.recall,
        drift,
        segments,
        warnings,
    }
}

impl QualifyReport {
    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "qualify {}: {} leads created {} … {} scored with model {}",
            self.run_date, self.leads, self.scored_from, self.run_date, self.model_id
        );
        let _ = writeln!(
            s,
            "  policy {} {} → threshold {:.4}: {} qualified ({:.1}%; validation {:.1}%, precision {:.1}%, recall {:.1}%){}",
            self.policy.name(),
            self.parameter,
            self.threshold,
            self.qualified,
            100.0 * self.qualified_share,
            100.0 * self.expected_share,
            100.0 * self.expected_precision,
            100.0 * self.expected_recall,
            if self.drift { "  DRIFT" } else { "" }
        );
        let parts: Vec<String> = self
            .segments
            .iter()
            .map(|c| {
                format!(
                    "{} {} ({:.0}%, expected {:.0}%)",
                    c.segment,
                    c.leads,
                    100.0 * c.share,
                    100.0 * c.expected_share
                )
            })
            .collect();
        let _ = writeln!(s, "  segments: {}", parts.join(" · "));
        let _ = writeln!(s, "  mean probability {:.4}", self.mean_probability);
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_needs_both_a_statistical_and_a_practical_gap() {
        assert!(!drifted(0.22, 0.20, 1000));
        assert!(drifted(0.35, 0.20, 1000));
        // Few leads: a large gap can be chance.
        assert!(!drifted(0.40, 0.20, 10));
    }
}
