//! The leakage audit: attributes that look like they were filled in after the lead was created.
//!
//! Three checks, on every training build:
//! - **declared**: the config says `available_at_creation = false`;
//! - **fill-rate drift**: the attribute is filled far less often for recent leads (created in the
//!   last `audit_recent_days` days) than for matured training leads: it is filled in later in the
//!   sales process. Flagged when the recent fill rate is below half the training one, at least
//!   [`MIN_RECENT`] recent leads exist, the training fill rate is at least 2%, and the shortfall is
//!   at least [`DRIFT_Z`] standard errors;
//! - **separates**: the attribute alone separates converted from not converted training leads
//!   almost perfectly: its univariate ROC AUC (either direction) is above `audit_max_auc`.
//!   Categories with fewer than `min_count` training leads are pooled, so rare values cannot fake
//!   separation; missing values are a level of their own.
//!
//! A flagged attribute is excluded from the features unless `keep_if_flagged = true`.

use std::collections::HashMap;

use leadscore_core::config::{Attribute, AttributeKind, Features};
use leadscore_core::schema::leads;
use leadscore_model::metrics::roc_auc;
use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;

/// Fewest recent leads for the drift check to say anything.
pub const MIN_RECENT: usize = 50;
/// Standard errors below the training fill rate that count as drift.
pub const DRIFT_Z: f64 = 3.0;

/// Why an attribute was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Declared not available at creation.
    Declared,
    /// Filled much less often for recent leads.
    FillDrift,
    /// Separates the outcome almost perfectly on its own.
    Separates,
}

/// The audit's verdict on one attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Attribute name.
    pub attribute: String,
    /// Share of training leads with a value.
    pub fill_training: Option<f64>,
    /// Share of recent leads with a value.
    pub fill_recent: Option<f64>,
    /// Recent leads looked at.
    pub recent_leads: u64,
    /// Univariate ROC AUC on training leads (folded so that it is at least 0.5).
    pub univariate_auc: Option<f64>,
    /// What was found.
    pub flags: Vec<Flag>,
    /// Whether the attribute is left out of the features.
    pub excluded: bool,
    /// The verdict in words.
    pub verdict: String,
}

fn fill(col: &Column) -> Option<f64> {
    (!col.is_empty()).then(|| 1.0 - col.null_count() as f64 / col.len() as f64)
}

/// A score per row for the univariate AUC: the value for numbers, the in-sample positive rate of
/// the level for categories (rare levels pooled; missing a level of its own).
fn scores(col: &Column, kind: AttributeKind, created: &Column, positive: &[bool], min_count: u32) -> Result<Vec<f64>> {
    Ok(match kind {
        AttributeKind::Numeric => col
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY))
            .collect(),
        AttributeKind::Boolean => col.bool()?.iter().map(|v| v.map_or(-1.0, |b| f64::from(u8::from(b)))).collect(),
        AttributeKind::Timestamp => {
            let c = created.datetime()?.physical().clone();
            col.datetime()?
                .physical()
                .iter()
                .zip(c.iter())
                .map(|(t, c)| match (t, c) {
                    (Some(t), Some(c)) => (t - c) as f64,
                    _ => f64::NEG_INFINITY,
                })
                .collect()
        }
        AttributeKind::Categorical | AttributeKind::Text => {
            let s = col.cast(&DataType::String)?;
            let s = s.str()?;
            let mut counts: HashMap<Option<&str>, (u64, u64)> = HashMap::new();
            for (v, p) in s.iter().zip(positive) {
                let e = counts.entry(v).or_default();
                e.0 += 1;
                e.1 += u64::from(*p);
            }
            let mut rare = (0u64, 0u64);
            for (k, (n, p)) in &counts {
                if k.is_some() && *n < u64::from(min_count) {
                    rare.0 += n;
                    rare.1 += p;
                }
            }
            let rate = |(n, p): (u64, u64)| if n == 0 { 0.0 } else { p as f64 / n as f64 };
            s.iter()
                .map(|v| match counts.get(&v) {
                    Some(c) if v.is_some() && c.0 < u64::from(min_count) => rate(rare),
                    Some(c) => rate(*c),
                    None => 0.0,
                })
                .collect()
        }
    })
}

/// Audits every attribute. `training` holds the training leads with a `converted` column and
/// the attribute columns; `recent` the leads created in the recent days before the run date.
pub fn audit(
    attributes: &[(Attribute, AttributeKind)],
    training: &DataFrame,
    positive: &[bool],
    recent: &DataFrame,
    settings: &Features,
) -> Result<Vec<AuditRow>> {
    let mut out = Vec::new();
    for (a, kind) in attributes {
        let train_col = training.column(&a.name)?;
        let fill_training = fill(train_col);
        let recent_col = recent.column(&a.name)?;
        let fill_recent = fill(recent_col);
        let auc = roc_auc(
            &scores(train_col, *kind, training.column(leads::CREATED_AT)?, positive, settings.min_count)?,
            positive,
        )
        .map(|x| x.max(1.0 - x));
        let mut flags = Vec::new();
        let mut why = Vec::new();
        if !a.available_at_creation {
            flags.push(Flag::Declared);
            why.push("declared `available_at_creation = false`".to_string());
        }
        if let (Some(ft), Some(fr)) = (fill_training, fill_recent) {
            let n = recent.height();
            let se = (ft * (1.0 - ft) / n.max(1) as f64).sqrt();
            if n >= MIN_RECENT && ft >= 0.02 && fr < 0.5 * ft && se > 0.0 && (fr - ft) / se <= -DRIFT_Z {
                flags.push(Flag::FillDrift);
                why.push(format!(
                    "filled for {:.1}% of training leads but only {:.1}% of the {n} leads of the last {} days: it is filled in later in the sales process",
                    ft * 100.0,
                    fr * 100.0,
                    settings.audit_recent_days
                ));
            }
        }
        if let Some(x) = auc.filter(|x| *x > settings.audit_max_auc) {
            flags.push(Flag::Separates);
            why.push(format!(
                "on its own it separates converted from not converted leads with AUC {x:.3} (bound {})",
                settings.audit_max_auc
            ));
        }
        let excluded = !a.available_at_creation || (!flags.is_empty() && !a.keep_if_flagged);
        let verdict = match (flags.is_empty(), excluded) {
            (true, _) => "ok".to_string(),
            (false, true) => format!("excluded: {}", why.join("; ")),
            (false, false) => format!("kept (`keep_if_flagged = true`) although {}", why.join("; ")),
        };
        out.push(AuditRow {
            attribute: a.name.clone(),
            fill_training,
            fill_recent,
            recent_leads: recent.height() as u64,
            univariate_auc: auc,
            flags,
            excluded,
            verdict,
        });
    }
    Ok(out)
}
