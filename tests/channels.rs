//! The channel report end to end: the daily channels stage on the bundled sample (scoring six
//! months of its leads in one run), then `leadscore report channels` over those months with the
//! sample's ad spend, checked against what the generator planted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::*;
use polars::prelude::*;
use serde_json::Value;

const FROM: &str = "2026-04-15";
const TO: &str = "2026-10-31";

/// Spearman's rank correlation of two equally long lists (no ties expected).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|i, j| v[*i].total_cmp(&v[*j]));
        let mut r = vec![0.0; v.len()];
        for (k, i) in idx.into_iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

fn channels<'a>(report: &'a Value, dimension: &str) -> &'a Vec<Value> {
    report["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == dimension)
        .unwrap_or_else(|| panic!("no dimension {dimension}"))["channels"]
        .as_array()
        .unwrap()
}

#[test]
fn the_channel_report_ranks_the_planted_sources_and_its_predictions_track_the_matured_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n[qualify]\n# One run scores the half year the report covers.\nrescore_days = 200\n");
    fs::write(&config, text).unwrap();
    let cfg = config.to_str().unwrap();
    let o = leadscore(&["run", "--config", cfg], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The daily stage: one row per scored lead, and the day's table.
    let day = config.parent().unwrap().join("runs/2026-11-01");
    let scored = read_parquet(&day.join("qualify/scores.parquet")).height();
    let leads = read_parquet(&day.join("channels/channel_leads.parquet"));
    assert_eq!(leads.height(), scored);
    let daily = read_json(&day.join("channels/report.json"));
    assert_eq!(daily["leads"].as_u64().unwrap() as usize, scored);
    for f in ["channels.parquet", "channels.csv", "channels.html", "manifest.json"] {
        assert!(day.join("channels").join(f).is_file(), "{f}");
    }

    let o = leadscore(&["report", "channels", "--config", cfg, "--from", FROM, "--to", TO, "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["coverage"]["not_scored"], 0, "{}", report["coverage"]);

    // The generator's truth per lead source: the expected value within the window.
    let truth = read_parquet(&config.parent().unwrap().join("truth.parquet"));
    let joined = leads
        .lazy()
        .join(truth.lazy(), [col("lead_id")], [col("lead_id")], JoinArgs::new(JoinType::Inner))
        .group_by([col("by_lead_source")])
        .agg([col("true_expected_value").mean().alias("truth"), len().alias("n")])
        .collect()
        .unwrap();
    let mut planted: BTreeMap<String, f64> = BTreeMap::new();
    let sources = joined.column("by_lead_source").unwrap().str().unwrap().clone();
    let values = joined.column("truth").unwrap().f64().unwrap().clone();
    for (s, v) in sources.iter().zip(values.iter()) {
        planted.insert(s.unwrap_or("(none)").to_string(), v.unwrap());
    }
    let by_source = channels(&report, "lead_source");
    let mut predicted = Vec::new();
    let mut truth_of = Vec::new();
    for c in by_source {
        let name = c["channel"].as_str().unwrap();
        predicted.push(c["predicted_value_per_lead"]["value"].as_f64().unwrap());
        truth_of.push(planted[name]);
        eprintln!(
            "{name:>16}: rank {:>4} predicted/lead {:>7.1}  planted {:>7.1}  matured predicted/lead {:>7.1}  actual/lead {:>7.1} ({:.1} … {:.1})",
            c["rank"],
            predicted.last().unwrap(),
            planted[name],
            c["matured_predicted_value"].as_f64().unwrap() / c["matured_leads"].as_f64().unwrap(),
            c["actual_value_per_lead"]["value"].as_f64().unwrap(),
            c["actual_value_per_lead"]["low"].as_f64().unwrap(),
            c["actual_value_per_lead"]["high"].as_f64().unwrap(),
        );
    }
    assert_eq!(by_source.len(), 8);
    let rho = spearman(&predicted, &truth_of);
    assert!(rho >= 0.8, "the report's ranking follows the planted one (Spearman {rho:.2})");
    let best = planted.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let worst = planted.iter().min_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let rank = |name: &str| by_source.iter().find(|c| c["channel"] == name).unwrap()["rank"].as_u64().unwrap();
    assert!(rank(best) <= 2, "{best}, the best planted source, is ranked {}", rank(best));
    assert_eq!(rank(worst), 8, "{worst}, the worst planted source, is ranked last");

    // Predicted value tracks the actual value of the matured leads: inside the actual value's
    // interval for most sources, and close in total.
    let inside = by_source
        .iter()
        .filter(|c| {
            let p = c["matured_predicted_value"].as_f64().unwrap() / c["matured_leads"].as_f64().unwrap();
            let a = &c["actual_value_per_lead"];
            a["low"].as_f64().unwrap() <= p && p <= a["high"].as_f64().unwrap()
        })
        .count();
    assert!(inside >= 6, "{inside} of 8 sources");
    let sum = |k: &str| by_source.iter().map(|c| c[k].as_f64().unwrap()).sum::<f64>();
    let ratio = sum("matured_predicted_value") / sum("actual_value");
    assert!((0.75..=1.33).contains(&ratio), "predicted / actual over the matured leads: {ratio:.3}");
    // A lead still inside its window is not counted as a non-conversion.
    for c in by_source {
        assert!(c["matured_leads"].as_u64().unwrap() < c["leads"].as_u64().unwrap());
        assert!(c["actual_conversions"].as_u64().unwrap() <= c["matured_leads"].as_u64().unwrap());
    }

    // The spend: every row accounted for, every euro joined or listed.
    let spend = &report["spend"];
    let n = |k: &str| spend[k].as_u64().unwrap();
    assert_eq!(n("rows"), n("used") + n("outside_range") + n("total_rows"), "{spend}");
    let unmatched = &report["unmatched"];
    let names = |k: &str| -> Vec<String> {
        unmatched[k].as_array().unwrap().iter().map(|x| x[0].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("spend_without_leads"), ["display_awareness"]);
    for free in ["monthly_update", "customer_referral", "organic_post"] {
        assert!(names("leads_without_spend").contains(&free.to_string()), "{unmatched}");
    }
    let by_campaign = channels(&report, "utm_campaign");
    let joined_cost: f64 = by_campaign.iter().filter_map(|c| c["cost"].as_f64()).sum();
    let file_cost = spend["cost"].as_f64().unwrap();
    assert!((joined_cost - file_cost).abs() < 1e-6 * file_cost, "{joined_cost} vs {file_cost}");
    let ranked: Vec<&Value> = by_campaign.iter().filter(|c| !c["rank"].is_null()).collect();
    assert!(ranked.windows(2).all(|w| w[0]["predicted_roas"].as_f64() >= w[1]["predicted_roas"].as_f64()));
    assert!(ranked.iter().all(|c| c["cost_per_qualified_lead"].as_f64() >= c["cost_per_lead"].as_f64()));

    // The files: the table as Parquet and CSV, the page, the unmatched campaigns.
    let out = config.parent().unwrap().join(format!("channels/{FROM}_{TO}"));
    let table = read_parquet(&out.join("channels.parquet"));
    let csv = fs::read_to_string(out.join("channels.csv")).unwrap();
    assert_eq!(csv.lines().count(), table.height() + 1);
    assert_eq!(csv.lines().next().unwrap().split(',').count(), table.width());
    let html = fs::read_to_string(out.join("channels.html")).unwrap();
    assert!(html.contains("By lead_source") && html.matches("<svg").count() >= 12, "charts for every dimension");
    assert!(fs::read_to_string(out.join("spend_unmatched.csv")).unwrap().contains("display_awareness"));
}

#[test]
fn report_channels_says_what_is_wrong_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let cfg = config.to_str().unwrap();
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "channels", "--config", cfg];
        args.extend_from_slice(extra);
        leadscore(&args, dir.path())
    };
    let o = report(&["--from", "2026-10-01", "--to", "2026-09-01"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("before --from"), "{}", stderr(&o));
    let o = report(&["--from", "2026-10-01", "--to", "2026-10-31"]);
    assert_eq!(code(&o), 2, "no run yet: {}", stderr(&o));
    assert!(stderr(&o).contains("leadscore run"), "{}", stderr(&o));

    let o = leadscore(&["run", "--config", cfg], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = report(&["--from", "2026-01-01", "--to", "2026-01-31"]);
    assert_eq!(code(&o), 99, "no run scored those days: {}", stderr(&o));
    assert!(stderr(&o).contains("leadscore backfill --from 2026-01-02 --to 2026-02-01"), "{}", stderr(&o));
    // Days the runs did not score are counted, and said.
    let o = report(&["--from", "2026-10-01", "--to", "2026-10-31", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["coverage"]["not_scored"].as_u64().unwrap() > 0, "{}", v["coverage"]);
    assert!(v["warnings"].to_string().contains("never scored by a daily run"));
    // A spend file with a bad cost: exit 3 naming the record and column, not the cell.
    let bad = dir.path().join("spend.csv");
    fs::write(&bad, "Day,Campaign,Currency code,Cost\n2026-10-05,brand_de,EUR,N/A-SECRET\n").unwrap();
    let o = report(&["--from", "2026-10-01", "--to", "2026-10-31", "--spend", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("record 2, column `Cost`") && !stderr(&o).contains("SECRET"), "{}", stderr(&o));
    let o = report(&["--from", "2026-10-01", "--to", "2026-10-31", "--spend", "missing.csv"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(Path::new(cfg).exists());
}
