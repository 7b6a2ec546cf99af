//! Integration tests of the export stage on a small fixture: every file format (snapshots), the
//! platform rules, privacy and idempotence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use leadscore_core::digest::sha256_hex;
use leadscore_core::identity::{Digests, Raw, country_iso};
use leadscore_core::schema::{identities as id, labels as la, leads, scores as s, values as v};
use leadscore_core::{Classify, Config, ExitKind, RunContext, RunDate};
use leadscore_export::{ExportError, ExportInputs, ExportOutputs, META_BATCH, Refusal, run};
use polars::prelude::*;

mod adjustments;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// 2026-03-01 00:00 UTC (01:00 in Amsterdam).
const D: i64 = 1_772_323_200_000_000;

fn config(extra: &str) -> Config {
    let text = format!(
        "[project]\nname = \"t\"\ncurrency = \"EUR\"\ntimezone = \"Europe/Amsterdam\"\n[sources]\npreset = \"hubspot\"\n[sources.leads]\npath = \"l.csv\"\n[sources.deals]\npath = \"d.csv\"\n[[attributes]]\ncolumn = \"Country/Region\"\nname = \"country\"\nkind = \"categorical\"\n{extra}"
    );
    Config::from_toml(&text, "test.toml", Path::new(".")).unwrap()
}

fn ctx() -> RunContext {
    RunContext {
        run_date: "2026-03-02".parse::<RunDate>().unwrap(),
        config_hash: "h".into(),
        seed: 1,
        retrain: false,
        partition: None,
        scope: leadscore_core::Scope::Full,
    }
}

fn ts(v: Vec<i64>) -> Column {
    Column::new("t".into(), v).cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))).unwrap()
}

/// One row per lead: (id, created, qualified, value, currency, email, phone, first, last, gclid,
/// fbclid, meta lead id, client id, country).
type Fixture<'a> = (
    &'a str,
    i64,
    bool,
    Option<f64>,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

const ROWS: &[Fixture<'static>] = &[
    // Everything present; Gmail address with dots and a suffix; international phone.
    (
        "L1",
        D - 5 * HOUR,
        true,
        Some(1234.5678),
        "EUR",
        Some(" John.Smith+ads@Gmail.com "),
        Some("+31 6 1234 5678"),
        Some("John"),
        Some("Smith"),
        Some("Cj0KCQgclid1"),
        Some("IwAR0fbclid1"),
        Some("1234567890123456"),
        Some("111.222"),
        Some("Netherlands"),
    ),
    // National phone with the country from the lead; no click ids.
    (
        "L2",
        D - 3 * HOUR,
        true,
        Some(80.0),
        "EUR",
        Some("Mary@Acme.io"),
        Some("07700 900123"),
        Some("Mary"),
        Some("O'Brien"),
        None,
        None,
        // 17 digits: not a Meta lead id (15 or 16), so left out of the event.
        Some("12345678901234567"),
        None,
        Some("United Kingdom"),
    ),
    // Not qualified.
    (
        "L3",
        D - 2 * HOUR,
        false,
        Some(5.0),
        "EUR",
        Some("x@y.io"),
        None,
        None,
        None,
        Some("gc3"),
        None,
        None,
        Some("3.3"),
        None,
    ),
    // Qualified but nothing to match on (no e-mail, phone, click ids; has a client id).
    ("L4", D - HOUR, true, Some(10.0), "EUR", None, None, Some("Ann"), None, None, None, None, Some("4.4"), None),
    // Negative value.
    (
        "L5",
        D - HOUR,
        true,
        Some(-1.0),
        "EUR",
        Some("a@b.io"),
        None,
        None,
        None,
        Some("gc5"),
        None,
        None,
        Some("5.5"),
        None,
    ),
    // Rescored from 10 days ago: qualified today, so Meta's event (the qualification) is new.
    (
        "L6",
        D - 10 * DAY,
        true,
        Some(50.0),
        "EUR",
        Some("old@corp.io"),
        None,
        None,
        None,
        Some("gc6"),
        None,
        None,
        Some("6.6"),
        None,
    ),
    // Bad currency.
    ("L7", D - HOUR, true, Some(9.0), "XXY", Some("c@d.io"), None, None, None, None, None, None, Some("7.7"), None),
    // 100 days old: too old for a Google click and for an enhanced conversion.
    (
        "L8",
        D - 100 * DAY,
        true,
        Some(7.0),
        "EUR",
        Some("e@f.io"),
        None,
        None,
        None,
        Some("gc8"),
        None,
        None,
        None,
        None,
    ),
];

fn inputs(rows: &[Fixture<'_>]) -> ExportInputs {
    let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let created: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let scores = DataFrame::new_infer_height(vec![
        Column::new(s::LEAD_ID.into(), ids.clone()),
        Column::new(s::USER_ID.into(), rows.iter().map(|r| format!("u-{}", r.0)).collect::<Vec<_>>()),
        Column::new(s::CLIENT_ID.into(), rows.iter().map(|r| r.12).collect::<Vec<_>>()),
        ts(created.clone()).with_name(s::CREATED_AT.into()),
        Column::new(s::MODEL_ID.into(), vec!["20260301-abc"; rows.len()]),
        Column::new(s::PROBABILITY.into(), vec![0.3; rows.len()]),
        Column::new(s::SCORE.into(), vec![87.0; rows.len()]),
        Column::new(s::SEGMENT.into(), vec!["very good"; rows.len()]),
        Column::new(s::QUALIFIED.into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()),
    ])
    .unwrap();
    let values = DataFrame::new_infer_height(vec![
        Column::new(v::LEAD_ID.into(), ids.clone()),
        Column::new(v::PREDICTED_VALUE.into(), rows.iter().map(|r| r.3).collect::<Vec<_>>()),
        Column::new(v::CURRENCY.into(), rows.iter().map(|r| r.4).collect::<Vec<_>>()),
    ])
    .unwrap();
    let leads = DataFrame::new_infer_height(vec![
        Column::new(leads::LEAD_ID.into(), ids.clone()),
        ts(created.clone()).with_name(leads::CREATED_AT.into()),
        Column::new(leads::USER_ID.into(), rows.iter().map(|r| format!("u-{}", r.0)).collect::<Vec<_>>()),
        Column::new(leads::CLIENT_ID.into(), rows.iter().map(|r| r.12).collect::<Vec<_>>()),
        Column::new(leads::GCLID.into(), rows.iter().map(|r| r.9).collect::<Vec<_>>()),
        Column::new(leads::FBCLID.into(), rows.iter().map(|r| r.10).collect::<Vec<_>>()),
        Column::new(leads::META_LEAD_ID.into(), rows.iter().map(|r| r.11).collect::<Vec<_>>()),
        Column::new("country".into(), rows.iter().map(|r| r.13).collect::<Vec<_>>()),
    ])
    .unwrap();
    // What ingest keeps of each lead's personal data: its digests (the lead's country places
    // national phone numbers, as `[export] phone_country_attribute` does).
    let digests: Vec<Digests> = rows
        .iter()
        .map(|r| {
            let country = r.13.and_then(country_iso);
            Digests::of(&Raw {
                email: r.5,
                phone: r.6,
                first_name: r.7,
                last_name: r.8,
                phone_country: country.as_deref(),
                ..Raw::default()
            })
        })
        .collect();
    let mut columns = vec![Column::new(id::LEAD_ID.into(), ids), ts(created).with_name(id::CREATED_AT.into())];
    for name in id::DIGESTS {
        columns.push(Column::new(
            name.into(),
            digests.iter().map(|d| d.get(name).map(str::to_string)).collect::<Vec<_>>(),
        ));
    }
    let identities = DataFrame::new_infer_height(columns).unwrap();
    let labels = no_conversions(&ids_of(rows), &rows.iter().map(|r| r.1).collect::<Vec<_>>());
    ExportInputs { scores, values, leads, identities, labels, ledger: None }
}

fn ids_of<'a>(rows: &[Fixture<'a>]) -> Vec<&'a str> {
    rows.iter().map(|r| r.0).collect()
}

/// Labels of leads none of which converted (yet).
fn no_conversions(ids: &[&str], created: &[i64]) -> DataFrame {
    labels(ids, created, &[])
}

/// Labels of leads, `converted` of which converted: (lead, when, deal value).
fn labels(ids: &[&str], created: &[i64], converted: &[(&str, i64, f64)]) -> DataFrame {
    let find = |id: &&str| converted.iter().find(|c| c.0 == *id);
    DataFrame::new_infer_height(vec![
        Column::new(la::LEAD_ID.into(), ids.to_vec()),
        ts(created.to_vec()).with_name(la::CREATED_AT.into()),
        Column::new(la::CONVERTED.into(), ids.iter().map(|id| find(id).map(|_| true)).collect::<Vec<_>>()),
        Series::new(la::FIRST_CONVERSION_AT.into(), ids.iter().map(|id| find(id).map(|c| c.1)).collect::<Vec<_>>())
            .cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
            .unwrap()
            .into(),
        Column::new(la::VALUE_IN_WINDOW.into(), ids.iter().map(|id| find(id).map(|c| c.2)).collect::<Vec<_>>()),
    ])
    .unwrap()
}

fn export(extra: &str) -> ExportOutputs {
    run(&config(extra), &inputs(ROWS), &ctx()).unwrap()
}

fn file<'a>(out: &'a ExportOutputs, name: &str) -> &'a [u8] {
    &out.files.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}

fn text(out: &ExportOutputs, name: &str) -> String {
    String::from_utf8(file(out, name).to_vec()).unwrap()
}

fn refused(out: &ExportOutputs, format: &str) -> Vec<(String, String)> {
    let f = out.refused.column("format").unwrap().str().unwrap().clone();
    let id = out.refused.column("lead_id").unwrap().str().unwrap().clone();
    let r = out.refused.column("reason").unwrap().str().unwrap().clone();
    (0..out.refused.height())
        .filter(|i| f.get(*i) == Some(format))
        .map(|i| (id.get(i).unwrap().to_string(), r.get(i).unwrap().to_string()))
        .collect()
}

/// Qualified leads with these ids, alike but for the id: an hour old, 1 EUR, an e-mail.
fn alike(ids: &[String]) -> Vec<Fixture<'_>> {
    ids.iter()
        .map(|id| {
            (
                id.as_str(),
                D - HOUR,
                true,
                Some(1.0),
                "EUR",
                Some("a@b.io"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            )
        })
        .collect()
}

const COUNTRY: &str = "[export]\nphone_country_attribute = \"country\"\ngoogle_conversion_action = \"customers/1234567890/conversionActions/987654321\"\n";

#[test]
fn google_click_csv_has_the_parameters_row_the_exact_header_and_only_click_leads() {
    let out = export(COUNTRY);
    let csv = text(&out, "google_ads_click_conversions.csv");
    insta::assert_snapshot!(csv);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Parameters:TimeZone=Europe/Amsterdam"));
    assert_eq!(
        lines.next(),
        Some("Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency")
    );
    // It parses with a standard CSV reader once the parameters row is skipped.
    let body: String = csv.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let mut r = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let gclids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    // Oldest first; no click id (L2, L4, L7) means not applicable.
    assert_eq!(gclids, ["gc6", "Cj0KCQgclid1"]);
    // Local time of the project (UTC+1 in winter), two decimals.
    assert_eq!(&rows[1][2], "2026-02-28 20:00:00");
    assert_eq!(&rows[1][3], "1234.57");
    let mut refused = refused(&out, "google_click");
    refused.sort();
    assert_eq!(refused, [("L5".into(), "invalid_value".into()), ("L8".into(), "google_click_too_old".into())]);
}

#[test]
fn google_enhanced_conversions_hash_the_normalised_email_and_phone() {
    let out = export(COUNTRY);
    let jsonl = text(&out, "google_ads_enhanced_conversions.jsonl");
    insta::assert_snapshot!(jsonl);
    let lines: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = lines.iter().find(|l| l["gclid"] == "Cj0KCQgclid1").unwrap();
    let fields: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    for f in ["orderId", "conversionAction", "conversionDateTime", "conversionValue", "currencyCode", "userIdentifiers"]
    {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert_eq!(first["conversionDateTime"], "2026-02-28 20:00:00+01:00");
    // johnsmith@gmail.com (dots and +suffix dropped), +31612345678.
    let ids = &first["userIdentifiers"];
    assert_eq!(ids[0]["hashedEmail"], sha256_hex("johnsmith@gmail.com".as_bytes()));
    assert_eq!(ids[1]["hashedPhoneNumber"], sha256_hex("+31612345678".as_bytes()));
    // The UK number is national: the lead's country gives +44.
    let uk = lines.iter().find(|l| l["conversionDateTime"] == "2026-02-28 22:00:00+01:00").unwrap();
    assert_eq!(uk["userIdentifiers"][1]["hashedPhoneNumber"], sha256_hex("+447700900123".as_bytes()));
    assert_eq!(first["conversionAction"], "customers/1234567890/conversionActions/987654321");
    let mut refused = refused(&out, "google_enhanced");
    refused.sort();
    assert_eq!(
        refused,
        [
            ("L4".into(), "no_identifier".into()),
            ("L5".into(), "invalid_value".into()),
            ("L7".into(), "invalid_currency".into()),
            ("L8".into(), "google_conversion_too_old".into())
        ]
    );
    // The same conversions as request bodies of `UploadClickConversions`.
    let request: serde_json::Value =
        serde_json::from_slice(file(&out, "google_ads_enhanced_conversions_0001.json")).unwrap();
    assert_eq!(request["partialFailure"], true);
    assert_eq!(request["conversions"].as_array().unwrap().len(), lines.len());
    assert_eq!(request["conversions"][0], lines[0]);
}

#[test]
fn google_enhanced_conversions_need_a_conversion_action_resource_name() {
    let base = "[project]\nname = \"t\"\ncurrency = \"EUR\"\n[sources]\npreset = \"hubspot\"\n[sources.leads]\npath = \"l.csv\"\n[sources.deals]\npath = \"d.csv\"\n[export]\n";
    let load = |extra: &str| Config::from_toml(&format!("{base}{extra}"), "test.toml", Path::new("."));
    // Asked for, without the key: exit 2 at load, naming it.
    let e = load("formats = [\"google_enhanced\"]\n").unwrap_err();
    assert!(e.to_string().contains("google_conversion_action"), "{e}");
    // A conversion name is not a resource name (Google rejects the whole upload).
    let e = load("google_conversion_action = \"Qualified lead\"\n").unwrap_err().to_string();
    assert!(e.contains("export.google_conversion_action") && e.contains("customers/<customer id>"), "{e}");
    for bad in ["customers/123/conversionActions/", "customers/12a/conversionActions/9", "customers/1/conversions/2"] {
        assert!(load(&format!("google_conversion_action = \"{bad}\"\n")).is_err(), "{bad}");
    }
    // Not asked for and not configured: the default formats leave enhanced conversions out.
    let c = load("").unwrap();
    assert!(!c.export.formats.contains(&leadscore_core::config::ExportFormat::GoogleEnhanced));
    let c = load("google_conversion_action = \"customers/1234567890/conversionActions/987654321\"\n").unwrap();
    assert!(c.export.formats.contains(&leadscore_core::config::ExportFormat::GoogleEnhanced));
}

#[test]
fn google_enhanced_conversions_carry_consent_and_come_in_requests_of_2000() {
    let consent = format!(
        "{COUNTRY}google_consent = {{ ad_user_data = \"granted\", ad_personalization = \"denied\" }}\n\
         google_consent_attributes = {{ ad_user_data = \"country\" }}\n"
    );
    let out = export(&consent);
    let lines: Vec<serde_json::Value> =
        text(&out, "google_ads_enhanced_conversions.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The configured consent, when the lead's attribute does not say (the country attribute is
    // no consent word, so the default applies).
    assert_eq!(lines[0]["consent"], serde_json::json!({"adUserData": "GRANTED", "adPersonalization": "DENIED"}));
    // A lead that denied the use of its data is not uploaded.
    let mut rows: Vec<Fixture<'_>> = ROWS.to_vec();
    rows[0].13 = Some("no");
    let out = run(&config(&consent), &inputs(&rows), &ctx()).unwrap();
    assert!(refused(&out, "google_enhanced").contains(&("L1".into(), "consent_denied".into())));
    // 2005 conversions: two requests, 2000 and 5.
    let names: Vec<String> = (0..2005).map(|i| format!("G{i:05}")).collect();
    let many = alike(&names);
    let out = run(&config(COUNTRY), &inputs(&many), &ctx()).unwrap();
    let sizes: Vec<usize> = out
        .files
        .iter()
        .filter(|(n, _, _)| n.starts_with("google_ads_enhanced_conversions_"))
        .map(|(_, b, _)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["conversions"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(sizes, [2000, 5]);
}

#[test]
fn meta_batches_follow_the_crm_payload_and_refuse_old_events() {
    let out = export(COUNTRY);
    let batch = text(&out, "meta_capi_0001.json");
    insta::assert_snapshot!(batch);
    let v: serde_json::Value = serde_json::from_str(&batch).unwrap();
    let data = v["data"].as_array().unwrap();
    // Oldest lead first: L8, L6, L1, L2.
    let e = data.iter().find(|e| e["user_data"]["lead_id"] == 1_234_567_890_123_456_u64).unwrap();
    for f in ["event_name", "event_time", "event_id", "action_source", "user_data", "custom_data"] {
        assert!(e.get(f).is_some(), "{f} missing");
    }
    assert_eq!(e["action_source"], "system_generated");
    assert_eq!(e["custom_data"]["event_source"], "crm");
    assert_eq!(e["custom_data"]["lead_event_source"], "HubSpot");
    // When leadscore qualified the lead (the run date's start, 2026-03-02 00:00 in Amsterdam),
    // not when it was created: a lead qualified late is still sent.
    assert_eq!(e["event_time"], (D + 23 * HOUR) / 1_000_000);
    // One person, one id: the lead's, not the account's.
    assert_eq!(e["user_data"]["external_id"][0], sha256_hex(b"L1"));
    assert_eq!(e["user_data"]["lead_id"], 1_234_567_890_123_456_u64);
    assert_eq!(e["user_data"]["fbc"], format!("fb.1.{}.IwAR0fbclid1", (D - 5 * HOUR) / 1000));
    assert_eq!(e["user_data"]["em"][0], sha256_hex("john.smith+ads@gmail.com".as_bytes()));
    // O'Brien -> obrien.
    assert!(data.iter().any(|e| e["user_data"]["ln"][0] == sha256_hex("obrien".as_bytes())));
    let mut refused = refused(&out, "meta_capi");
    refused.sort();
    assert_eq!(
        refused,
        [
            ("L4".into(), "no_identifier".into()),
            ("L5".into(), "invalid_value".into()),
            ("L7".into(), "invalid_currency".into()),
        ]
    );
    // L2's 17-digit lead id is left out (it would reject the event), and counted.
    let l2 = data.iter().find(|e| e["user_data"]["ln"][0] == sha256_hex(b"obrien")).unwrap();
    assert!(l2["user_data"].get("lead_id").is_none(), "{l2}");
    let meta = out.report.formats.iter().find(|f| f.format == "meta_capi").unwrap();
    assert_eq!(meta.dropped.get("lead_id_not_15_or_16_digits"), Some(&1));
    // external_id can be the user id instead.
    let by_user = export(&format!("{COUNTRY}external_id = \"user_id\"\n"));
    let v: serde_json::Value = serde_json::from_str(&text(&by_user, "meta_capi_0001.json")).unwrap();
    assert!(v["data"].as_array().unwrap().iter().any(|e| e["user_data"]["external_id"][0] == sha256_hex(b"u-L1")));
}

#[test]
fn meta_events_too_old_when_sent_are_refused() {
    // Sent two days after the run date with a one-day limit: every event would arrive too old.
    let out = export(&format!("{COUNTRY}meta_max_age_days = 1\nupload_within_hours = 48\n"));
    let refused = refused(&out, "meta_capi");
    assert!(refused.iter().filter(|r| r.1 == "meta_event_too_old").count() >= 4, "{refused:?}");
    assert!(!out.files.iter().any(|(n, _, _)| n.starts_with("meta_capi")), "no batch is written");
    // Meta's limit is 7 days: a larger one is a configuration error.
    let e = Config::from_toml(
        "[project]\nname = \"t\"\ncurrency = \"EUR\"\n[sources]\npreset = \"hubspot\"\n[sources.leads]\npath = \"l.csv\"\n[sources.deals]\npath = \"d.csv\"\n[export]\nmeta_max_age_days = 90\n",
        "test.toml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("meta_max_age_days") && e.contains("between 1 and 7"), "{e}");
}

/// The custom shape's columns, in the CSV and in Parquet.
const CUSTOM_COLUMNS: [&str; 10] =
    ["id", "client_id", "created", "value", "currency", "is_qualified", "params", "user_id", "reason", "adjusted_at"];

#[test]
fn custom_shape_in_parquet_and_csv() {
    let out = export("");
    let csv = text(&out, "qualified_leads.csv");
    insta::assert_snapshot!(csv);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), CUSTOM_COLUMNS);
    assert_eq!(r.records().count(), 5);
    let pq = ParquetReader::new(std::io::Cursor::new(file(&out, "qualified_leads.parquet").to_vec())).finish().unwrap();
    assert_eq!(pq.get_column_names(), CUSTOM_COLUMNS);
    assert_eq!(pq.height(), 5);
    let params = pq.column("params").unwrap().list().unwrap().get_as_series(0).unwrap();
    assert_eq!(params.len(), 4);
    // Unqualified leads only with the option.
    let all = export("[export]\ninclude_unqualified = true\n");
    let pq = ParquetReader::new(std::io::Cursor::new(file(&all, "qualified_leads.parquet").to_vec())).finish().unwrap();
    assert_eq!(pq.height(), 6);
    assert_eq!(pq.column("is_qualified").unwrap().bool().unwrap().sum(), Some(5));
}

#[test]
fn every_candidate_is_exported_refused_or_not_applicable() {
    let out = export(COUNTRY);
    for f in &out.report.formats {
        let refused: u64 = f.refused.iter().map(|r| r.leads).sum();
        assert_eq!(f.exported + refused + f.not_applicable, f.candidates, "{}", f.format);
    }
    let google = out.report.formats.iter().find(|f| f.format == "google_click").unwrap();
    assert_eq!((google.candidates, google.exported, google.not_applicable), (7, 2, 3));
    assert!(out.report.summary().contains("refused"));
    let click = out.report.formats.iter().find(|f| f.format == "google_click").unwrap();
    assert_eq!(click.refused.iter().find(|r| r.reason == Refusal::GoogleClickTooOld).unwrap().lead_ids, ["L8"]);
}

#[test]
fn no_raw_personal_data_in_any_file() {
    let out = export(COUNTRY);
    let raw: Vec<&str> = ROWS
        .iter()
        .flat_map(|r| [r.5, r.6, r.7, r.8])
        .flatten()
        .map(str::trim)
        .chain(["john.smith", "johnsmith", "612345678", "7700 900123", "7700900123", "O'Brien", "obrien"])
        .collect();
    for (name, bytes, _) in &out.files {
        let text = String::from_utf8_lossy(bytes).to_lowercase();
        for r in &raw {
            assert!(!text.contains(&r.to_lowercase()), "{name} contains {r:?}");
        }
    }
}

#[test]
fn same_inputs_same_bytes_and_ids_do_not_depend_on_row_order() {
    let a = export(COUNTRY);
    let b = export(COUNTRY);
    assert_eq!(a.files, b.files);
    let mut reversed: Vec<Fixture<'_>> = ROWS.to_vec();
    reversed.reverse();
    let c = run(&config(COUNTRY), &inputs(&reversed), &ctx()).unwrap();
    assert_eq!(a.files, c.files);
}

#[test]
fn meta_batches_hold_at_most_a_thousand_events() {
    let n = 2 * META_BATCH + 5;
    let names: Vec<String> = (0..n).map(|i| format!("M{i:05}")).collect();
    let rows = alike(&names);
    let out = run(&config(""), &inputs(&rows), &ctx()).unwrap();
    let batches: Vec<usize> = out
        .files
        .iter()
        .filter(|(n, _, _)| n.starts_with("meta_capi_"))
        .map(|(_, b, _)| serde_json::from_slice::<serde_json::Value>(b).unwrap()["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [1000, 1000, 5]);
}

#[test]
fn formats_follow_the_config_and_bad_inputs_are_clear_errors() {
    let out = export("[export]\nformats = [\"google_click\"]\n");
    let names: Vec<&str> = out.files.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["google_ads_click_conversions.csv", "google_ads_click_adjustments.csv"]);
    let bad = Config::from_toml(
        "[project]\nname = \"t\"\ncurrency = \"EUR\"\n[sources]\npreset = \"hubspot\"\n[sources.leads]\npath = \"l.csv\"\n[sources.deals]\npath = \"d.csv\"\n[export]\nformats = [\"tiktok\"]\ndefault_phone_country = \"Holland\"\n",
        "test.toml",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("unknown export format `tiktok`"), "{bad}");
    assert!(bad.contains("default_phone_country"), "{bad}");
    // A scored lead ingest does not know.
    let mut i = inputs(ROWS);
    i.leads = i.leads.slice(1, ROWS.len());
    let e = run(&config(""), &i, &ctx()).unwrap_err();
    assert!(matches!(e, ExportError::UnknownLeads { count: 1, .. }), "{e}");
    assert_eq!(e.exit_kind(), ExitKind::InputData);
    // Nothing scored: nothing to do (exit 99).
    let mut i = inputs(ROWS);
    i.scores = i.scores.clear();
    assert_eq!(run(&config(""), &i, &ctx()).unwrap_err().exit_kind(), ExitKind::NothingToDo);
}
