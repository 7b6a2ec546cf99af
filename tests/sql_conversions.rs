//! A SQL conversion definition behaves like any other: on the bundled sample, a query that says
//! what the preset's `closed_won` conditions say finds the same conversions, and as the target it
//! gives the same labels, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use polars::prelude::*;

/// The preset's `closed_won` (stage `closedwon` ignoring case, a type that does not contain
/// `existing`) written as SQL.
const CLOSED_WON_SQL: &str = r#"
[[conversions]]
name = "closed_won_sql"
sql = """
SELECT deal_id AS id, user_id, closed_at AS at, amount AS value
FROM deals
WHERE lower(stage) = 'closedwon' AND (type IS NULL OR lower(type) NOT LIKE '%existing%')
"""
"#;

fn stages(config: &Path) {
    for stage in ["ingest", "labels"] {
        let o = leadscore(
            &["stage", stage, "--config", config.to_str().unwrap(), "--date", DATE],
            config.parent().unwrap(),
        );
        assert_eq!(code(&o), 0, "{stage}: {}", stderr(&o));
    }
}

fn labels_dir(config: &Path) -> std::path::PathBuf {
    config.parent().unwrap().join("runs").join(DATE).join("labels")
}

#[test]
fn a_sql_definition_finds_the_conversions_of_its_conditions_and_gives_the_same_labels() {
    let dir = tempfile::tempdir().unwrap();
    let plain = copy_sample(&dir.path().join("plain"));
    let with_sql = copy_sample(&dir.path().join("sql"));
    let text = fs::read_to_string(&with_sql).unwrap();
    fs::write(&with_sql, format!("{text}\n{CLOSED_WON_SQL}\n[labels]\ntarget = \"closed_won_sql\"\n")).unwrap();
    stages(&plain);
    stages(&with_sql);

    let conversions = read_parquet(&labels_dir(&with_sql).join("conversions.parquet"));
    let of = |name: &str| {
        conversions
            .clone()
            .lazy()
            .filter(col("conversion_name").eq(lit(name)))
            .select([col("user_id"), col("at"), col("value"), col("source_id")])
            .collect()
            .unwrap()
    };
    let (by_sql, by_conditions) = (of("closed_won_sql"), of("closed_won"));
    assert!(by_conditions.height() > 100, "{by_conditions}");
    assert!(by_sql.equals_missing(&by_conditions), "{by_sql}\n{by_conditions}");
    let sources: Vec<_> = conversions
        .clone()
        .lazy()
        .filter(col("conversion_name").eq(lit("closed_won_sql")))
        .select([col("source").unique()])
        .collect()
        .unwrap()
        .column("source")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(sources, ["sql"]);

    // (The files' metadata differ: it holds the config's hash.)
    let labels = |config: &Path| read_parquet(&labels_dir(config).join("labels.parquet"));
    assert!(labels(&with_sql).equals_missing(&labels(&plain)), "the SQL target labels every lead as the preset's does");

    // The report describes it and counts its conversions like any other definition.
    let report = read_json(&labels_dir(&with_sql).join("report.json"));
    let def = report["definitions"].as_array().unwrap().iter().find(|d| d["name"] == "closed_won_sql").unwrap();
    assert_eq!(def["conversions"].as_u64(), Some(by_sql.height() as u64), "{def}");
    assert!(def["description"].as_str().unwrap().contains("SELECT deal_id AS id"), "{def}");
}

#[test]
fn a_sql_definition_that_fails_on_the_data_exits_3_without_quoting_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = copy_sample(dir.path());
    let text = fs::read_to_string(&config).unwrap();
    // Deal names hold company names: the cast fails on them, and the message must not show one.
    let bad = "\n[[conversions]]\nname = \"bad_cast\"\nsql = \"SELECT deal_id AS id, user_id, closed_at AS at, \
               CAST(stage AS INTEGER) AS value FROM deals\"\n";
    fs::write(&config, format!("{text}{bad}")).unwrap();
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", DATE], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = leadscore(&["stage", "labels", "--config", config.to_str().unwrap(), "--date", DATE], dir.path());
    let err = stderr(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("`bad_cast`") && err.contains("not shown"), "{err}");
    assert!(!err.contains("closedwon") && !err.contains("closedlost"), "no value is quoted: {err}");
}
