//! `report.html`: one self-contained page (inline SVG, no network) rendered with minijinja from
//! `templates/report.html`.

use minijinja::{Environment, Value, context};

use crate::diagnose::Diagnostics;
use crate::effects::Dependence;
use crate::error::{Result, TrainError};
use crate::explain::DEPTH;
use crate::report::Trained;
use leadscore_core::charts as svg;

const TEMPLATE: &str = include_str!("../templates/report.html");

/// What the page shows besides the trained model's report.
#[derive(Debug, Clone)]
pub struct PageContext<'a> {
    /// Project name.
    pub project: &'a str,
    /// Run date.
    pub run_date: String,
    /// Target conversion.
    pub target: &'a str,
    /// Window in days.
    pub window_days: u32,
    /// Config hash.
    pub config_hash: &'a str,
    /// Warnings of the run.
    pub warnings: &'a [String],
}

fn num(v: f64, digits: Option<u32>) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    format!("{v:.*}", digits.unwrap_or(2) as usize)
}

/// Renders the page.
pub fn render(t: &Trained, page: &PageContext<'_>) -> Result<String> {
    let mut env = Environment::new();
    env.add_filter("num", num);
    env.add_filter("pct", |v: f64, digits: Option<u32>| num(100.0 * v, digits));
    env.add_template("report.html", TEMPLATE).map_err(|e| TrainError::Report(e.to_string()))?;
    let e = &t.evaluation;
    // Both candidates, the chosen one first (blue).
    let o = &t.other.evaluation;
    let (chosen, other) = (t.chosen.label(), t.other.kind.label());
    let roc = svg::lines(
        &[(chosen, "#1f77b4", &e.roc), (other, "#ff7f0e", &o.roc)],
        "false positive rate",
        "true positive rate",
        true,
        1.0,
    );
    let gains = svg::lines(
        &[(chosen, "#1f77b4", &e.gains), (other, "#ff7f0e", &o.gains)],
        "share of leads",
        "share of conversions",
        true,
        1.0,
    );
    let distribution = distribution_chart(&t.diagnostics);
    let rel: Vec<(f64, f64)> = e.reliability.iter().map(|b| (b.predicted, b.observed)).collect();
    let reliability = svg::scatter(&rel, "mean predicted probability", "observed conversion rate");
    let lift = svg::bars(
        &e.deciles.iter().map(|d| (d.decile.to_string(), d.lift, "#1f77b4")).collect::<Vec<_>>(),
        "lift over the average",
    );
    let months = svg::bars(
        &t.months
            .iter()
            .map(|m| (m.month.clone(), m.conversions as f64, if m.validation { "#ff7f0e" } else { "#1f77b4" }))
            .collect::<Vec<_>>(),
        "conversions",
    );
    let importance =
        svg::hbars(&t.importance.iter().take(25).map(|i| (i.feature.clone(), i.importance)).collect::<Vec<_>>());
    let dependence = dependence_charts(&t.effects.dependence);
    let mut tv = serde_json::to_value(t).map_err(|e| TrainError::Report(e.to_string()))?;
    if let Some(o) = tv.as_object_mut() {
        o.insert("candidates".into(), labelled(&t.candidates, |c| c.kind));
        o.insert("unconstrained".into(), labelled(&t.unconstrained, |u| u.kind));
    }
    let tmpl = env.get_template("report.html").map_err(|e| TrainError::Report(e.to_string()))?;
    tmpl.render(context! {
        t => Value::from_serialize(&tv),
        css => svg::CSS,
        chosen => t.chosen.label(),
        why => t.why,
        project => page.project,
        run_date => page.run_date,
        target => page.target,
        window_days => page.window_days,
        config_hash => page.config_hash,
        warnings => page.warnings,
        version => env!("CARGO_PKG_VERSION"),
        depth => DEPTH,
        roc => roc,
        gains => gains,
        reliability => reliability,
        lift => lift,
        months => months,
        importance => importance,
        importance_method => match t.chosen {
            leadscore_model::ModelKind::Boosted => "each feature's share of the total gain of the trees' splits on it",
            leadscore_model::ModelKind::Logistic => "each feature's share of the spread (standard deviation over the validation leads) of its contribution to the log-odds, all of a category's levels together",
            leadscore_model::ModelKind::Blend => "each feature's share in the logistic regression (the spread of its contribution to the log-odds) and in the trees (their splits' gain), weighted by each model's share of the blend",
        },
        distribution => distribution,
        dependence => dependence,
    })
    .map_err(|e| TrainError::Report(format!("{e:#}")))
}

/// The calibrated probabilities' distribution among the converted and the other validation leads.
fn distribution_chart(d: &Diagnostics) -> String {
    let bins = d.distribution.len().max(1) as f64;
    let centre = |k: usize| (k as f64 + 0.5) / bins;
    let converted: Vec<(f64, f64)> = d.distribution.iter().enumerate().map(|(k, b)| (centre(k), b.converted)).collect();
    let not_converted: Vec<(f64, f64)> =
        d.distribution.iter().enumerate().map(|(k, b)| (centre(k), b.not_converted)).collect();
    let edges: Vec<(f64, String)> =
        d.distribution.iter().enumerate().map(|(k, b)| (k as f64 / bins, format!("{:.3}", b.from))).collect();
    svg::lines_over(
        &[("converted", "#1f77b4", &converted), ("not converted", "#ff7f0e", &not_converted)],
        &edges,
        "calibrated probability",
        "share of the group's leads",
    )
}

/// Partial dependence, a chart per feature: a bar per level of a category, a line over a number's
/// quantiles.
fn dependence_charts(dependence: &[Dependence]) -> Vec<(String, String)> {
    dependence
        .iter()
        .map(|dep| {
            let chart = if dep.categorical {
                // Every level named: horizontal bars, the mean probability as a percentage.
                svg::hbars(&dep.points)
            } else {
                let n = dep.points.len().saturating_sub(1).max(1) as f64;
                let pts: Vec<(f64, f64)> =
                    dep.points.iter().enumerate().map(|(k, (_, p))| (k as f64 / n, *p)).collect();
                let labels: Vec<(f64, String)> =
                    dep.points.iter().enumerate().map(|(k, (l, _))| (k as f64 / n, l.clone())).collect();
                svg::lines_over(&[("", "#1f77b4", &pts)], &labels, &dep.feature, "mean probability")
            };
            (dep.feature.clone(), chart)
        })
        .collect()
}

/// Each item as JSON with its model's `label` added, for the template.
fn labelled<T: serde::Serialize>(items: &[T], kind: impl Fn(&T) -> leadscore_model::ModelKind) -> serde_json::Value {
    let each = items.iter().map(|item| {
        let mut v = serde_json::to_value(item).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("label".into(), kind(item).label().into());
        }
        v
    });
    serde_json::Value::Array(each.collect())
}
