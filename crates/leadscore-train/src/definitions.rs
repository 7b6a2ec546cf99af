//! The chosen model checked against every other conversion definition of the config: a model
//! trained on an early-funnel conversion (an opportunity opened) should still rank the leads that
//! close. For each definition other than the target, a validation lead counts as converted when
//! its user has a conversion of that definition in `[created_at, created_at + window)`, the
//! target's window; the model's probabilities are scored against that.

use std::collections::{BTreeMap, HashMap, HashSet};

use leadscore_core::schema::{conversions as cv, features as f, labels as la};
use leadscore_model::metrics::roc_auc;
use polars::prelude::DataFrame;
use serde::Serialize;

use crate::Result;
use crate::data::Slice;
use crate::evaluate::at_threshold;

/// The chosen model against one other definition, on the validation leads.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionCheck {
    /// The definition's name.
    pub definition: String,
    /// Validation leads that converted under it within the window.
    pub conversions: u64,
    /// Their share of the validation leads.
    pub rate: f64,
    /// ROC AUC of the model's probabilities against it (`None` without both outcomes).
    pub auc: Option<f64>,
    /// Its converted share of the leads qualified at the configured threshold.
    pub precision: f64,
    /// The qualified share of its converted leads.
    pub recall: f64,
}

/// Each definition in `names` other than the target, in that order, within the target's window
/// (`(target, window_days)`).
pub fn check(
    validation: &Slice,
    p: &[f64],
    (labels, conversions): (&DataFrame, &DataFrame),
    names: &[String],
    (target, window_days): (&str, u32),
    threshold: f64,
) -> Result<Vec<DefinitionCheck>> {
    let leads: Vec<&str> = validation.frame.column(f::LEAD_ID)?.str()?.iter().map(|v| v.unwrap_or("")).collect();
    let wanted: HashSet<&str> = leads.iter().copied().collect();
    let mut user_of: HashMap<&str, &str> = HashMap::new();
    let (ids, users) = (labels.column(la::LEAD_ID)?.str()?, labels.column(la::USER_ID)?.str()?);
    for (id, user) in ids.iter().zip(users.iter()) {
        if let (Some(id), Some(user)) = (id, user)
            && wanted.contains(id)
        {
            user_of.insert(id, user);
        }
    }
    let users_wanted: HashSet<&str> = user_of.values().copied().collect();
    // Definition → user → conversion instants (µs), for the validation leads' users only.
    let mut at: BTreeMap<&str, HashMap<&str, Vec<i64>>> = BTreeMap::new();
    let instants = conversions.column(cv::AT)?.as_materialized_series().to_physical_repr().into_owned();
    let instants = instants.i64()?;
    let (conv_names, conv_users) =
        (conversions.column(cv::CONVERSION_NAME)?.str()?, conversions.column(cv::USER_ID)?.str()?);
    for ((name, user), t) in conv_names.iter().zip(conv_users.iter()).zip(instants.iter()) {
        if let (Some(name), Some(user), Some(t)) = (name, user, t)
            && name != target
            && users_wanted.contains(user)
        {
            at.entry(name).or_default().entry(user).or_default().push(t);
        }
    }
    let window_us = i64::from(window_days) * 86_400_000_000;
    let mut checks = Vec::new();
    for name in names.iter().filter(|n| n.as_str() != target) {
        let by_user = at.get(name.as_str());
        let converted: Vec<bool> = leads
            .iter()
            .zip(&validation.created_us)
            .map(|(lead, created)| {
                let times = user_of.get(lead).and_then(|u| by_user.and_then(|b| b.get(u)));
                times.is_some_and(|ts| ts.iter().any(|t| *t >= *created && *t < created + window_us))
            })
            .collect();
        checks.push(score(name, p, &converted, threshold));
    }
    Ok(checks)
}

fn score(definition: &str, p: &[f64], y: &[bool], threshold: f64) -> DefinitionCheck {
    let positives = y.iter().filter(|v| **v).count() as u64;
    let (precision, recall, _) = at_threshold(p, y, threshold);
    DefinitionCheck {
        definition: definition.to_string(),
        conversions: positives,
        rate: if y.is_empty() { 0.0 } else { positives as f64 / y.len() as f64 },
        auc: roc_auc(p, y),
        precision,
        recall,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use polars::prelude::*;

    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn a_lead_converts_under_a_definition_only_within_the_window_after_its_creation() {
        // Four validation leads created on day 10; the window is 5 days.
        let frame = df!(f::LEAD_ID => ["a", "b", "c", "d"]).unwrap();
        let validation = Slice {
            frame,
            coded: leadscore_model::Coded::default(),
            labels: vec![false; 4],
            created_us: vec![10 * DAY; 4],
            values: vec![0.0; 4],
            days_to_convert: vec![f64::NAN; 4],
        };
        let labels = df!(la::LEAD_ID => ["a", "b", "c", "d", "z"], la::USER_ID => [Some("ua"), Some("ub"), Some("uc"), None, Some("ua")]).unwrap();
        // ua opens an opportunity on day 12 (in), ub on day 9 (before: out), uc on day 15 (the
        // window's end: out); ua also closes (the target, never counted here).
        let conversions = df!(
            cv::CONVERSION_NAME => ["open_opp", "open_opp", "open_opp", "closed_won"],
            cv::USER_ID => ["ua", "ub", "uc", "ua"],
            cv::AT => [12 * DAY, 9 * DAY, 15 * DAY, 13 * DAY],
        )
        .unwrap();
        let p = [0.9, 0.5, 0.2, 0.1];
        let names = ["closed_won".to_string(), "open_opp".to_string(), "demo".to_string()];
        let checks = check(&validation, &p, (&labels, &conversions), &names, ("closed_won", 5), 0.5).unwrap();
        assert_eq!(checks.len(), 2, "the target is not checked against itself");
        let opp = &checks[0];
        assert_eq!((opp.definition.as_str(), opp.conversions), ("open_opp", 1));
        assert_eq!(opp.auc, Some(1.0), "the one converted lead has the highest probability");
        assert_eq!((opp.precision, opp.recall), (0.5, 1.0));
        let demo = &checks[1];
        assert_eq!((demo.conversions, demo.auc), (0, None), "a definition without conversions");
    }
}
