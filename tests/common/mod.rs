//! Helpers the end-to-end test binaries share: running the `leadscore` binary and reading what it
//! wrote. (Each test binary uses some of them.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use polars::prelude::*;
use serde_json::Value;

/// Runs the `leadscore` binary in `cwd` (without the caller's `LEADSCORE_LOG`).
pub fn leadscore(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LEADSCORE_LOG")
        .output()
        .expect("the leadscore binary runs")
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
    fs::create_dir_all(&to).unwrap();
    for e in fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to.join("leadscore.toml")
}
