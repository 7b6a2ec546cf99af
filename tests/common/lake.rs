//! A HubSpot-shaped export (the bundled sample, or `leadscore synth`'s) rewritten as a data lake
//! holds it: date-partitioned Parquet folders (Hive style), partitioned by UTC day as Spark
//! writes them. Shared by `tests/partitions.rs` and the `--lake` mode of `benches/pipeline.rs`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use polars::prelude::*;

/// The folder of rows whose partition value is missing or unreadable, as Hive names it.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Writes a CSV file's records as Parquet files (every column text, empty fields null) into
/// `<out>/<partition>/part-0.parquet`, the partition folder named from each record's `column` by
/// `folder`.
pub fn write_partitioned(csv_path: &Path, column: &str, out: &Path, folder: impl Fn(&str) -> String) {
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let at = headers.iter().position(|h| h == column).unwrap();
    let mut parts: BTreeMap<String, Vec<csv::StringRecord>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        parts.entry(folder(record.get(at).unwrap_or(""))).or_default().push(record);
    }
    for (partition, records) in parts {
        let columns: Vec<Column> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let values: Vec<Option<&str>> = records.iter().map(|r| r.get(i).filter(|v| !v.is_empty())).collect();
                Column::new(h.as_str().into(), values)
            })
            .collect();
        let mut df = DataFrame::new(records.len(), columns).unwrap();
        let dir = out.join(partition);
        fs::create_dir_all(&dir).unwrap();
        ParquetWriter::new(fs::File::create(dir.join("part-0.parquet")).unwrap()).finish(&mut df).unwrap();
    }
}

/// `YYYY-MM-DD` of a text timestamp that starts with one.
fn day_of(text: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Rewrites the HubSpot-shaped export whose config is `config` as a lake under `<its folder>/lake`:
/// contacts by the UTC day of their creation (`leads/created_date=…`), deals by their close day
/// (`deals/close_date=…`), events by month (`events/year=…/month=…`); rows without a readable
/// date in the default partition. The CSV files are removed and the config reads the folders.
pub fn to_lake(config: &Path) {
    let folder = config.parent().unwrap().to_path_buf();
    let or_default = |day: Option<chrono::NaiveDate>| day.map_or(DEFAULT_PARTITION.to_string(), |d| d.to_string());
    write_partitioned(&folder.join("contacts.csv"), "Create Date", &folder.join("lake/leads"), |ms| {
        let day = ms.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.date_naive());
        format!("created_date={}", or_default(day))
    });
    write_partitioned(&folder.join("deals.csv"), "Close Date", &folder.join("lake/deals"), |t| {
        format!("close_date={}", or_default(day_of(t)))
    });
    write_partitioned(&folder.join("events.csv"), "Timestamp", &folder.join("lake/events"), |t| {
        day_of(t).map_or(format!("year={DEFAULT_PARTITION}"), |d| d.format("year=%Y/month=%m").to_string())
    });
    let mut text = fs::read_to_string(config).unwrap();
    for (file, lake) in [("contacts.csv", "lake/leads"), ("deals.csv", "lake/deals"), ("events.csv", "lake/events")] {
        let line = format!("path = \"{file}\"");
        assert!(text.contains(&line), "the config reads {file}");
        text = text.replace(&line, &format!("path = \"{lake}\""));
        fs::remove_file(folder.join(file)).unwrap();
    }
    fs::write(config, text).unwrap();
}
