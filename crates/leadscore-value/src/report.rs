//! The value stage report.

use std::fmt::Write as _;

use leadscore_core::{RunContext, RunDate};
use leadscore_model::registry::LoadedModel;
use serde::Serialize;

/// Predicted value of one segment today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentValue {
    /// Segment name.
    pub segment: String,
    /// Leads.
    pub leads: u64,
    /// Sum of predicted values.
    pub predicted_value: f64,
}

/// `report.json` of the value stage.
#[derive(Debug, Clone, Serialize)]
pub struct ValueStageReport {
    /// The run date.
    pub run_date: RunDate,
    /// The model.
    pub model_id: String,
    /// `boosted` or `segment_mean`.
    pub method: String,
    /// Project currency.
    pub currency: String,
    /// Leads valued.
    pub leads: u64,
    /// Sum of predicted values.
    pub total_predicted_value: f64,
    /// Per segment.
    pub segments: Vec<SegmentValue>,
}

pub(crate) fn build(
    ctx: &RunContext,
    model: &LoadedModel,
    method: &str,
    currency: &str,
    predicted: &[f64],
    segment: &[&str],
) -> ValueStageReport {
    let segments = model
        .thresholds
        .segments
        .iter()
        .map(|s| {
            let idx: Vec<usize> = (0..segment.len()).filter(|i| segment[*i] == s.name).collect();
            SegmentValue {
                segment: s.name.clone(),
                leads: idx.len() as u64,
                predicted_value: idx.iter().fold(0.0, |sum, i| sum + predicted[*i]),
            }
        })
        .collect();
    ValueStageReport {
        run_date: ctx.run_date,
        model_id: model.artifact.model_id.clone(),
        method: method.to_string(),
        currency: currency.to_string(),
        leads: predicted.len() as u64,
        // Folded from +0: an empty sum is 0, not the -0 of `Sum` for floats.
        total_predicted_value: predicted.iter().fold(0.0, |sum, p| sum + p),
        segments,
    }
}

impl ValueStageReport {
    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "value {}: {} leads, predicted value {:.0} {} in total (model {}, {})",
            self.run_date, self.leads, self.total_predicted_value, self.currency, self.model_id, self.method
        );
        let parts: Vec<String> =
            self.segments.iter().map(|g| format!("{} {:.0}", g.segment, g.predicted_value)).collect();
        let _ = writeln!(s, "  by segment: {}", parts.join(" · "));
        s
    }
}
