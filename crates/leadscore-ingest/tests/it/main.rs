//! Ingest on in-memory frames: accounting, de-duplication, currencies, attributes, time zones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod encodings;
mod event_presets;
mod fuzz;
mod scope;

use std::path::PathBuf;

use leadscore_core::config::{AttributeKind, Preset};
use leadscore_core::schema::{FieldType, SourceKind};
use leadscore_core::{Classify, ExitKind};
use leadscore_core::{Config, RunContext, RunDate};
use leadscore_ingest::{IngestError, RawFile, RawSources, run};
use polars::prelude::*;
use proptest::prelude::*;

pub(crate) const CONFIG: &str = r#"
[project]
name = "t"
currency = "EUR"
timezone = "Europe/Amsterdam"

[sources.leads]
path = "leads.csv"
mapping = { lead_id = "id", created_at = "created", user_id = "user", updated_at = "updated" }
# These fixtures are mostly bad rows on purpose: the gate is tested on its own.
max_reject_rate = 1.0

[sources.deals]
path = "deals.csv"
mapping = { deal_id = "id", user_id = "user", created_at = "created", closed_at = "closed", stage = "stage", probability = "p", amount = "amount", currency = "cur" }
max_reject_rate = 1.0

[sources.events]
path = "events.csv"
mapping = { user_id = "user", name = "name", at = "at", value = "value" }
max_reject_rate = 1.0

[[attributes]]
column = "size"

[[attributes]]
column = "title"
kind = "text"

[[attributes]]
column = "newsletter"

[currency]
rates = { USD = 0.5 }
"#;

fn config() -> Config {
    config_with(CONFIG)
}

pub(crate) fn config_with(text: &str) -> Config {
    Config::from_toml(text, "test.toml", std::path::Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn ctx() -> RunContext {
    RunContext {
        run_date: "2026-02-01".parse::<RunDate>().unwrap(),
        config_hash: "h".into(),
        seed: 1,
        retrain: false,
        partition: None,
        scope: leadscore_core::Scope::Full,
    }
}

pub(crate) fn file(name: &str, df: DataFrame) -> RawFile {
    RawFile::new(PathBuf::from(name), df)
}

fn strings(name: &str, v: &[Option<&str>]) -> Column {
    Column::new(name.into(), v)
}

pub(crate) fn leads_frame(ids: &[Option<&str>], created: &[Option<&str>], updated: &[Option<&str>]) -> DataFrame {
    let n = ids.len();
    let sizes: Vec<Option<&str>> = (0..n).map(|i| Some(["10", "250", "oops", "5000"][i % 4])).collect();
    let titles: Vec<Option<&str>> = (0..n).map(|i| Some(["VP Marketing", " CEO ", "Student"][i % 3])).collect();
    let news: Vec<Option<&str>> = (0..n).map(|i| Some(["yes", "no"][i % 2])).collect();
    let users: Vec<Option<&str>> = (0..n).map(|i| Some(["u1", "u2", "u3"][i % 3])).collect();
    DataFrame::new_infer_height(vec![
        strings("id", ids),
        strings("created", created),
        strings("user", &users),
        strings("updated", updated),
        strings("size", &sizes),
        strings("title", &titles),
        strings("newsletter", &news),
    ])
    .unwrap()
}

fn deals_frame() -> DataFrame {
    DataFrame::new_infer_height(vec![
        strings("id", &[Some("d1"), Some("d2"), Some("d3")]),
        strings("user", &[Some("u1"), Some("u2"), None]),
        strings("created", &[Some("2026-01-05"), Some("2026-01-06"), Some("2026-01-07")]),
        strings("closed", &[Some("2026-01-20 12:00:00"), None, None]),
        strings("stage", &[Some("closedwon"), Some("open"), Some("open")]),
        strings("p", &[Some("100"), Some("0.4"), Some("250")]),
        strings("amount", &[Some("1000"), Some("200.5"), Some("3")]),
        strings("cur", &[Some("usd"), None, Some("EUR")]),
    ])
    .unwrap()
}

fn events_frame() -> DataFrame {
    DataFrame::new_infer_height(vec![
        strings("user", &[Some("u1"), Some("u1"), Some("u2")]),
        strings("name", &[Some("Page View"), Some("Page View"), Some("Paid Subscription")]),
        strings("at", &[Some("2026-01-01T10:00:00Z"), Some("2026-01-01T10:00:00Z"), Some("2026-01-03T10:00:00Z")]),
        strings("value", &[None, None, Some("99")]),
    ])
    .unwrap()
}

fn sources(leads: DataFrame) -> RawSources {
    RawSources {
        leads: vec![file("leads.csv", leads)],
        deals: vec![file("deals.csv", deals_frame())],
        events: Some(vec![file("events.csv", events_frame())]),
        tables: vec![],
    }
}

#[test]
fn deals_are_converted_and_probabilities_normalised() {
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    let deals = out.deals;
    // d3 has no user: rejected as a missing id.
    assert_eq!(deals.height(), 2);
    let amount: Vec<Option<f64>> = deals.column("amount").unwrap().f64().unwrap().iter().collect();
    assert_eq!(amount, [Some(500.0), Some(200.5)]);
    let cur: Vec<Option<&str>> = deals.column("currency").unwrap().str().unwrap().iter().collect();
    assert_eq!(cur, [Some("USD"), Some("EUR")], "a missing currency is the project currency");
    let p: Vec<Option<f64>> = deals.column("probability").unwrap().f64().unwrap().iter().collect();
    assert_eq!(p, [Some(1.0), Some(0.4)]);
    let deal_report = &out.report.sources[1];
    assert_eq!(deal_report.rejected_by_reason.get("missing_id"), Some(&1));
    // The probability 250 of the rejected row is not counted (the row is gone).
    assert!(deal_report.values_left_empty.is_empty(), "{:?}", deal_report.values_left_empty);
    // Local close time in Amsterdam (CET, +01:00) → UTC.
    let closed = deals.column("closed_at").unwrap().datetime().unwrap().physical().get(0);
    assert_eq!(closed, Some(1_768_906_800_000_000)); // 2026-01-20T11:00:00Z
}

#[test]
fn us_report_timestamps_are_read_with_the_source_format_and_a_field_may_have_its_own() {
    // A US Salesforce report writes `11/03/2025 08:00 PM`: none of the default formats.
    let us_deals = || {
        DataFrame::new_infer_height(vec![
            strings("id", &[Some("d1"), Some("d2")]),
            strings("user", &[Some("u1"), Some("u2")]),
            strings("created", &[Some("01/05/2026 08:00 PM"), Some("01/06/2026 09:15 AM")]),
            strings("closed", &[Some("20.01.2026"), Some("2026-01-21")]),
            strings("stage", &[Some("closedwon"), Some("open")]),
            strings("p", &[Some("100"), Some("40")]),
            strings("amount", &[Some("1000"), Some("200")]),
            strings("cur", &[Some("EUR"), Some("EUR")]),
        ])
        .unwrap()
    };
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let raw = |deals: DataFrame| RawSources {
        leads: vec![file("leads.csv", leads.clone())],
        deals: vec![file("deals.csv", deals)],
        events: Some(vec![file("events.csv", events_frame())]),
        tables: vec![],
    };
    // Without a format, every US timestamp is rejected as unparsable.
    let out = run(&config(), raw(us_deals()), &ctx()).unwrap();
    assert_eq!(out.deals.height(), 0);
    assert_eq!(out.report.sources[1].rejected_by_reason.get("unparsable_timestamp"), Some(&2));
    // With the source's format, and a format of its own for `closed_at` (a German date): the
    // second deal's ISO `closed_at` does not match it and is rejected, saying so.
    let text = CONFIG.replace(
        "amount = \"amount\", currency = \"cur\" }",
        "amount = \"amount\", currency = \"cur\" }\ntimestamp_format = \"%m/%d/%Y %I:%M %p\"\ntimestamp_formats = { closed_at = \"%d.%m.%Y\" }",
    );
    let out = run(&config_with(&text), raw(us_deals()), &ctx()).unwrap();
    assert_eq!(out.deals.height(), 1);
    let created = out.deals.column("created_at").unwrap().datetime().unwrap().physical().get(0);
    assert_eq!(created, Some(1_767_639_600_000_000), "2026-01-05 20:00 in Amsterdam is 19:00Z");
    let closed = out.deals.column("closed_at").unwrap().datetime().unwrap().physical().get(0);
    assert_eq!(closed, Some(1_768_863_600_000_000), "20.01.2026 is local midnight, 2026-01-19T23:00Z");
    let report = &out.report.sources[1];
    assert_eq!(report.rejected_by_reason.get("unparsable_timestamp"), Some(&1));
    let detail = out.rejects.column("detail").unwrap().str().unwrap().iter().flatten().collect::<Vec<_>>().join(" ");
    assert!(detail.contains("does not match the source's `timestamp_format`"), "{detail}");
}

#[test]
fn timestamp_formats_are_checked_when_the_config_loads() {
    let bad = |keys: &str| {
        let text = CONFIG.replace(
            "max_reject_rate = 1.0\n\n[sources.events]",
            &format!("max_reject_rate = 1.0\n{keys}\n\n[sources.events]"),
        );
        Config::from_toml(&text, "test.toml", std::path::Path::new(".")).expect_err(keys).to_string()
    };
    assert!(bad("timestamp_format = \"%H:%M\"").contains("does not name a year, a month and a day"));
    assert!(bad("timestamp_format = \"%Q-%m-%d\"").contains("is not a strftime format"));
    let e = bad("timestamp_formats = { stage = \"%Y-%m-%d\" }");
    assert!(e.contains("sources.deals.timestamp_formats.stage") && e.contains("`closed_at`"), "{e}");
}

#[test]
fn newest_update_wins_and_losers_are_rejected_with_the_kept_row() {
    let leads = leads_frame(
        &[Some("a"), Some("a"), Some("b"), Some("a")],
        &[Some("2026-01-01"), Some("2026-01-01"), Some("2026-01-02"), Some("2026-01-01")],
        &[Some("2026-01-03"), Some("2026-01-09"), None, Some("2026-01-04")],
    );
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    assert_eq!(out.leads.height(), 2);
    let r = &out.report.sources[0];
    assert_eq!((r.read, r.accepted, r.rejected), (4, 2, 2));
    let leads_only = out.rejects.clone().lazy().filter(col("source").eq(lit("leads"))).collect().unwrap();
    let rows: Vec<Option<u64>> = leads_only.column("row").unwrap().u64().unwrap().iter().collect();
    assert_eq!(rows, [Some(1), Some(4)]);
    let detail = leads_only.column("detail").unwrap().str().unwrap().get(0).unwrap().to_string();
    assert!(detail.contains("row 2") && detail.contains("newer update time"), "{detail}");
}

#[test]
fn attribute_kinds_are_inferred_and_bad_values_counted_not_rejected() {
    let leads = leads_frame(
        &[Some("a"), Some("b"), Some("c"), Some("d")],
        &[Some("2026-01-01"), Some("2026-01-02"), Some("2026-01-03"), Some("2026-01-04")],
        &[None, None, None, None],
    );
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    let attrs = &out.report.attributes;
    let size = attrs.iter().find(|a| a.name == "size").unwrap();
    // One "oops" among three numbers is too many for a numeric kind (see MIN_PARSED_SHARE), and
    // four distinct values in four rows make free text; a declared kind is kept as declared.
    assert_eq!(size.kind, AttributeKind::Text);
    assert!(size.inferred);
    let title = attrs.iter().find(|a| a.name == "title").unwrap();
    assert_eq!((title.kind, title.inferred), (AttributeKind::Text, false));
    let news = attrs.iter().find(|a| a.name == "newsletter").unwrap();
    assert_eq!(news.kind, AttributeKind::Boolean);
    assert_eq!(out.leads.column("newsletter").unwrap().dtype(), &DataType::Boolean);
    let titles: Vec<Option<&str>> = out.leads.column("title").unwrap().str().unwrap().iter().collect();
    assert_eq!(titles[1], Some("CEO"), "text is trimmed");
    assert_eq!(out.leads.height(), 4);
}

#[test]
fn declared_numeric_attribute_counts_unparsable_values() {
    let text = CONFIG.replace("column = \"size\"", "column = \"size\"\nkind = \"numeric\"");
    let config = Config::from_toml(&text, "t.toml", std::path::Path::new(".")).unwrap();
    let leads = leads_frame(
        &[Some("a"), Some("b"), Some("c"), Some("d")],
        &[Some("2026-01-01"), Some("2026-01-02"), Some("2026-01-03"), Some("2026-01-04")],
        &[None, None, None, None],
    );
    let out = run(&config, sources(leads), &ctx()).unwrap();
    let size = out.report.attributes.iter().find(|a| a.name == "size").unwrap();
    assert_eq!((size.filled, size.unparsable), (3, 1));
    assert!(out.report.warnings.iter().any(|w| w.contains("`size`")), "{:?}", out.report.warnings);
}

#[test]
fn events_without_ids_get_content_ids_and_exact_repeats_collapse() {
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    assert_eq!(out.events.height(), 2);
    let r = &out.report.sources[2];
    assert_eq!(r.rejected_by_reason.get("duplicate_id"), Some(&1));
    let ids = out.events.column("event_id").unwrap().str().unwrap();
    assert!(ids.iter().all(|i| i.is_some_and(|i| i.len() == 32)));
}

#[test]
fn rows_after_the_run_date_are_kept_and_counted() {
    let leads = leads_frame(
        &[Some("a"), Some("b")],
        &[Some("2026-01-31 23:30:00"), Some("2026-02-01 00:30:00")],
        &[None, None],
    );
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    assert_eq!(out.leads.height(), 2);
    assert_eq!(out.report.sources[0].on_or_after_run_date, 1);
}

#[test]
fn no_lead_rows_is_an_input_error() {
    let leads = leads_frame(&[], &[], &[]);
    let err = run(&config(), sources(leads), &ctx()).unwrap_err();
    assert!(matches!(err, IngestError::NoLeads { .. }), "{err}");
}

fn cell() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "[a-c]{1,2}".prop_map(Some),
        Just(Some("2026-01-05".to_string())),
        Just(Some("2026-01-05T10:00:00+01:00".to_string())),
        Just(Some("1767600000000".to_string())),
        Just(Some("31/02/2026".to_string())),
        Just(Some("-12.5".to_string())),
        Just(Some("42".to_string())),
        Just(Some("USD".to_string())),
        Just(Some("XXY".to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the cells hold, every row is either accepted or rejected, exactly once, and the
    /// canonical tables are unique by id.
    #[test]
    fn every_row_is_accounted_for(rows in prop::collection::vec(prop::collection::vec(cell(), 8), 0..40)) {
        let col = |k: usize| -> Vec<Option<String>> { rows.iter().map(|r| r[k].clone()).collect() };
        let deals = DataFrame::new_infer_height(vec![
            Column::new("id".into(), col(0)),
            Column::new("user".into(), col(1)),
            Column::new("created".into(), col(2)),
            Column::new("closed".into(), col(3)),
            Column::new("stage".into(), col(4)),
            Column::new("p".into(), col(5)),
            Column::new("amount".into(), col(6)),
            Column::new("cur".into(), col(7)),
        ]).unwrap();
        let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
        let src = RawSources { leads: vec![file("leads.csv", leads)], deals: vec![file("deals.csv", deals)], events: None, tables: vec![] };
        let out = run(&config(), src, &ctx()).unwrap();
        let r = &out.report.sources[1];
        prop_assert_eq!(r.read, rows.len() as u64);
        prop_assert_eq!(r.read, r.accepted + r.rejected);
        prop_assert_eq!(out.deals.height() as u64, r.accepted);
        let n_unique = out.deals.column("deal_id").unwrap().n_unique().unwrap();
        prop_assert_eq!(n_unique, out.deals.height());
        let deal_rejects = out.rejects.column("source").unwrap().str().unwrap().iter().filter(|s| *s == Some("deals")).count();
        prop_assert_eq!(deal_rejects as u64, r.rejected);
    }
}

#[test]
fn report_snapshot() {
    let leads = leads_frame(
        &[Some("a"), Some("a"), Some("b"), None, Some("c")],
        &[Some("2026-01-01"), Some("2026-01-01"), Some("2026-01-02"), Some("2026-01-03"), Some("not a date")],
        &[Some("2026-01-03"), Some("2026-01-09"), None, None, None],
    );
    let out = run(&config(), sources(leads), &ctx()).unwrap();
    insta::assert_json_snapshot!(out.report);
}

/// Two open deals of user `u1` with these amounts and currencies.
fn two_open_deals(amount: [Option<&str>; 2], cur: [Option<&str>; 2]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        strings("id", &[Some("d1"), Some("d2")]),
        strings("user", &[Some("u1"), Some("u1")]),
        strings("created", &[Some("2026-01-05"), Some("2026-01-05")]),
        strings("closed", &[None, None]),
        strings("stage", &[Some("open"), Some("open")]),
        strings("p", &[None, None]),
        strings("amount", &amount),
        strings("cur", &cur),
    ])
    .unwrap()
}

#[test]
fn a_bad_currency_only_rejects_a_deal_that_has_an_amount() {
    let deals = two_open_deals([None, Some("5")], [Some("N/A"), Some("N/A")]);
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let src = RawSources {
        leads: vec![file("leads.csv", leads)],
        deals: vec![file("deals.csv", deals)],
        events: None,
        tables: vec![],
    };
    let out = run(&config(), src, &ctx()).unwrap();
    let ids: Vec<Option<&str>> = out.deals.column("deal_id").unwrap().str().unwrap().iter().collect();
    assert_eq!(ids, [Some("d1")]);
    assert_eq!(out.report.sources[1].rejected_by_reason.get("unknown_currency"), Some(&1));
}

#[test]
fn a_source_rejecting_more_than_its_share_fails_naming_reasons_counts_and_rows() {
    // The default gate (5%): one deal in three without a user is too many.
    let gated = CONFIG.replace("max_reject_rate = 1.0\n", "");
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let err = run(&config_with(&gated), sources(leads.clone()), &ctx()).unwrap_err();
    assert_eq!(leadscore_core::Classify::exit_kind(&err), leadscore_core::ExitKind::InputData);
    let msg = err.to_string();
    assert!(msg.contains("[sources.deals]") && msg.contains("1 of 3 rows rejected"), "{msg}");
    assert!(msg.contains("missing_id 1 (rows 3 of deals.csv)") && msg.contains("max_reject_rate"), "{msg}");
    // Duplicates do not count: versions of a record are normal in exports.
    let dupes = leads_frame(
        &[Some("a"), Some("a"), Some("a"), Some("b")],
        &[Some("2026-01-01"); 4],
        &[Some("2026-01-02"), Some("2026-01-03"), Some("2026-01-04"), None],
    );
    let lenient = gated.replace("[sources.deals]\n", "[sources.deals]\nmax_reject_rate = 0.5\n");
    let out = run(&config_with(&lenient), sources(dupes), &ctx()).unwrap();
    assert_eq!(out.report.sources[0].rejected_by_reason.get("duplicate_id"), Some(&2));
}

#[test]
fn every_lead_rejected_is_an_input_error_not_an_empty_table() {
    let leads = leads_frame(&[None, Some("b")], &[Some("2026-01-01"), Some("01/02/2026 08:00 PM")], &[None, None]);
    let err = run(&config(), sources(leads), &ctx()).unwrap_err();
    assert!(matches!(err, IngestError::NoUsableLeads { read: 2, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("missing_id 1") && msg.contains("unparsable_timestamp 1"), "{msg}");
}

#[test]
fn amounts_that_overflow_in_the_project_currency_are_rejected() {
    let deals = two_open_deals([Some("1.7e308"), Some("10")], [Some("GBP"), Some("GBP")]);
    let text = CONFIG.replace("rates = { USD = 0.5 }", "rates = { USD = 0.5, GBP = 1.17 }");
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let src = RawSources {
        leads: vec![file("leads.csv", leads)],
        deals: vec![file("deals.csv", deals)],
        events: None,
        tables: vec![],
    };
    let out = run(&config_with(&text), src, &ctx()).unwrap();
    assert_eq!(out.report.sources[1].rejected_by_reason.get("non_finite_amount"), Some(&1));
    let amounts: Vec<Option<f64>> = out.deals.column("amount").unwrap().f64().unwrap().iter().collect();
    assert_eq!(amounts, [Some(11.7)]);
}

#[test]
fn leads_keep_digests_and_derived_parts_not_raw_identities() {
    let text = CONFIG.replace(
        "mapping = { lead_id = \"id\", created_at = \"created\", user_id = \"user\", updated_at = \"updated\" }",
        "mapping = { lead_id = \"id\", created_at = \"created\", user_id = \"user\", email = \"mail\", phone = \"tel\" }",
    );
    let leads = DataFrame::new_infer_height(vec![
        strings("id", &[Some("a"), Some("b")]),
        strings("created", &[Some("2026-01-01"), Some("2026-01-31 12:00")]),
        strings("user", &[Some("u1"), Some("u2")]),
        strings("mail", &[Some("x@gmail.com"), Some(" John_Smith@gmail.com ")]),
        strings("tel", &[Some("n/a"), Some("+1 (650) 555-1212")]),
        strings("size", &[Some("10"), None]),
        strings("title", &[None, None]),
        strings("newsletter", &[None, None]),
    ])
    .unwrap();
    let src = RawSources { leads: vec![file("leads.csv", leads.clone())], deals: vec![], events: None, tables: vec![] };
    let out = run(&config_with(&text), src, &ctx()).unwrap();
    let names: Vec<String> = out.leads.get_column_names().iter().map(|c| c.to_string()).collect();
    for raw in ["email", "phone", "first_name", "last_name"] {
        assert!(!names.contains(&raw.to_string()), "{raw} is kept: {names:?}");
    }
    let get = |df: &DataFrame, c: &str, i: usize| df.column(c).unwrap().str().unwrap().get(i).map(str::to_string);
    // Meta's documented example, for the leads the run's exports may send (created the day
    // before the run date): b. Lead a is older and has no digests.
    let ids = &out.identities;
    assert_eq!(get(ids, "lead_id", 0).as_deref(), Some("b"));
    assert_eq!(ids.height(), 1);
    assert_eq!(
        get(ids, "email_sha256", 0).as_deref(),
        Some("62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")
    );
    assert_eq!(
        get(ids, "phone_sha256", 0).as_deref(),
        Some("e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176")
    );
    let table = &out.leads;
    assert_eq!(
        (get(table, "email_class", 0), get(table, "email_domain", 0)),
        (Some("free".into()), Some("gmail.com".into()))
    );
    assert_eq!(
        (get(table, "email_class", 1), get(table, "phone_country", 1)),
        (Some("free".into()), Some("NANP".into()))
    );
    assert_eq!(get(table, "phone_country", 0).as_deref(), Some("missing"));
    // The raw values are kept only when the config asks for them.
    let keep = format!("{text}\n[privacy]\nkeep_raw_identifiers = true\n");
    let src = RawSources { leads: vec![file("leads.csv", leads)], deals: vec![], events: None, tables: vec![] };
    let kept = run(&config_with(&keep), src, &ctx()).unwrap();
    assert_eq!(kept.leads.column("email").unwrap().str().unwrap().get(1), Some("John_Smith@gmail.com"));
}

#[test]
fn an_empty_mapped_event_id_is_a_missing_id_not_a_duplicate_of_itself() {
    let text = CONFIG.replace(
        "mapping = { user_id = \"user\", name = \"name\", at = \"at\", value = \"value\" }",
        "mapping = { event_id = \"eid\", user_id = \"user\", name = \"name\", at = \"at\", value = \"value\" }",
    );
    let mut events = events_frame();
    let n = events.height();
    let ids: Vec<Option<String>> = (0..n).map(|i| (i != 1).then(|| format!("e{i}"))).collect();
    events.with_column(Column::new("eid".into(), ids)).unwrap();
    let leads = leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
    let src = RawSources {
        leads: vec![file("leads.csv", leads)],
        deals: vec![file("deals.csv", deals_frame())],
        events: Some(vec![file("events.csv", events)]),
        tables: vec![],
    };
    let out = run(&config_with(&text), src, &ctx()).unwrap();
    let events = &out.report.sources[2];
    assert_eq!(events.rejected_by_reason.get("missing_id"), Some(&1), "{events:?}");
    assert_eq!(events.rejected_by_reason.get("duplicate_id"), None, "{events:?}");
}

/// A one-row frame with every column `preset` names for `kind` but `without`, each holding a value
/// its field parses (a column two fields read, once).
fn preset_frame(preset: Preset, kind: SourceKind, without: &str) -> DataFrame {
    let mapping = preset.mapping(kind);
    let columns = mapping
        .iter()
        .enumerate()
        .filter(|(i, (_, column))| *column != without && !mapping[..*i].iter().any(|(_, c)| c == column))
        .map(|(_, pair)| pair);
    let value = |field: &str| match kind.field(field).map(|f| f.ty) {
        _ if field == "user_id" => "u1",
        Some(FieldType::Timestamp) | None => "2026-01-02",
        Some(FieldType::Amount) => "100",
        Some(FieldType::Probability) => "50",
        Some(FieldType::Currency) => "EUR",
        Some(FieldType::Id | FieldType::Text) => "x1",
    };
    DataFrame::new_infer_height(columns.map(|(field, column)| strings(column, &[Some(value(field))])).collect())
        .unwrap()
}

/// A config of `preset` with a source `<kind>.csv` for each of `kinds`, none gated on rejects.
fn preset_config(preset: Preset, kinds: &[SourceKind]) -> Config {
    let mut text = format!(
        "[project]\nname = \"t\"\ncurrency = \"EUR\"\ntimezone = \"Europe/Amsterdam\"\n\n\
         [sources]\npreset = \"{}\"\n",
        preset.name()
    );
    for k in kinds {
        text.push_str(&format!("\n[sources.{k}]\npath = \"{k}.csv\"\nmax_reject_rate = 1.0\n"));
    }
    config_with(&text)
}

#[test]
fn a_file_without_one_of_its_presets_optional_columns_is_never_an_internal_error() {
    // Mutating the sample's files found an events export without HubSpot's `Event ID` failing as
    // an internal error (exit 1). Every preset, every source, every optional column left out:
    // the run either reads the file or says what is wrong with it.
    for preset in Preset::ALL {
        let kinds: Vec<SourceKind> = SourceKind::ALL.into_iter().filter(|k| !preset.mapping(*k).is_empty()).collect();
        let config = preset_config(preset, &kinds);
        let sources = |left_out: Option<(SourceKind, &str)>| {
            let frame = |k: SourceKind| {
                let without = left_out.filter(|(kind, _)| *kind == k).map_or("", |(_, column)| column);
                vec![file(&format!("{k}.csv"), preset_frame(preset, k, without))]
            };
            RawSources {
                leads: frame(SourceKind::Leads),
                deals: frame(SourceKind::Deals),
                events: kinds.contains(&SourceKind::Events).then(|| frame(SourceKind::Events)),
                tables: vec![],
            }
        };
        // Every column there: the files are read.
        run(&config, sources(None), &ctx()).unwrap_or_else(|e| panic!("{}: {e}", preset.name()));
        for kind in &kinds {
            let optional = preset.mapping(*kind).iter().filter(|(f, _)| kind.field(f).is_none_or(|f| !f.required));
            for (field, column) in optional {
                if let Err(e) = run(&config, sources(Some((*kind, column))), &ctx()) {
                    let what = format!("{} {kind} without `{column}` ({field})", preset.name());
                    assert_ne!(e.exit_kind(), ExitKind::Internal, "{what}: {e}");
                }
            }
        }
    }
}

#[test]
fn an_events_file_without_the_presets_id_column_gets_content_ids() {
    // HubSpot's events carry an `Event ID` column; an export without it is read as events without
    // ids. Beside it, a file that has the column keeps its ids.
    let event = |ids: Option<&[Option<&str>]>, at: &[Option<&str>]| {
        let n = at.len();
        let mut columns = vec![
            strings("Associated Company ID", &vec![Some("u1"); n]),
            strings("Event Name", &vec![Some("Page View"); n]),
            strings("Timestamp", at),
        ];
        if let Some(ids) = ids {
            columns.insert(0, strings("Event ID", ids));
        }
        DataFrame::new_infer_height(columns).unwrap()
    };
    let t = [Some("2026-01-02T10:00:00Z"), Some("2026-01-03T10:00:00Z"), Some("2026-01-03T10:00:00Z")];
    let src = RawSources {
        leads: vec![file("leads.csv", preset_frame(Preset::Hubspot, SourceKind::Leads, ""))],
        deals: vec![file("deals.csv", preset_frame(Preset::Hubspot, SourceKind::Deals, ""))],
        events: Some(vec![
            file("with_ids.csv", event(Some(&[Some("e1")]), &t[..1])),
            file("without_ids.csv", event(None, &t[1..])),
        ]),
        tables: vec![],
    };
    let config = preset_config(Preset::Hubspot, &SourceKind::ALL);
    let out = run(&config, src, &ctx()).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = out.events.column("event_id").unwrap().str().unwrap().iter().flatten().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], "e1");
    assert_eq!(ids[1].len(), 32, "{ids:?}");
    // The exact repeat of the file without ids is a duplicate of its twin.
    let events = out.report.sources.iter().find(|s| s.source == "events").unwrap();
    assert_eq!(events.rejected_by_reason.get("duplicate_id"), Some(&1), "{events:?}");
}

/// `df` as two chunks, split before row `at` (as the CSV reader cuts a long file).
fn in_two_chunks(df: &DataFrame, at: usize) -> DataFrame {
    let mut chunks = df.slice(0, at);
    chunks.vstack_mut(&df.slice(at as i64, df.height() - at)).unwrap();
    assert_eq!(chunks.column("user").unwrap().as_materialized_series().n_chunks(), 2);
    chunks
}

#[test]
fn a_file_parsed_a_chunk_at_a_time_gives_what_it_gives_whole() {
    // Lead `a` has an older version in the first chunk and its newest in the second; the second
    // holds a creation time that cannot be read and a row without an id. The two repeated events
    // (their ids derived from their content) fall in different chunks.
    let ids = [Some("a"), Some("b"), Some("c"), Some("a"), Some("d"), None];
    let created = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "not a date", "2026-01-05"].map(Some);
    let updated = [Some("2026-01-01"), None, None, Some("2026-01-10"), None, None];
    let leads = leads_frame(&ids, &created, &updated);
    let whole = run(&config(), sources(leads.clone()), &ctx()).unwrap();
    let mut chunked = sources(in_two_chunks(&leads, 3));
    chunked.events = Some(vec![file("events.csv", in_two_chunks(&events_frame(), 1))]);
    let chunked = run(&config(), chunked, &ctx()).unwrap();
    for (a, b) in [
        (&whole.leads, &chunked.leads),
        (&whole.events, &chunked.events),
        (&whole.rejects, &chunked.rejects),
        (&whole.identities, &chunked.identities),
    ] {
        assert!(a.equals_missing(b), "{a} {b}");
    }
    assert_eq!(whole.report.summary(), chunked.report.summary());
    // The rejected older version of `a` keeps its raw values, though its chunk's text was freed
    // before de-duplication.
    let rejects = &chunked.rejects;
    let reasons: Vec<Option<&str>> = rejects.column("reason").unwrap().str().unwrap().iter().collect();
    let rows: Vec<Option<u64>> = rejects.column("row").unwrap().u64().unwrap().iter().collect();
    let at =
        |reason: &str, row: u64| reasons.iter().zip(&rows).position(|(r, k)| *r == Some(reason) && *k == Some(row));
    let duplicate = at("duplicate_id", 1).unwrap_or_else(|| panic!("{rejects}"));
    let raw = rejects.column("raw").unwrap().str().unwrap().get(duplicate).unwrap_or_default().to_string();
    assert!(raw.contains(r#""id":"a""#) && raw.contains(r#""created":"2026-01-01""#), "{raw}");
    assert!(at("unparsable_timestamp", 5).is_some() && at("missing_id", 6).is_some(), "{rejects}");
    assert_eq!(chunked.events.height(), 2, "the repeated event is rejected as a duplicate");
}
