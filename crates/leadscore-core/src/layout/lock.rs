//! The output folder's lock: one run at a time per output folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RunLayout;
use crate::error::{CoreError, Result};
use crate::io;

/// The name of the lock file in the output folder.
pub const LOCK_FILE: &str = ".leadscore.lock";

impl RunLayout {
    /// Takes the output folder's lock, waiting up to `wait` for another run to release it. The
    /// lock is an advisory lock on `<output_dir>/.leadscore.lock` held by this process; the
    /// operating system releases it when the process dies, so a lock left by a killed run is
    /// noticed (its holder's details are still in the file), reported, and taken over.
    pub fn lock(&self, command: &str, wait: std::time::Duration) -> Result<RunLock> {
        self.take_lock(command, wait, false)
    }

    /// Takes the output folder's lock shared with other runs that take it shared: the parts of a
    /// partitioned stage ([`super::Partition`]), which write only their own folders and may run
    /// side by side, while a run that takes it whole ([`Self::lock`]) waits for them all (and
    /// they for it).
    pub fn lock_shared(&self, command: &str, wait: std::time::Duration) -> Result<RunLock> {
        self.take_lock(command, wait, true)
    }

    fn take_lock(&self, command: &str, wait: std::time::Duration, shared: bool) -> Result<RunLock> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        self.check_root()?;
        io::create_dir_private(&self.root).map_err(werr(&self.root))?;
        let path = self.root.join(LOCK_FILE);
        let deadline = Instant::now() + wait;
        loop {
            let mut options = fs::OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(werr(&path))?;
            let taken = if shared { file.try_lock_shared() } else { file.try_lock() };
            match taken {
                // Its holders are not written down: the file names the last run that held it whole.
                Ok(()) if shared => return Ok(RunLock { file, path, shared }),
                Ok(()) => {
                    let previous = read_holder(&mut file);
                    if let Some(p) = previous.filter(|p| !p.trim().is_empty()) {
                        tracing::warn!(lock = %path.display(), "clearing a stale lock: {} is no longer running", p.trim());
                    }
                    let me = format!(
                        "pid {} on {} since {} ({command})",
                        std::process::id(),
                        hostname(),
                        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                    );
                    use std::io::{Seek, Write};
                    file.set_len(0).map_err(werr(&path))?;
                    file.seek(std::io::SeekFrom::Start(0)).map_err(werr(&path))?;
                    file.write_all(me.as_bytes()).map_err(werr(&path))?;
                    return Ok(RunLock { file, path, shared });
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let holder = read_holder(&mut file).unwrap_or_default();
                        return Err(CoreError::Locked { path, holder: holder.trim().to_string() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(fs::TryLockError::Error(source)) => return Err(CoreError::Write { path, source }),
            }
        }
    }
}

fn read_holder(file: &mut fs::File) -> Option<String> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
}

/// The output folder's lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: fs::File,
    path: PathBuf,
    /// Held shared with other parts ([`RunLayout::lock_shared`]).
    shared: bool,
}

impl RunLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty means "released cleanly"; the advisory lock goes with the file handle.
        if !self.shared {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parts_share_the_lock_and_a_whole_run_excludes_them() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::Internal(e.to_string()))?;
        let layout = RunLayout::new(dir.path());
        let now = Duration::ZERO;
        let (a, b) = (layout.lock_shared("part 1/2", now)?, layout.lock_shared("part 2/2", now)?);
        let e = layout.lock("run", now).map(|_| ()).unwrap_err();
        assert!(matches!(e, CoreError::Locked { .. }), "{e}");
        drop(a);
        assert!(layout.lock("run", now).is_err(), "one part still holds it");
        drop(b);
        let whole = layout.lock("run", now)?;
        assert!(fs::read_to_string(whole.path()).unwrap_or_default().contains("(run)"));
        let e = layout.lock_shared("part 1/2", now).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("(run)"), "the part names the run that holds it: {e}");
        drop(whole);
        layout.lock_shared("part 1/2", now)?;
        Ok(())
    }
}
