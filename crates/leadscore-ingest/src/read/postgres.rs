//! PostgreSQL sources (`[sources.*] query` or `table`, with `connection = "env:NAME"`).
//!
//! The result is streamed with `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER true)` into a
//! temporary file as it arrives (a table of millions of rows is never held as row objects), and
//! digested on the way; the CSV reader then reads that file exactly like an export, so the
//! accounting, the rejects and the row numbers (the result's row, 1-based) are those of files.
//! The session runs in UTC with ISO dates, so `timestamptz` values read as instants; a
//! `timestamp` without a zone is local time of the project, as in a CSV file.
//!
//! Messages name the environment variable, never the URL (it may hold a password), and show the
//! server's message only for errors about the query or the connection (a missing table, a
//! syntax error, a refused login), never for data errors, whose messages may quote a value.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use leadscore_core::config::Database;
use leadscore_core::layout::InputFile;
use postgres::{Client, NoTls};
use tempfile::NamedTempFile;

use super::RawFile;
use crate::error::{IngestError, Result};

/// Session settings that make the CSV text of typed columns unambiguous.
const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'";

/// A failure of the source `db` of the config section `section`.
fn failure(section: &str, db: &Database, problem: String, usage: bool) -> IngestError {
    IngestError::Database { section: section.to_string(), origin: db.origin(), problem, usage }
}

/// What went wrong, shown only where the server's message cannot hold data, and whether it is a
/// mistake in the config (a bad query, a refused login) rather than a source that is down.
fn describe(e: &postgres::Error) -> (String, bool) {
    let Some(db) = e.as_db_error() else {
        // Connection and protocol errors: an OS error or a closed connection, never data.
        return (e.to_string(), false);
    };
    let code = db.code().code();
    let class = code.get(..2).unwrap_or_default();
    match class {
        // Syntax and access (a missing table or column, a permission), authorisation, catalog,
        // schema, feature not supported, and connection-level conditions.
        "42" | "28" | "3D" | "3F" | "0A" | "08" | "53" | "57" => {
            let usage = matches!(class, "42" | "28" | "3D" | "3F" | "0A");
            (format!("{} (SQLSTATE {code})", db.message()), usage)
        }
        _ => (
            format!(
                "the query failed with SQLSTATE {code}; the server's message is not shown, as it may quote a value \
                 of the data. Run the query in psql to see it"
            ),
            true,
        ),
    }
}

/// Connects as the URL in the source's environment variable says, and sets up the session.
fn connect(section: &str, db: &Database) -> Result<Client> {
    let var = &db.connection_env;
    let url = std::env::var(var).map_err(|_| {
        let problem = format!(
            "the environment variable {var} is not set (or not Unicode); it must hold the connection URL, \
             postgresql://user:password@host:5432/database"
        );
        failure(section, db, problem, true)
    })?;
    // Parsed apart so that a bad URL is reported without its text (it holds the password).
    let config: postgres::Config = url.parse().map_err(|_| {
        let problem = format!(
            "the value of {var} is not a PostgreSQL connection URL; expected \
             postgresql://user:password@host:5432/database (or key=value pairs)"
        );
        failure(section, db, problem, true)
    })?;
    let mut client = config.connect(NoTls).map_err(|e| {
        let (why, usage) = describe(&e);
        failure(section, db, format!("cannot connect: {why}"), usage)
    })?;
    client.batch_execute(SESSION).map_err(|e| failure(section, db, describe(&e).0, false))?;
    Ok(client)
}

/// The `COPY` statement that streams the query's result as CSV with a header.
fn copy_statement(query: &str) -> String {
    format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)")
}

/// A reader that writes what it reads into `sink` as well.
struct Tee<R, W> {
    reader: R,
    sink: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Runs the query, streaming its result through `sink`; the digest and size of the result.
fn stream(section: &str, db: &Database, sink: impl Write) -> Result<(String, u64)> {
    let mut client = connect(section, db)?;
    let reader = client.copy_out(copy_statement(&db.query).as_str()).map_err(|e| {
        let (why, usage) = describe(&e);
        failure(section, db, format!("the query failed: {why}"), usage)
    })?;
    let mut tee = Tee { reader, sink };
    let digest = leadscore_core::io::hash_reader(&mut tee).map_err(|e| {
        // A failure mid-stream is the server's (its message as above) or the disk's.
        let (why, usage) = match e.get_ref().and_then(|inner| inner.downcast_ref::<postgres::Error>()) {
            Some(pg) => describe(pg),
            None => (e.to_string(), false),
        };
        failure(section, db, format!("reading the result failed: {why}"), usage)
    })?;
    tee.sink
        .flush()
        .map_err(|e| failure(section, db, format!("writing the result to a temporary file failed: {e}"), false))?;
    Ok(digest)
}

/// Reads a database source: the result as a raw CSV file, and its record for the manifest
/// (`path` is `env:NAME`, `query` the query, `sha256` the digest of the result as CSV).
pub(super) fn read(section: &str, db: &Database) -> Result<(RawFile, InputFile)> {
    let spool = NamedTempFile::new()
        .map_err(|e| failure(section, db, format!("cannot create a temporary file for the result: {e}"), false))?;
    let file: &File = spool.as_file();
    let (sha256, bytes) = stream(section, db, BufWriter::with_capacity(1 << 20, file))?;
    let shown = PathBuf::from(db.origin());
    let mut raw = super::delimited::read(&shown, spool.path(), b',', false)?;
    raw.path = shown;
    let input = InputFile {
        path: format!("env:{}", db.connection_env),
        sha256,
        bytes,
        rows: Some(raw.records_read()),
        query: Some(db.query.clone()),
    };
    Ok((raw, input))
}

/// The digest of a recorded database input's result now (for freshness): the query run again,
/// its result hashed as it streams and never stored.
pub fn query_digest(input: &InputFile) -> std::result::Result<String, String> {
    let (Some(query), Some(var)) = (&input.query, input.path.strip_prefix("env:")) else {
        return Err("it is not a database input".into());
    };
    let db = Database { connection_env: var.to_string(), query: query.clone() };
    stream("", &db, std::io::sink()).map(|(h, _)| h).map_err(|e| match e {
        IngestError::Database { problem, .. } => problem,
        other => other.to_string(),
    })
}
