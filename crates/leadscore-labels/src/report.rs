//! The labels stage report: definitions, volumes, label counts per month, time to convert.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use leadscore_core::RunDate;
use serde::Serialize;

/// What labelling found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelsReport {
    /// The run date.
    pub run_date: RunDate,
    /// The target definition.
    pub target: String,
    /// The conversion window, days.
    pub window_days: u32,
    /// Training history, months.
    pub history_months: u32,
    /// Leads created in `[from, to)` (local dates) that are matured form the training set.
    pub training_window: DateRange,
    /// Every definition with its conversions.
    pub definitions: Vec<DefinitionSummary>,
    /// Conversions per month (of `at`, local time) and definition, known before the run date.
    pub volumes: Vec<MonthVolume>,
    /// Label counts over all leads created before the run date.
    pub totals: LabelCounts,
    /// Label counts per month of lead creation (local time).
    pub months: Vec<MonthLabels>,
    /// Leads in the export created on or after the run date (not labelled).
    pub leads_after_run_date: u64,
    /// Positive, matured, non-existing-customer leads in the training window (what training
    /// counts against `min_conversions`).
    pub training_conversions: u64,
    /// Matured, non-existing-customer leads in the training window.
    pub training_leads: u64,
    /// From creation to the first conversion, over leads that are not existing customers and
    /// converted at any time after creation.
    pub time_to_convert: TimeToConvert,
    /// Warnings (also logged).
    pub warnings: Vec<String>,
}

/// A half-open range of local dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateRange {
    /// First day.
    pub from: NaiveDate,
    /// Day after the last.
    pub to: NaiveDate,
}

/// One definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefinitionSummary {
    /// Name.
    pub name: String,
    /// Whether a preset brought it.
    pub builtin: bool,
    /// The definition in words.
    pub description: String,
    /// Conversions known before the run date.
    pub conversions: u64,
    /// Of these, how many have no value (no amount, or a currency without a rate).
    pub without_value: u64,
}

/// Conversions in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthVolume {
    /// `YYYY-MM`.
    pub month: String,
    /// Conversions per definition name.
    pub conversions: BTreeMap<String, u64>,
}

/// Label counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelCounts {
    /// Leads.
    pub leads: u64,
    /// Matured leads.
    pub matured: u64,
    /// Leads converted within their window (matured or not).
    pub converted: u64,
    /// Matured leads converted within their window.
    pub converted_matured: u64,
    /// Existing customers.
    pub existing_customers: u64,
    /// Matured, converted, non-existing / matured, non-existing.
    pub conversion_rate: Option<f64>,
    /// Median days to convert among leads converted within the window.
    pub median_days_to_convert: Option<f64>,
}

/// Label counts for leads created in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthLabels {
    /// `YYYY-MM`.
    pub month: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: LabelCounts,
}

/// Distribution of days from lead to first conversion.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeToConvert {
    /// Leads with a conversion after creation.
    pub leads: u64,
    /// Median days.
    pub p50: Option<f64>,
    /// 75th percentile.
    pub p75: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// Share whose first conversion came after the window (lost to the window).
    pub share_after_window: Option<f64>,
}

/// The `q` quantile of sorted values (linear interpolation).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

impl TimeToConvert {
    /// From per-lead days to first conversion.
    pub fn from_days(mut days: Vec<f64>, window_days: u32) -> Self {
        days.sort_by(f64::total_cmp);
        let after = days.iter().filter(|d| **d >= f64::from(window_days)).count();
        Self {
            leads: days.len() as u64,
            p50: quantile(&days, 0.5),
            p75: quantile(&days, 0.75),
            p90: quantile(&days, 0.9),
            p95: quantile(&days, 0.95),
            share_after_window: (!days.is_empty()).then(|| after as f64 / days.len() as f64),
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.2}%", v * 100.0))
}

fn days(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

impl LabelsReport {
    /// The volumes table: months down, definitions across.
    pub fn volumes_table(&self) -> String {
        let names: Vec<&str> = self.definitions.iter().map(|d| d.name.as_str()).collect();
        let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
        let mut s = format!("  {:<8}", "month");
        for n in &names {
            let _ = write!(s, " {n:>width$}");
        }
        s.push('\n');
        for m in &self.volumes {
            let _ = write!(s, "  {:<8}", m.month);
            for n in &names {
                let v = m.conversions.get(*n).copied().unwrap_or(0);
                let _ = write!(s, " {v:>width$}");
            }
            s.push('\n');
        }
        s
    }

    /// The definitions in words.
    pub fn definitions_text(&self) -> String {
        let mut s = String::new();
        for d in &self.definitions {
            let tag = if d.name == self.target {
                " (target)"
            } else if d.builtin {
                " (preset)"
            } else {
                ""
            };
            let _ = writeln!(s, "  {}{tag}: {}", d.name, d.description);
        }
        s
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "labels {}: target `{}`, window {} days, training leads created {} to {}",
            self.run_date, self.target, self.window_days, self.training_window.from, self.training_window.to
        );
        let _ = writeln!(
            s,
            "  leads {} · matured {} · converted {} ({} matured) · existing customers {} · conversion rate {} · median days to convert {}",
            t.leads,
            t.matured,
            t.converted,
            t.converted_matured,
            t.existing_customers,
            pct(t.conversion_rate),
            days(t.median_days_to_convert)
        );
        let ttc = &self.time_to_convert;
        let _ = writeln!(
            s,
            "  days to first conversion: p50 {} · p75 {} · p90 {} · p95 {} · after the window {}",
            days(ttc.p50),
            days(ttc.p75),
            days(ttc.p90),
            days(ttc.p95),
            pct(ttc.share_after_window)
        );
        let _ = writeln!(
            s,
            "  training window: {} matured leads, {} target conversions",
            self.training_leads, self.training_conversions
        );
        for d in &self.definitions {
            let _ = writeln!(s, "  conversions `{}`: {}", d.name, d.conversions);
        }
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
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
        let t = TimeToConvert::from_days(vec![50.0, 10.0, 20.0, 40.0], 40);
        assert_eq!(t.share_after_window, Some(0.5));
        assert_eq!(t.p50, Some(30.0));
    }
}
