//! Helpers the end-to-end test binaries share: running the `leadscore` binary and reading what it
//! wrote. (Each test binary uses some of them.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod lake;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use polars::prelude::*;
use serde_json::Value;

/// Runs the `leadscore` binary in `cwd` (without the caller's `LEADSCORE_LOG`).
pub fn leadscore(args: &[&str], cwd: &Path) -> Output {
    leadscore_with(args, cwd, &[])
}

/// Runs the `leadscore` binary in `cwd` with these environment variables set.
pub fn leadscore_with(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LEADSCORE_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the leadscore binary runs")
}

/// The bundled sample's run date.
pub const DATE: &str = "2026-11-01";

/// The stages of the daily DAG.
pub const STAGES: [&str; 8] = ["ingest", "labels", "features", "train", "qualify", "value", "export", "channels"];

/// The daily DAG (`pipelines/daily.toml`) for [`DATE`] in the config's folder: exit code, the
/// summary as JSON, stderr.
pub fn run_daily(config: &Path, env: &[(&str, &str)]) -> (i32, Value, String) {
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/daily.toml");
    let args = [
        "run",
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--date",
        DATE,
        "--json",
    ];
    let o = leadscore_with(&args, config.parent().unwrap(), env);
    (code(&o), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null), stderr(&o))
}

/// A stage's status in a run's JSON summary (`ran`, `skipped`, …).
pub fn status(summary: &Value, stage: &str) -> String {
    summary["stages"].as_array().unwrap().iter().find(|s| s["stage"] == stage).unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A stage's manifest for [`DATE`], the config's `output_dir` being its folder.
pub fn manifest(config: &Path, stage: &str) -> Value {
    read_json(&config.parent().unwrap().join("runs").join(DATE).join(stage).join("manifest.json"))
}

/// Every table and file the stages wrote (reports and manifests aside: they hold timings), with
/// its content hash, but the rejects (their `file` column names the source).
fn tables(config: &Path, stages: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stage in stages {
        for o in manifest(config, stage)["outputs"].as_array().unwrap() {
            let file = o["file"].as_str().unwrap();
            if !file.ends_with(".json") && file != "rejects.parquet" {
                out.push((format!("{stage}/{file}"), o["sha256"].as_str().unwrap().to_string()));
            }
        }
    }
    out
}

/// Whether two runs' stages wrote the same outputs: the same files; Parquet tables equal as
/// tables (their metadata holds the config's hash, which differs with the sources), every other
/// file equal byte for byte.
pub fn assert_same_outputs(a: &Path, b: &Path, stages: &[&str]) {
    let (ta, tb) = (tables(a, stages), tables(b, stages));
    let names = |t: &[(String, String)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb));
    let run = |config: &Path| config.parent().unwrap().join("runs").join(DATE);
    for ((name, hash_a), (_, hash_b)) in ta.iter().zip(&tb) {
        if name.ends_with(".parquet") {
            let (x, y) = (read_parquet(&run(a).join(name)), read_parquet(&run(b).join(name)));
            assert!(x.equals_missing(&y), "{name} differs:\n{x}\n{y}");
        } else {
            assert_eq!(hash_a, hash_b, "{name} differs");
        }
    }
}

/// The sample copied into `<dir>/<name>`; its config's path.
pub fn sample_in(dir: &Path, name: &str) -> std::path::PathBuf {
    let config = copy_sample(dir);
    let to = dir.join(name);
    fs::rename(config.parent().unwrap(), &to).unwrap();
    to.join("leadscore.toml")
}

/// What a run printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a run printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run's exit code (-1 when a signal ended it).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A JSON file.
pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// A Parquet file.
pub fn read_parquet(p: &Path) -> DataFrame {
    ParquetReader::new(fs::File::open(p).unwrap()).finish().unwrap()
}

/// Copies the bundled sample (`data/sample`) into `<dir>/sample`; its config's path.
pub fn copy_sample(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let to = dir.join("sample");
    copy_tree(&root, &to);
    to.join("leadscore.toml")
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}
