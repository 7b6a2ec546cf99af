//! The labels of a 200k-lead synthetic export, recomputed by brute force from the raw CSV files
//! with code independent of the labels stage (no polars, no leadscore crates): plain loops over
//! each user's won deals. Every lead must agree exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use chrono::{NaiveDateTime, TimeZone};
use polars::prelude::*;

const DAY_US: i64 = 86_400_000_000;

fn leadscore(args: &[&str], cwd: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(cwd)
        .env("LEADSCORE_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "leadscore {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn labels_agree_with_a_brute_force_recount_from_the_raw_csvs() {
    let leads_n: u64 = std::env::var("LEADSCORE_BRUTEFORCE_LEADS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let n = leads_n.to_string();
    leadscore(&["synth", "--out", out.to_str().unwrap(), "--leads", &n, "--months", "12", "--seed", "3"], dir.path());
    let config = out.join("leadscore.toml");
    leadscore(&["run", "--config", config.to_str().unwrap()], dir.path());

    // Independent recount. HubSpot shape: contacts `Create Date` is epoch ms; deals `Close Date`
    // is local time in Europe/Amsterdam; the ready-made closed_won is stage `closedwon` and a
    // type not containing `existing` (ignoring case); amounts convert with the config's rates.
    let cfg: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let mut rates: HashMap<String, f64> = HashMap::from([("EUR".to_string(), 1.0)]);
    for (k, v) in cfg["currency"]["rates"].as_table().unwrap() {
        rates.insert(k.clone(), v.as_float().unwrap());
    }
    let tz = chrono_tz::Europe::Amsterdam;
    let run_date = cfg["project"]["default_run_date"].as_str().unwrap();
    let d = chrono::NaiveDate::parse_from_str(run_date, "%Y-%m-%d").unwrap();
    let run_start = tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().timestamp_micros();
    let window = 40 * DAY_US;

    let mut won: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    let mut rdr = csv::Reader::from_path(out.join("deals.csv")).unwrap();
    let h = rdr.headers().unwrap().clone();
    let idx = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (user, stage, kind, amount, cur, close) = (
        idx("Associated Company ID"),
        idx("Deal Stage"),
        idx("Deal Type"),
        idx("Amount"),
        idx("Deal Currency Code"),
        idx("Close Date"),
    );
    for rec in rdr.records() {
        let r = rec.unwrap();
        if !r[stage].eq_ignore_ascii_case("closedwon")
            || r[kind].to_lowercase().contains("existing")
            || r[close].is_empty()
        {
            continue;
        }
        let local = NaiveDateTime::parse_from_str(&r[close], "%Y-%m-%d %H:%M:%S").unwrap();
        let at = tz.from_local_datetime(&local).earliest().unwrap().timestamp_micros();
        if at >= run_start {
            continue;
        }
        let value = r[amount].parse::<f64>().unwrap() * rates[&r[cur]];
        won.entry(r[user].to_string()).or_default().push((at, value));
    }

    struct Expected {
        matured: bool,
        converted: Option<bool>,
        value: Option<f64>,
        existing: bool,
    }
    let mut expected: HashMap<String, Expected> = HashMap::new();
    let mut rdr = csv::Reader::from_path(out.join("contacts.csv")).unwrap();
    let h = rdr.headers().unwrap().clone();
    let idx = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (id, created, user) = (idx("Record ID"), idx("Create Date"), idx("Associated Company ID"));
    for rec in rdr.records() {
        let r = rec.unwrap();
        let c = r[created].parse::<i64>().unwrap() * 1000;
        if c >= run_start {
            continue;
        }
        let deals = won.get(&r[user]).map(Vec::as_slice).unwrap_or(&[]);
        let in_window: Vec<f64> =
            deals.iter().filter(|(at, _)| *at >= c && *at < c + window).map(|(_, v)| *v).collect();
        let matured = c + window <= run_start;
        let converted = if !in_window.is_empty() {
            Some(true)
        } else if matured {
            Some(false)
        } else {
            None
        };
        let value = converted.map(|_| in_window.iter().sum());
        let existing = deals.iter().any(|(at, _)| *at < c);
        expected.insert(r[id].to_string(), Expected { matured, converted, value, existing });
    }

    let labels =
        ParquetReader::new(std::fs::File::open(out.join("runs").join(run_date).join("labels/labels.parquet")).unwrap())
            .finish()
            .unwrap();
    assert_eq!(labels.height(), expected.len(), "every lead created before the run date is labelled once");
    let ids = labels.column("lead_id").unwrap().str().unwrap();
    let matured = labels.column("matured").unwrap().bool().unwrap();
    let converted = labels.column("converted").unwrap().bool().unwrap();
    let value = labels.column("value_in_window").unwrap().f64().unwrap();
    let existing = labels.column("existing_customer").unwrap().bool().unwrap();
    let mut mismatches = Vec::new();
    let mut positives = 0;
    for i in 0..labels.height() {
        let lead = ids.get(i).unwrap();
        let e = &expected[lead];
        positives += usize::from(e.converted == Some(true));
        let value_ok = match (e.value, value.get(i)) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
            (None, None) => true,
            _ => false,
        };
        if matured.get(i) != Some(e.matured)
            || converted.get(i) != e.converted
            || !value_ok
            || existing.get(i) != Some(e.existing)
        {
            mismatches.push(lead.to_string());
        }
    }
    assert!(positives > 100, "the export must have conversions to check ({positives})");
    assert!(
        mismatches.is_empty(),
        "{} leads disagree, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}
