//! The closed loop over several run dates on one export: new conversions, a re-score that
//! disqualifies (retraction) or revalues (restatement), a lead deleted in the CRM (retraction),
//! deals closing (restatement to the deal's value; Meta's next stage), a late conversion, a re-run
//! that sends nothing new, and the platforms' final values reconciled with leadscore's.

use std::collections::BTreeMap;

use super::*;

/// A lead of the scenario: id, created, click id, e-mail.
const LEADS: [(&str, i64, Option<&str>, &str); 4] = [
    ("A", D - 5 * HOUR, Some("gA"), "a@x.io"),
    ("B", D - 4 * HOUR, Some("gB"), "b@x.io"),
    ("C", D - 3 * HOUR, None, "c@x.io"),
    ("E", D - 2 * HOUR, None, "e@x.io"),
];

const CLOSED_LOOP: &str = "adjustment_window_days = 30\nsend_late_conversions = true\n";

/// One run date: who is scored (qualified, predicted value), who left the CRM, who converted
/// (when, deal value).
struct Day<'a> {
    date: &'a str,
    scored: &'a [(&'a str, bool, f64)],
    gone: &'a [&'a str],
    converted: &'a [(&'a str, i64, f64)],
}

fn start(date: &str) -> i64 {
    date.parse::<RunDate>().unwrap().start_micros(chrono_tz::UTC)
}

fn day_inputs(day: &Day<'_>, ledger: Option<(RunDate, DataFrame)>) -> ExportInputs {
    // A filler lead scored every day, unqualified: a run always has scored leads.
    let filler = format!("F{}", day.date);
    let filler_at = start(day.date) - 3 * HOUR;
    let mut known: Vec<(&str, i64, Option<&str>, &str)> =
        LEADS.iter().copied().filter(|l| !day.gone.contains(&l.0)).collect();
    known.push((filler.as_str(), filler_at, None, "f@x.io"));
    let created_of = |id: &str| known.iter().find(|l| l.0 == id).map_or(filler_at, |l| l.1);
    let mut scored: Vec<(&str, bool, f64)> = day.scored.to_vec();
    scored.push((filler.as_str(), false, 1.0));
    let ids: Vec<&str> = scored.iter().map(|s| s.0).collect();
    let created: Vec<i64> = ids.iter().map(|id| created_of(id)).collect();
    let scores = DataFrame::new_infer_height(vec![
        Column::new(s::LEAD_ID.into(), ids.clone()),
        Column::new(s::USER_ID.into(), ids.iter().map(|id| format!("u-{id}")).collect::<Vec<_>>()),
        Column::new(s::CLIENT_ID.into(), vec![None::<&str>; ids.len()]),
        ts(created).with_name(s::CREATED_AT.into()),
        Column::new(s::MODEL_ID.into(), vec!["m1"; ids.len()]),
        Column::new(s::PROBABILITY.into(), vec![0.3; ids.len()]),
        Column::new(s::SCORE.into(), vec![80.0; ids.len()]),
        Column::new(s::SEGMENT.into(), vec!["good"; ids.len()]),
        Column::new(s::QUALIFIED.into(), scored.iter().map(|s| s.1).collect::<Vec<_>>()),
    ])
    .unwrap();
    let values = DataFrame::new_infer_height(vec![
        Column::new(v::LEAD_ID.into(), ids),
        Column::new(v::PREDICTED_VALUE.into(), scored.iter().map(|s| s.2).collect::<Vec<_>>()),
        Column::new(v::CURRENCY.into(), vec!["EUR"; scored.len()]),
    ])
    .unwrap();
    let ids: Vec<&str> = known.iter().map(|l| l.0).collect();
    let created: Vec<i64> = known.iter().map(|l| l.1).collect();
    let leads = DataFrame::new_infer_height(vec![
        Column::new(leads::LEAD_ID.into(), ids.clone()),
        ts(created.clone()).with_name(leads::CREATED_AT.into()),
        Column::new(leads::USER_ID.into(), ids.iter().map(|id| format!("u-{id}")).collect::<Vec<_>>()),
        Column::new(leads::CLIENT_ID.into(), vec![None::<&str>; ids.len()]),
        Column::new(leads::GCLID.into(), known.iter().map(|l| l.2).collect::<Vec<_>>()),
        Column::new(leads::FBCLID.into(), vec![None::<&str>; ids.len()]),
        Column::new(leads::META_LEAD_ID.into(), vec![None::<&str>; ids.len()]),
        Column::new("country".into(), vec![None::<&str>; ids.len()]),
    ])
    .unwrap();
    let mut columns =
        vec![Column::new(id::LEAD_ID.into(), ids.clone()), ts(created.clone()).with_name(id::CREATED_AT.into())];
    let digests: Vec<Digests> =
        known.iter().map(|l| Digests::of(&Raw { email: Some(l.3), ..Raw::default() })).collect();
    for name in id::DIGESTS {
        columns.push(Column::new(
            name.into(),
            digests.iter().map(|d| d.get(name).map(str::to_string)).collect::<Vec<_>>(),
        ));
    }
    let identities = DataFrame::new_infer_height(columns).unwrap();
    let labels = labels(&ids, &created, day.converted);
    ExportInputs { scores, values, leads, identities, labels, ledger }
}

fn run_day(day: &Day<'_>, ledger: Option<(RunDate, DataFrame)>) -> ExportOutputs {
    let ctx = RunContext { run_date: day.date.parse().unwrap(), ..ctx() };
    run(&config(&format!("{COUNTRY}{CLOSED_LOOP}")), &day_inputs(day, ledger), &ctx).unwrap()
}

/// The changes of one format: reason → lead ids.
fn changes(out: &ExportOutputs, format: &str) -> BTreeMap<String, Vec<String>> {
    let f = out.report.formats.iter().find(|f| f.format == format).unwrap();
    f.changes.iter().map(|c| (c.reason.name().to_string(), c.lead_ids.clone())).collect()
}

fn body(out: &ExportOutputs, name: &str) -> Vec<csv::StringRecord> {
    let text = text(out, name);
    let rest: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    csv::Reader::from_reader(rest.as_bytes()).records().map(Result::unwrap).collect()
}

fn json(out: &ExportOutputs, name: &str) -> serde_json::Value {
    serde_json::from_slice(file(out, name)).unwrap()
}

fn has(out: &ExportOutputs, name: &str) -> bool {
    out.files.iter().any(|(n, _, _)| n == name)
}

/// What Google holds per order id after the files of `runs`, in order: new conversions set a
/// value, a restatement replaces it, a retraction makes it 0 and is final; a restatement whose
/// adjustment time is not after the conversion's and the previous adjustment's is ignored.
fn google_replay(runs: &[&ExportOutputs]) -> BTreeMap<String, f64> {
    let mut held: BTreeMap<String, (f64, String, bool)> = BTreeMap::new();
    for out in runs {
        if has(out, "google_ads_enhanced_conversions_0001.json") {
            for c in json(out, "google_ads_enhanced_conversions_0001.json")["conversions"].as_array().unwrap() {
                let (id, t) = (c["orderId"].as_str().unwrap(), c["conversionDateTime"].as_str().unwrap());
                held.entry(id.to_string()).or_insert((c["conversionValue"].as_f64().unwrap(), t.to_string(), false));
            }
        }
        if !has(out, "google_ads_enhanced_adjustments_0001.json") {
            continue;
        }
        for a in json(out, "google_ads_enhanced_adjustments_0001.json")["conversionAdjustments"].as_array().unwrap() {
            let held = held.get_mut(a["orderId"].as_str().unwrap()).expect("an adjustment of a conversion sent");
            let at = a["adjustmentDateTime"].as_str().unwrap().to_string();
            assert!(at > held.1, "adjustment time {at} not after {}", held.1);
            if held.2 {
                continue;
            }
            match a["adjustmentType"].as_str().unwrap() {
                "RETRACTION" => *held = (0.0, at, true),
                "RESTATEMENT" => *held = (a["restatementValue"]["adjustedValue"].as_f64().unwrap(), at, false),
                other => panic!("adjustment type {other}"),
            }
        }
    }
    held.into_iter().map(|(k, v)| (k, v.0)).collect()
}

fn ledger_values(out: &ExportOutputs, destination: &str) -> BTreeMap<String, (f64, String)> {
    let l = &out.ledger;
    let dest = l.column("destination").unwrap().str().unwrap().clone();
    let lead = l.column("lead_id").unwrap().str().unwrap().clone();
    let value = l.column("value").unwrap().f64().unwrap().clone();
    let state = l.column("state").unwrap().str().unwrap().clone();
    (0..l.height())
        .filter(|i| dest.get(*i) == Some(destination))
        .map(|i| (lead.get(i).unwrap().to_string(), (value.get(i).unwrap(), state.get(i).unwrap().to_string())))
        .collect()
}

fn parquet(df: &DataFrame) -> Vec<u8> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).finish(&mut df.clone()).unwrap();
    buf
}

#[test]
fn a_conversion_sent_is_kept_true_on_every_platform_over_the_window() {
    let day1 = Day {
        date: "2026-03-01",
        scored: &[("A", true, 100.0), ("B", true, 200.0), ("C", true, 50.0), ("E", false, 10.0)],
        gone: &[],
        converted: &[],
    };
    let d1 = run_day(&day1, None);
    assert_eq!(ledger_values(&d1, "google_enhanced").len(), 3);
    assert_eq!(ledger_values(&d1, "google_click").len(), 2, "only A and B have a click id");
    assert!(changes(&d1, "google_enhanced").is_empty());
    let enhanced = d1.report.formats.iter().find(|f| f.format == "google_enhanced").unwrap();
    assert_eq!(enhanced.new_lead_ids, ["A", "B", "C"]);

    // Day 3: a re-score disqualifies A and revalues B.
    let day3 = Day {
        date: "2026-03-03",
        scored: &[("A", false, 100.0), ("B", true, 250.0), ("C", true, 50.0), ("E", false, 10.0)],
        gone: &[],
        converted: &[],
    };
    let d3 = run_day(&day3, Some(("2026-03-01".parse().unwrap(), d1.ledger.clone())));
    for format in ["google_enhanced", "google_click", "custom"] {
        let c = changes(&d3, format);
        assert_eq!(c.get("disqualified"), Some(&vec!["A".to_string()]), "{format}");
        assert_eq!(c.get("rescored"), Some(&vec!["B".to_string()]), "{format}");
    }
    assert!(changes(&d3, "meta_capi").is_empty(), "Meta has no retraction or restatement");
    let enhanced = body(&d3, "google_ads_enhanced_adjustments.csv");
    assert_eq!(
        enhanced.iter().map(|r| (r[3].to_string(), r[4].to_string(), r[5].to_string())).collect::<Vec<_>>(),
        [("RETRACT".into(), String::new(), String::new()), ("RESTATE".into(), "250.00".into(), "EUR".into())]
    );
    // The columns of Google's adjustment upload template, after its parameters row.
    let header = |name: &str| text(&d3, name).lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(
        header("google_ads_enhanced_adjustments.csv"),
        "Parameters:TimeZone=Europe/Amsterdam\nOrder ID,Conversion Name,Adjustment Time,Adjustment Type,Adjusted \
         Value,Adjusted Value Currency"
    );
    assert_eq!(
        header("google_ads_click_adjustments.csv"),
        "Parameters:TimeZone=Europe/Amsterdam\nGoogle Click ID,Conversion Name,Conversion Time,Adjustment \
         Time,Adjustment Type,Adjusted Value,Adjusted Value Currency"
    );
    let click = body(&d3, "google_ads_click_adjustments.csv");
    assert_eq!(&click[0][0], "gA");
    assert_eq!(&click[1][0], "gB");
    // The conversion's time as sent (the lead's creation, local time), the adjustment's after it.
    assert_eq!((&click[1][2], &click[1][3]), ("2026-02-28 21:00:00", "2026-03-03 00:00:00"));
    // New conversions and adjustments are in separate files; nothing is sent twice.
    assert_eq!(body(&d3, "google_ads_click_conversions.csv").len(), 0);
    assert!(!has(&d3, "google_ads_enhanced_conversions_0001.json"));
    // The custom shape upserts: the changed rows with their reason and adjustment time.
    let custom = text(&d3, "qualified_leads.csv");
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(custom.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((&rows[0][5], &rows[0][3], &rows[0][8]), ("false", "0.00", "disqualified"));
    assert_eq!((&rows[1][5], &rows[1][3], &rows[1][8]), ("true", "250.00", "rescored"));
    // The run date's start in the project's time zone, written in UTC.
    assert_eq!(&rows[1][9], "2026-03-02T23:00:00Z");

    // Day 5: C was deleted in the CRM; nobody of the window is re-scored.
    let day5 = Day { date: "2026-03-05", scored: &[], gone: &["C"], converted: &[] };
    let d5 = run_day(&day5, Some(("2026-03-03".parse().unwrap(), d3.ledger.clone())));
    assert_eq!(changes(&d5, "google_enhanced").get("deleted"), Some(&vec!["C".to_string()]));
    let f = d5.report.formats.iter().find(|f| f.format == "google_enhanced").unwrap();
    assert_eq!(f.unchanged, 2, "A stays retracted, B as restated");

    // Day 10: B's deal closes; E converts although it was never qualified.
    let closes = start("2026-03-09") + 12 * HOUR;
    let day10 = Day {
        date: "2026-03-10",
        scored: &[],
        gone: &["C"],
        converted: &[("B", closes, 5000.0), ("E", closes + HOUR, 800.0)],
    };
    let d10 = run_day(&day10, Some(("2026-03-05".parse().unwrap(), d5.ledger.clone())));
    assert_eq!(changes(&d10, "google_enhanced").get("converted"), Some(&vec!["B".to_string()]));
    assert_eq!(changes(&d10, "google_click").get("converted"), Some(&vec!["B".to_string()]));
    let new: Vec<serde_json::Value> =
        text(&d10, "google_ads_enhanced_conversions.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(new.len(), 1, "E, a late conversion");
    assert_eq!(new[0]["conversionValue"], 800.0);
    let meta = json(&d10, "meta_capi_0001.json");
    let events: Vec<(String, i64, f64)> = meta["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e["custom_data"]["value"].as_f64().unwrap();
            (e["event_name"].as_str().unwrap().to_string(), e["event_time"].as_i64().unwrap(), value)
        })
        .collect();
    assert_eq!(
        events,
        [
            ("Converted".to_string(), (closes + HOUR) / 1_000_000, 800.0),
            ("Converted".to_string(), closes / 1_000_000, 5000.0)
        ]
    );

    // A re-run of day 10 (from the same earlier ledger) sends nothing new: the same bytes.
    let again = run_day(&day10, Some(("2026-03-05".parse().unwrap(), d5.ledger.clone())));
    assert_eq!(again.files, d10.files);
    assert_eq!(parquet(&again.ledger), parquet(&d10.ledger));

    // Day 12: nothing changed, nothing is sent.
    let day12 = Day { date: "2026-03-12", scored: &[], gone: &["C"], converted: day10.converted };
    let d12 = run_day(&day12, Some(("2026-03-10".parse().unwrap(), d10.ledger.clone())));
    let platforms = d12.report.formats.iter().filter(|f| f.format != "hubspot");
    assert!(platforms.clone().all(|f| f.changes.is_empty() && f.exported == 0), "{:?}", d12.report);
    assert!(platforms.clone().all(|f| f.unchanged > 0), "{:?}", d12.report);
    assert_eq!(body(&d12, "google_ads_enhanced_adjustments.csv").len(), 0);

    // Reconciled: what Google ends with is leadscore's final value for every lead.
    let held = google_replay(&[&d1, &d3, &d5, &d10, &d12]);
    let ledger = ledger_values(&d12, "google_enhanced");
    let final_value: BTreeMap<&str, f64> = [("A", 0.0), ("B", 5000.0), ("C", 0.0), ("E", 800.0)].into();
    assert_eq!(ledger.len(), 4);
    let order_of =
        |lead: &str| leadscore_core::digest::stable_id(&["leadscore", "google_enhanced", "Qualified lead", lead]);
    for (lead, (value, state)) in &ledger {
        assert_eq!(*value, final_value[lead.as_str()], "{lead} ({state})");
        assert_eq!(held[&order_of(lead)], *value, "{lead}: Google holds another value than the ledger");
    }
}

#[test]
fn leads_leave_the_ledger_with_the_window_and_no_window_means_no_adjustments() {
    let day1 = Day { date: "2026-03-01", scored: &[("A", true, 100.0)], gone: &[], converted: &[] };
    let d1 = run_day(&day1, None);
    // 31 days later A is out of the 30-day window: forgotten, never adjusted again.
    let later = Day { date: "2026-04-01", scored: &[], gone: &["A"], converted: &[] };
    let out = run_day(&later, Some(("2026-03-01".parse().unwrap(), d1.ledger.clone())));
    assert!(ledger_values(&out, "google_enhanced").is_empty());
    assert!(changes(&out, "google_enhanced").is_empty());
    // With `adjustment_window_days = 0` every run sends its qualified leads, no adjustment file.
    let ctx = RunContext { run_date: "2026-03-03".parse().unwrap(), ..ctx() };
    let day3 = Day { date: "2026-03-03", scored: &[("A", false, 100.0)], gone: &[], converted: &[] };
    let inputs = day_inputs(&day3, Some(("2026-03-01".parse().unwrap(), d1.ledger.clone())));
    let off = run(&config(&format!("{COUNTRY}adjustment_window_days = 0\n")), &inputs, &ctx).unwrap();
    assert!(!has(&off, "google_ads_enhanced_adjustments.csv"));
    assert!(off.report.formats.iter().all(|f| f.changes.is_empty()));
}

#[test]
fn crm_write_back_has_every_scored_lead_under_the_configured_names() {
    let day1 = Day { date: "2026-03-01", scored: &[("A", true, 100.0), ("E", false, 10.5)], gone: &[], converted: &[] };
    let ctx = RunContext { run_date: "2026-03-01".parse().unwrap(), ..ctx() };
    let extra = "formats = [\"hubspot\", \"salesforce\"]\ncrm_field_prefix = \"ls_\"\n";
    let out = run(&config(&format!("{COUNTRY}{extra}")), &day_inputs(&day1, None), &ctx).unwrap();
    let hubspot = text(&out, "hubspot_contacts_import.csv");
    let mut lines = hubspot.lines();
    assert_eq!(
        lines.next(),
        Some("Record ID,ls_score,ls_segment,ls_probability,ls_predicted_value,ls_qualified,ls_reasons")
    );
    assert_eq!(lines.next(), Some("A,80,good,0.3000,100.00,true,"));
    assert_eq!(lines.count(), 2, "E and the filler: every scored lead, qualified or not");
    let salesforce = text(&out, "salesforce_bulk_leads.csv");
    assert!(salesforce.starts_with(
        "Id,ls_score__c,ls_segment__c,ls_probability__c,ls_predicted_value__c,ls_qualified__c,ls_reasons__c\n"
    ));
    assert!(!salesforce.contains('\r'), "Bulk API 2.0 files end lines with LF");
}

#[test]
fn google_is_not_sent_adjustments_of_conversions_older_than_54_days() {
    let extra = format!("{COUNTRY}adjustment_window_days = 53\nupload_within_hours = 168\n");
    let run_with = |day: &Day<'_>, ledger| {
        let ctx = RunContext { run_date: day.date.parse().unwrap(), ..ctx() };
        run(&config(&extra), &day_inputs(day, ledger), &ctx).unwrap()
    };
    let d1 = run_with(&Day { date: "2026-03-01", scored: &[("A", true, 100.0)], gone: &[], converted: &[] }, None);
    // 52 days after A was created its deal closes; the files go out up to 7 days later: too old
    // for Google, not for the custom shape (a table of your own).
    let closes = start("2026-04-20");
    let late = Day { date: "2026-04-21", scored: &[], gone: &[], converted: &[("A", closes, 900.0)] };
    let out = run_with(&late, Some(("2026-03-01".parse().unwrap(), d1.ledger.clone())));
    assert_eq!(refused(&out, "google_enhanced"), [("A".to_string(), "google_adjustment_too_old".to_string())]);
    assert!(changes(&out, "google_enhanced").is_empty());
    assert_eq!(body(&out, "google_ads_enhanced_adjustments.csv").len(), 0);
    assert_eq!(changes(&out, "custom").get("converted"), Some(&vec!["A".to_string()]));
    // The ledger still says what Google holds: the value first sent.
    assert_eq!(ledger_values(&out, "google_enhanced")["A"], (100.0, "sent".to_string()));
}
