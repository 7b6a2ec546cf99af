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

use leadscore_core::config::{Attribute, AttributeKind, Features};
use leadscore_core::schema::leads;
use leadscore_model::metrics::{roc_auc, roc_auc_grouped};
use polars::prelude::*;
use rayon::prelude::*;

pub use leadscore_core::artifact::{AuditRow, Flag};

use crate::error::Result;

/// Fewest recent leads for the drift check to say anything.
pub const MIN_RECENT: usize = 50;
/// Standard errors below the training fill rate that count as drift.
pub const DRIFT_Z: f64 = 3.0;

fn fill(col: &Column) -> Option<f64> {
    (!col.is_empty()).then(|| 1.0 - col.null_count() as f64 / col.len() as f64)
}

/// The univariate ROC AUC of one attribute (not yet folded). Numbers score by their value
/// (missing lowest); booleans and categories by the in-sample positive rate of their level, rare
/// levels pooled and missing a level of its own. Levels are counted, not sorted row by row.
fn univariate_auc(
    col: &Column,
    kind: AttributeKind,
    created: &Column,
    positive: &[bool],
    min_count: u32,
) -> Result<Option<f64>> {
    Ok(match kind {
        AttributeKind::Numeric => {
            let v = col.cast(&DataType::Float64)?;
            let s: Vec<f64> =
                v.f64()?.iter().map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY)).collect();
            roc_auc(&s, positive)
        }
        AttributeKind::Timestamp => {
            let c = created.datetime()?.physical().clone();
            let s: Vec<f64> = col
                .datetime()?
                .physical()
                .iter()
                .zip(c.iter())
                .map(|(t, c)| match (t, c) {
                    (Some(t), Some(c)) => (t - c) as f64,
                    _ => f64::NEG_INFINITY,
                })
                .collect();
            roc_auc(&s, positive)
        }
        AttributeKind::Boolean => {
            // Levels: missing, false, true.
            let mut counts = [(0u64, 0u64); 3];
            for (v, p) in col.bool()?.iter().zip(positive) {
                let i = v.map_or(0, |b| 1 + usize::from(b));
                counts[i].0 += 1;
                counts[i].1 += u64::from(*p);
            }
            level_auc(counts.iter().map(|c| (false, *c)), min_count)
        }
        AttributeKind::Categorical | AttributeKind::Text => {
            let counts = match col.cat32() {
                // An attribute held as codes (features' `as_categories`).
                Ok(cats) => level_counts(cats.physical().iter(), positive),
                Err(_) => level_counts(col.cast(&DataType::String)?.str()?.iter(), positive),
            };
            level_auc(counts.into_iter(), min_count)
        }
    })
}

/// Leads and positives of each level `(present, (leads, positives))`, missing values one level.
fn level_counts<K: std::hash::Hash + Eq>(
    values: impl Iterator<Item = Option<K>>,
    positive: &[bool],
) -> Vec<(bool, (u64, u64))> {
    let mut counts: PlHashMap<Option<K>, (u64, u64)> = PlHashMap::new();
    for (v, p) in values.zip(positive) {
        let e = counts.entry(v).or_default();
        e.0 += 1;
        e.1 += u64::from(*p);
    }
    counts.into_iter().map(|(k, c)| (k.is_some(), c)).collect()
}

/// AUC of levels `(poolable, (leads, positives))` scored by their positive rate; poolable levels
/// with fewer than `min_count` leads are scored together as one.
fn level_auc(levels: impl Iterator<Item = (bool, (u64, u64))>, min_count: u32) -> Option<f64> {
    let rate = |(n, p): (u64, u64)| if n == 0 { 0.0 } else { p as f64 / n as f64 };
    let mut rare = (0u64, 0u64);
    let mut groups = Vec::new();
    for (poolable, (n, p)) in levels {
        if poolable && n < u64::from(min_count) {
            rare = (rare.0 + n, rare.1 + p);
        } else {
            groups.push((rate((n, p)), p, n - p));
        }
    }
    groups.push((rate(rare), rare.1, rare.0 - rare.1));
    roc_auc_grouped(&mut groups)
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
    // Attributes are independent: audit them in parallel, in config order.
    attributes.par_iter().map(|(a, kind)| audit_one(a, *kind, training, positive, recent, settings)).collect()
}

fn audit_one(
    a: &Attribute,
    kind: AttributeKind,
    training: &DataFrame,
    positive: &[bool],
    recent: &DataFrame,
    settings: &Features,
) -> Result<AuditRow> {
    let train_col = training.column(&a.name)?;
    let fill_training = fill(train_col);
    let recent_col = recent.column(&a.name)?;
    let fill_recent = fill(recent_col);
    let created = training.column(leads::CREATED_AT)?;
    let auc = univariate_auc(train_col, kind, created, positive, settings.min_count)?.map(|x| x.max(1.0 - x));
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
    Ok(AuditRow {
        attribute: a.name.clone(),
        fill_training,
        fill_recent,
        recent_leads: recent.height() as u64,
        univariate_auc: auc,
        flags,
        excluded,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_held_as_codes_scores_as_its_text_does() -> Result<()> {
        let text = Column::new("tier".into(), [Some("b"), Some("a"), Some("b"), None, Some("c"), Some("b"), Some("a")]);
        let levels = Categories::new("tier".into(), "leadscore.features.audit-test".into(), CategoricalPhysical::U32);
        let dtype = DataType::from_categories(levels);
        // The mapping also has a level no lead here has (as when another run shares it).
        let _other = Column::new("tier".into(), ["zzz"]).cast(&dtype)?;
        let coded = text.cast(&dtype)?;
        assert!(coded.cat32().is_ok());
        let created = Column::new(leads::CREATED_AT.into(), [0i64; 7]);
        let positive = [true, false, true, false, false, true, true];
        for min_count in [0, 1, 2, 3] {
            let auc = |c: &Column| univariate_auc(c, AttributeKind::Categorical, &created, &positive, min_count);
            let (a, b) = (auc(&coded)?, auc(&text)?);
            assert!(a.is_some());
            assert_eq!(a, b, "min_count {min_count}");
        }
        Ok(())
    }
}
