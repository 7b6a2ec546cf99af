//! Date-partitioned source folders, as data lakes lay them out (Hive style, as Spark, DuckDB,
//! polars and pyarrow write them): `leads/created_date=2026-10-31/part-0.parquet`, or
//! `events/year=2026/month=10/day=31/part-0.parquet`.
//!
//! A run reads only the partitions whose days it can use: from the first day any stage looks at
//! ([`leadscore_core::Config::first_needed_day`]) to the run date. A partition's date is the day
//! of the source's time field (creation, close, occurrence), in UTC or in the project time zone:
//! a day is kept on either side of the range, so either reading keeps every row the run needs.
//! Rows outside the range that a kept partition holds are read as usual; later stages apply the
//! time rules to them.

use std::path::{Component, Path, PathBuf};

use chrono::NaiveDate;
use leadscore_core::RunDate;

/// The days a folder's partitions are read for: `[from, to]`, `from` open when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day read, when not the first partition.
    pub from: Option<NaiveDate>,
    /// Last day read.
    pub to: NaiveDate,
}

impl DayRange {
    /// The partitions a run needs: `first_needed` to `run_date` (see the module documentation),
    /// with the day of margin below for partitions dated in UTC. The run date's own partition is
    /// kept: in UTC it may hold the last hours before midnight in a time zone west of UTC.
    pub fn for_run(first_needed: Option<RunDate>, run_date: RunDate) -> Self {
        Self { from: first_needed.map(|d| d.date() - chrono::Duration::days(1)), to: run_date.date() }
    }

    fn overlaps(&self, (first, last): (NaiveDate, NaiveDate)) -> bool {
        last >= self.from.unwrap_or(NaiveDate::MIN) && first <= self.to
    }
}

/// The files under `root` (recursively, sorted), leaving out what writers put beside the data:
/// names starting with `.` or `_` (`_SUCCESS`, `.part-0.parquet.crc`, `_delta_log`).
pub fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(['.', '_']) {
                continue;
            }
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Keeps the files whose partition days overlap `range`, and those with no partition date.
pub fn prune(files: Vec<PathBuf>, range: DayRange) -> Vec<PathBuf> {
    files.into_iter().filter(|f| partition_days(f).is_none_or(|days| range.overlaps(days))).collect()
}

/// The days a file's partition folders cover, from their `key=value` names: a value that is a
/// date (`created_date=2026-10-31`, `dt=20261031`), or `year=`, `month=` and `day=` folders (a
/// year or month alone covers all its days). `None` when its folders name no date.
pub fn partition_days(path: &Path) -> Option<(NaiveDate, NaiveDate)> {
    let (mut year, mut month, mut day) = (None, None, None);
    let folders = path.parent()?.components().filter_map(|c| match c {
        Component::Normal(s) => s.to_str(),
        _ => None,
    });
    for (key, value) in folders.filter_map(|f| f.split_once('=')) {
        if let Some(date) = parse_date(value) {
            return Some((date, date));
        }
        let number = value.parse::<u32>().ok();
        match key.to_ascii_lowercase().as_str() {
            "year" | "yyyy" => year = number.and_then(|y| i32::try_from(y).ok()),
            "month" | "mm" => month = number,
            "day" | "dd" => day = number,
            _ => {}
        }
    }
    let year = year?;
    match (month, day) {
        (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d).map(|date| (date, date)),
        (Some(m), None) => {
            let first = NaiveDate::from_ymd_opt(year, m, 1)?;
            Some((first, first.checked_add_months(chrono::Months::new(1))?.pred_opt()?))
        }
        _ => Some((NaiveDate::from_ymd_opt(year, 1, 1)?, NaiveDate::from_ymd_opt(year, 12, 31)?)),
    }
}

fn parse_date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .or_else(|| (value.len() == 8).then(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok()).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn partition_days_from_folder_names() {
        let days = |p: &str| partition_days(Path::new(p));
        assert_eq!(days("lake/leads/created_date=2026-10-31/part-0.parquet"), Some((d("2026-10-31"), d("2026-10-31"))));
        assert_eq!(days("lake/region=eu/dt=20261031/part-0.parquet"), Some((d("2026-10-31"), d("2026-10-31"))));
        assert_eq!(days("lake/year=2026/month=2/day=28/a.parquet"), Some((d("2026-02-28"), d("2026-02-28"))));
        assert_eq!(days("lake/year=2024/month=02/a.parquet"), Some((d("2024-02-01"), d("2024-02-29"))));
        assert_eq!(days("lake/year=2025/a.parquet"), Some((d("2025-01-01"), d("2025-12-31"))));
        // No date: read whatever the range.
        assert_eq!(days("lake/region=eu/a.parquet"), None);
        assert_eq!(days("lake/created_date=__HIVE_DEFAULT_PARTITION__/a.parquet"), None);
        assert_eq!(days("lake/year=2026/month=13/a.parquet"), None);
        // The file's own name is not a partition.
        assert_eq!(days("lake/dt=2026-10-31.parquet"), None);
    }

    #[test]
    fn a_run_keeps_its_days_and_a_day_of_margin() {
        let range = DayRange::for_run(Some(RunDate::new(d("2026-01-10"))), RunDate::new(d("2026-02-01")));
        assert_eq!(range, DayRange { from: Some(d("2026-01-09")), to: d("2026-02-01") });
        let files: Vec<PathBuf> = [
            "x/dt=2026-01-08/a.parquet",
            "x/dt=2026-01-09/a.parquet",
            "x/dt=2026-02-01/a.parquet",
            "x/dt=2026-02-02/a.parquet",
            "x/year=2025/month=12/a.parquet",
            "x/year=2026/month=1/a.parquet",
            "x/late/a.parquet",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let kept = prune(files, range);
        let kept: Vec<&str> = kept.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            kept,
            [
                "x/dt=2026-01-09/a.parquet",
                "x/dt=2026-02-01/a.parquet",
                "x/year=2026/month=1/a.parquet",
                "x/late/a.parquet"
            ]
        );
        let all = DayRange::for_run(None, RunDate::new(d("2026-02-01")));
        assert_eq!(prune(vec![PathBuf::from("x/dt=1999-01-01/a.parquet")], all).len(), 1);
    }
}
