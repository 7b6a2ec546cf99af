//! Date-partitioned Parquet folders (Hive style, as data lakes hold them): the bundled sample
//! written as `created_date=…/part-0.parquet` (leads), `close_date=…` (deals) and
//! `year=…/month=…` (events) folders, partitioned by UTC day as Spark writes them while the
//! project's time zone is Amsterdam's. With six months of training history, the daily DAG reads
//! only the partitions it uses and must write the tables the run over the whole CSV export
//! writes, from features on; a new partition in the range makes ingest run again, one outside
//! it does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::lake::{self, DEFAULT_PARTITION};
use common::*;

/// The DAG's stages whose outputs do not depend on the history before the training window.
const DOWNSTREAM: [&str; 6] = ["features", "train", "qualify", "value", "export", "channels"];

/// The sample with six months of training history, its sources as partitioned Parquet folders
/// under `lake/` (the CSV files removed).
fn lake_sample(dir: &Path) -> PathBuf {
    let config = sample_in(dir, "lake");
    lake::to_lake(&config);
    fs::write(&config, with_six_months(&fs::read_to_string(&config).unwrap())).unwrap();
    config
}

fn with_six_months(config: &str) -> String {
    format!("{config}\n[labels]\nhistory_months = 6\n")
}

/// The partition folder of a manifest input's path, as `key=value/…`.
fn partition_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| p.contains('=')).collect();
    parts.join("/")
}

#[test]
fn a_daily_run_reads_the_partitions_it_uses_and_writes_what_the_whole_export_gives() {
    let dir = tempfile::tempdir().unwrap();
    let csv_config = sample_in(dir.path(), "files");
    fs::write(&csv_config, with_six_months(&fs::read_to_string(&csv_config).unwrap())).unwrap();
    let lake_config = lake_sample(dir.path());

    let (code_files, _, err) = run_daily(&csv_config, &[]);
    assert_eq!(code_files, 0, "{err}");
    let (code_lake, summary, err) = run_daily(&lake_config, &[]);
    assert_eq!(code_lake, 0, "{err}");
    assert_eq!(status(&summary, "train"), "ran", "{summary}");
    assert_same_outputs(&lake_config, &csv_config, &DOWNSTREAM);

    // What was read: the training window starts on 2026-03-22 (2026-11-01 less the 40-day window
    // and six months), so leads from the 21st (a day of margin: partitions are UTC days); events
    // from a year before (the recency feature's look back), so all of the sample's; every deal.
    // And every partition up to the run date's.
    let m = manifest(&lake_config, "ingest");
    let read: Vec<String> =
        m["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap().into()).collect();
    let of = |source: &str| -> Vec<String> {
        read.iter().filter(|p| p.contains(&format!("lake/{source}/"))).map(|p| partition_of(p)).collect()
    };
    let leads = of("leads");
    assert_eq!(leads.first().map(String::as_str), Some("created_date=2026-03-21"), "{leads:?}");
    assert_eq!(leads.last().map(String::as_str), Some("created_date=__HIVE_DEFAULT_PARTITION__"), "{leads:?}");
    let on_disk = fs::read_dir(lake_config.parent().unwrap().join("lake/leads")).unwrap().count();
    assert!(leads.len() < on_disk * 2 / 3, "{} of {on_disk} lead partitions read", leads.len());
    let lake = lake_config.parent().unwrap().join("lake");
    let partitions = |source: &str| -> usize {
        fs::read_dir(lake.join(source)).unwrap().map(|year| fs::read_dir(year.unwrap().path()).unwrap().count()).sum()
    };
    assert_eq!(of("events").len(), partitions("events"), "every event partition is read");
    assert_eq!(of("deals").len(), partitions("deals"), "every deal partition is read");

    // Nothing changed: ingest is up to date. A file in a partition before the range changes
    // nothing either; one in a partition in the range makes ingest run again.
    let (_, again, err) = run_daily(&lake_config, &[]);
    assert_eq!(status(&again, "ingest"), "skipped", "{err}");
    let copy = |day: &str| {
        let from = lake.join(format!("leads/created_date={day}/part-0.parquet"));
        fs::copy(&from, from.with_file_name("part-1.parquet")).unwrap();
    };
    copy("2026-01-15");
    let (_, old, err) = run_daily(&lake_config, &[]);
    assert_eq!(status(&old, "ingest"), "skipped", "{err}");
    copy("2026-10-15");
    let (code_new, new, err) = run_daily(&lake_config, &[]);
    assert_eq!(code_new, 0, "{err}");
    assert_eq!(status(&new, "ingest"), "ran", "{err}");
    assert!(err.contains("created_date=2026-10-15/part-1.parquet is new"), "{err}");
}

#[test]
fn a_folder_without_a_partition_of_the_run_s_days_is_an_error_that_says_which_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = lake_sample(dir.path());
    let folder = config.parent().unwrap();
    fs::remove_dir_all(folder.join(format!("lake/leads/created_date={DEFAULT_PARTITION}"))).unwrap();
    // The first lead is from 2025-11-01: a run on 2025-06-01 has no partition to read.
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", "2025-06-01"], folder);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("[sources.leads] path `lake/leads`: none of its"), "{err}");
    assert!(err.contains("in a partition of the days the run reads (2024-"), "{err}");
    assert!(err.contains("to 2025-06-01)"), "{err}");
    // `validate` reads every partition.
    let o = leadscore(&["validate", "--config", config.to_str().unwrap()], folder);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
