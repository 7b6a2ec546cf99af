//! `[sources.events] preset` on fixtures in each tool's documented export shape
//! (`tests/fixtures/events/`): Segment track calls (ISO times with their offsets, revenue and
//! currency in `properties`), Mixpanel's raw export (epoch seconds or milliseconds under
//! `properties`), Amplitude's Export API (UTC times without an offset, `$revenue` in
//! `event_properties`). The project's time zone is Amsterdam's, so a time read in the wrong zone
//! is an hour off.

use leadscore_ingest::{IngestOutputs, read_sources, run};
use polars::prelude::*;

use super::ctx;
use super::encodings::{DEALS, config, leads};

/// Ingests the encodings test's leads (users u1 to u4) and deals with the fixture
/// `<preset>.jsonl` as events.
fn ingest(preset: &str, events_keys: &str) -> IngestOutputs {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leads.csv"), leads(true)).unwrap();
    std::fs::write(dir.path().join("deals.csv"), DEALS).unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/events/{preset}.jsonl"));
    let text = format!(
        "{}\n[sources.events]\npath = \"{}\"\npreset = \"{preset}\"\n{events_keys}\n\n[currency]\nrates = {{ USD = 0.5 }}\n",
        config(""),
        fixture.display()
    );
    let config = leadscore_core::Config::from_toml(&text, "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let (sources, _) = read_sources(&config, None).unwrap_or_else(|e| panic!("{e}"));
    run(&config, sources, &ctx()).unwrap_or_else(|e| panic!("{e}"))
}

/// The events as (id, user, name, UTC time, value in EUR), in time order.
fn events(out: &IngestOutputs) -> Vec<(String, String, String, String, Option<f64>)> {
    let df = out.events.sort(["at"], SortMultipleOptions::default()).unwrap();
    let text = |c: &str| -> Vec<String> {
        df.column(c).unwrap().str().unwrap().iter().map(|v| v.unwrap_or_default().to_string()).collect()
    };
    let at = df.column("at").unwrap().datetime().unwrap().physical().clone();
    let value: Vec<Option<f64>> = df.column("value").unwrap().f64().unwrap().iter().collect();
    let (ids, users, names) = (text("event_id"), text("user_id"), text("name"));
    (0..df.height())
        .map(|i| {
            let t = leadscore_core::time::format_micros(at.get(i).unwrap());
            (ids[i].clone(), users[i].clone(), names[i].clone(), t, value[i])
        })
        .collect()
}

#[test]
fn segment_track_calls_with_their_offsets_revenue_and_currency() {
    // The fixture's `page` call has no `event`: rejected, the tracks read.
    let out = ingest("segment", "max_reject_rate = 0.5");
    let got = events(&out);
    assert_eq!(
        got,
        [
            (
                "ajs-022bb90c-bbac-11e4-8dfc-aa07a5b093db".into(),
                "u1".into(),
                "Demo Requested".into(),
                "2026-01-06T08:30:00Z".into(),
                None
            ),
            (
                "node-5f6a7b8c-0001".into(),
                "u2".into(),
                "Order Completed".into(),
                "2026-01-07T10:00:00Z".into(),
                Some(12.5)
            ),
            (
                "node-5f6a7b8c-0002".into(),
                "u3".into(),
                "Order Completed".into(),
                "2026-01-08T11:15:00Z".into(),
                Some(40.0)
            ),
        ]
    );
    let rejects = &out.rejects;
    assert_eq!(rejects.height(), 1);
    assert_eq!(rejects.column("reason").unwrap().str().unwrap().get(0), Some("missing_id"));
    assert_eq!(rejects.column("column").unwrap().str().unwrap().get(0), Some("event"));
    let row = rejects.column("row").unwrap().cast(&DataType::Int64).unwrap();
    assert_eq!(row.i64().unwrap().get(0), Some(2), "the page call is the file's second line");
}

#[test]
fn mixpanel_export_epoch_times_and_a_mapped_amount() {
    let out = ingest("mixpanel", r#"mapping = { value = "properties.Amount" }"#);
    let got = events(&out);
    let expected: [(&str, &str, &str, &str, Option<f64>); 3] = [
        ("29fc2962-6d9c-455d-95ad-95b84f09b9e4", "u1", "Signed Up", "2026-01-06T09:30:00Z", None),
        ("935d87b1-00cd-41b7-be34-b9d98dd08b42", "u2", "Purchase", "2026-01-07T10:00:00Z", Some(5.0)),
        // Milliseconds, as the import API takes them, read by their magnitude.
        ("6f1d2c3b-00cd-41b7-be34-b9d98dd08b42", "u3", "Purchase", "2026-01-08T11:15:00Z", Some(7.5)),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, b, c, d, v)| (a.to_string(), b.to_string(), c.to_string(), d.to_string(), *v))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(out.rejects.height(), 0);
}

#[test]
fn amplitude_export_times_are_utc_and_revenue_is_read() {
    let out = ingest("amplitude", "");
    let got = events(&out);
    let names: Vec<&str> = got.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(names, ["Demo Requested", "Purchase", "Pricing Viewed"]);
    let times: Vec<&str> = got.iter().map(|e| e.3.as_str()).collect();
    // UTC, not Amsterdam time (which would be an hour earlier).
    assert_eq!(times, ["2026-01-06T08:30:00Z", "2026-01-07T10:00:00Z", "2026-01-08T11:15:00Z"]);
    assert_eq!(got[1].0, "a1b2c3d4-2222-11f0-9c7a-0a58a9feac02");
    assert_eq!(got[1].4, Some(25.0));
    assert_eq!((got[0].4, got[2].4), (None, None));

    // A source's own `timezone` wins over the preset's.
    let local = ingest("amplitude", r#"timezone = "Europe/Amsterdam""#);
    assert_eq!(events(&local)[0].3, "2026-01-06T07:30:00Z");
}
