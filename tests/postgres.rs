//! PostgreSQL sources against a real server: the bundled sample loaded into PostgreSQL and the
//! whole daily DAG run from it must write the tables the CSV run writes; a second run skips
//! ingest while the query's result is unchanged and runs it again once a row changes; typed
//! columns (`timestamptz`, `timestamp`, `double precision`) read as their CSV text does; and
//! what goes wrong says so without the URL's password.
//!
//! The server is the one `.ci/run` starts (`LEADSCORE_TEST_PG_URL`). Without it these tests say
//! so and return, unless `LEADSCORE_REQUIRE_PG` is set, as CI sets it: there they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use polars::prelude::{IntoLazy, SortMultipleOptions, col, lit};
use postgres::{Client, NoTls};
use serde_json::Value;

/// The test server's URL, or `None` (and a note) when there is none and none is required.
fn server() -> Option<String> {
    match std::env::var("LEADSCORE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LEADSCORE_REQUIRE_PG").is_some() => {
            panic!("LEADSCORE_REQUIRE_PG is set but LEADSCORE_TEST_PG_URL is not: .ci/run starts the server")
        }
        Err(_) => {
            eprintln!("skipped: no PostgreSQL server (set LEADSCORE_TEST_PG_URL, as .ci/run does)");
            None
        }
    }
}

/// A schema of its own on the server for one test, dropped at the end.
struct Schema {
    client: Client,
    name: String,
}

impl Schema {
    fn new(url: &str, test: &str) -> Self {
        let mut client = Client::connect(url, NoTls).expect("the test server accepts connections");
        let name = format!("ls_{test}_{}", std::process::id());
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")).unwrap();
        Self { client, name }
    }

    /// Loads a CSV file into `<schema>.<table>`, every column as text, as a sync tool's raw
    /// tables hold them; the rows keep the file's order.
    fn load(&mut self, table: &str, csv_path: &Path) {
        let mut reader = csv::Reader::from_path(csv_path).unwrap();
        let columns: Vec<String> =
            reader.headers().unwrap().iter().map(|h| format!("\"{}\" text", h.replace('"', "\"\""))).collect();
        let qualified = format!("{}.{table}", self.name);
        self.client.batch_execute(&format!("CREATE TABLE {qualified} ({})", columns.join(", "))).unwrap();
        let mut w =
            self.client.copy_in(&format!("COPY {qualified} FROM STDIN WITH (FORMAT csv, HEADER true)")).unwrap();
        std::io::Write::write_all(&mut w, &fs::read(csv_path).unwrap()).unwrap();
        w.finish().unwrap();
    }

    fn execute(&mut self, sql: &str) {
        self.client.batch_execute(&sql.replace("{schema}", &self.name)).unwrap();
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// Replaces `[sources.<kind>]`'s `path = "<file>"` line of a config with a database source.
fn from_database(text: &str, file: &str, source: &str) -> String {
    let line = format!("path = \"{file}\"");
    assert!(text.contains(&line), "the sample's config reads {file}");
    text.replace(&line, &format!("connection = \"env:LEADSCORE_PG_URL\"\n{source}"))
}

/// `leadscore <args>` in `cwd` with the connection URL in `LEADSCORE_PG_URL`.
fn leadscore_pg(args: &[&str], cwd: &Path, url: &str) -> Output {
    leadscore_with(args, cwd, &[("LEADSCORE_PG_URL", url)])
}

/// The daily DAG for the sample's run date, as JSON, with the connection URL.
fn run_dag(config: &Path, url: &str) -> (i32, Value, String) {
    run_daily(config, &[("LEADSCORE_PG_URL", url)])
}

#[test]
fn the_dag_run_from_postgresql_writes_the_tables_of_the_csv_run_and_skips_ingest_while_the_result_is_unchanged() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv_config = sample_in(dir.path(), "files");
    let pg_config = sample_in(dir.path(), "database");
    let mut schema = Schema::new(&url, "dag");
    let folder = pg_config.parent().unwrap().to_path_buf();
    for (table, file) in [("contacts", "contacts.csv"), ("deals", "deals.csv"), ("events", "events.csv")] {
        schema.load(table, &folder.join(file));
    }
    let mut text = fs::read_to_string(&pg_config).unwrap();
    text = from_database(&text, "contacts.csv", &format!("table = \"{}.contacts\"", schema.name));
    text = from_database(&text, "deals.csv", &format!("query = \"SELECT * FROM {}.deals\"", schema.name));
    text = from_database(&text, "events.csv", &format!("table = \"{}.events\"", schema.name));
    for file in ["contacts.csv", "deals.csv", "events.csv"] {
        fs::remove_file(folder.join(file)).unwrap();
    }
    // A further table for a SQL definition, read from the deals export (files) or its query.
    let won = |source: &str| {
        format!(
            "\n[sources.tables.won_deals]\n{source}\ncolumns = {{ \"Record ID\" = \"text\", \"Associated Company ID\" = \"text\", \
             \"Deal Stage\" = \"categorical\", \"Close Date\" = \"timestamp\", Amount = \"numeric\" }}\n\n\
             [[conversions]]\nname = \"won_sql\"\nsql = \"SELECT \\\"Record ID\\\" AS id, \\\"Associated Company ID\\\" AS user_id, \
             \\\"Close Date\\\" AS at, Amount AS value FROM won_deals WHERE \\\"Deal Stage\\\" = 'closedwon'\"\n"
        )
    };
    text.push_str(&won(&format!("connection = \"env:LEADSCORE_PG_URL\"\ntable = \"{}.deals\"", schema.name)));
    fs::write(&pg_config, text).unwrap();
    let csv_text = fs::read_to_string(&csv_config).unwrap();
    fs::write(&csv_config, csv_text + &won("path = \"deals.csv\"")).unwrap();

    let (code_files, _, err) = run_dag(&csv_config, &url);
    assert_eq!(code_files, 0, "{err}");
    let (code_db, summary, err) = run_dag(&pg_config, &url);
    assert_eq!(code_db, 0, "{err}");
    assert_same_outputs(&pg_config, &csv_config, &STAGES);

    // The rejects are the same rows for the same reasons. (Their `row` is the result's row: a
    // query without ORDER BY returns the rows in the server's order, not the file's; `file`, and
    // the `detail` of a duplicate, which names where the kept row is, name the source.)
    let rejects = |config: &Path| {
        let df = read_parquet(&config.parent().unwrap().join("runs").join(DATE).join("ingest/rejects.parquet"));
        df.drop_many(["file", "row", "detail"])
            .sort(["source", "raw", "reason", "column"], SortMultipleOptions::default())
            .unwrap()
    };
    let (a, b) = (rejects(&pg_config), rejects(&csv_config));
    for name in a.get_column_names() {
        assert!(
            a.column(name).unwrap().equals_missing(b.column(name).unwrap()),
            "rejects' `{name}` differ:\n{:?}\n{:?}",
            a.column(name).unwrap(),
            b.column(name).unwrap()
        );
    }
    assert!(rejects(&pg_config).height() > 0, "the sample's dirty rows are rejected");

    // The manifest records the query and the result's digest, and never the URL.
    let m = manifest(&pg_config, "ingest");
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4, "the three sources and the table: {m}");
    let labels = read_parquet(&pg_config.parent().unwrap().join("runs").join(DATE).join("labels/conversions.parquet"));
    let won_sql = labels.lazy().filter(col("conversion_name").eq(lit("won_sql"))).collect().unwrap();
    assert!(won_sql.height() > 100, "the table's conversions, the same as the files' run's: {won_sql}");
    assert!(inputs.iter().all(|i| i["path"] == "env:LEADSCORE_PG_URL" && i["query"].is_string()), "{m}");
    assert_eq!(inputs[1]["query"], format!("SELECT * FROM {}.deals", schema.name));
    assert_eq!(inputs[0]["rows"], 20046, "every contact row is accounted for");
    let ingest_report =
        fs::read_to_string(pg_config.parent().unwrap().join("runs").join(DATE).join("ingest/report.json")).unwrap();
    let password =
        url.split("://").nth(1).and_then(|rest| rest.split('@').next()).and_then(|cred| cred.split(':').nth(1));
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        for text in [m.to_string(), ingest_report.clone(), err.clone(), summary.to_string()] {
            assert!(!text.contains(password), "the password leaked: {text}");
        }
    }

    // Unchanged result: ingest is up to date. One changed row: it runs again.
    let (code_again, again, err) = run_dag(&pg_config, &url);
    assert_eq!(code_again, 0, "{err}");
    assert_eq!(status(&again, "ingest"), "skipped", "{again}");
    schema.execute("UPDATE {schema}.deals SET \"Amount\" = '1' WHERE \"Record ID\" = '9000000001'");
    let (code_changed, changed, err) = run_dag(&pg_config, &url);
    assert_eq!(code_changed, 0, "{err}");
    assert_eq!(status(&changed, "ingest"), "ran", "{changed}");
    assert!(err.contains("the result of the query of env:LEADSCORE_PG_URL changed"), "{err}");
}

#[test]
fn typed_columns_read_as_their_text_does() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv_config = sample_in(dir.path(), "files");
    let pg_config = sample_in(dir.path(), "database");
    let mut schema = Schema::new(&url, "typed");
    let folder = pg_config.parent().unwrap().to_path_buf();
    schema.load("deals", &folder.join("deals.csv"));
    schema.load("events", &folder.join("events.csv"));
    // Local times as `timestamp` (no zone: the project's time zone, as in the file), amounts as
    // `double precision`, and the events' UTC instants as `timestamptz` (written `…+00`). The
    // few values that are not timestamps at all stay text, so they are rejected as in the file.
    schema.execute(
        r#"CREATE VIEW {schema}.deals_typed AS SELECT "Record ID"::bigint AS "Record ID", "Deal Name",
             "Associated Company ID", "Pipeline", "Deal Stage", "Deal Type", "Deal Probability"::float8 AS "Deal Probability",
             "Amount"::float8 AS "Amount", "Deal Currency Code", "Create Date",
             NULLIF("Close Date", '')::timestamp AS "Close Date", "Last Modified Date"::timestamp AS "Last Modified Date"
           FROM {schema}.deals;
           CREATE VIEW {schema}.events_typed AS SELECT "Event ID", "Associated Company ID", "Event Name",
             CASE WHEN "Timestamp" ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$' THEN "Timestamp"::timestamptz::text ELSE "Timestamp" END AS "Timestamp",
             "Value"::float8 AS "Value", "Currency"
           FROM {schema}.events"#,
    );
    let mut text = fs::read_to_string(&pg_config).unwrap();
    text = from_database(&text, "deals.csv", &format!("table = \"{}.deals_typed\"", schema.name));
    text = from_database(&text, "events.csv", &format!("table = \"{}.events_typed\"", schema.name));
    fs::write(&pg_config, text).unwrap();
    for config in [&csv_config, &pg_config] {
        let o =
            leadscore_pg(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", DATE], dir.path(), &url);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let ingest = |config: &Path, table: &str| {
        read_parquet(&config.parent().unwrap().join("runs").join(DATE).join("ingest").join(table))
    };
    for table in ["deals.parquet", "events.parquet", "leads.parquet"] {
        let (db, files) = (ingest(&pg_config, table), ingest(&csv_config, table));
        assert!(db.equals_missing(&files), "{table}: {db}\n{files}");
    }
}

#[test]
fn a_missing_variable_a_bad_query_and_a_refused_login_say_what_is_wrong_without_the_url() {
    let Some(url) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = sample_in(dir.path(), "database");
    let mut schema = Schema::new(&url, "errors");
    schema.load("contacts", &config.parent().unwrap().join("contacts.csv"));
    let text = fs::read_to_string(&config).unwrap();
    let with = |source: &str| {
        fs::write(&config, from_database(&text, "contacts.csv", source)).unwrap();
    };
    let ingest = |env_url: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadscore"));
        cmd.args(["stage", "ingest", "--config", config.to_str().unwrap(), "--date", DATE]).env_remove("LEADSCORE_LOG");
        match env_url {
            Some(u) => cmd.env("LEADSCORE_PG_URL", u),
            None => cmd.env_remove("LEADSCORE_PG_URL"),
        };
        let o = cmd.output().unwrap();
        (code(&o), stderr(&o))
    };

    with(&format!("table = \"{}.contacts\"", schema.name));
    let (c, err) = ingest(None);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("LEADSCORE_PG_URL is not set"), "{err}");

    with(&format!("table = \"{}.no_such_table\"", schema.name));
    let (c, err) = ingest(Some(&url));
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("does not exist") && err.contains("42P01"), "{err}");

    // A data error: the server's message would quote the value, so it is not shown.
    with(&format!("query = \"SELECT \\\"Email\\\"::int AS x FROM {}.contacts\"", schema.name));
    let (c, err) = ingest(Some(&url));
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("22P02") && err.contains("not shown"), "{err}");
    assert!(!err.contains('@'), "no e-mail address is quoted: {err}");

    // A login that is refused: the message names the connection, never the password.
    let host = url.rsplit_once('@').map_or_else(|| url.split_once("://").unwrap().1, |(_, rest)| rest);
    let wrong = format!("postgresql://leadscore_nobody:wrong-secret-pw@{host}");
    with(&format!("table = \"{}.contacts\"", schema.name));
    let (c, err) = ingest(Some(&wrong));
    assert!(c == 2 || c == 3, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("wrong-secret-pw"), "the password is never shown: {err}");
}
