//! `channels.html`: one self-contained page (inline SVG, no network), in the model report's style.

use std::collections::BTreeMap;

use leadscore_core::charts;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::error::{ChannelsError, Result};
use crate::report::ChannelsReport;
use crate::stats::BOOTSTRAP_UP_TO;
use crate::table::{ChannelRow, Ranking};

const TEMPLATE: &str = include_str!("../templates/channels.html");
/// Channels in a chart at most.
const CHART_CHANNELS: usize = 12;
/// Channels in the weekly trend at most.
const TREND_CHANNELS: usize = 5;
const COLOURS: [&str; TREND_CHANNELS] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

fn num(v: Option<f64>, digits: Option<u32>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.*}", digits.unwrap_or(2) as usize),
        _ => "–".into(),
    }
}

/// One dimension as the page shows it.
#[derive(Serialize)]
struct Dimension<'a> {
    dimension: &'a str,
    ranked_by: &'a str,
    channels: &'a [ChannelRow],
    has_cost: bool,
    share_chart: String,
    value_chart: String,
    trend_chart: Option<String>,
    weeks: usize,
}

/// Renders the page for the report (its rankings) and the weekly rows.
pub fn render(report: &ChannelsReport, weekly: &[ChannelRow], project: &str, join_on: Option<&str>) -> Result<String> {
    let mut env = Environment::new();
    env.add_filter("num", num);
    env.add_filter("pct", |v: Option<f64>, digits: Option<u32>| num(v.map(|v| 100.0 * v), digits));
    env.add_template("channels.html", TEMPLATE).map_err(|e| ChannelsError::Internal(e.to_string()))?;
    let dims: Vec<Dimension<'_>> = report.dimensions.iter().map(|d| dimension(d, weekly)).collect();
    let range = match (report.from, report.to) {
        (Some(f), Some(t)) if f == t => f.to_string(),
        (Some(f), Some(t)) => format!("{f} … {t}"),
        _ => "(no leads)".into(),
    };
    let tmpl = env.get_template("channels.html").map_err(|e| ChannelsError::Internal(e.to_string()))?;
    tmpl.render(context! {
        r => Value::from_serialize(report),
        dims => Value::from_serialize(&dims),
        css => charts::CSS,
        range => range,
        project => project,
        join_on => join_on.unwrap_or(""),
        bootstrap_up_to => BOOTSTRAP_UP_TO,
        version => env!("CARGO_PKG_VERSION"),
    })
    .map_err(|e| ChannelsError::Internal(e.to_string()))
}

fn dimension<'a>(d: &'a Ranking, weekly: &[ChannelRow]) -> Dimension<'a> {
    let ranked: Vec<&ChannelRow> = d.channels.iter().filter(|c| c.rank.is_some()).take(CHART_CHANNELS).collect();
    let bars = |f: fn(&ChannelRow) -> Option<crate::table::Estimate>| -> Vec<charts::IntervalBar> {
        ranked.iter().filter_map(|c| f(c).map(|e| (c.channel.clone(), e.value, e.low, e.high))).collect()
    };
    let share_chart = charts::interval_hbars(&bars(|c| c.qualified_share), |v| format!("{:.1}%", 100.0 * v));
    let value_chart = charts::interval_hbars(&bars(|c| c.predicted_value_per_lead), |v| format!("{v:.2}"));
    let (trend_chart, weeks) = trend(d, &ranked, weekly);
    Dimension {
        dimension: &d.dimension,
        ranked_by: d.ranked_by,
        channels: &d.channels,
        has_cost: d.channels.iter().any(|c| c.cost.is_some()),
        share_chart,
        value_chart,
        trend_chart,
        weeks,
    }
}

/// Predicted value per lead per week of the top-ranked channels; `None` for a single week.
fn trend(d: &Ranking, ranked: &[&ChannelRow], weekly: &[ChannelRow]) -> (Option<String>, usize) {
    let rows: Vec<&ChannelRow> = weekly.iter().filter(|r| r.dimension == d.dimension).collect();
    let weeks: Vec<_> =
        rows.iter().filter_map(|r| r.week).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    if weeks.len() < 2 {
        return (None, weeks.len());
    }
    let x = |w| weeks.iter().position(|v| *v == w).unwrap_or(0) as f64 / (weeks.len() - 1) as f64;
    // The largest ranked channels: their weekly figures are the least noisy.
    let mut largest: Vec<&&ChannelRow> = ranked.iter().collect();
    largest.sort_by_key(|c| std::cmp::Reverse(c.leads));
    let mut series: BTreeMap<usize, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    for (k, c) in largest.into_iter().take(TREND_CHANNELS).enumerate() {
        let pts = rows
            .iter()
            .filter(|r| r.channel == c.channel && r.leads > 0)
            .filter_map(|r| Some((x(r.week?), r.predicted_value_per_lead?.value)))
            .collect();
        series.insert(k, (c.channel.clone(), pts));
    }
    let lines: Vec<charts::Series<'_>> =
        series.iter().map(|(k, (name, pts))| (name.as_str(), COLOURS[*k], pts.as_slice())).collect();
    let labels: Vec<(f64, String)> = weeks.iter().map(|w| (x(*w), w.format("%Y-%m-%d").to_string())).collect();
    (Some(charts::lines_over(&lines, &labels, "week (its Monday)", "predicted value per lead")), weeks.len())
}
