//! Per-lead reasons: the strongest signed contributions to the log-odds, in words.

use leadscore_model::{Classifier, Design, FeatureKind, FeatureSpec};
use polars::prelude::*;

/// A feature's value for a lead, as text (`VP`, `250`, `missing`).
fn value_text(derived: &DataFrame, feature: &str, kind: FeatureKind, row: usize) -> String {
    let Ok(col) = derived.column(feature) else { return "?".into() };
    match kind {
        FeatureKind::Categorical => match col.get(row) {
            Ok(AnyValue::Null) | Err(_) => "missing".into(),
            Ok(v) => v.str_value().into_owned(),
        },
        FeatureKind::Numeric => match col.get(row).ok().and_then(|v| v.extract::<f64>()) {
            None => "missing".into(),
            Some(x) if x.is_nan() => "missing".into(),
            Some(x) if (x - x.round()).abs() < 1e-9 => format!("{}", x.round()),
            Some(x) => format!("{x:.2}"),
        },
    }
}

/// For every row, up to `k` reasons, the strongest first: "job title seniority: VP (+0.80)".
/// Contributions of a feature's design columns are added up; features whose contribution rounds
/// to zero are left out.
pub fn top_reasons(
    classifier: &Classifier,
    design: &Design,
    spec: &FeatureSpec,
    derived: &DataFrame,
    k: usize,
) -> Vec<Vec<String>> {
    let cols = design.columns.len();
    let contrib = classifier.contributions(design);
    // Design columns grouped by feature, in spec order.
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (j, c) in design.columns.iter().enumerate() {
        let f = spec.catalog.iter().position(|d| d.name == c.feature).unwrap_or(usize::MAX);
        match groups.last_mut() {
            Some((g, js)) if *g == f => js.push(j),
            _ => groups.push((f, vec![j])),
        }
    }
    (0..design.rows)
        .map(|i| {
            let row = &contrib[i * cols..(i + 1) * cols];
            let mut per: Vec<(usize, f64)> =
                groups.iter().map(|(f, js)| (*f, js.iter().map(|j| row[*j]).sum::<f64>())).collect();
            per.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            per.into_iter()
                .filter(|(f, v)| *f != usize::MAX && v.abs() >= 0.005)
                .take(k)
                .map(|(f, v)| {
                    let def = &spec.catalog[f];
                    let name = def.name.replace('_', " ");
                    format!("{name}: {} ({v:+.2})", value_text(derived, &def.name, def.kind, i))
                })
                .collect()
        })
        .collect()
}
