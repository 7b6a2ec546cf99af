//! The closed loop end to end: a backfill of 60 days of the bundled sample, whose exports'
//! adjustments reconcile (what every platform ends with is leadscore's final value, and a lead
//! whose deal closed ends with the deal's value), and an export killed at random moments that
//! leaves the ledger and the files exactly as a clean run does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{code, leadscore, read_parquet, stderr};
use polars::prelude::*;
use serde_json::Value;

const FROM: &str = "2026-09-03";
const TO: &str = "2026-11-01";

/// The sample in `<dir>/sample`, sending late conversions too.
fn sample(dir: &Path) -> PathBuf {
    let config = common::copy_sample(dir);
    let text = fs::read_to_string(&config).unwrap();
    assert!(text.contains("\n[export]\n"));
    fs::write(&config, text.replace("\n[export]\n", "\n[export]\nsend_late_conversions = true\n")).unwrap();
    config
}

fn export_dirs(folder: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(folder.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path().join("export"))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    files.sort();
    files
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// CSV rows after the `Parameters:` row, as header → value maps.
fn csv_rows(p: &Path, skip_parameters: bool) -> Vec<BTreeMap<String, String>> {
    let text = fs::read_to_string(p).unwrap();
    let body: String = text.lines().skip(usize::from(skip_parameters)).map(|l| format!("{l}\n")).collect();
    let mut r = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records().map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(str::to_string)).collect()).collect()
}

fn money(s: &str) -> f64 {
    s.parse().unwrap()
}

/// What each platform holds after every export of `folder`, replayed in run-date order, by the
/// ledger's conversion id (Google click conversions: by click id and time).
fn replay(folder: &Path) -> BTreeMap<(&'static str, String), f64> {
    let mut held: BTreeMap<(&'static str, String), f64> = BTreeMap::new();
    let mut retracted = std::collections::BTreeSet::new();
    let mut set = |key: (&'static str, String), value: Option<f64>| {
        if retracted.contains(&key) {
            return; // Google ignores adjustments of a retracted conversion.
        }
        match value {
            Some(v) => {
                held.insert(key, v);
            }
            None => {
                held.insert(key.clone(), 0.0);
                retracted.insert(key);
            }
        }
    };
    for dir in export_dirs(folder) {
        for f in files_with_prefix(&dir, "google_ads_enhanced_conversions_") {
            for c in json(&f)["conversions"].as_array().unwrap() {
                set(("google_enhanced", c["orderId"].as_str().unwrap().into()), c["conversionValue"].as_f64());
            }
        }
        for f in files_with_prefix(&dir, "google_ads_enhanced_adjustments_") {
            for a in json(&f)["conversionAdjustments"].as_array().unwrap() {
                let value = a["restatementValue"]["adjustedValue"].as_f64();
                assert_eq!(value.is_none(), a["adjustmentType"] == "RETRACTION");
                set(("google_enhanced", a["orderId"].as_str().unwrap().into()), value);
            }
        }
        for r in csv_rows(&dir.join("google_ads_click_conversions.csv"), true) {
            let key = format!("{}|{}", r["Google Click ID"], r["Conversion Time"]);
            set(("google_click", key), Some(money(&r["Conversion Value"])));
        }
        for r in csv_rows(&dir.join("google_ads_click_adjustments.csv"), true) {
            let key = format!("{}|{}", r["Google Click ID"], r["Conversion Time"]);
            let value = (r["Adjustment Type"] == "RESTATE").then(|| money(&r["Adjusted Value"]));
            set(("google_click", key), value);
        }
        // The custom shape is upserted by id.
        for r in csv_rows(&dir.join("qualified_leads.csv"), false) {
            set(("custom", r["id"].clone()), Some(money(&r["value"])));
        }
    }
    held
}

#[test]
fn sixty_days_of_adjustments_reconcile_and_a_killed_export_leaves_what_a_clean_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sample");
    let config = sample(dir.path());
    let config = config.to_str().unwrap();
    let o = leadscore(&["backfill", "--config", config, "--from", FROM, "--to", TO], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // What each platform ends with is the value of the final ledger.
    let last = folder.join("runs").join(TO).join("export");
    let ledger = read_parquet(&last.join("ledger.parquet"));
    let held = replay(&folder);
    let strs = |name: &str| ledger.column(name).unwrap().str().unwrap().clone();
    let (dest, lead, id, state) = (strs("destination"), strs("lead_id"), strs("conversion_id"), strs("state"));
    let gclid = strs("gclid");
    let value = ledger.column("value").unwrap().f64().unwrap().clone();
    let at = ledger.column("conversion_at").unwrap().datetime().unwrap().physical().clone();
    let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0;
    for i in 0..ledger.height() {
        *states.entry(state.get(i).unwrap().to_string()).or_default() += 1;
        let key: (&'static str, String) = match dest.get(i).unwrap() {
            "google_enhanced" => ("google_enhanced", id.get(i).unwrap().into()),
            "custom" => ("custom", id.get(i).unwrap().into()),
            "google_click" => {
                let t = chrono::DateTime::from_timestamp_micros(at.get(i).unwrap()).unwrap().with_timezone(&tz);
                ("google_click", format!("{}|{}", gclid.get(i).unwrap(), t.format("%Y-%m-%d %H:%M:%S")))
            }
            _ => continue,
        };
        let platform = held.get(&key).unwrap_or_else(|| panic!("{key:?} ({}) was never sent", lead.get(i).unwrap()));
        assert!(
            (platform - value.get(i).unwrap()).abs() < 0.005,
            "{key:?}: platform {platform}, ledger {:?}",
            value.get(i)
        );
        checked += 1;
    }
    assert!(checked > 100, "{checked} conversions checked");
    // The loop did adjust: deals closed within the window were restated to their value.
    assert!(states.get("converted").copied().unwrap_or(0) > 0, "{states:?}");

    // And leadscore's final value is the truth: a lead whose deal closed holds the deal's value.
    let labels = read_parquet(&folder.join("runs").join(TO).join("labels").join("labels.parquet"));
    let deal: BTreeMap<String, f64> = labels
        .clone()
        .lazy()
        .filter(col("converted").eq(lit(true)))
        .collect()
        .map(|df| {
            let ids = df.column("lead_id").unwrap().str().unwrap().clone();
            let v = df.column("value_in_window").unwrap().f64().unwrap().clone();
            (0..df.height()).map(|i| (ids.get(i).unwrap().to_string(), v.get(i).unwrap())).collect()
        })
        .unwrap();
    for i in 0..ledger.height() {
        if state.get(i) == Some("converted") {
            let d = deal[lead.get(i).unwrap()];
            assert!((d - value.get(i).unwrap()).abs() < 0.01, "{}: deal {d}", lead.get(i).unwrap());
        }
    }

    // A SIGKILL anywhere in the last date's export, then a re-run: the same ledger and files.
    let clean = snapshot(&last);
    fs::remove_dir_all(&last).unwrap();
    let args = ["run", "--config", config, "--date", TO, "--only", "export"];
    let started = Instant::now();
    let o = leadscore(&args, dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let full_ms = (started.elapsed().as_millis() as u64).max(50);
    assert_eq!(snapshot(&last), clean, "a run of the date alone writes what the backfill did");
    let mut kills = 0;
    for round in 0..12u64 {
        fs::remove_dir_all(&last).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(round * full_ms / 12));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // Killed or not, nothing half-written is taken for the date's export.
        assert!(!last.exists() || last.join("manifest.json").is_file());
        let o = leadscore(&args, dir.path());
        assert_eq!(code(&o), 0, "round {round}: {}", stderr(&o));
        assert_eq!(snapshot(&last), clean, "round {round}");
    }
    assert!(kills >= 6, "most rounds should kill a running export ({kills})");
}

/// Every file of an export folder but its manifest (which holds timings), with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "manifest.json")
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}
