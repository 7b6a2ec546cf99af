//! The daily DAG in production: skipping up-to-date stages, recomputing damaged or changed ones,
//! the output folder's lock, backfills, the pipeline file, and killing runs at random moments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A copy of the bundled sample in a fresh folder; returns its config.
fn sample(dir: &Path) -> PathBuf {
    common::copy_sample(dir)
}

fn pipeline() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/daily.toml").display().to_string()
}

/// `leadscore run --pipeline pipelines/daily.toml --json` plus `extra`, from the folder above the
/// config's and naming it relatively (so two copies record the same paths); the summary.
fn run(config: &Path, extra: &[&str]) -> (i32, Value, String) {
    let p = pipeline();
    let folder = config.parent().unwrap();
    let relative = Path::new(folder.file_name().unwrap()).join(config.file_name().unwrap());
    let mut args = vec!["run", "--pipeline", &p, "--config", relative.to_str().unwrap(), "--date", DATE, "--json"];
    args.extend_from_slice(extra);
    let o = leadscore(&args, folder.parent().unwrap());
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (code(&o), v, stderr(&o))
}

fn statuses(summary: &Value) -> Vec<(String, String)> {
    summary["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (s["stage"].as_str().unwrap_or("").to_string(), s["status"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every table a stage wrote, with its content hash (reports and manifests hold timings).
fn tables(config: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stage in STAGES {
        let m = manifest(config, stage);
        for o in m["outputs"].as_array().unwrap() {
            let file = o["file"].as_str().unwrap();
            if !file.ends_with(".json") {
                out.push((format!("{stage}/{file}"), o["sha256"].as_str().unwrap().to_string()));
            }
        }
    }
    let models = config.parent().unwrap().join("models");
    let champion: Value = serde_json::from_str(&fs::read_to_string(models.join("champion.json")).unwrap()).unwrap();
    out.push(("champion".into(), champion["model_id"].as_str().unwrap().to_string()));
    out
}

#[test]
fn a_second_run_of_the_same_date_skips_every_stage_and_force_gives_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    let (c, first, err) = run(&config, &[]);
    assert_eq!(c, 0, "{err}");
    assert!(statuses(&first).iter().all(|(_, s)| s == "ran"), "{:?}", statuses(&first));
    let before = tables(&config);

    let started = Instant::now();
    let (c, second, err) = run(&config, &[]);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(c, 0, "{err}");
    let st = statuses(&second);
    assert_eq!(st.len(), STAGES.len());
    assert!(st.iter().all(|(_, s)| s == "skipped"), "{st:?}");
    assert!(err.contains("skipped (up to date)"), "{err}");
    // Generous for a shared machine: a skip hashes inputs and outputs, nothing else.
    assert!(seconds < 10.0, "{seconds} s");
    assert_eq!(tables(&config), before);

    // --force recomputes every stage with work to do: features feed training alone, and the
    // champion trained today is not due for retraining, so ingest and labels keep only the rows
    // the scoring days read, and every table after them comes out as before.
    let (c, forced, err) = run(&config, &["--force"]);
    assert_eq!(c, 0, "{err}");
    for (k, (stage, status)) in statuses(&forced).iter().enumerate() {
        let only_for_training = stage == "features";
        assert_eq!(status, if only_for_training { "skipped" } else { "ran" }, "{stage}: {forced}");
        if only_for_training {
            assert!(forced["stages"][k]["note"].as_str().unwrap().starts_with("not needed today"), "{forced}");
        }
    }
    // The sample's bad rows before the window are left out, not rejected.
    let history = [
        "ingest/leads.parquet",
        "ingest/deals.parquet",
        "ingest/events.parquet",
        "ingest/rejects.parquet",
        "labels/conversions.parquet",
        "labels/labels.parquet",
    ];
    let scoped = tables(&config);
    for ((name, hash), (was, old)) in scoped.iter().zip(&before) {
        assert_eq!(name, was);
        assert_eq!(hash == old, !history.contains(&name.as_str()), "{name}: recomputed without the whole history");
    }
    assert_eq!(manifest(&config, "ingest")["scope"], "scoring");
    // With the whole history, the tables are identical.
    let (c, _, err) = run(&config, &["--force", "--whole-history"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(tables(&config), before, "recomputing gives identical tables");
    assert!(manifest(&config, "ingest").get("scope").is_none());
    // With a retrain every stage recomputes, and the model comes out the same.
    let (c, retrained, err) = run(&config, &["--force", "--retrain"]);
    assert_eq!(c, 0, "{err}");
    assert!(statuses(&retrained).iter().all(|(_, s)| s == "ran"), "{:?}", statuses(&retrained));
    assert_eq!(tables(&config), before, "recomputing gives identical tables and the same model");
}

#[test]
fn features_run_only_on_days_train_trains_and_labels_every_day() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    assert_eq!(run(&config, &[]).0, 0);
    let p = pipeline();
    let c = config.to_str().unwrap();
    let next_day = |extra: &[&str]| -> Value {
        let mut args = vec!["run", "--pipeline", &p, "--config", c, "--date", "2026-11-02", "--json"];
        args.extend_from_slice(extra);
        let o = leadscore(&args, dir.path());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // The day after the champion was trained: nothing reads features; export reads labels.
    let v = next_day(&[]);
    let st = statuses(&v);
    let expected = ["ran", "ran", "skipped", "ran", "ran", "ran", "ran", "ran"];
    assert_eq!(st.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(), expected, "{v}");
    let note = v["stages"][2]["note"].as_str().unwrap();
    assert!(note.contains("not needed today") && note.contains("retraining after 7 days"), "{note}");
    let day = config.parent().unwrap().join("runs/2026-11-02");
    assert!(day.join("labels/manifest.json").is_file() && !day.join("features").exists());
    assert!(v["stages"][3]["report"]["skipped"].is_string(), "train kept the champion: {v}");
    // Asked to retrain, features run, and train trains on them; ingest and labels had kept only
    // the scoring days' rows, so they run again for the whole history first.
    let v = next_day(&["--retrain"]);
    let st = statuses(&v);
    assert!(st.iter().all(|(_, s)| s == "ran"), "{v}");
    assert!(day.join("features/manifest.json").is_file());
    assert!(v["stages"][3]["report"]["trained"].is_object(), "{v}");
    // Run again, everything is up to date: the whole history serves a day without training too.
    let again = next_day(&[]);
    assert!(statuses(&again).iter().all(|(_, s)| s == "skipped"), "{again}");
}

#[test]
fn a_day_without_training_ingests_only_what_scoring_reads_and_scores_exactly_as_with_the_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    assert_eq!(run(&config, &[]).0, 0);
    let (p, c) = (pipeline(), config.to_str().unwrap().to_string());
    let next_day = |extra: &[&str]| -> std::process::Output {
        let mut args = vec!["run", "--pipeline", &p, "--config", &c, "--date", "2026-11-02", "--json"];
        args.extend_from_slice(extra);
        leadscore(&args, dir.path())
    };
    let day = config.parent().unwrap().join("runs/2026-11-02");
    let downstream = || -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for stage in ["qualify", "value", "export", "channels"] {
            for e in fs::read_dir(day.join(stage)).unwrap() {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                // Reports and manifests hold timings.
                if !name.ends_with(".json") {
                    out.push((format!("{stage}/{name}"), fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    };
    let rows = |file: &str| read_parquet(&day.join(file)).height();

    let o = next_day(&["--whole-history"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let whole = downstream();
    let whole_leads = rows("ingest/leads.parquet");
    let o = next_day(&["--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("training is not due: ingest and labels keep the leads created from"),
        "{}",
        stderr(&o)
    );
    assert_eq!(downstream(), whole, "the day's scores, values, exports and channels are the same");
    // The sample holds 12 months; a run without training keeps the 30-day adjustment window.
    let kept = rows("ingest/leads.parquet");
    assert!(kept > 0 && kept * 5 < whole_leads, "{kept} of {whole_leads} leads kept");
    assert_eq!(rows("labels/labels.parquet"), kept);
    // Every row read is accounted for.
    let report: Value = serde_json::from_str(&fs::read_to_string(day.join("ingest/report.json")).unwrap()).unwrap();
    for source in report["sources"].as_array().unwrap() {
        let n = |k: &str| source[k].as_u64().unwrap_or(0);
        assert_eq!(n("read"), n("accepted") + n("rejected") + n("left_out"), "{source}");
    }
    assert!(report["sources"][0]["left_out"].as_u64().unwrap() as usize > whole_leads - kept - 100, "{report}");
    assert!(report["sources"][2]["left_out"].as_u64().unwrap() > 0, "events of other users: {report}");
    assert!(report["sources"][1]["left_out"].as_u64().unwrap() > 0, "deals of other users: {report}");

    // The channel report over days before that window takes its outcomes from the day that
    // trained, and says so; asked for the day without training, it says what to run.
    let report = |extra: &[&str]| {
        let mut args =
            vec!["report", "channels", "--config", &c, "--from", "2026-10-01", "--to", "2026-10-31", "--json"];
        args.extend_from_slice(extra);
        leadscore(&args, dir.path())
    };
    let o = report(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["as_of"], DATE, "{v}");
    assert!(v["warnings"].to_string().contains("the latest run that labelled leads from 2026-10-01 on"), "{v}");
    let o = report(&["--as-of", "2026-11-02"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--only ingest,labels --whole-history"), "{}", stderr(&o));

    // The stages that learn never read those tables: they name the stage to run again.
    let o = leadscore(&["stage", "features", "--config", &c, "--date", "2026-11-02"], dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("holds only the rows a day without training reads") && err.contains("--from-stage ingest"),
        "{err}"
    );
    // A run that trains reads the whole history again (ingest and labels are stale for it).
    let o = next_day(&["--retrain"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(statuses(&v).iter().all(|(_, s)| s == "ran"), "{v}");
    assert_eq!(rows("ingest/leads.parquet"), whole_leads);
}

#[test]
fn a_damaged_output_is_found_by_its_hash_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    assert_eq!(run(&config, &[]).0, 0);
    let before = tables(&config);
    let damage = |file: &str| {
        let path = config.parent().unwrap().join("runs").join(DATE).join(file);
        let mut bytes = fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
    };
    damage("qualify/scores.parquet");
    let (c, summary, err) = run(&config, &[]);
    assert_eq!(c, 0, "{err}");
    let st = statuses(&summary);
    assert_eq!(st[4], ("qualify".to_string(), "ran".to_string()), "{st:?}");
    assert!(err.contains("scores.parquet differs from what it wrote"), "{err}");
    // Recomputed byte for byte, so nothing after it had to run again.
    assert!(st.iter().filter(|(s, _)| s != "qualify").all(|(_, s)| s == "skipped"), "{st:?}");
    assert_eq!(tables(&config), before);

    // Labels feed training alone: a damaged table is found when train is due.
    damage("labels/labels.parquet");
    let (c, summary, err) = run(&config, &["--retrain"]);
    assert_eq!(c, 0, "{err}");
    let st = statuses(&summary);
    assert_eq!(st[1], ("labels".to_string(), "ran".to_string()), "{st:?}");
    assert!(err.contains("labels.parquet differs from what it wrote"), "{err}");
    assert_eq!(st[2], ("features".to_string(), "skipped".to_string()), "{st:?}");
    assert_eq!(tables(&config), before);
}

#[test]
fn a_changed_input_reruns_exactly_the_stages_whose_inputs_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    assert_eq!(run(&config, &[]).0, 0);
    let inputs_of = |stage: &str| -> Vec<(String, String)> {
        manifest(&config, stage)["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["path"].as_str().unwrap().to_string(), i["sha256"].as_str().unwrap().to_string()))
            .collect()
    };
    let before: Vec<Vec<(String, String)>> = STAGES.iter().map(|s| inputs_of(s)).collect();
    // A CRM correction: the last deal's amount changes.
    let deals = config.parent().unwrap().join("deals.csv");
    let text = fs::read_to_string(&deals).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let amount = header.iter().position(|h| h.trim_matches('"') == "Amount").expect("an Amount column");
    let last = lines.len() - 1;
    let mut cells: Vec<String> = lines[last].split(',').map(str::to_string).collect();
    cells[amount] = "123456".into();
    lines[last] = cells.join(",");
    fs::write(&deals, lines.join("\n") + "\n").unwrap();

    let (c, summary, err) = run(&config, &[]);
    assert_eq!(c, 0, "{err}");
    let st = statuses(&summary);
    assert_eq!(st[0].1, "ran", "ingest reads the changed file: {st:?}");
    // Every later stage ran if and only if one of its inputs changed.
    for (k, stage) in STAGES.iter().enumerate().skip(1) {
        let changed = inputs_of(stage) != before[k];
        let ran = st[k].1 == "ran";
        assert_eq!(ran, changed, "{stage}: ran {ran}, inputs changed {changed} ({st:?})");
    }
    assert!(st.iter().any(|(_, s)| s == "skipped"), "something downstream was unaffected: {st:?}");
}

#[test]
fn two_runs_on_one_output_folder_never_both_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    let p = pipeline();
    let args = ["run", "--pipeline", &p, "--config", config.to_str().unwrap(), "--date", DATE];
    let mut first = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (its holder line is in the lock file).
    let lock = config.parent().unwrap().join(".leadscore.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read_to_string(&lock).map(|t| t.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the first run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = leadscore(&args, dir.path());
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(stderr(&second).contains("another leadscore run is using this output folder"), "{}", stderr(&second));
    assert!(stderr(&second).contains(&format!("pid {}", first.id())), "{}", stderr(&second));
    // Waiting instead: the third run starts once the first is done and finds everything fresh.
    let mut waiting = args.to_vec();
    waiting.extend(["--lock-wait", "300", "--json"]);
    let third = leadscore(&waiting, dir.path());
    assert!(first.wait().unwrap().success());
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    let v: Value = serde_json::from_slice(&third.stdout).unwrap();
    assert!(statuses(&v).iter().all(|(_, s)| s == "skipped"), "{v}");
}

#[test]
fn a_lock_left_by_a_killed_run_is_cleared_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    fs::write(
        config.parent().unwrap().join(".leadscore.lock"),
        "pid 4194999 on this machine since 2026-11-01T02:30:00Z (leadscore run)",
    )
    .unwrap();
    let (c, _, err) = run(&config, &["--only", "ingest"]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("clearing a stale lock: pid 4194999"), "{err}");
}

#[test]
fn the_pipeline_file_is_checked_and_selects_stages() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        "[[stages]]\nname = \"ingest\"\nafter = [\"labels\"]\n[[stages]]\nname = \"labels\"\nafter = [\"ingest\"]\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let o = leadscore(&["run", "--pipeline", bad.to_str().unwrap(), "--config", c], dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cycle"), "{}", stderr(&o));
    fs::write(&bad, "[[stages]]\nname = \"scoring\"\n").unwrap();
    let o = leadscore(&["run", "--pipeline", bad.to_str().unwrap(), "--config", c], dir.path());
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown stage `scoring`"), "{}", stderr(&o));
    // An option the config section does not know is a config error naming it.
    fs::write(&bad, "[[stages]]\nname = \"ingest\"\n[[stages]]\nname = \"labels\"\nafter = [\"ingest\"]\noptions = { windw_days = 3 }\n")
        .unwrap();
    let o = leadscore(&["run", "--pipeline", bad.to_str().unwrap(), "--config", c], dir.path());
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("windw_days"), "{}", stderr(&o));

    let (c0, v, err) = run(&config, &["--only", "ingest,labels"]);
    assert_eq!(c0, 0, "{err}");
    assert_eq!(statuses(&v).iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["ingest", "labels"]);
    let (c1, v, err) = run(&config, &["--from-stage", "features"]);
    assert_eq!(c1, 0, "{err}");
    assert_eq!(
        statuses(&v).iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["features", "train", "qualify", "value", "export", "channels"]
    );
    // The pipeline's options are in effect: qualify re-scores 3 days before the day.
    let q = manifest(&config, "qualify");
    let (c2, v2, _) = run(&config, &["--only", "qualify"]);
    assert_eq!(c2, 0);
    assert_eq!(statuses(&v2)[0].1, "skipped");
    assert!(q["outputs"][0]["rows"].as_u64().unwrap() > 100, "{q}");
}

#[test]
fn backfill_runs_dates_in_order_and_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    let c = config.to_str().unwrap();
    let p = pipeline();
    let o = leadscore(
        &["backfill", "--pipeline", &p, "--config", c, "--from", "2026-10-31", "--to", DATE, "--json"],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let dates: Vec<(&str, &str)> = v["dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["run_date"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(dates, [("2026-10-31", "ok"), (DATE, "ok")]);
    // Dates before the champion's: refused (exit 2); the backfill stops, or goes on when asked.
    let args = ["backfill", "--pipeline", &p, "--config", c, "--from", "2026-10-01", "--to", "2026-10-02"];
    let o = leadscore(&args, dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2026-10-01   failed") && text.contains("2026-10-02   not run"), "{text}");
    let mut go_on = args.to_vec();
    go_on.push("--continue-on-error");
    let o = leadscore(&go_on, dir.path());
    assert_eq!(code(&o), 2);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2026-10-02   failed") && text.contains("2 failed"), "{text}");
    let o = leadscore(&["backfill", "--config", c, "--from", DATE, "--to", "2026-10-01"], dir.path());
    assert_eq!(code(&o), 2);
}

/// A small LCG: reproducible delays (printed when the test fails).
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % max
    }
}

#[test]
fn killing_runs_at_random_moments_never_changes_the_final_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let clean_dir = dir.path().join("clean");
    let killed_dir = dir.path().join("killed");
    fs::create_dir_all(&clean_dir).unwrap();
    fs::create_dir_all(&killed_dir).unwrap();
    let clean = sample(&clean_dir);
    let killed = sample(&killed_dir);
    let started = Instant::now();
    let (c, _, err) = run(&clean, &[]);
    assert_eq!(c, 0, "{err}");
    // How long a whole run takes; a round that finishes sooner shows the machine is faster now
    // (the clean run may have shared the cores with other tests): later delays shrink to it, so
    // that the kills keep landing in unfinished work.
    let mut full_ms = (started.elapsed().as_millis() as u64).max(500);
    let reference = tables(&clean);

    let p = pipeline();
    let args = ["run", "--pipeline", &p, "--config", "sample/leadscore.toml", "--date", DATE];
    let mut delays = Delays(20261122);
    let mut log = Vec::new();
    for round in 0..30 {
        // Half the kills land early (ingest, labels, features), the rest anywhere in a run.
        let ms = if round % 2 == 0 { delays.next_ms(full_ms / 3 + 1) } else { delays.next_ms(full_ms + 1) };
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
            .args(args)
            .current_dir(&killed_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let status = child.wait().unwrap();
        log.push(format!("round {round}: kill after {ms} ms ({})", if finished { "already done" } else { "killed" }));
        assert!(finished || status.code() != Some(1), "{}", log.join("\n"));
        if finished {
            full_ms = full_ms.min(ms.max(500));
            // A run got through: start over, so that every kill lands in unfinished work.
            let _ = fs::remove_dir_all(killed.parent().unwrap().join("runs"));
            let _ = fs::remove_dir_all(killed.parent().unwrap().join("models"));
        }
    }
    let kills = log.iter().filter(|l| l.ends_with("(killed)")).count();
    assert!(kills >= 15, "at least half the rounds should kill a running process: {}", log.join("\n"));
    let (c, _, err) = run(&killed, &[]);
    assert_eq!(c, 0, "{err}\n{}", log.join("\n"));
    assert_eq!(tables(&killed), reference, "{}", log.join("\n"));
    // Nothing half-written is left behind.
    let run_dir = killed.parent().unwrap().join("runs").join(DATE);
    let mut left: Vec<String> =
        fs::read_dir(&run_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    let mut expected: Vec<String> = STAGES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(left, expected, "{}", log.join("\n"));
    // And a last run has nothing to do.
    let (c, v, _) = run(&killed, &[]);
    assert_eq!(c, 0);
    assert!(statuses(&v).iter().all(|(_, s)| s == "skipped"), "{v}");
}

#[test]
fn every_exit_code_of_the_design_is_what_a_scheduler_sees() {
    // 0, 2 (lock, bad pipeline), 99 and the skip path are covered above and in tests/cli.rs,
    // with 3 (bad input) and 4 (volume gate). Here: 1, when the machine fails underneath, and 2
    // for a usage mistake.
    let dir = tempfile::tempdir().unwrap();
    let config = sample(dir.path());
    let folder = config.parent().unwrap();
    fs::write(folder.join("not-a-folder"), "a file where the outputs should go").unwrap();
    let text = fs::read_to_string(&config).unwrap();
    let moved = folder.join("moved.toml");
    fs::write(&moved, text.replace("output_dir = \".\"", "output_dir = \"not-a-folder/out\"")).unwrap();
    // A file where the output folder (or a folder above it) should be is a configuration error.
    let o = leadscore(&["run", "--config", moved.to_str().unwrap(), "--only", "ingest"], folder);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not-a-folder is a file"), "{}", stderr(&o));
    // A folder that cannot be created (the kernel's /proc takes no folders, even from root) is the
    // machine failing underneath: 1.
    let unwritable = folder.join("unwritable.toml");
    fs::write(&unwritable, text.replace("output_dir = \".\"", "output_dir = \"/proc/leadscore-test/out\"")).unwrap();
    let o = leadscore(&["run", "--config", unwritable.to_str().unwrap(), "--only", "ingest"], folder);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("/proc/leadscore-test"), "{}", stderr(&o));
    let o =
        leadscore(&["run", "--config", config.to_str().unwrap(), "--only", "ingest", "--from-stage", "labels"], folder);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = leadscore(&["run", "--config", config.to_str().unwrap(), "--only", "scoring"], folder);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown stage `scoring`"), "{}", stderr(&o));
}

/// Partitioned scoring: qualify and value on three parts of the day's leads (as three machines or
/// Airflow's mapped tasks would run them), then `leadscore merge`, give the tables and reports of
/// the unpartitioned run byte for byte, and the stages after them find them up to date.
#[test]
fn partitioned_scoring_merged_is_the_unpartitioned_run_byte_for_byte() {
    let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = sample(dir.path());
    let (c, _, err) = run(&whole, &[]);
    assert_eq!(c, 0, "{err}");
    let parted = sample(other.path());
    let (from, to) = (whole.parent().unwrap(), parted.parent().unwrap());
    // The same history and champion: only the scoring stages run again, in parts.
    for sub in ["runs", "models"] {
        fs::remove_dir_all(to.join(sub)).ok();
        copy_tree(&from.join(sub), &to.join(sub));
    }
    let day = to.join("runs").join(DATE);
    for stage in ["qualify", "value", "export", "channels"] {
        fs::remove_dir_all(day.join(stage)).unwrap();
    }
    let p = pipeline();
    let cfg = parted.to_str().unwrap();
    let merge = |extra: &[&str]| {
        let mut args = vec!["merge", "--parts", "3", "--pipeline", &p, "--config", cfg, "--date", DATE];
        args.extend_from_slice(extra);
        leadscore(&args, to)
    };
    // Parts 1 and 2, each as `run --partition` (qualify and value); part 3's qualify alone.
    for part in ["1/3", "2/3"] {
        let (c, v, err) = run(&parted, &["--partition", part]);
        assert_eq!(c, 0, "{err}");
        assert_eq!(statuses(&v), [("qualify".into(), "ran".into()), ("value".into(), "ran".into())], "{v}");
    }
    // A retried part is up to date.
    let (_, v, _) = run(&parted, &["--partition", "2/3"]);
    assert!(statuses(&v).iter().all(|(_, s)| s == "skipped"), "{v}");
    let o = leadscore(&["stage", "qualify", "--config", cfg, "--date", DATE, "--partition", "3/3"], to);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Part 3 ran without the pipeline's options: another config, which the merge refuses.
    let o = merge(&[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("part 3/3 of `qualify`") && stderr(&o).contains("another config"), "{}", stderr(&o));
    let (c, _, err) = run(&parted, &["--partition", "3/3", "--only", "qualify"]);
    assert_eq!(c, 0, "{err}");
    // Value's part 3 has not run: qualify merges, value names the part to run.
    let o = merge(&[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("run part 3/3 of `value`"), "{}", stderr(&o));
    assert!(day.join("qualify/manifest.json").exists());
    let (c, _, err) = run(&parted, &["--partition", "3/3"]);
    assert_eq!(c, 0, "{err}");
    let o = merge(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // Every part's leads are the part's (by the documented hash), and together they are the day's.
    let ids = |path: PathBuf| -> Vec<String> {
        let df = read_parquet(&path);
        df.column("lead_id").unwrap().str().unwrap().iter().map(|id| id.unwrap().to_string()).collect()
    };
    let all = ids(from.join("runs").join(DATE).join("qualify/scores.parquet"));
    let mut seen = 0;
    for i in 1..=3 {
        let part = ids(day.join(format!("qualify.part-{i}-of-3/scores.parquet")));
        assert!(!part.is_empty() && part.len() < all.len(), "part {i}: {} of {} leads", part.len(), all.len());
        assert!(part.iter().all(|id| leadscore_core::layout::Partition::of(id, 3) == i), "part {i}");
        seen += part.len();
    }
    assert_eq!(seen, all.len());
    for file in ["qualify/scores.parquet", "qualify/scored_features.parquet", "value/values.parquet"]
        .into_iter()
        .chain(["qualify/report.json", "value/report.json"])
    {
        let (a, b) = (fs::read(from.join("runs").join(DATE).join(file)).unwrap(), fs::read(day.join(file)).unwrap());
        assert!(a == b, "{file} differs from the unpartitioned run's");
    }
    // The merged manifests record what an unpartitioned run reads, so the DAG goes on from them.
    for stage in ["qualify", "value"] {
        let inputs = |config: &Path| -> Vec<(String, String)> {
            let m = manifest(config, stage);
            m["inputs"].as_array().unwrap().iter().map(|i| (i["path"].to_string(), i["sha256"].to_string())).collect()
        };
        assert_eq!(inputs(&whole), inputs(&parted), "{stage}");
    }
    let (c, v, err) = run(&parted, &[]);
    assert_eq!(c, 0, "{err}");
    let st = statuses(&v);
    assert!(
        st.contains(&("qualify".into(), "skipped".into())) && st.contains(&("value".into(), "skipped".into())),
        "{v}"
    );
    assert_eq!(tables(&whole), tables(&parted));
    // Only the per-lead stages run in parts.
    let o = leadscore(&["stage", "export", "--config", cfg, "--date", DATE, "--partition", "1/3"], to);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("`export` does not run in parts: only qualify and value do"), "{}", stderr(&o));
    let o = leadscore(&["stage", "qualify", "--config", cfg, "--partition", "4/3"], to);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("INDEX/COUNT"), "{}", stderr(&o));
}
