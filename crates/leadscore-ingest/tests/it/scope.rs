//! A run without training (`Scope::Scoring`): the rows it keeps are exactly those of a run of the
//! whole history that the scoring days read, every other row is counted as left out, and CSV
//! (left out as read) and JSON Lines (left out after reading) agree.

use std::collections::HashSet;

use leadscore_core::{Config, RunContext, Scope};
use leadscore_ingest::{IngestError, IngestOutputs, RawFile, SourceReader, Sources, read_sources_in, run, run_writing};
use polars::prelude::*;

use super::ctx;

/// Run date 2026-03-01; with a 30-day adjustment window the first day the run may export is
/// 2026-01-30. Leads: l1 and l3 older (l3 with an attribute that is not a number: left out, not
/// checked), l2 and l6 newer, l4 with a creation time that cannot be read (rejected as in any
/// run), l5 twice: an older version whose creation time was later moved into the window, and the
/// newest update, created before it (kept as a run of the whole history keeps it).
const LEADS: [Lead; 7] = [
    ("l1", "2025-12-01 10:00:00", "2025-12-01 10:00:00", "u1", "10"),
    ("l2", "2026-02-20 10:00:00", "2026-02-20 10:00:00", "u2", "20"),
    ("l3", "2025-12-05 10:00:00", "2025-12-05 10:00:00", "u3", "many"),
    ("l4", "not a date", "2026-02-21 10:00:00", "u4", "40"),
    ("l5", "2026-02-10 10:00:00", "2026-02-11 10:00:00", "u5", "50"),
    ("l5", "2025-11-01 10:00:00", "2026-02-25 10:00:00", "u5", "55"),
    ("l6", "2026-02-27 10:00:00", "2026-02-27 10:00:00", "u6", "60"),
];

/// Events of u1 (left out), u2 and u5 (kept), and of no lead's user (left out).
const EVENTS: [(&str, &str, &str); 5] = [
    ("u1", "visit", "2025-11-20 10:00:00"),
    ("u2", "visit", "2026-02-01 10:00:00"),
    ("u5", "visit", "2025-10-01 10:00:00"),
    ("u5", "webinar", "2026-02-01 10:00:00"),
    ("u9", "visit", "2026-02-01 10:00:00"),
];

/// A deal of u1 (left out) and one of u2, won before l2 was created (kept: it makes u2 an
/// existing customer).
const DEALS: &str =
    "id,user,created,closed,stage,amount\nd1,u1,2025-12-02,2025-12-20,won,100\nd2,u2,2025-12-03,2026-01-10,won,200\n";

fn config(dir: &std::path::Path, format: &str) -> Config {
    let text = format!(
        r#"
[project]
name = "t"
currency = "EUR"
timezone = "Europe/Amsterdam"

[sources.leads]
path = "leads.{format}"
mapping = {{ lead_id = "id", created_at = "created", updated_at = "updated", user_id = "user" }}
max_reject_rate = 1.0

[sources.deals]
path = "deals.csv"
mapping = {{ deal_id = "id", user_id = "user", created_at = "created", closed_at = "closed", stage = "stage", amount = "amount" }}

[sources.events]
path = "events.{format}"
mapping = {{ user_id = "user", name = "name", at = "at" }}

[[attributes]]
column = "size"
kind = "numeric"
"#
    );
    Config::from_toml(&text, "t.toml", dir).unwrap_or_else(|e| panic!("{e}"))
}

type Lead = (&'static str, &'static str, &'static str, &'static str, &'static str);

fn write(dir: &std::path::Path, format: &str, leads: &[Lead]) {
    let (leads, events) = if format == "csv" {
        let leads = leads.iter().map(|(i, c, u, us, s)| format!("{i},{c},{u},{us},{s}\n")).collect::<String>();
        let events = EVENTS.iter().map(|(u, n, a)| format!("{u},{n},{a}\n")).collect::<String>();
        (format!("id,created,updated,user,size\n{leads}"), format!("user,name,at\n{events}"))
    } else {
        let leads = leads
            .iter()
            .map(|(i, c, u, us, s)| {
                format!(
                    "{{\"id\":\"{i}\",\"created\":\"{c}\",\"updated\":\"{u}\",\"user\":\"{us}\",\"size\":\"{s}\"}}\n"
                )
            })
            .collect::<String>();
        let events = EVENTS
            .iter()
            .map(|(u, n, a)| format!("{{\"user\":\"{u}\",\"name\":\"{n}\",\"at\":\"{a}\"}}\n"))
            .collect::<String>();
        (leads, events)
    };
    std::fs::write(dir.join(format!("leads.{format}")), leads).unwrap();
    std::fs::write(dir.join(format!("events.{format}")), events).unwrap();
    std::fs::write(dir.join("deals.csv"), DEALS).unwrap();
}

/// Ingest of `leads` and [`EVENTS`], with the rows of leads the reader kept.
fn ingest_leads(format: &str, scope: Scope, leads: &[Lead]) -> (IngestOutputs, usize) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), format, leads);
    let cfg = config(dir.path(), format);
    let ctx = RunContext { run_date: "2026-03-01".parse().unwrap(), scope, ..ctx() };
    assert_eq!(cfg.first_exported_day(ctx.run_date).to_string(), "2026-01-30");
    let (sources, inputs) = read_sources_in(&cfg, Some(ctx.run_date), scope).unwrap_or_else(|e| panic!("{e}"));
    // The manifest counts every record of the files, kept or not.
    assert_eq!(inputs.iter().map(|i| i.rows.unwrap_or(0)).sum::<u64>(), leads.len() as u64 + 2 + 5, "{format}");
    let read = sources.leads.iter().map(|f| f.frame.height()).sum();
    (run(&cfg, sources, &ctx).unwrap_or_else(|e| panic!("{e}")), read)
}

fn ingest(format: &str, scope: Scope) -> IngestOutputs {
    ingest_leads(format, scope, &LEADS).0
}

fn ids(df: &DataFrame, column: &str) -> Vec<String> {
    df.column(column).unwrap().str().unwrap().iter().map(|v| v.unwrap_or_default().to_string()).collect()
}

/// `(read, accepted, rejected, left_out)` of each source.
fn accounting(out: &IngestOutputs) -> Vec<(u64, u64, u64, u64)> {
    out.report.sources.iter().map(|s| (s.read, s.accepted, s.rejected, s.left_out)).collect()
}

#[test]
fn a_run_without_training_keeps_the_rows_scoring_reads_and_counts_the_others() {
    for format in ["csv", "jsonl"] {
        let whole = ingest(format, Scope::Full);
        let scoped = ingest(format, Scope::Scoring);
        assert_eq!(ids(&whole.leads, "lead_id"), ["l5", "l1", "l3", "l2", "l6"], "{format}");
        assert_eq!(ids(&scoped.leads, "lead_id"), ["l5", "l2", "l6"], "{format}");
        // The kept leads are the whole history's rows, value for value (l5 is its newest update,
        // though created before the window: every version of an id is read).
        let newer: BooleanChunked =
            ids(&whole.leads, "lead_id").iter().map(|id| !["l1", "l3"].contains(&id.as_str())).collect();
        let kept = whole.leads.filter(&newer).unwrap();
        assert!(kept.equals_missing(&scoped.leads), "{format}: {kept} {}", scoped.leads);
        // The same rejects: l4's creation time, l5's older version. l3's `many` is never read.
        assert_eq!(ids(&whole.rejects, "reason"), ids(&scoped.rejects, "reason"), "{format}");
        assert_eq!(whole.rejects.height(), 2);
        assert_eq!(whole.report.attributes[0].unparsable, 1);
        assert_eq!(scoped.report.attributes[0].unparsable, 0);
        // Deals and events of the kept leads' users, all of them (before the window too).
        let users: BooleanChunked = ids(&whole.events, "user_id").iter().map(|u| u == "u2" || u == "u5").collect();
        let theirs = whole.events.filter(&users).unwrap();
        assert_eq!(theirs.height(), 3);
        assert!(theirs.equals_missing(&scoped.events), "{format}: {theirs} {}", scoped.events);
        assert_eq!(ids(&scoped.deals, "deal_id"), ["d2"], "{format}");
        assert_eq!(accounting(&whole), [(7, 5, 2, 0), (2, 2, 0, 0), (5, 5, 0, 0)], "{format}");
        assert_eq!(accounting(&scoped), [(7, 3, 2, 2), (2, 1, 0, 1), (5, 3, 0, 2)], "{format}");
        assert!(scoped.report.summary().contains("2 left out (not needed without training)"), "{format}");
        // The digests are those of the same leads.
        assert!(whole.identities.equals_missing(&scoped.identities), "{format}");
    }
}

#[test]
fn the_csv_reader_leaves_rows_out_as_it_reads_unless_a_kept_id_has_an_older_version() {
    // Without l5's older version, the reader never builds the rows of l1 and l3.
    let leads: Vec<Lead> = LEADS.iter().copied().filter(|l| l.1 != "2025-11-01 10:00:00").collect();
    let (csv, read) = ingest_leads("csv", Scope::Scoring, &leads);
    assert_eq!(read, 4, "l2, l4, l5, l6");
    let (jsonl, read) = ingest_leads("jsonl", Scope::Scoring, &leads);
    assert_eq!(read, 6, "JSON Lines rows are left out after reading");
    assert!(csv.leads.equals_missing(&jsonl.leads) && csv.events.equals_missing(&jsonl.events));
    assert_eq!(accounting(&csv), [(6, 3, 1, 2), (2, 1, 0, 1), (5, 3, 0, 2)]);
    assert_eq!(accounting(&csv), accounting(&jsonl));
    // With it, the file is read whole again, so that de-duplication sees both versions.
    let (_, read) = ingest_leads("csv", Scope::Scoring, &LEADS);
    assert_eq!(read, 7);
}

/// A [`SourceReader`] that records what the run asked it for, in order.
struct Recording<'c> {
    reader: SourceReader<'c>,
    asked: Vec<String>,
}

impl Recording<'_> {
    fn note(&mut self, source: &str, users: Option<&HashSet<&str>>) {
        let mut users: Vec<&str> = users.map(|u| u.iter().copied().collect()).unwrap_or_default();
        users.sort_unstable();
        self.asked.push(format!("{source} {users:?}"));
    }
}

impl Sources for Recording<'_> {
    fn leads(&mut self) -> leadscore_ingest::Result<Vec<RawFile>> {
        self.note("leads", None);
        self.reader.leads()
    }
    fn deals(&mut self, users: Option<&HashSet<&str>>) -> leadscore_ingest::Result<Vec<RawFile>> {
        self.note("deals", users);
        self.reader.deals(users)
    }
    fn events(&mut self, users: Option<&HashSet<&str>>) -> leadscore_ingest::Result<Option<Vec<RawFile>>> {
        self.note("events", users);
        self.reader.events(users)
    }
    fn tables(&mut self) -> leadscore_ingest::Result<Vec<Vec<RawFile>>> {
        self.note("tables", None);
        self.reader.tables()
    }
}

#[test]
fn ingest_reads_each_source_once_the_one_before_is_parsed_with_the_same_outputs() {
    for scope in [Scope::Full, Scope::Scoring] {
        for format in ["csv", "jsonl"] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), format, &LEADS);
            let cfg = config(dir.path(), format);
            let ctx = RunContext { run_date: "2026-03-01".parse().unwrap(), scope, ..ctx() };
            let (sources, inputs) = read_sources_in(&cfg, Some(ctx.run_date), scope).unwrap();
            let at_once = run(&cfg, sources, &ctx).unwrap_or_else(|e| panic!("{e}"));
            let mut one_by_one =
                Recording { reader: SourceReader::new(&cfg, Some(ctx.run_date), scope), asked: vec![] };
            let out = run(&cfg, &mut one_by_one, &ctx).unwrap_or_else(|e| panic!("{e}"));
            for (a, b) in [
                (&at_once.leads, &out.leads),
                (&at_once.deals, &out.deals),
                (&at_once.events, &out.events),
                (&at_once.rejects, &out.rejects),
                (&at_once.identities, &out.identities),
            ] {
                assert!(a.equals_missing(b), "{format} {scope:?}: {a} {b}");
            }
            assert_eq!(accounting(&at_once), accounting(&out), "{format} {scope:?}");
            assert_eq!(at_once.report.summary(), out.report.summary());
            // The manifest's inputs: every file, in the order read, with its hash and records.
            let Recording { reader, asked } = one_by_one;
            assert_eq!(reader.into_inputs(), inputs, "{format} {scope:?}");
            // The deals and events of a run without training are those of the kept leads' users,
            // asked for once those leads are parsed.
            let users = if scope == Scope::Scoring { r#"["u2", "u5", "u6"]"# } else { "[]" };
            let expected =
                ["leads []".to_string(), format!("deals {users}"), format!("events {users}"), "tables []".into()];
            assert_eq!(asked, expected, "{format} {scope:?}");
        }
    }
}

/// Sources that note, when the deals are asked for, which files the stage has written by then.
struct WrittenBeforeDeals<'c> {
    reader: SourceReader<'c>,
    staging: std::path::PathBuf,
    written: Option<Vec<String>>,
}

impl Sources for WrittenBeforeDeals<'_> {
    fn leads(&mut self) -> leadscore_ingest::Result<Vec<RawFile>> {
        self.reader.leads()
    }
    fn deals(&mut self, users: Option<&HashSet<&str>>) -> leadscore_ingest::Result<Vec<RawFile>> {
        let mut files: Vec<String> = std::fs::read_dir(&self.staging)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        self.written = Some(files);
        self.reader.deals(users)
    }
    fn events(&mut self, users: Option<&HashSet<&str>>) -> leadscore_ingest::Result<Option<Vec<RawFile>>> {
        self.reader.events(users)
    }
    fn tables(&mut self) -> leadscore_ingest::Result<Vec<Vec<RawFile>>> {
        self.reader.tables()
    }
}

/// With the stage's writer, the leads and their identities are written before the deals are
/// read (they are not held while the deals and events are parsed), the same tables `run` gives.
#[test]
fn the_leads_are_written_before_the_deals_are_read_as_run_gives_them() {
    for scope in [Scope::Full, Scope::Scoring] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "csv", &LEADS);
        let cfg = config(dir.path(), "csv");
        let ctx = RunContext { run_date: "2026-03-01".parse().unwrap(), scope, ..ctx() };
        let in_memory = run(&cfg, SourceReader::new(&cfg, Some(ctx.run_date), scope), &ctx).unwrap();
        let layout = leadscore_core::RunLayout::new(dir.path().join("out"));
        let mut w = layout.begin(&ctx, leadscore_core::Stage::Ingest).unwrap();
        let staging = w.staging_dir().to_path_buf();
        let mut sources =
            WrittenBeforeDeals { reader: SourceReader::new(&cfg, Some(ctx.run_date), scope), staging, written: None };
        let out = run_writing(&cfg, &mut sources, &ctx, Some(&mut w)).unwrap();
        assert_eq!(sources.written.unwrap(), ["identities.parquet", "leads.parquet"], "{scope:?}");
        assert!(out.leads_written && out.leads.height() == 0 && out.identities.height() == 0);
        for (file, expected) in [("leads.parquet", &in_memory.leads), ("identities.parquet", &in_memory.identities)] {
            let written = leadscore_core::io::read_parquet(&w.staging_dir().join(file)).unwrap();
            assert!(
                expected.height() > 0 && written.equals_missing(expected),
                "{scope:?} {file}: {written} {expected}"
            );
        }
        assert!(out.deals.equals_missing(&in_memory.deals) && out.events.equals_missing(&in_memory.events));
        assert_eq!(out.report.summary(), in_memory.report.summary());
    }
}

#[test]
fn a_run_whose_leads_are_unusable_never_reads_the_deals() {
    let dir = tempfile::tempdir().unwrap();
    let leads: Vec<Lead> =
        LEADS.iter().map(|&(id, _, updated, user, size)| (id, "not a date", updated, user, size)).collect();
    write(dir.path(), "csv", &leads);
    let cfg = config(dir.path(), "csv");
    let ctx = RunContext { run_date: "2026-03-01".parse().unwrap(), ..ctx() };
    let mut sources = Recording { reader: SourceReader::new(&cfg, Some(ctx.run_date), ctx.scope), asked: vec![] };
    let err = run(&cfg, &mut sources, &ctx).map(|_| ()).expect_err("no usable leads");
    assert!(matches!(err, IngestError::NoUsableLeads { .. }), "{err}");
    assert_eq!(sources.asked, ["leads []"]);
    assert_eq!(sources.reader.into_inputs().len(), 1, "only the leads file was read");
}
