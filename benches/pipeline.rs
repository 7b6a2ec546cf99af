//! Whole-pipeline benchmark: generates a synthetic export and runs each stage on it, through the
//! real `leadscore` binary (one process per step), printing seconds, leads per second and peak
//! memory per step. After the daily steps it rescores the whole history (`qualify*`, `value*`,
//! `export*`), which measures scoring and export throughput on every lead.
//!
//! ```text
//! cargo bench --bench pipeline                      # 100k and 1M leads
//! cargo bench --bench pipeline -- --leads 200000    # one size
//! cargo bench --bench pipeline -- --leads 1000000 --keep target/bench-1m
//! ```
//!
//! Accuracy against the truth and the peer baseline is checked afterwards on a kept export with
//! `python3 benches/accuracy.py DIR/synth-N` (see that script).
//!
//! Peak memory is the child process's high-water mark (`VmHWM` in `/proc/<pid>/status`), sampled
//! until it exits. This machine is shared: compare figures from the same run, not across days.

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<u64> = match value("--leads") {
        Some(n) => vec![n.parse().expect("--leads takes a number")],
        None => vec![100_000, 1_000_000],
    };
    let keep = value("--keep").map(PathBuf::from);
    println!("{:<10} {:<8} {:>9} {:>14} {:>10}", "leads", "step", "seconds", "leads/s", "peak");
    for n in sizes {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
        let out = dir.join(format!("synth-{n}"));
        let out_s = out.to_str().expect("utf-8 path");
        let leads = n.to_string();
        let synth = measure(&["synth", "--out", out_s, "--leads", &leads, "--months", "12", "--seed", "1"]);
        println!(
            "{n:<10} {:<8} {:>9.2} {:>14.0} {:>10}   ({:.0} MiB written)",
            "synth",
            synth.seconds,
            n as f64 / synth.seconds,
            mib(synth.peak_bytes),
            dir_bytes(&out) as f64 / 1_048_576.0
        );
        let config = out.join("leadscore.toml");
        let config = config.to_str().expect("utf-8 path");
        let step = |name: &str, config: &str| {
            let stage = name.trim_end_matches('*');
            let m = measure(&["stage", stage, "--config", config]);
            println!("{n:<10} {name:<8} {:>9.2} {:>14.0} {:>10}", m.seconds, n as f64 / m.seconds, mib(m.peak_bytes));
        };
        for stage in ["ingest", "labels", "features", "train", "qualify", "value", "export"] {
            step(stage, config);
        }
        // Scoring throughput: rescore the whole history, so that every lead is scored, valued
        // and exported (`qualify*`, `value*`, `export*`; leads/s counts scored leads).
        let mut text = std::fs::read_to_string(config).expect("the generated config");
        text.push_str("\n[qualify]\nrescore_days = 3660\n");
        let every = out.join("leadscore-every-lead.toml");
        std::fs::write(&every, text).expect("a config for every lead");
        let every = every.to_str().expect("utf-8 path");
        for name in ["qualify*", "value*", "export*"] {
            step(name, every);
        }
    }
}
