//! The features stage report: splits, the features built, and the leakage audit.

use std::fmt::Write as _;

use leadscore_core::RunDate;
use leadscore_model::FeatureKind;
use serde::Serialize;

use crate::audit::AuditRow;

/// One split of the feature rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitSummary {
    /// Leads.
    pub leads: u64,
    /// Converted leads (training and validation only).
    pub positives: u64,
    /// First creation time (RFC 3339).
    pub from: Option<String>,
    /// Last creation time.
    pub to: Option<String>,
}

/// One feature built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureSummary {
    /// Column name.
    pub name: String,
    /// Numeric or categorical.
    pub kind: FeatureKind,
    /// Where it comes from.
    pub origin: String,
    /// What it means.
    pub description: String,
    /// Share of training leads with a value.
    pub fill_train: f64,
    /// Levels kept in the spec (categorical).
    pub levels: Option<usize>,
}

/// What the features stage built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeaturesReport {
    /// The run date.
    pub run_date: RunDate,
    /// Matured training leads before the validation cut.
    pub train: SplitSummary,
    /// The most recent matured training leads, held out.
    pub validation: SplitSummary,
    /// Leads after the training window whose conversion windows are still open (outcomes so far).
    pub pending: SplitSummary,
    /// Every feature built, in spec order.
    pub features: Vec<FeatureSummary>,
    /// The leakage audit of every attribute.
    pub audit: Vec<AuditRow>,
    /// Event names counted on their own.
    pub event_names: Vec<String>,
    /// Columns of the design matrix for trees / for linear models.
    pub design_columns: (usize, usize),
    /// Warnings (also logged).
    pub warnings: Vec<String>,
}

impl FeaturesReport {
    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "features {}: {} features ({} design columns for trees, {} for linear models)",
            self.run_date,
            self.features.len(),
            self.design_columns.0,
            self.design_columns.1
        );
        for (name, sp) in [("train", &self.train), ("validation", &self.validation), ("pending", &self.pending)] {
            let _ = writeln!(
                s,
                "  {name:<10} {:>8} leads {:>6} converted  {} … {}",
                sp.leads,
                sp.positives,
                sp.from.as_deref().unwrap_or("-"),
                sp.to.as_deref().unwrap_or("-")
            );
        }
        let _ = writeln!(s, "  leakage audit:");
        for a in &self.audit {
            let auc = a.univariate_auc.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
            let _ = writeln!(s, "    {:<20} AUC {auc:<6} {}", a.attribute, a.verdict);
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}
