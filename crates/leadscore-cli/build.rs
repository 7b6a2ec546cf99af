//! Records the commit the binary is built from, for `leadscore --version`: `git rev-parse` in a
//! checkout, else the `LEADSCORE_COMMIT` environment variable (a packager's), else `unknown` (a
//! crates.io download has no history).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEADSCORE_COMMIT");
    let given = std::env::var("LEADSCORE_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = given.or_else(|| git(&["rev-parse", "--short=12", "HEAD"])).unwrap_or_else(|| "unknown".into());
    // Built again when HEAD moves: the file HEAD, the branch it names, and the packed refs; only
    // those that exist (cargo runs a build script every time for a path that does not).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        let watched = [Some("HEAD".to_string()), Some("packed-refs".to_string()), branch];
        for path in watched.into_iter().flatten().map(|p| dir.join(p)).filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=LEADSCORE_COMMIT={commit}");
}
