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

/// An extra table of `[sources.tables]`: the sample's won deals exported as a separate
/// "opportunities" file, columns named as a CRM report names them, with two rows that do not
/// parse.
fn write_opportunities(won: &DataFrame, dir: &Path) -> usize {
    let mut csv = String::from("Opportunity ID,Contact,Closed,Amount,Won\n");
    let (ids, users) = (won.column("deal_id").unwrap().str().unwrap(), won.column("user_id").unwrap().str().unwrap());
    let closed = won.column("closed_at").unwrap().datetime().unwrap().physical().clone();
    let amounts = won.column("amount").unwrap().f64().unwrap();
    for i in 0..won.height() {
        let at = chrono::DateTime::from_timestamp_micros(closed.get(i).unwrap()).unwrap();
        let amount = amounts.get(i).map(|a| format!("{a:?}")).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{amount},yes\n",
            ids.get(i).unwrap(),
            users.get(i).unwrap(),
            at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        ));
    }
    // A lost one (filtered out by the query), and two whose date and amount do not parse.
    csv.push_str("opp-lost,someone,2026-03-01T10:00:00Z,100.0,no\n");
    csv.push_str("opp-bad-date,jane.doe@example.com,next tuesday,100.0,yes\n");
    csv.push_str("opp-bad-amount,someone,2026-03-01T10:00:00Z,12 EUR-ish,yes\n");
    fs::write(dir.join("opportunities.csv"), csv).unwrap();
    won.height() + 3
}

#[test]
fn a_sql_definition_over_a_table_of_sources_tables_counts_like_the_conditions_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let plain = copy_sample(&dir.path().join("plain"));
    stages(&plain);
    let conversions = read_parquet(&labels_dir(&plain).join("conversions.parquet"));
    let closed_won = |df: &DataFrame| {
        df.clone()
            .lazy()
            .filter(col("conversion_name").eq(lit("closed_won")))
            .select([col("user_id"), col("at"), col("value"), col("source_id")])
            .sort(["source_id"], SortMultipleOptions::default())
            .collect()
            .unwrap()
    };
    let expected = closed_won(&conversions);
    assert!(expected.height() > 100, "{expected}");
    // The won deals, as an export of their own.
    let deals = read_parquet(&plain.parent().unwrap().join("runs").join(DATE).join("ingest/deals.parquet"));
    let ids = expected.column("source_id").unwrap().as_materialized_series().clone();
    let won = deals.lazy().filter(col("deal_id").is_in(lit(ids).implode(false), false)).collect().unwrap();

    let config = copy_sample(&dir.path().join("tables"));
    let rows = write_opportunities(&won, config.parent().unwrap());
    let text = fs::read_to_string(&config).unwrap();
    let extra = r#"
[sources.tables.opportunities]
path = "opportunities.csv"
columns = { "Opportunity ID" = "text", Contact = "text", Closed = "timestamp", Amount = "numeric", Won = "boolean" }

[[conversions]]
name = "won_opportunity"
sql = """
SELECT o."Opportunity ID" AS id, o."Contact" AS user_id, o."Closed" AS at, o."Amount" AS value
FROM opportunities o
WHERE o."Won"
"""
"#;
    fs::write(&config, format!("{text}\n{extra}")).unwrap();
    stages(&config);

    // The same conversions as the conditions on deals.
    let got = read_parquet(&labels_dir(&config).join("conversions.parquet"));
    let by_table = got
        .lazy()
        .filter(col("conversion_name").eq(lit("won_opportunity")))
        .select([col("user_id"), col("at"), col("value"), col("source_id")])
        .sort(["source_id"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    assert!(by_table.equals_missing(&expected), "{by_table}\n{expected}");

    // Every row of the table accounted for; the two that do not parse are rejected, their
    // values masked (what a table holds is not known).
    let ingest = config.parent().unwrap().join("runs").join(DATE).join("ingest");
    let report = read_json(&ingest.join("report.json"));
    let table = report["sources"].as_array().unwrap().iter().find(|s| s["source"] == "tables.opportunities").unwrap();
    assert_eq!(table["read"].as_u64(), Some(rows as u64), "{table}");
    assert_eq!(table["accepted"].as_u64(), Some(rows as u64 - 2), "{table}");
    assert_eq!(table["rejected_by_reason"]["unparsable_value"].as_u64(), Some(2), "{table}");
    let rejects = read_parquet(&ingest.join("rejects.parquet"))
        .lazy()
        .filter(col("source").eq(lit("tables.opportunities")))
        .collect()
        .unwrap();
    let column: Vec<_> = rejects.column("column").unwrap().str().unwrap().iter().flatten().collect();
    assert_eq!(column, ["Closed", "Amount"]);
    let raw: String = rejects.column("raw").unwrap().str().unwrap().iter().flatten().collect::<Vec<_>>().concat();
    assert!(!raw.contains("jane.doe") && !raw.contains("next tuesday") && raw.contains("sha256:"), "{raw}");
    assert_eq!(read_parquet(&ingest.join("tables/opportunities.parquet")).height(), rows - 2);
    // Labels records the table among what it read.
    let manifest = read_json(&labels_dir(&config).join("manifest.json"));
    let inputs = manifest["inputs"].to_string();
    assert!(inputs.contains("tables/opportunities.parquet"), "{inputs}");
}
