//! End-to-end tests of the `leadscore` binary: set-up commands, exit codes, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use polars::prelude::*;
use serde_json::Value;

/// The stages `leadscore run` runs today.
/// The stages that write tables (train writes a report; its model goes to the registry).
const STAGES: [&str; 7] = ["ingest", "labels", "features", "qualify", "value", "export", "channels"];

fn synth(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("export");
    let mut args = vec!["synth", "--out", out.to_str().unwrap(), "--leads", "3000", "--months", "12", "--seed", "7"];
    args.extend_from_slice(extra);
    let o = leadscore(&args, dir);
    assert_eq!(code(&o), 0, "synth failed: {}", stderr(&o));
    out
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn synth_is_byte_identical_for_the_same_seed_in_both_shapes() {
    for shape in ["hubspot", "salesforce"] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let args = ["--shape", shape, "--dirty-rate", "0.02"];
        let fa = files_of(&synth(a.path(), &args));
        let fb = files_of(&synth(b.path(), &args));
        assert!(fa.len() >= 4, "{shape}: {:?}", fa.iter().map(|f| &f.0).collect::<Vec<_>>());
        assert_eq!(fa.len(), fb.len());
        for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
            assert_eq!(na, nb);
            assert!(ba == bb, "{shape}: {na} differs between two runs with the same seed");
        }
        // A different seed gives a different export.
        let c = tempfile::tempdir().unwrap();
        let out = c.path().join("export");
        let o = leadscore(
            &["synth", "--out", out.to_str().unwrap(), "--leads", "3000", "--seed", "8", "--shape", shape],
            c.path(),
        );
        assert_eq!(code(&o), 0);
        let (leads_file, _, _) = if shape == "hubspot" { ("contacts.csv", 0, 0) } else { ("Lead.csv", 0, 0) };
        assert_ne!(fs::read(out.join(leads_file)).unwrap(), fa.iter().find(|f| f.0 == leads_file).unwrap().1);
    }
}

#[test]
fn run_ingests_a_dirty_export_and_accounts_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &["--dirty-rate", "0.03"]);
    let config = export.join("leadscore.toml");
    let o = leadscore(&["run", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("leads") && out.contains("rejected"), "{out}");
    let ingest = export.join("runs/2026-11-01/ingest");
    let report = read_json(&ingest.join("report.json"));
    let mut rejected_total = 0;
    for src in report["sources"].as_array().unwrap() {
        let read = src["read"].as_u64().unwrap();
        let accepted = src["accepted"].as_u64().unwrap();
        let rejected = src["rejected"].as_u64().unwrap();
        assert_eq!(read, accepted + rejected, "{src}");
        assert!(rejected > 0, "dirty rows must be rejected: {src}");
        rejected_total += rejected;
        // Every file row is counted once.
        let file_rows: u64 = src["files"].as_array().unwrap().iter().map(|f| f["rows"].as_u64().unwrap()).sum();
        assert_eq!(file_rows, read);
        let table = read_parquet(&ingest.join(format!("{}.parquet", src["source"].as_str().unwrap())));
        assert_eq!(table.height() as u64, accepted);
    }
    let rejects = read_parquet(&ingest.join("rejects.parquet"));
    assert_eq!(rejects.height() as u64, rejected_total);
    let reasons: Vec<String> =
        rejects.column("reason").unwrap().str().unwrap().iter().flatten().map(String::from).collect();
    for r in ["unparsable_timestamp", "missing_id", "duplicate_id", "negative_amount", "unknown_currency"] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no `{r}` reject in {:?}",
            reasons.iter().collect::<std::collections::BTreeSet<_>>()
        );
    }
    let manifest = read_json(&ingest.join("manifest.json"));
    assert_eq!(manifest["status"], "success");
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 3);
    assert!(manifest["inputs"][0]["sha256"].as_str().unwrap().len() == 64);
    // The canonical leads are unique by id and carry typed attributes.
    let leads = read_parquet(&ingest.join("leads.parquet"));
    assert_eq!(leads.column("lead_id").unwrap().n_unique().unwrap(), leads.height());
    assert_eq!(leads.column("company_size").unwrap().dtype(), &DataType::Float64);
    assert!(
        matches!(leads.column("created_at").unwrap().dtype(), DataType::Datetime(TimeUnit::Microseconds, Some(tz)) if tz.as_str() == "UTC")
    );
}

#[test]
fn a_rerun_with_the_same_inputs_gives_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &["--shape", "salesforce", "--dirty-rate", "0.01"]);
    let config = export.join("leadscore.toml");
    let run_dir = export.join("runs/2026-11-01");
    let mut hashes = Vec::new();
    for force in [false, true] {
        // The second run recomputes every stage (`--force`) instead of skipping them.
        let mut args = vec!["run", "--config", config.to_str().unwrap(), "--date", "2026-11-01"];
        if force {
            args.push("--force");
        }
        let o = leadscore(&args, dir.path());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let mut outs: Vec<(String, String)> = Vec::new();
        for stage in STAGES {
            let m = read_json(&run_dir.join(stage).join("manifest.json"));
            outs.extend(m["outputs"].as_array().unwrap().iter().map(|o| {
                (format!("{stage}/{}", o["file"].as_str().unwrap()), o["sha256"].as_str().unwrap().to_string())
            }));
        }
        hashes.push(outs);
    }
    assert!(hashes[0].len() >= 8, "{:?}", hashes[0]);
    assert_eq!(hashes[0], hashes[1]);
    // Nothing but the stage folders is left in the run folder (no temporary or partial outputs).
    let mut names: Vec<String> =
        fs::read_dir(&run_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut stages = STAGES.to_vec();
    stages.push("train");
    stages.sort();
    assert_eq!(names, stages);
    // The first run trained a champion; the second found it fresh and did not retrain.
    let train = read_json(&run_dir.join("train/report.json"));
    assert!(train["skipped"].as_str().unwrap().contains("days ago"), "{train}");
    let models = export.join("models");
    let champion = read_json(&models.join("champion.json"));
    let id = champion["model_id"].as_str().unwrap().to_string();
    let model_bytes = fs::read(models.join(&id).join("model.json")).unwrap();
    // Retraining on the same data with the same seed gives the same model, byte for byte.
    let o = leadscore(&["train", "--config", config.to_str().unwrap(), "--date", "2026-11-01"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let train = read_json(&run_dir.join("train/report.json"));
    assert_eq!(train["trained"]["model_id"], id.as_str());
    assert_eq!(fs::read(models.join(&id).join("model.json")).unwrap(), model_bytes);
    let mut entries: Vec<String> =
        fs::read_dir(&models).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    assert_eq!(entries, [id.clone(), "champion.json".to_string()], "no staging folders are left");
}

fn write_config(dir: &Path, leads: &str, deals: &str) -> PathBuf {
    let p = dir.join("leadscore.toml");
    fs::write(
        &p,
        format!(
            r#"[project]
name = "t"
currency = "EUR"
timezone = "UTC"
output_dir = "out"

[sources.leads]
path = "{leads}"
mapping = {{ lead_id = "id", created_at = "created", user_id = "user" }}

[sources.deals]
path = "{deals}"
mapping = {{ deal_id = "id", user_id = "user", created_at = "created", closed_at = "closed", stage = "stage", amount = "amount", currency = "currency" }}

[currency]
rates = {{ USD = 0.9 }}

[[conversions]]
name = "won"
source = "deals"
conditions = [{{ field = "stage", op = "is", value = "won" }}]

[labels]
target = "won"
window_days = 30
"#
        ),
    )
    .unwrap();
    p
}

/// Lets every row of both sources be rejected (tests of row-level rejects use tiny, mostly bad
/// files; the reject-rate gate has tests of its own).
fn lenient(config: &Path) {
    let text = fs::read_to_string(config).unwrap();
    let text = text
        .replace("[sources.leads]\n", "[sources.leads]\nmax_reject_rate = 1.0\n")
        .replace("[sources.deals]\n", "[sources.deals]\nmax_reject_rate = 1.0\n");
    fs::write(config, text).unwrap();
}

const DEALS_OK: &str = "id,user,created,closed,stage,amount,currency\nd1,u1,2026-01-05,2026-01-20,won,100,USD\n";

#[test]
fn bad_rows_go_to_rejects_with_their_reason_and_raw_values() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("leads.csv"),
        "id,created,user\nl1,2026-01-01 10:00:00,u1\n,2026-01-02,u2\nl3,31/02/2026,u3\nl1,2026-01-01 11:00:00,u1\nl5,1767225600000,\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("deals.csv"),
        "id,user,created,closed,stage,amount,currency\nd1,u1,2026-01-05,,open,100,usd\nd2,u1,2026-01-05,,open,-5,EUR\nd3,u2,2026-01-06,,open,10,EURO\nd4,u2,2026-01-06,,open,10,JPY\nd5,u2,2026-01-06,,open,ten,EUR\n",
    )
    .unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    // With the default gate (5%) this export fails as a whole, naming the reasons and rows.
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("2 of 5 rows rejected") && stderr(&o).contains("missing_id 1 (rows 2 of"));
    assert!(!dir.path().join("out/runs/2026-02-01/ingest").exists());
    lenient(&config);
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ingest = dir.path().join("out/runs/2026-02-01/ingest");
    let rejects = read_parquet(&ingest.join("rejects.parquet"));
    let rows: Vec<(String, u64, String, String)> = (0..rejects.height())
        .map(|i| {
            let s = |c: &str| rejects.column(c).unwrap().str().unwrap().get(i).unwrap_or("").to_string();
            (s("source"), rejects.column("row").unwrap().u64().unwrap().get(i).unwrap(), s("reason"), s("raw"))
        })
        .collect();
    let has = |src: &str, row: u64, reason: &str| rows.iter().any(|r| r.0 == src && r.1 == row && r.2 == reason);
    assert!(has("leads", 2, "missing_id"), "{rows:?}");
    assert!(has("leads", 3, "unparsable_timestamp"), "{rows:?}");
    // The first l1 is superseded by the later row (no update time: later in the export wins).
    assert!(has("leads", 1, "duplicate_id"), "{rows:?}");
    assert!(has("deals", 2, "negative_amount"), "{rows:?}");
    assert!(has("deals", 3, "unknown_currency"), "{rows:?}");
    assert!(has("deals", 4, "unknown_currency"), "{rows:?}");
    assert!(has("deals", 5, "unparsable_amount"), "{rows:?}");
    assert_eq!(rows.len(), 7);
    let raw: Value = serde_json::from_str(&rows.iter().find(|r| r.2 == "unparsable_timestamp").unwrap().3).unwrap();
    assert_eq!(raw["created"], "31/02/2026");
    let leads = read_parquet(&ingest.join("leads.parquet"));
    assert_eq!(leads.height(), 2);
    let deals = read_parquet(&ingest.join("deals.parquet"));
    assert_eq!(deals.height(), 1);
    // USD 100 at 0.9 is EUR 90; the original amount and currency are kept.
    assert_eq!(deals.column("amount").unwrap().f64().unwrap().get(0), Some(90.0));
    assert_eq!(deals.column("amount_original").unwrap().f64().unwrap().get(0), Some(100.0));
    assert_eq!(deals.column("currency").unwrap().str().unwrap().get(0), Some("USD"));
}

#[test]
fn a_missing_required_column_exits_3_naming_column_file_and_existing_columns() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leads.csv"), "id,created_on,user\nl1,2026-01-01,u1\n").unwrap();
    fs::write(dir.path().join("deals.csv"), DEALS_OK).unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("`created`") && e.contains("leads.csv") && e.contains("id, created_on, user"), "{e}");
    assert!(!dir.path().join("out/runs/2026-02-01/ingest").exists(), "nothing may be written");
}

#[test]
fn a_header_read_as_one_column_hints_at_the_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leads.csv"), "id;created;user\nl1;2026-01-01;u1\n").unwrap();
    fs::write(dir.path().join("deals.csv"), DEALS_OK).unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("is the file delimited by `;`? set `delimiter = \";\"`"), "{e}");
    assert!(!e.contains("2026-01-01"), "no cell in the message: {e}");
}

#[test]
fn a_file_that_is_not_csv_parquet_or_jsonl_exits_3_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leads.xlsx"), b"PK\x03\x04 not really").unwrap();
    fs::write(dir.path().join("deals.csv"), DEALS_OK).unwrap();
    let config = write_config(dir.path(), "leads.xlsx", "deals.csv");
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("leads.xlsx"), "{}", stderr(&o));
    // Same bytes under a .csv name: detected as a ZIP, not parsed as text.
    fs::copy(dir.path().join("leads.xlsx"), dir.path().join("leads.csv")).unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("ZIP archive"), "{}", stderr(&o));
}

#[test]
fn empty_files_give_a_clear_error_or_warning_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leads.csv"), "").unwrap();
    fs::write(dir.path().join("deals.csv"), DEALS_OK).unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("no leads"), "{}", stderr(&o));
    // Header only: no data rows.
    fs::write(dir.path().join("leads.csv"), "id,created,user\n").unwrap();
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    // Leads present, deals file empty: a warning; the data stages succeed, and features refuses
    // with exit 4: no lead is old enough to have a known outcome.
    fs::write(dir.path().join("leads.csv"), "id,created,user\nl1,2026-01-01,u1\n").unwrap();
    fs::write(dir.path().join("deals.csv"), "").unwrap();
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("empty file"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not enough data: no matured lead was created in the training window"),
        "{}",
        stderr(&o)
    );
    assert!(dir.path().join("out/runs/2026-02-01/labels/manifest.json").exists());
    assert!(!dir.path().join("out/runs/2026-02-01/features").exists());
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn config_errors_exit_2_listing_every_problem_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    fs::write(
        &p,
        "[project]\nname = \"x\"\ncurrency = \"EUR\"\ncolour = \"blue\"\n\n[sources.leads]\npath = 3\n\n[sources.deals]\npath = \"d.csv\"\nmapping = { deal_id = \"id\" }\n",
    )
    .unwrap();
    let o = leadscore(&["run", "--config", p.to_str().unwrap()], dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("line 4") && e.contains("unknown field `colour`"), "{e}");
    assert!(e.contains("line 7") && e.contains("sources.leads"), "{e}");
    assert!(e.contains("required field `user_id`") && e.contains("required field `created_at`"), "{e}");
    // A missing config file is a usage error too.
    let o = leadscore(&["run", "--config", "nope.toml"], dir.path());
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("nope.toml"));
    // So is an unknown stage or a malformed date.
    let o = leadscore(&["stage", "train", "--config", p.to_str().unwrap()], dir.path());
    assert_eq!(code(&o), 2);
    let o = leadscore(&["run", "--date", "2026-13-01"], dir.path());
    assert_eq!(code(&o), 2);
}

#[test]
fn inspect_reads_outputs_with_the_independent_reader() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("leads.csv"), "id,created,user\nl1,2026-01-01,u1\nl2,2026-01-03,u2\n").unwrap();
    fs::write(dir.path().join("deals.csv"), DEALS_OK).unwrap();
    let config = write_config(dir.path(), "leads.csv", "deals.csv");
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", "2026-02-01"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let leads = dir.path().join("out/runs/2026-02-01/ingest/leads.parquet");
    let o = leadscore(&["inspect", leads.to_str().unwrap(), "--head", "2", "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rows"], 2);
    let meta: Vec<(String, String)> = serde_json::from_value(v["metadata"].clone()).unwrap();
    assert!(meta.contains(&("leadscore.stage".into(), "ingest".into())), "{meta:?}");
    assert!(meta.contains(&("leadscore.run_date".into(), "2026-02-01".into())), "{meta:?}");
    let created = v["schema"].as_array().unwrap().iter().find(|f| f["name"] == "created_at").unwrap();
    assert_eq!(created["data_type"], "Timestamp(µs, \"UTC\")");
    assert!(v["head"].as_str().unwrap().contains("l2"));
    // Not a Parquet file: exit 3.
    let o = leadscore(&["inspect", config.to_str().unwrap()], dir.path());
    assert_eq!(code(&o), 3);
}

#[test]
fn the_bundled_sample_runs_with_the_root_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("leadscore.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Same config, absolute sample paths, outputs in a temporary folder.
    let sample = root.join("data/sample");
    let text = text
        .replace("\"data/sample/", &format!("\"{}/", sample.display()))
        .replace("output_dir = \"data\"", &format!("output_dir = \"{}\"", dir.path().display()))
        // Score the last 30 days, so the qualified share can be compared with the policy.
        .replace("top_fraction = 0.2\n", "top_fraction = 0.2\nrescore_days = 30\n");
    let config = dir.path().join("leadscore.toml");
    fs::write(&config, text).unwrap();
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ingest = &v["stages"][0]["report"];
    assert_eq!(ingest["stage"], "ingest");
    let leads = &ingest["sources"][0];
    assert!(leads["read"].as_u64().unwrap() >= 19_000, "{leads}");
    // Default run date: the day after the sample's last lead.
    let last: chrono::DateTime<chrono::Utc> = leads["last_at"].as_str().unwrap().parse().unwrap();
    let run_date = chrono::NaiveDate::parse_from_str(v["run_date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let last_local = last.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive();
    assert_eq!(run_date, last_local.succ_opt().unwrap());
    // The leakage audit catches the planted leaky attribute, and only it.
    let features = &v["stages"][2]["report"];
    assert_eq!(features["stage"], "features");
    for row in features["audit"].as_array().unwrap() {
        let excluded = row["excluded"].as_bool().unwrap();
        assert_eq!(excluded, row["attribute"] == "customer_tier", "{row}");
    }
    let names: Vec<&str> =
        features["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(!names.iter().any(|n| n.contains("customer_tier")), "{names:?}");
    assert!(names.contains(&"job_title_seniority") && names.contains(&"events_7d"), "{names:?}");
    // Training names a champion and writes the whole model folder with its report.
    let train = &v["stages"][3]["report"];
    assert_eq!(train["stage"], "train");
    let t = &train["trained"];
    let id = t["model_id"].as_str().unwrap();
    assert!(t["champion"]["promoted"].as_bool().unwrap());
    let champion = read_json(&dir.path().join("models/champion.json"));
    assert_eq!(champion["model_id"], id);
    let model_dir = dir.path().join("models").join(id);
    for f in [
        "model.json",
        "feature_spec.json",
        "thresholds.json",
        "metrics.json",
        "training.json",
        "config.json",
        "validation.parquet",
        "report.html",
    ] {
        assert!(model_dir.join(f).is_file(), "{f} missing in {}", model_dir.display());
    }
    let auc = t["evaluation"]["headline"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.65, "validation AUC {auc}");
    let html = fs::read_to_string(model_dir.join("report.html")).unwrap();
    for part in [
        "ROC curve",
        "Reliability",
        "Lift by decile",
        "Segments",
        "Feature importance",
        "Leakage audit",
        "customer_tier",
        "Predicted value (validation)",
        "ROC curves (validation): the chosen model and the runner-up",
        "At the configured threshold",
        "95% interval",
        "How the probabilities of converted and not converted",
        "Stability",
        "Against the other conversion definitions",
        "How the features move the odds",
        "Partial dependence on job_title_seniority",
        "Importance: ",
    ] {
        assert!(html.contains(part), "report.html lacks {part}");
    }
    // What a data scientist checks, consistent with the validation slice it describes.
    let validation_leads = t["validation"]["leads"].as_u64().unwrap();
    let d = &t["diagnostics"];
    let c = &d["confusion"];
    let count = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(
        count("true_positives") + count("false_positives") + count("false_negatives") + count("true_negatives"),
        validation_leads
    );
    assert_eq!(count("true_positives") + count("false_negatives"), t["validation"]["conversions"].as_u64().unwrap());
    let interval = &d["intervals"]["auc"];
    assert!(interval["low"].as_f64().unwrap() < auc && auc < interval["high"].as_f64().unwrap(), "{interval}");
    let sum = |groups: &Value| groups.as_array().unwrap().iter().map(|g| g["leads"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum(&d["by_month"]), validation_leads);
    assert_eq!(sum(&d["by_source"]), validation_leads);
    // The sample's other definition (an opportunity opened) is ranked well above chance too.
    let other = &t["other_definitions"][0];
    assert_eq!(other["definition"], "open_opp", "{}", t["other_definitions"]);
    assert!(other["auc"].as_f64().unwrap() > 0.55, "{other}");
    // The runner-up: the best of the others by the log loss the choice went by (on the
    // time-series folds where the candidates have them).
    let judged = |c: &Value| {
        if c["folds"].is_null() { c["validation"]["log_loss"].as_f64() } else { c["folds"]["log_loss"].as_f64() }
    };
    let others: Vec<&Value> = t["candidates"].as_array().unwrap().iter().filter(|c| c["kind"] != t["chosen"]).collect();
    let runner_up = others.iter().min_by(|a, b| judged(a).unwrap().total_cmp(&judged(b).unwrap())).unwrap();
    assert_eq!(t["other"]["kind"], runner_up["kind"], "{}", t["why"]);
    // The planted seniority effect: C-level raises the odds, students lower them.
    let effects = &t["effects"];
    let seniority =
        effects["features"].as_array().unwrap().iter().find(|f| f["feature"] == "job_title_seniority").unwrap();
    assert!(seniority["direction"].as_str().unwrap().contains("student"), "{seniority}");
    let dependence = effects["dependence"].as_array().unwrap().iter().find(|d| d["feature"] == "job_title_seniority");
    let dependence = &dependence.unwrap_or_else(|| panic!("{}", effects["dependence"]))["points"];
    let of = |level: &str| dependence.as_array().unwrap().iter().find(|p| p[0] == level).unwrap()[1].as_f64().unwrap();
    assert!(of("c_level") > 2.0 * of("student"), "{dependence}");
    // Probabilities of validation leads are out of sample and in [0, 1].
    let val = read_parquet(&model_dir.join("validation.parquet"));
    let p = val.column("probability").unwrap().f64().unwrap();
    assert!(p.iter().flatten().all(|p| (0.0..=1.0).contains(&p)));
    assert_eq!(val.height() as u64, t["validation"]["leads"].as_u64().unwrap());
    // Daily scores: probabilities in [0, 1], scores monotone in them, the policy's share.
    let q = &v["stages"][4]["report"];
    assert_eq!(q["stage"], "qualify");
    assert_eq!(q["model_id"], id);
    let scores = read_parquet(&dir.path().join("runs/2026-11-01/qualify/scores.parquet"));
    assert_eq!(scores.height() as u64, q["leads"].as_u64().unwrap());
    assert!(scores.height() > 1000, "30 days of leads: {}", scores.height());
    let mut rows: Vec<(f64, f64, bool, String)> = (0..scores.height())
        .map(|i| {
            let get = |c: &str| scores.column(c).unwrap().get(i).unwrap();
            (
                get("probability").extract::<f64>().unwrap(),
                get("score").extract::<f64>().unwrap(),
                get("qualified") == AnyValue::Boolean(true),
                get("reason_1").str_value().into_owned(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r.0) && (0.0..=100.0).contains(&r.1)));
    assert!(rows.windows(2).all(|w| w[0].1 <= w[1].1), "scores are monotone in the probability");
    let threshold = q["threshold"].as_f64().unwrap();
    assert!(rows.iter().all(|r| r.2 == (r.0 >= threshold)));
    let share = rows.iter().filter(|r| r.2).count() as f64 / rows.len() as f64;
    assert!((share - 0.2).abs() < 0.05, "top_fraction 0.2 qualifies {share}");
    assert!(rows.iter().all(|r| r.3.contains(": ") && r.3.contains('(')), "every lead has a reason");
    // Predicted value = probability x conditional value, with its interval, in EUR.
    let t_value = &t["value"];
    assert!(t_value["ratio"].as_f64().unwrap() > 0.5 && t_value["ratio"].as_f64().unwrap() < 2.0, "{t_value}");
    let values = read_parquet(&dir.path().join("runs/2026-11-01/value/values.parquet"));
    assert_eq!(values.height(), scores.height());
    let col = |c: &str| values.column(c).unwrap().f64().unwrap().iter().map(Option::unwrap).collect::<Vec<f64>>();
    let (p, cond, pred, p10, p90) =
        (col("probability"), col("conditional_value"), col("predicted_value"), col("value_p10"), col("value_p90"));
    for i in 0..values.height() {
        assert!((pred[i] - p[i] * cond[i]).abs() < 1e-6 * cond[i].max(1.0));
        assert!(cond[i] > 0.0 && p10[i] > 0.0 && p10[i] <= p90[i], "row {i}: {} {} {}", p10[i], cond[i], p90[i]);
    }
    assert!(values.column("currency").unwrap().str().unwrap().iter().all(|c| c == Some("EUR")));
}

#[test]
fn backtests_score_past_periods_with_the_model_of_the_time_or_a_fixed_one() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    let c = config.to_str().unwrap();
    // The config named by a path relative to the working folder, with a relative `output_dir`.
    let relative = config.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string();
    let o = leadscore(
        &["backtest", "--config", &relative, "--from", "2026-09-01", "--to", "2026-09-14", "--json"],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["mode"], "rolling");
    // Every folder of the backtest is under the one it reports (the rolling runs and models were
    // once written under the config's folder twice over).
    let out = dir.path().join(r["dir"].as_str().unwrap());
    for folder in ["rolling", "models", "outcomes"] {
        assert!(out.join(folder).is_dir(), "{} missing", out.join(folder).display());
    }
    // The evaluated leads themselves: one row per matured lead of the periods.
    let leads = read_parquet(&out.join("backtest_leads.parquet"));
    let matured: u64 = r["periods"].as_array().unwrap().iter().map(|p| p["matured"].as_u64().unwrap()).sum();
    assert_eq!(leads.height() as u64, matured);
    for c in ["lead_id", "probability", "qualified", "predicted_value", "converted", "value_in_window"] {
        assert!(leads.column(c).is_ok(), "backtest_leads.parquet lacks {c}");
    }
    let converted = leads.column("converted").unwrap().bool().unwrap().sum().unwrap_or(0) as u64;
    assert_eq!(converted, r["total"]["conversions"].as_u64().unwrap());
    let periods = r["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "two weekly periods");
    // Both ends are included, as in a backfill: the periods are 09-01 to 09-07 and 09-08 to 09-14.
    assert_eq!((periods[0]["from"].as_str(), periods[0]["to"].as_str()), (Some("2026-09-01"), Some("2026-09-07")));
    assert_eq!(periods[1]["to"].as_str(), Some("2026-09-14"));
    // Each period has the model trained with the data of its first day: different models.
    assert_ne!(periods[0]["model_id"], periods[1]["model_id"]);
    assert!(periods[0]["model_id"].as_str().unwrap().starts_with("20260901-"));
    for p in periods {
        assert!(p["matured"].as_u64().unwrap() <= p["leads"].as_u64().unwrap());
        assert!(p["qualified"].as_u64().unwrap() <= p["matured"].as_u64().unwrap());
        let precision = p["precision"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&precision));
    }
    assert!(out.join("backtest.json").is_file());
    let html = fs::read_to_string(out.join("backtest.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("promised precision") && !html.contains("<script"));
    // Leads after 2026-09-22 have not matured by 2026-11-01 with a 40-day window: said so.
    let o = leadscore(&["backtest", "--config", c, "--from", "2026-09-20", "--to", "2026-09-26", "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(r["warnings"][0].as_str().unwrap().contains("have not matured"), "{r}");
    // A fixed model: the champion scores every period.
    let o = leadscore(&["train", "--config", c], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = read_json(&export.join("models/champion.json"))["model_id"].as_str().unwrap().to_string();
    let o = leadscore(
        &["backtest", "--config", c, "--from", "2026-09-01", "--to", "2026-09-14", "--model", &id, "--json"],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["mode"], "fixed");
    assert!(r["periods"].as_array().unwrap().iter().all(|p| p["model_id"] == id.as_str()));
    // A bad range is a usage error.
    let o = leadscore(&["backtest", "--config", c, "--from", "2026-09-15", "--to", "2026-09-01"], dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn extra_attributes_add_noise_columns_and_change_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let base = synth(dir.path(), &["--shape", "salesforce"]);
    let plain = fs::read(base.join("Lead.csv")).unwrap();
    let deals = fs::read(base.join("Opportunity.csv")).unwrap();
    let wide = dir.path().join("wide");
    let o = leadscore(
        &[
            "synth",
            "--out",
            wide.to_str().unwrap(),
            "--leads",
            "3000",
            "--months",
            "12",
            "--seed",
            "7",
            "--shape",
            "salesforce",
            "--extra-attributes",
            "3",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read(wide.join("Opportunity.csv")).unwrap(), deals);
    let read = |bytes: &[u8]| -> Vec<Vec<String>> {
        csv::Reader::from_reader(bytes).records().map(|r| r.unwrap().iter().map(String::from).collect()).collect()
    };
    let (a, b) = (read(&plain), read(&fs::read(wide.join("Lead.csv")).unwrap()));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(y.len(), x.len() + 3);
        assert_eq!(&y[..x.len()], &x[..]);
    }
    let config = fs::read_to_string(wide.join("leadscore.toml")).unwrap();
    assert!(config.contains("column = \"Extra 3\"\nkind = \"numeric\""), "{config}");
    assert!(config.contains("column = \"Extra 2\"\nkind = \"categorical\""), "{config}");
}

#[test]
fn extra_events_add_noise_page_views_and_change_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let base = synth(dir.path(), &[]);
    let noisy = dir.path().join("noisy");
    let args = ["synth", "--out", noisy.to_str().unwrap(), "--leads", "3000", "--months", "12", "--seed", "7"];
    let o = leadscore(&[&args[..], &["--extra-events", "2"]].concat(), dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["contacts.csv", "deals.csv", "truth.parquet"] {
        assert_eq!(fs::read(base.join(f)).unwrap(), fs::read(noisy.join(f)).unwrap(), "{f} changed");
    }
    let rows = |p: &Path| csv::Reader::from_path(p).unwrap().records().count();
    let (plain, extra) = (rows(&base.join("events.csv")), rows(&noisy.join("events.csv")));
    // About 2 per lead (Poisson), minus those after the export date.
    assert!((4_500..7_000).contains(&(extra - plain)), "{plain} -> {extra}");
    // Out of range, or on an export without events: a usage error.
    let o = leadscore(&[&args[..], &["--extra-events", "80"]].concat(), dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = leadscore(&[&args[..], &["--extra-events", "1", "--shape", "salesforce"]].concat(), dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--extra-events"), "{}", stderr(&o));
}

#[test]
fn run_writes_every_export_and_no_raw_personal_data_reaches_files_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    // Score the last 20 days again, so that there are qualified leads and some too old for Meta.
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n[qualify]\nrescore_days = 20\npolicy = \"min_probability\"\nmin_probability = 0.02\n");
    fs::write(&config, text).unwrap();
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--log-level", "debug"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = export.join("runs/2026-11-01/export");
    for f in [
        "qualified_leads.parquet",
        "qualified_leads.csv",
        "google_ads_click_conversions.csv",
        "google_ads_enhanced_conversions.jsonl",
        "refused.parquet",
        "report.json",
        "manifest.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let report = read_json(&out.join("report.json"));
    for f in report["formats"].as_array().unwrap() {
        let refused: u64 = f["refused"].as_array().unwrap().iter().map(|r| r["leads"].as_u64().unwrap()).sum();
        assert_eq!(
            f["exported"].as_u64().unwrap() + refused + f["not_applicable"].as_u64().unwrap(),
            f["candidates"].as_u64().unwrap(),
            "{f}"
        );
    }
    assert!(report["qualified"].as_u64().unwrap() > 0, "{report}");
    // Leads rescored from 20 days ago are qualified today: Meta's event is the qualification
    // (2026-11-01 00:00 in Amsterdam), so none is too old to send.
    let meta = &report["formats"][3];
    assert!(meta["refused"].as_array().unwrap().iter().all(|r| r["reason"] != "meta_event_too_old"), "{report}");
    let batch = read_json(&out.join("meta_capi_0001.json"));
    let events = batch["data"].as_array().unwrap();
    assert!(events.len() > 20 && events.iter().all(|e| e["event_time"] == 1_793_487_600_i64), "{batch}");
    let google = read_json(&out.join("google_ads_enhanced_conversions_0001.json"));
    assert_eq!(google["partialFailure"], true);
    // The manifest counts the rows of the custom shape's table, as the summary's rows out.
    let manifest = read_json(&out.join("manifest.json"));
    let custom =
        manifest["outputs"].as_array().unwrap().iter().find(|o| o["file"] == "qualified_leads.parquet").unwrap();
    assert_eq!(custom["rows"], report["formats"][0]["exported"], "{manifest}");
    // Every raw e-mail, phone and name of the export, as whole tokens or substrings.
    let mut r = csv::Reader::from_path(export.join("contacts.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let at = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (email, phone, first, last) = (at("Email"), at("Phone Number"), at("First Name"), at("Last Name"));
    let (mut raw, mut names) = (Vec::new(), std::collections::HashSet::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        raw.extend([rec[email].trim().to_string(), rec[phone].trim().to_string()].into_iter().filter(|v| v.len() > 4));
        names.extend([rec[first].trim().to_string(), rec[last].trim().to_string()].into_iter().filter(|v| v.len() > 3));
    }
    let mut texts = vec![("stderr".to_string(), stderr(&o)), ("stdout".to_string(), stdout(&o))];
    for e in fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        texts.push((p.display().to_string(), String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned()));
    }
    for (what, text) in &texts {
        for v in &raw {
            assert!(!text.contains(v.as_str()), "{what} contains {v:?}");
        }
        for token in text.split(|c: char| !c.is_alphanumeric()) {
            assert!(!names.contains(token), "{what} contains the name {token:?}");
        }
    }
}

#[test]
fn a_day_without_new_leads_exits_99_after_training() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    // The export ends on 2026-11-01: nobody signed up on 2026-12-14.
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--date", "2026-12-15"], dir.path());
    assert_eq!(code(&o), 99, "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to score"), "{}", stderr(&o));
    assert!(export.join("models/champion.json").exists());
    assert!(!export.join("runs/2026-12-15/qualify").exists());
}

#[test]
fn the_root_config_reads_the_sample_as_its_generated_config_does() {
    use leadscore_core::Config;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = Config::load(&root.join("leadscore.toml")).unwrap_or_else(|e| panic!("{e}"));
    let generated = Config::load(&root.join("data/sample/leadscore.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(main.attributes, generated.attributes);
    assert_eq!(main.currency, generated.currency);
    assert_eq!(main.project.currency, generated.project.currency);
    assert_eq!(main.project.timezone, generated.project.timezone);
    assert_eq!(main.project.default_run_date, generated.project.default_run_date);
    for (a, b) in main.sources.iter().zip(generated.sources.iter()) {
        assert_eq!(a.mapping, b.mapping);
        assert_eq!(a.extra, b.extra);
        assert_eq!(main.resolve(&a.location.path), generated.resolve(&b.location.path));
    }
    assert_eq!(main.output_dir(), root.join("data"));
}

#[test]
fn the_committed_sample_is_exactly_what_synth_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let o = leadscore(
        &[
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--leads",
            "20000",
            "--months",
            "12",
            "--seed",
            "1",
            "--dirty-rate",
            "0.005",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let fresh = files_of(&out);
    let committed = files_of(&root.join("data/sample"));
    assert_eq!(fresh.iter().map(|f| &f.0).collect::<Vec<_>>(), committed.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, a), (_, b)) in fresh.iter().zip(&committed) {
        assert!(a == b, "data/sample/{name} differs from a fresh `leadscore synth` (regenerate it, see README)");
    }
}

#[test]
fn version_names_the_commit_built() {
    let dir = tempfile::tempdir().unwrap();
    let o = leadscore(&["--version"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let expected_start = format!("leadscore {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(&expected_start) && out.trim_end().ends_with(')'), "{out}");
    let commit = out.trim_end().trim_start_matches(&expected_start).trim_end_matches(')');
    // Built from this checkout: its HEAD, unless a packager named another commit.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match (head, std::option_env!("LEADSCORE_COMMIT")) {
        (_, Some(given)) if !given.is_empty() => assert_eq!(commit, given),
        (Some(head), _) => assert_eq!(commit, head, "{out}"),
        (None, _) => assert_eq!(commit, "unknown"),
    }
}

/// The Python with the pinned old pyarrow and DuckDB `.ci/interop.sh` installs, or `None` (and a
/// note) when there is none and none is required.
fn interop_python() -> Option<PathBuf> {
    match std::env::var_os("LEADSCORE_TEST_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None if std::env::var_os("LEADSCORE_REQUIRE_INTEROP").is_some() => {
            panic!("LEADSCORE_REQUIRE_INTEROP is set but LEADSCORE_TEST_PYTHON is not: .ci/run installs it")
        }
        None => {
            eprintln!("skipped: no Python with pyarrow and DuckDB (set LEADSCORE_TEST_PYTHON, as .ci/run does)");
            None
        }
    }
}

/// Every Parquet file under `dir`, depth first.
fn parquet_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            parquet_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
}

/// Data scientists open the outputs in pyarrow, pandas and DuckDB: every Parquet file a whole run
/// writes (each stage's tables, the model folder's, the channel report's range, the synthetic
/// truth) opens in pyarrow 10 and in DuckDB, with the rows, columns and nulls polars reads, strings
/// as (large) strings rather than the string_view pyarrow before 16 cannot read, and timestamps as
/// UTC microseconds.
#[test]
fn every_parquet_output_opens_in_pyarrow_10_and_duckdb() {
    let Some(python) = interop_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let cfg = config.to_str().unwrap();
    let o = leadscore(&["run", "--config", cfg], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o =
        leadscore(&["report", "channels", "--config", cfg, "--from", "2026-10-01", "--to", "2026-10-31"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let folder = config.parent().unwrap();
    let mut files = Vec::new();
    parquet_files(folder, &mut files);
    files.sort();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/read_parquet.py");
    let o = std::process::Command::new(&python).arg(&script).arg(folder).output().expect("python runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let seen: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(seen["pyarrow"].as_str().unwrap().starts_with("10."), "pinned pyarrow 10: {}", seen["pyarrow"]);
    let seen = seen["files"].as_array().unwrap();
    let paths: Vec<PathBuf> = seen.iter().map(|f| PathBuf::from(f["path"].as_str().unwrap())).collect();
    assert_eq!(paths, files);
    for stage in ["ingest/leads", "labels/labels", "features/features", "qualify/scores", "value/values"] {
        assert!(files.iter().any(|f| f.ends_with(format!("{stage}.parquet"))), "no {stage}.parquet among {files:?}");
    }
    assert!(files.iter().any(|f| f.ends_with("validation.parquet")), "the model's validation table");
    assert!(files.iter().any(|f| f.ends_with("truth.parquet")));

    for (file, seen) in files.iter().zip(seen) {
        let name = file.display();
        assert!(seen["pyarrow_error"].is_null(), "pyarrow cannot read {name}: {}", seen["pyarrow_error"]);
        assert!(seen["duckdb_error"].is_null(), "DuckDB cannot read {name}: {}", seen["duckdb_error"]);
        let df = read_parquet(file);
        assert_eq!(seen["rows"].as_u64().unwrap() as usize, df.height(), "{name}");
        assert_eq!(seen["duckdb_rows"].as_u64().unwrap() as usize, df.height(), "{name}");
        let columns = seen["columns"].as_array().unwrap();
        let duckdb = seen["duckdb_types"].as_array().unwrap();
        assert_eq!(columns.len(), df.width(), "{name}");
        assert_eq!(duckdb.len(), df.width(), "{name}");
        for ((c, arrow), duck) in df.columns().iter().zip(columns).zip(duckdb) {
            let (ty, duck) = (arrow["type"].as_str().unwrap(), duck.as_str().unwrap());
            assert_eq!(arrow["name"].as_str().unwrap(), c.name().as_str(), "{name}");
            assert_eq!(arrow["nulls"].as_u64().unwrap() as usize, c.null_count(), "{name}: {}", c.name());
            let expected = match c.dtype() {
                DataType::String => Some((["large_string", "string"].contains(&ty), "VARCHAR")),
                DataType::Datetime(TimeUnit::Microseconds, Some(tz)) if tz.as_str() == "UTC" => {
                    Some((ty == "timestamp[us, tz=UTC]", "TIMESTAMP WITH TIME ZONE"))
                }
                DataType::Float64 => Some((ty == "double", "DOUBLE")),
                DataType::Boolean => Some((ty == "bool", "BOOLEAN")),
                DataType::Date => Some((ty == "date32[day]", "DATE")),
                _ => None,
            };
            if let Some((arrow_ok, duck_type)) = expected {
                assert!(arrow_ok, "{name}: {} is {} in polars, {ty} in pyarrow", c.name(), c.dtype());
                assert_eq!(duck, duck_type, "{name}: {}", c.name());
            }
        }
    }
}

/// A line of the sample run's output with what differs between runs and builds replaced: model
/// ids (`20261101-a1fcb9a999` names the build) and the seconds of `outputs (0.02 s):`.
fn steady(line: &str) -> String {
    let mut out = line.trim_end().to_string();
    let bytes = line.as_bytes();
    // Model ids: 8 digits, a dash, 10 hex digits.
    for start in (0..bytes.len().saturating_sub(18)).rev() {
        let id = &bytes[start..start + 19];
        if id[..8].iter().all(u8::is_ascii_digit)
            && id[8] == b'-'
            && id[9..].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            out.replace_range(start..start + 19, "<model>");
        }
    }
    if let (Some(open), true) = (out.find("outputs ("), out.ends_with(" s):")) {
        out.replace_range(open + "outputs (".len()..out.len() - 2, "<seconds>");
    }
    out
}

/// The README's first example is what the sample run prints: every line it shows is printed,
/// in order, and lines it shows one after the other (no `…` between them) are printed one after
/// the other. A line ending in `…` shows the start of a longer line.
#[test]
fn the_readme_shows_what_the_sample_run_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let shown: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.ends_with("and prints:"))
        .skip_while(|l| *l != "```text")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    assert!(shown.len() > 30, "the README's sample output block was not found");

    let dir = tempfile::tempdir().unwrap();
    fs::copy(root.join("leadscore.toml"), dir.path().join("leadscore.toml")).unwrap();
    copy_tree(&root.join("data/sample"), &dir.path().join("data/sample"));
    let o = leadscore(&["run"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let printed: Vec<String> = stdout(&o).lines().map(steady).collect();

    let mut next = 0;
    let mut adjacent = false;
    for line in shown {
        if line.trim() == "…" {
            adjacent = false;
            continue;
        }
        let want = steady(line);
        let matches = |p: &String| match want.strip_suffix('…') {
            Some(start) => p.starts_with(start),
            None => *p == want,
        };
        let found = printed[next..].iter().position(matches).map(|i| i + next);
        match found {
            Some(i) if !adjacent || i == next => next = i + 1,
            _ => panic!(
                "the README shows\n{line}\nbut the sample run printed{}\n{}",
                if adjacent { " here" } else { " no such line after" },
                printed[next..].iter().take(8).cloned().collect::<Vec<_>>().join("\n")
            ),
        }
        adjacent = true;
    }

    // The files the last lines name exist, in the JSON summary too (a second run: all skipped).
    let o = leadscore(&["run", "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let open = &summary["open"];
    assert!(open["model_report"].as_str().unwrap().ends_with("/report.html"), "{open}");
    assert!(dir.path().join(open["model_report"].as_str().unwrap()).is_file(), "{open}");
    assert!(dir.path().join(open["exports"].as_str().unwrap()).join("qualified_leads.csv").is_file(), "{open}");
    assert!(dir.path().join(open["channels"].as_str().unwrap()).is_file(), "{open}");
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), human logs and the progress
/// bar share stderr: every log line is written on a line of its own, the bar cleared first and
/// drawn again after, never appended to the bar's line.
#[test]
fn log_lines_are_never_drawn_into_the_progress_bar() {
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let command = format!("'{}' run --force --config '{}'", env!("CARGO_BIN_EXE_leadscore"), config.display());
    let o = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("LEADSCORE_LOG")
        .output()
        .expect("util-linux's script runs");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // What the terminal shows on each line: after the last carriage return, without the
    // clear-line and colour sequences.
    let raw = String::from_utf8_lossy(&o.stdout);
    let shown: Vec<String> = raw
        .split('\n')
        .map(|line| {
            let last = line.trim_end_matches('\r').rsplit('\r').next().unwrap_or("");
            let mut text = last.replace("\x1b[2K", "");
            while let Some(start) = text.find("\x1b[") {
                let end = text[start..].find('m').map_or(text.len(), |e| start + e + 1);
                text.replace_range(start..end, "");
            }
            text
        })
        .collect();
    let bar = |l: &String| l.contains("/8 ") && l.contains("] [");
    assert!(raw.contains("/8 ingest"), "no progress bar was drawn:\n{raw}");
    let logs: Vec<&String> = shown.iter().filter(|l| l.contains(" INFO ") || l.contains(" WARN ")).collect();
    assert!(logs.len() >= 16, "the stages' log lines: {logs:#?}");
    let drawn_over: Vec<&&String> = logs.iter().filter(|l| bar(l)).collect();
    assert!(drawn_over.is_empty(), "log lines drawn into the progress bar: {drawn_over:#?}");
}

/// Headless Chromium (Debian's `chromium`, which `.ci/run` installs), or `None` (and a note) when
/// there is none and none is required.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("LEADSCORE_TEST_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        let path = Path::new("/usr/bin/chromium");
        path.is_file().then(|| path.to_path_buf())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("LEADSCORE_REQUIRE_CHROMIUM").is_some() => {
            panic!("LEADSCORE_REQUIRE_CHROMIUM is set but there is no chromium: .ci/run installs it")
        }
        None => {
            eprintln!("skipped: no chromium (apt-get install chromium, or set LEADSCORE_TEST_CHROMIUM)");
            None
        }
    }
}

/// Runs headless Chromium on a page with `args` (`--screenshot=…`, `--dump-dom`); its stdout.
fn browse(chromium: &Path, profile: &Path, page: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "chromium on {}: {}", page.display(), stderr(&o));
    stdout(&o)
}

/// The reports as a browser lays them out (real fonts, real text widths): every chart's labels
/// inside the chart and apart from each other, and no table cut off, on the model report, the
/// backtest and the channel reports (a day's and a range's). Screenshots of each are left in
/// `target/tmp/screenshots/` to look at.
#[test]
fn the_reports_lay_out_in_a_real_browser_without_overlapping_labels() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n[qualify]\n# The channel report's weeks.\nrescore_days = 45\n");
    fs::write(&config, text).unwrap();
    let cfg = config.to_str().unwrap();
    for args in [
        &["run", "--config", cfg][..],
        &["backtest", "--config", cfg, "--from", "2026-08-25", "--to", "2026-10-01"],
        &["report", "channels", "--config", cfg, "--from", "2026-09-20", "--to", "2026-10-31"],
    ] {
        let o = leadscore(args, dir.path());
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
    let folder = config.parent().unwrap();
    let champion = read_json(&folder.join("models/champion.json"));
    let model = folder.join("models").join(champion["model_id"].as_str().unwrap());
    let pages = [
        ("model_report", model.join("report.html")),
        ("backtest", folder.join("backtest/2026-08-25_2026-10-01/backtest.html")),
        ("channels_day", folder.join("runs/2026-11-01/channels/channels.html")),
        ("channels_range", folder.join("channels/2026-09-20_2026-10-31/channels.html")),
    ];
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    fs::create_dir_all(&shots).unwrap();
    let script =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/layout_check.js")).unwrap();
    let profile = dir.path().join("chromium-profile");
    for (name, page) in pages {
        assert!(page.is_file(), "{name}: no {}", page.display());
        let html = fs::read_to_string(&page).unwrap();
        assert!(!html.contains("<script"), "{name}: the reports are static pages");
        let shot = shots.join(format!("{name}.png"));
        browse(&chromium, &profile, &page, &[&format!("--screenshot={}", shot.display())]);
        assert!(fs::metadata(&shot).unwrap().len() > 20_000, "{name}: an empty screenshot");

        let checked = page.with_file_name(format!("{name}-checked.html"));
        fs::write(&checked, html.replace("</body>", &format!("<script>{script}</script></body>"))).unwrap();
        let dom = browse(&chromium, &profile, &checked, &["--dump-dom"]);
        // The last one: the script's own comment names the element too.
        let found = dom.rsplit("<pre id=\"layout-check\">").next().and_then(|s| s.split("</pre>").next());
        let found: Value = serde_json::from_str(
            &found
                .unwrap_or_else(|| panic!("{name}: no layout check in\n{dom}"))
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">"),
        )
        .unwrap();
        assert!(found["charts"].as_u64().unwrap() >= 2, "{name}: {found}");
        assert!(found["texts"].as_u64().unwrap() >= 20, "{name}: {found}");
        assert_eq!(found["problems"], serde_json::json!([]), "{name}: {found}");
    }
}

/// The MLflow server `.ci/run` starts and the Python of its MLflow client, or `None` (and a
/// note) when there is none and none is required.
fn mlflow_server() -> Option<(String, PathBuf)> {
    match (std::env::var("LEADSCORE_TEST_MLFLOW_URI"), std::env::var_os("LEADSCORE_TEST_MLFLOW_PYTHON")) {
        (Ok(uri), Some(python)) => Some((uri, PathBuf::from(python))),
        _ if std::env::var_os("LEADSCORE_REQUIRE_MLFLOW").is_some() => {
            panic!(
                "LEADSCORE_REQUIRE_MLFLOW is set but LEADSCORE_TEST_MLFLOW_URI or _PYTHON is not: .ci/run starts the server"
            )
        }
        _ => {
            eprintln!(
                "skipped: no MLflow server (`bash .ci/mlflow.sh` starts one and prints the two variables to set)"
            );
            None
        }
    }
}

/// `[train] mlflow_tracking_uri`: a training logs one finished run to a real `mlflow server`,
/// read back with MLflow's own client: the parameters, every validation metric (the same values
/// as the train report), the champion decision as tags, and `report.html` and the model folder
/// as artifacts of the same sizes. A server that cannot be reached does not stop the run: a
/// warning says so, without the password written into the URI.
#[test]
fn training_logs_a_run_to_a_real_mlflow_server() {
    let Some((uri, python)) = mlflow_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let experiment = format!("leadscore-test-{}", std::process::id());
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[train]\nmlflow_tracking_uri = \"{uri}\"\nmlflow_experiment = \"{experiment}\"\n"));
    fs::write(&config, &text).unwrap();
    let cfg = config.to_str().unwrap();
    let o = leadscore(&["train", "--config", cfg, "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let train = summary["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "train").unwrap();
    let report = &train["report"];
    let logged = &report["mlflow"]["logged"];
    let trained = &report["trained"];
    assert!(logged["run_id"].is_string(), "{}", report["mlflow"]);
    assert!(logged["url"].as_str().unwrap().starts_with(&uri));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/read_mlflow.py");
    let o = std::process::Command::new(&python)
        .arg(&script)
        .arg(&experiment)
        .env("MLFLOW_TRACKING_URI", &uri)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["run_id"], logged["run_id"]);
    assert_eq!(run["status"], "FINISHED");
    let model_id = trained["model_id"].as_str().unwrap();
    assert_eq!(run["params"]["model_id"], model_id);
    assert_eq!(
        run["params"]["chosen"],
        trained["chosen"]
            .as_str()
            .map(|k| match k {
                "logistic" => "logistic regression",
                "boosted" => "gradient-boosted trees",
                "blend" => "blend of both",
                other => panic!("a model kind the test does not know: {other}"),
            })
            .unwrap()
    );
    assert_eq!(run["params"]["seed"], "42");
    // The sample's categories of 10 levels or more: the trees' order of their levels, as chosen.
    assert_eq!(run["params"]["boosted.category_order"], trained["encoding"]["chosen"]);
    assert!(trained["encoding"]["chosen"].is_string(), "the sample has categories of many levels");
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
    let headline = &trained["evaluation"]["headline"];
    for k in ["roc_auc", "pr_auc", "log_loss", "brier", "ece"] {
        assert!(close(&run["metrics"][k], &headline[k]), "{k}: {} vs {}", run["metrics"][k], headline[k]);
        assert!(
            run["metrics"][format!("logistic.{k}")].is_number() && run["metrics"][format!("boosted.{k}")].is_number()
        );
    }
    let interval = &trained["diagnostics"]["intervals"]["auc"];
    assert!(close(&run["metrics"]["roc_auc.ci_low"], &interval["low"]));
    assert!(close(&run["metrics"]["value.gini"], &trained["value"]["gini"]));
    assert_eq!(run["tags"]["leadscore.promoted"], "true");
    assert_eq!(run["tags"]["leadscore.model_id"], model_id);
    assert_eq!(run["tags"]["leadscore.champion_decision"], trained["champion"]["reason"]);

    let model_dir = config.parent().unwrap().join("models").join(model_id);
    let uploaded: Vec<(String, u64)> = run["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["path"].as_str().unwrap().to_string(), a["bytes"].as_u64().unwrap()))
        .collect();
    let size = |p: &Path| fs::metadata(p).unwrap().len();
    assert!(uploaded.contains(&("report.html".into(), size(&model_dir.join("report.html")))), "{uploaded:?}");
    for file in ["model.json", "feature_spec.json", "thresholds.json", "metrics.json", "validation.parquet"] {
        assert!(uploaded.contains(&(format!("model/{file}"), size(&model_dir.join(file)))), "{file}: {uploaded:?}");
    }

    // Down: the model is trained and promoted all the same; the warning keeps the password out.
    let down = text.replace(&uri, "http://leadscore:s3cret-pw@127.0.0.1:9");
    fs::write(&config, down).unwrap();
    let o = leadscore(&["train", "--config", cfg, "--json"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("not logged to MLflow"), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains("s3cret-pw"), "the password reached the output");
    assert!(all.contains("http://127.0.0.1:9"), "the server is named");
}
