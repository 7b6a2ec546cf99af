//! Whole-pipeline benchmark: generates a synthetic export (12 months, 12 attributes plus
//! `--extra-attributes` noise ones, 38 by default: about 50) and runs the whole DAG on it with a
//! retrain, one stage per process through the real `leadscore` binary, printing seconds, leads
//! per second and peak memory per stage and for the whole DAG, and the champion's out-of-time AUC
//! next to the AUC of the synthetic truth on the same leads. Then:
//!
//! - `daily`: the daily run with that champion: `leadscore run --pipeline pipelines/daily.toml
//!   --force`, so every stage with work to do recomputes (ingest too, as with a new export; labels
//!   and features only feed training, which is not due, so ingest and labels keep only the rows
//!   the scoring days read; `daily*` is the same with `--whole-history`), scoring about
//!   `--daily-leads` leads (50,000 by default; the day's leads and, via qualify's
//!   `rescore_days`, enough earlier days), end to end in one process;
//! - `ingest*`, `qualify*`, `value*`, `export*`, `channels*`: ingest with every lead in the
//!   scoring range (it makes their digests), then scoring, valuing, exporting and counting by
//!   channel every lead of the history; `report*`: `leadscore report channels` over all of them,
//!   with the generated ad spend.
//!
//! ```text
//! cargo bench --bench pipeline                      # 100k and 1M leads
//! cargo bench --bench pipeline -- --leads 5000000   # one size
//! cargo bench --bench pipeline -- --leads 1000000 --keep target/bench-1m --extra-attributes 0
//! cargo bench --bench pipeline -- --lake --leads 1000000 --months 36
//! ```
//!
//! `--lake` measures instead what a date-partitioned source saves (see [`lake`]): the export of
//! `--months` months (36 by default) once as the CSV files `synth` writes and once as Parquet
//! folders partitioned by day; then ingest for the run date and a whole daily run
//! (`pipelines/daily.toml`, the champion kept) on the next day, for each.
//!
//! The peer comparison (pandas + scikit-learn + LightGBM on identical files) is
//! `python3 benches/peer.py --leads N`.
//!
//! Peak memory is the child process's high-water mark (`VmHWM` in `/proc/<pid>/status`), sampled
//! until it exits. This machine is shared: compare figures from the same run, not across days.

#[path = "../tests/common/lake.rs"]
mod lake;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Measured {
    seconds: f64,
    peak_bytes: Option<u64>,
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn measure(args: &[&str]) -> Measured {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .env("LEADSCORE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the leadscore binary starts");
    let pid = child.id();
    let mut peak = None;
    loop {
        if let Some(m) = vm_hwm(pid) {
            peak = Some(peak.map_or(m, |p: u64| p.max(m)));
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                assert!(status.success(), "leadscore {args:?} failed: {status}");
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for leadscore: {e}"),
        }
    }
    Measured { seconds: start.elapsed().as_secs_f64(), peak_bytes: peak }
}

fn mib(b: Option<u64>) -> String {
    b.map_or_else(|| "n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1_048_576.0))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
        })
        .unwrap_or(0)
}

/// The champion's out-of-time AUC (its `validation.parquet`) and the synthetic truth's AUC on the
/// same leads, with the number of leads.
fn accuracy(export: &Path) -> (f64, f64, usize) {
    use polars::prelude::*;
    let read = |path: &Path| parquet(path).finish().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let champion = std::fs::read_to_string(export.join("models/champion.json")).expect("a champion after training");
    let champion: serde_json::Value = serde_json::from_str(&champion).expect("champion.json is JSON");
    let model_id = champion["model_id"].as_str().expect("champion.json names a model");
    let validation = read(&export.join("models").join(model_id).join("validation.parquet"));
    let truth = read(&export.join("truth.parquet"));
    let strs = |df: &DataFrame, c: &str| -> Vec<String> {
        df.column(c)
            .and_then(|c| c.str().cloned())
            .unwrap_or_else(|e| panic!("{c}: {e}"))
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect()
    };
    let floats = |df: &DataFrame, c: &str| -> Vec<f64> {
        df.column(c)
            .and_then(|c| c.f64().cloned())
            .unwrap_or_else(|e| panic!("{c}: {e}"))
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    };
    let true_p: HashMap<String, f64> =
        strs(&truth, "lead_id").into_iter().zip(floats(&truth, "true_probability")).collect();
    let labels: Vec<bool> = validation
        .column("converted")
        .and_then(|c| c.bool().cloned())
        .unwrap_or_else(|e| panic!("converted: {e}"))
        .iter()
        .map(|v| v == Some(true))
        .collect();
    let truth_scores: Vec<f64> =
        strs(&validation, "lead_id").iter().map(|id| true_p.get(id).copied().unwrap_or(f64::NAN)).collect();
    let auc = |scores: &[f64]| leadscore_model::metrics::roc_auc(scores, &labels).unwrap_or(f64::NAN);
    (auc(&floats(&validation, "probability")), auc(&truth_scores), labels.len())
}

/// A reader of a Parquet output.
fn parquet(path: &Path) -> polars::prelude::ParquetReader<std::fs::File> {
    use polars::prelude::SerReader;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    polars::prelude::ParquetReader::new(file)
}

/// Rows of a Parquet output, from its footer.
fn parquet_rows(path: &Path) -> usize {
    parquet(path).num_rows().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let number = |flag: &str, default: u64| {
        value(flag).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{flag} takes a number, not {v}")))
    };
    let sizes: Vec<u64> = match value("--leads") {
        Some(n) => vec![n.parse().expect("--leads takes a number")],
        None => vec![100_000, 1_000_000],
    };
    let extra = number("--extra-attributes", 38).to_string();
    let daily_leads = number("--daily-leads", 50_000);
    let keep = value("--keep").map(PathBuf::from);
    if args.iter().any(|a| a == "--lake") {
        let n = value("--leads").map_or(1_000_000, |v| v.parse().expect("--leads takes a number"));
        lake_bench(n, number("--months", 36), &extra, keep);
        return;
    }
    let row = |n: u64, step: &str, m: &Measured, rows: u64, note: &str| {
        println!(
            "{n:<10} {step:<9} {:>9.2} {:>12.0} {:>10}   {note}",
            m.seconds,
            rows as f64 / m.seconds,
            mib(m.peak_bytes)
        );
    };
    println!("{:<10} {:<9} {:>9} {:>12} {:>10}", "leads", "step", "seconds", "rows/s", "peak");
    for n in sizes {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
        let out = dir.join(format!("synth-{n}"));
        let out_s = out.to_str().expect("utf-8 path");
        // A kept folder from an earlier bench holds its runs and champion: without them train
        // trains, as the `DAG` row says.
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("the earlier bench's folder removed");
        }
        let leads = n.to_string();
        let synth = measure(&[
            "synth",
            "--out",
            out_s,
            "--leads",
            &leads,
            "--months",
            "12",
            "--seed",
            "1",
            "--extra-attributes",
            &extra,
        ]);
        let written = dir_bytes(&out) as f64 / 1_048_576.0;
        row(n, "synth", &synth, n, &format!("{written:.0} MiB written, 12 + {extra} attributes"));
        let config = out.join("leadscore.toml");
        let config = config.to_str().expect("utf-8 path");

        // The whole DAG with a retrain: there is no champion yet, so train trains.
        let (mut seconds, mut peak) = (0.0, None::<u64>);
        for stage in ["ingest", "labels", "features", "train", "qualify", "value", "export"] {
            let m = measure(&["stage", stage, "--config", config]);
            row(n, stage, &m, n, "");
            seconds += m.seconds;
            peak = peak.max(m.peak_bytes);
        }
        let (auc, truth_auc, evaluated) = accuracy(&out);
        let dag = Measured { seconds, peak_bytes: peak };
        row(
            n,
            "DAG",
            &dag,
            n,
            &format!("whole DAG with a retrain; AUC {auc:.4} out of time on {evaluated} leads (truth {truth_auc:.4})"),
        );

        // The daily run of the production DAG with the champion: no retrain, about
        // `daily_leads` leads scored (the day's and those of earlier days, rescored).
        let per_day = (n as f64 / 365.0).max(1.0);
        let rescore_days = ((daily_leads as f64 / per_day).ceil() as u64).saturating_sub(1).min(3660);
        let production = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/daily.toml");
        let dag = std::fs::read_to_string(&production).expect("pipelines/daily.toml");
        let qualify_options = "options = { rescore_days = 3 }";
        assert!(
            dag.contains(qualify_options),
            "pipelines/daily.toml no longer has `{qualify_options}`: update the bench"
        );
        let daily = out.join("daily-bench.toml");
        let dag = dag.replace(qualify_options, &format!("options = {{ rescore_days = {rescore_days} }}"));
        std::fs::write(&daily, dag).expect("a daily pipeline");
        let daily = daily.to_str().expect("utf-8 path");
        let m = measure(&["run", "--pipeline", daily, "--config", config, "--force"]);
        let scored = std::fs::read_dir(out.join("runs"))
            .expect("runs/")
            .filter_map(|d| d.ok())
            .map(|d| d.path().join("qualify/scores.parquet"))
            .filter(|p| p.is_file())
            .map(|p| parquet_rows(&p))
            .max()
            .unwrap_or(0);
        row(
            n,
            "daily",
            &m,
            scored as u64,
            &format!("daily DAG `run --force` with the champion: {scored} leads scored (rescore_days {rescore_days})"),
        );
        // The same day with ingest and labels keeping every row, as before a day without training
        // kept only what scoring reads.
        let m = measure(&["run", "--pipeline", daily, "--config", config, "--force", "--whole-history"]);
        row(n, "daily*", &m, scored as u64, "the same with `--whole-history`");

        // Scoring throughput: rescore the whole history, so that every lead is scored, valued
        // and exported (`qualify*`, `value*`, `export*`; rows/s counts scored leads). Ingest runs
        // again first (`ingest*`): it makes the digests of the leads in the scoring range.
        let base = std::fs::read_to_string(config).expect("the generated config");
        let every = out.join("leadscore-every-lead.toml");
        std::fs::write(&every, format!("{base}\n[qualify]\nrescore_days = 3660\n")).expect("a config for every lead");
        let every = every.to_str().expect("utf-8 path");
        for name in ["ingest*", "qualify*", "value*", "export*", "channels*"] {
            let m = measure(&["stage", name.trim_end_matches('*'), "--config", every]);
            row(n, name, &m, n, "");
        }
        // The channel report over the whole history with the generated ad spend (`report*`).
        let m = measure(&["report", "channels", "--config", every, "--from", "2000-01-01", "--to", "2099-12-31"]);
        row(n, "report*", &m, n, "`report channels` over every lead, with the spend file");
    }
}

/// Files and bytes an ingest run read, from its manifest.
fn read_by(manifest: &Path) -> (usize, u64) {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).expect("ingest's manifest")).expect("JSON");
    let inputs = m["inputs"].as_array().expect("inputs");
    (inputs.len(), inputs.iter().filter_map(|i| i["bytes"].as_u64()).sum())
}

/// `--lake`: the same export as CSV files and as a partitioned lake, ingest and a daily run each.
fn lake_bench(n: u64, months: u64, extra: &str, keep: Option<PathBuf>) {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    let (csv, lake_dir) = (dir.join(format!("csv-{n}")), dir.join(format!("lake-{n}")));
    let leads = n.to_string();
    let months_s = months.to_string();
    let synth = ["synth", "--leads", &leads, "--months", &months_s, "--seed", "1", "--extra-attributes", extra];
    for out in [&csv, &lake_dir] {
        let mut args = synth.to_vec();
        args.extend(["--out", out.to_str().expect("utf-8 path")]);
        measure(&args);
    }
    let start = Instant::now();
    lake::to_lake(&lake_dir.join("leadscore.toml"));
    println!("{n} leads over {months} months; lake written in {:.1} s", start.elapsed().as_secs_f64());
    let production = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/daily.toml");
    let production = production.to_str().expect("utf-8 path");
    println!("{:<6} {:<8} {:>9} {:>10} {:>8} {:>10}", "layout", "step", "seconds", "peak", "files", "MiB read");
    for (name, export) in [("csv", &csv), ("lake", &lake_dir)] {
        let config = export.join("leadscore.toml");
        let config = config.to_str().expect("utf-8 path");
        let text = std::fs::read_to_string(config).expect("the config");
        let run_date = text
            .lines()
            .find_map(|l| l.strip_prefix("default_run_date = \"")?.strip_suffix('"'))
            .expect("synth writes default_run_date")
            .to_string();
        let next = chrono::NaiveDate::parse_from_str(&run_date, "%Y-%m-%d").expect("a date").succ_opt().expect("a day");
        let next = next.to_string();
        let report = |step: &str, m: &Measured, date: &str| {
            let (files, bytes) = read_by(&export.join("runs").join(date).join("ingest/manifest.json"));
            println!(
                "{name:<6} {step:<8} {:>9.2} {:>10} {files:>8} {:>10.0}",
                m.seconds,
                mib(m.peak_bytes),
                bytes as f64 / 1_048_576.0
            );
        };
        let m = measure(&["stage", "ingest", "--config", config, "--date", &run_date]);
        report("ingest", &m, &run_date);
        // The first run trains; the next day's keeps the champion (retrain after 7 days).
        measure(&["run", "--pipeline", production, "--config", config, "--date", &run_date]);
        let m = measure(&["run", "--pipeline", production, "--config", config, "--date", &next]);
        report("daily", &m, &next);
    }
}
