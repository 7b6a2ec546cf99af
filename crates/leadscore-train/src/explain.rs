//! The segment explainer: a shallow decision tree (linfa-trees) whose leaves read as rules, such
//! as "job_title_seniority in {VP, Director} and company_size > 180: 14.2% convert".

use leadscore_model::{Design, FeatureSpec, FittedFeature};
use linfa::prelude::*;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2, ShapeBuilder};
use serde::Serialize;

use crate::data::Rows;
use crate::error::{Result, TrainError};

/// Depth of the explainer tree.
pub const DEPTH: usize = 3;
/// Most training rows the explainer sees (an even subsample over time above this). A depth-3
/// tree whose leaves hold at least 1% of the weight is stable on 50k rows; linfa-trees sorts
/// every column at every node on one thread (at 300k leads: 1.0 s on 105k rows, 0.4 s on 42k).
pub const MAX_ROWS: usize = 50_000;

/// One leaf of the explainer: a readable rule and how its leads converted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The conditions, joined by "and".
    pub rule: String,
    /// Training leads in the leaf.
    pub train_leads: u64,
    /// Training conversion rate.
    pub train_rate: f64,
    /// Validation leads in the leaf.
    pub validation_leads: u64,
    /// Validation conversion rate (out of time).
    pub validation_rate: f64,
}

/// Missing numeric values become the fitted imputation value (the tree cannot take NaN).
fn impute(d: &Design, spec: &FeatureSpec) -> Design {
    let mut out = d.clone();
    for (j, f) in spec.features.iter().enumerate().take(d.columns.len()) {
        if let FittedFeature::Numeric { impute, .. } = f {
            for x in &mut out.data[j * d.rows..(j + 1) * d.rows] {
                if x.is_nan() {
                    *x = *impute;
                }
            }
        }
    }
    out
}

/// The condition a leaf puts on one feature, from every split on it along the leaf's path
/// (`(threshold, went left)`: left is `value ≤ threshold`), said once: "budget in {…}" rather than
/// "budget not in {…} and budget not in {…}", "3 < events_7d ≤ 10" rather than two bounds.
fn condition(f: &FittedFeature, splits: &[(f64, bool)]) -> String {
    let holds = |x: f64| splits.iter().all(|(v, left)| (x <= *v) == *left);
    match f {
        FittedFeature::Numeric { name, .. } => {
            let above = splits.iter().filter(|s| !s.1).map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
            let at_most = splits.iter().filter(|s| s.1).map(|s| s.0).fold(f64::INFINITY, f64::min);
            match (above.is_finite(), at_most.is_finite()) {
                (true, true) => format!("{} < {name} ≤ {}", fmt_num(above), fmt_num(at_most)),
                (true, false) => format!("{name} > {}", fmt_num(above)),
                _ => format!("{name} ≤ {}", fmt_num(at_most)),
            }
        }
        FittedFeature::Categorical { name, levels, .. } => {
            let all: Vec<(f64, &str)> = (0..levels.len() + 2)
                .filter_map(|i| {
                    let code = i as f64;
                    // Codes are a permutation of 0..k+2.
                    f.level_of_code(code).map(|l| (code, l))
                })
                .collect();
            let inside: Vec<&str> = all.iter().filter(|(c, _)| holds(*c)).map(|(_, l)| *l).collect();
            let outside: Vec<&str> = all.iter().filter(|(c, _)| !holds(*c)).map(|(_, l)| *l).collect();
            if inside.len() <= outside.len() || outside.is_empty() {
                format!("{name} in {{{}}}", inside.join(", "))
            } else {
                format!("{name} not in {{{}}}", outside.join(", "))
            }
        }
    }
}

/// A leaf's rule: one condition per feature split on along `path` (`(feature, threshold, went
/// left)`), in the order the features were first split on.
fn rule(path: &[(usize, f64, bool)], spec: &FeatureSpec) -> String {
    let mut features: Vec<usize> = Vec::new();
    for (j, ..) in path {
        if !features.contains(j) {
            features.push(*j);
        }
    }
    let conditions: Vec<String> = features
        .into_iter()
        .filter_map(|j| {
            let splits: Vec<(f64, bool)> = path.iter().filter(|p| p.0 == j).map(|p| (p.1, p.2)).collect();
            spec.features.get(j).map(|f| condition(f, &splits))
        })
        .collect();
    if conditions.is_empty() { "all leads".to_string() } else { conditions.join(" and ") }
}

fn fmt_num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 { format!("{}", x.round()) } else { format!("{x:.2}") }
}

/// The leaf a row falls into, as its index in `leaves` order (depth-first, left first).
fn leaf_of(node: &TreeNode<f64, bool>, row: &dyn Fn(usize) -> f64, next: &mut usize) -> usize {
    fn count(n: &TreeNode<f64, bool>) -> usize {
        if n.is_leaf() { 1 } else { n.children().into_iter().flatten().map(|c| count(c)).sum() }
    }
    if node.is_leaf() {
        return *next;
    }
    let (j, v, _) = node.split();
    let children: Vec<&TreeNode<f64, bool>> = node.children().into_iter().flatten().map(|b| &**b).collect();
    match children.as_slice() {
        [l, r] => {
            if row(j) <= v {
                leaf_of(l, row, next)
            } else {
                *next += count(l);
                leaf_of(r, row, next)
            }
        }
        [only] => leaf_of(only, row, next),
        _ => *next,
    }
}

fn collect_rules(
    node: &TreeNode<f64, bool>,
    spec: &FeatureSpec,
    path: &mut Vec<(usize, f64, bool)>,
    out: &mut Vec<String>,
) {
    if node.is_leaf() {
        out.push(rule(path, spec));
        return;
    }
    let (j, v, _) = node.split();
    let children: Vec<&TreeNode<f64, bool>> = node.children().into_iter().flatten().map(|b| &**b).collect();
    for (k, child) in children.iter().enumerate() {
        path.push((j, v, k == 0));
        collect_rules(child, spec, path, out);
        path.pop();
    }
}

/// Fits the explainer on the training design (trees encoding) and describes each leaf with its
/// training and validation conversion rates, the best-converting leaf first.
pub fn explain(
    train: &dyn Rows,
    train_y: &[bool],
    validation: &Design,
    validation_y: &[bool],
    spec: &FeatureSpec,
) -> Result<Vec<Rule>> {
    let step = train.len().div_ceil(MAX_ROWS).max(1);
    let x = impute(&train.every_nth(step)?, spec);
    let y: Vec<bool> = train_y.iter().step_by(step).copied().collect();
    let n = x.rows;
    let cols = x.columns.len();
    let arr = Array2::from_shape_vec((n, cols).f(), x.data.clone())
        .map_err(|e| TrainError::Internal(format!("design shape: {e}")))?;
    // Classes are balanced by weight: linfa-trees prunes subtrees whose leaves predict the same
    // class, and with a few percent converting every leaf would predict "no". Balanced, a leaf
    // predicts "yes" when it converts above the average, so the tree keeps the splits that
    // separate better from worse segments.
    let pos = y.iter().filter(|v| **v).count().max(1) as f32;
    let neg = (n as f32 - pos).max(1.0);
    let weights: Array1<f32> = y.iter().map(|v| if *v { neg / pos } else { 1.0 }).collect();
    let ds = Dataset::new(arr, Array1::from(y.clone())).with_weights(weights);
    let tree = DecisionTree::params()
        .max_depth(Some(DEPTH))
        .min_weight_leaf(2.0 * neg * 0.01)
        .fit(&ds)
        .map_err(|e| TrainError::Fit { model: "decision tree", message: e.to_string() })?;
    let mut texts = Vec::new();
    collect_rules(tree.root_node(), spec, &mut Vec::new(), &mut texts);
    let mut stats = vec![(0u64, 0u64, 0u64, 0u64); texts.len()];
    for (i, yi) in y.iter().enumerate() {
        let leaf = leaf_of(tree.root_node(), &|j| x.data[j * n + i], &mut 0);
        if let Some(s) = stats.get_mut(leaf) {
            s.0 += 1;
            s.1 += u64::from(*yi);
        }
    }
    let v = impute(validation, spec);
    for (i, yv) in validation_y.iter().enumerate().take(v.rows) {
        let leaf = leaf_of(tree.root_node(), &|j| v.data[j * v.rows + i], &mut 0);
        if let Some(s) = stats.get_mut(leaf) {
            s.2 += 1;
            s.3 += u64::from(*yv);
        }
    }
    let rate = |k: u64, n: u64| if n > 0 { k as f64 / n as f64 } else { 0.0 };
    let mut rules: Vec<Rule> = texts
        .into_iter()
        .zip(stats)
        .map(|(rule, (tn, tk, vn, vk))| Rule {
            rule,
            train_leads: tn * step as u64,
            train_rate: rate(tk, tn),
            validation_leads: vn,
            validation_rate: rate(vk, vn),
        })
        .collect();
    rules.sort_by(|a, b| b.train_rate.total_cmp(&a.train_rate));
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> FittedFeature {
        // Codes by conversion rate: Just researching 0, 3-6 months 1, 1-3 months 2, Immediately 3,
        // __other__ 4, __missing__ 5.
        FittedFeature::Categorical {
            name: "timeline".into(),
            levels: vec!["1-3 months".into(), "Immediately".into(), "3-6 months".into(), "Just researching".into()],
            tree_codes: vec![2.0, 3.0, 1.0, 0.0, 4.0, 5.0],
        }
    }

    #[test]
    fn a_rule_says_each_features_condition_once() {
        // The report once read "timeline not in {1-3 months, Immediately} … and timeline not in
        // {Just researching}": two splits on one feature are one condition.
        let t = timeline();
        assert_eq!(
            condition(&t, &[(1.0, true)]),
            "timeline in {Just researching, 3-6 months}",
            "codes 0 and 1, listed in code order"
        );
        assert_eq!(condition(&t, &[(1.0, false), (3.0, true)]), "timeline in {1-3 months, Immediately}");
        assert_eq!(
            condition(&t, &[(3.0, false), (4.0, true)]),
            "timeline in {__other__}",
            "the smaller side of the levels is named"
        );
        assert_eq!(
            condition(&t, &[(0.0, false), (3.0, false)]),
            "timeline in {__other__, __missing__}",
            "the levels left by both splits"
        );
        assert_eq!(condition(&t, &[(0.0, false)]), "timeline not in {Just researching}");
        let n =
            FittedFeature::Numeric { name: "events_7d".into(), impute: 0.0, mean: 0.0, std: 1.0, has_missing: false };
        assert_eq!(condition(&n, &[(3.0, false), (10.0, true), (7.5, true)]), "3 < events_7d ≤ 7.50");
        assert_eq!(condition(&n, &[(3.0, false), (5.0, false)]), "events_7d > 5");
        assert_eq!(condition(&n, &[(3.0, true)]), "events_7d ≤ 3");
    }
}
