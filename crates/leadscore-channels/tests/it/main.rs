//! Tests of the channel table and the spend join (the whole stage and `report channels` run in
//! tests/channels.rs at the workspace root).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use leadscore_channels::spend::{self, SpendTable};
use leadscore_channels::table::{self, ChannelRow, Facts, Settings};
use leadscore_core::config::Spend;
use leadscore_core::currency::Rates;
use polars::prelude::*;

/// Monday 2026-10-05 and the Mondays after it, in days since 1970-01-01.
fn week(k: i32) -> i32 {
    table::days_since_epoch(NaiveDate::from_ymd_opt(2026, 10, 5).expect("date")) + 7 * k
}

/// One lead: (campaign, week, qualified, predicted value, matured, converted, actual value).
type L = (Option<&'static str>, i32, bool, f64, bool, bool, f64);

fn facts(leads: &[L]) -> Facts {
    let campaigns: StringChunked = leads.iter().map(|l| l.0).collect();
    Facts {
        week: leads.iter().map(|l| l.1).collect(),
        dimensions: vec![("utm_campaign".into(), campaigns.with_name("by_utm_campaign".into()))],
        google_click: leads.iter().map(|l| l.0 == Some("brand_de")).collect(),
        meta_click: vec![false; leads.len()],
        probability: leads.iter().map(|l| if l.2 { 0.3 } else { 0.05 }).collect(),
        qualified: leads.iter().map(|l| l.2).collect(),
        predicted_value: leads.iter().map(|l| l.3).collect(),
        matured: leads.iter().map(|l| l.4).collect(),
        converted: leads.iter().map(|l| l.5).collect(),
        actual_value: leads.iter().map(|l| l.6).collect(),
    }
}

fn settings<'a>(spend: Option<(&'a SpendTable, &'a str)>) -> Settings<'a> {
    Settings { min_leads: 3, currency: "EUR", seed: 42, spend }
}

fn total<'a>(t: &'a table::Table, dimension: &str, channel: &str) -> &'a ChannelRow {
    t.rankings
        .iter()
        .find(|r| r.dimension == dimension)
        .and_then(|r| r.channels.iter().find(|c| c.channel == channel))
        .unwrap_or_else(|| panic!("no {dimension} = {channel}"))
}

#[test]
fn a_lead_inside_its_window_is_neither_a_conversion_nor_a_non_conversion() {
    // brand_de: two matured leads (one converted for 1000), two unmatured leads, one of which has
    // already converted: the actual figures are those of the two matured leads only.
    let t = table::build(
        &facts(&[
            (Some("brand_de"), week(0), true, 200.0, true, true, 1000.0),
            (Some("brand_de"), week(0), false, 100.0, true, false, 0.0),
            (Some("brand_de"), week(4), true, 300.0, false, true, 5000.0),
            (Some("brand_de"), week(4), false, 50.0, false, false, 0.0),
        ]),
        &settings(None),
    );
    let r = total(&t, "utm_campaign", "brand_de");
    assert_eq!((r.leads, r.matured_leads, r.actual_conversions), (4, 2, 1));
    assert_eq!(r.actual_value, 1000.0);
    assert_eq!(r.actual_value_per_lead.expect("matured leads").value, 500.0, "1000 over the 2 matured leads");
    assert_eq!(r.matured_predicted_value, 300.0, "the prediction beside it is of the same 2 leads");
    assert_eq!(r.predicted_value, 650.0);
    let recent =
        t.weekly.iter().find(|w| w.dimension == "utm_campaign" && w.week == table::day(week(4))).expect("week");
    assert_eq!((recent.matured_leads, recent.actual_conversions, recent.actual_value_per_lead), (0, 0, None));
}

#[test]
fn every_lead_is_counted_once_per_dimension_and_week_and_the_none_channel_holds_the_empty_ones() {
    let leads: Vec<L> = (0..40)
        .map(|i| {
            let c = [Some("brand_de"), Some(" Brand_DE "), None, Some(""), Some("leadgen_nl")][i % 5];
            (c, week((i % 3) as i32), i % 4 == 0, 10.0 * i as f64, i % 2 == 0, i % 8 == 0, 0.0)
        })
        .collect();
    let t = table::build(&facts(&leads), &settings(None));
    for dimension in ["utm_campaign", "google_click", "meta_click"] {
        for k in 0..3 {
            let n: u64 = t
                .weekly
                .iter()
                .filter(|r| r.dimension == dimension && r.week == table::day(week(k)))
                .map(|r| r.leads)
                .sum();
            let expected = leads.iter().filter(|l| l.1 == week(k)).count() as u64;
            assert_eq!(n, expected, "{dimension}, week {k}");
        }
    }
    // Without spend, values are grouped as written (trimmed): `brand_de` and `Brand_DE` apart.
    assert_eq!(total(&t, "utm_campaign", table::NONE).leads, 16, "null and empty campaigns");
    assert_eq!(total(&t, "utm_campaign", "brand_de").leads, 8);
    assert_eq!(total(&t, "utm_campaign", "Brand_DE").leads, 8);
}

#[test]
fn small_channels_get_wide_intervals_and_are_flagged_not_ranked() {
    let mut leads: Vec<L> = Vec::new();
    for i in 0..400 {
        leads.push((Some("big"), week(0), i % 5 == 0, if i % 10 == 0 { 1000.0 } else { 0.0 }, false, false, 0.0));
    }
    for i in 0..40 {
        leads.push((Some("medium"), week(0), i % 2 == 0, 300.0 + i as f64, false, false, 0.0));
    }
    leads.push((Some("tiny"), week(0), true, 5000.0, false, false, 0.0));
    leads.push((Some("tiny"), week(0), true, 4000.0, false, false, 0.0));
    let t = table::build(&facts(&leads), &Settings { min_leads: 30, ..settings(None) });
    let ranking = t.rankings.iter().find(|r| r.dimension == "utm_campaign").expect("ranking");
    let order: Vec<(&str, Option<u32>, bool)> =
        ranking.channels.iter().map(|c| (c.channel.as_str(), c.rank, c.too_small)).collect();
    // `tiny` has the highest value per lead, but two leads cannot be ranked.
    assert_eq!(order, [("medium", Some(1), false), ("big", Some(2), false), ("tiny", None, true)]);
    let width = |c: &str| {
        let e = total(&t, "utm_campaign", c).qualified_share.expect("leads");
        assert!(e.low <= e.value && e.value <= e.high);
        e.high - e.low
    };
    assert!(width("tiny") > 3.0 * width("big"), "{} vs {}", width("tiny"), width("big"));
    let big = total(&t, "utm_campaign", "big").predicted_value_per_lead.expect("leads");
    assert!(big.low < 100.0 && 100.0 < big.high, "{big:?}");
}

const SPEND: &str = "Campaign report\n\"October 5, 2026 - October 18, 2026\"\nDay,Campaign,Currency code,Cost\n\
2026-10-05,brand_de,EUR,\"1,000.00\"\n\
2026-10-06,Brand_DE,EUR,500.00\n\
2026-10-12,brand_de,EUR,300\n\
2026-10-06,leadgen_gb,GBP,100.00\n\
2026-10-07,display_awareness,EUR,250.00\n\
2026-09-30,brand_de,EUR,999.00\n\
Total: Account,--,--,--\n";

fn spend_config() -> Spend {
    Spend {
        path: "spend.csv".into(),
        join_on: "utm_campaign".into(),
        date_column: None,
        campaign_column: None,
        cost_column: None,
        currency_column: None,
        currency: None,
    }
}

fn rates() -> Rates {
    Rates::new("EUR", BTreeMap::from([("GBP".to_string(), 1.2)]))
}

fn range() -> (NaiveDate, NaiveDate) {
    (NaiveDate::from_ymd_opt(2026, 10, 5).expect("date"), NaiveDate::from_ymd_opt(2026, 10, 18).expect("date"))
}

fn read_spend(dir: &Path, text: &str) -> leadscore_channels::Result<SpendTable> {
    let path = dir.join("spend.csv");
    std::fs::write(&path, text).expect("write");
    spend::read(&path, &spend_config(), &rates(), range())
}

#[test]
fn spend_joins_by_campaign_and_week_and_both_sides_unmatched_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = read_spend(dir.path(), SPEND).expect("spend");
    let a = &s.accounting;
    assert_eq!((a.rows, a.used, a.outside_range, a.total_rows), (7, 5, 1, 1), "{a:?}");
    assert!((a.cost - (1000.0 + 500.0 + 300.0 + 120.0 + 250.0)).abs() < 1e-9, "GBP at 1.2: {}", a.cost);
    let leads: Vec<L> = vec![
        (Some("BRAND_DE"), week(0), true, 2000.0, false, false, 0.0),
        (Some("brand_de"), week(0), false, 1000.0, false, false, 0.0),
        (Some("brand_de"), week(0), false, 0.0, false, false, 0.0),
        (Some("leadgen_gb"), week(0), true, 600.0, true, true, 900.0),
        (Some("newsletter_oct"), week(0), false, 10.0, false, false, 0.0),
    ];
    let t = table::build(&facts(&leads), &settings(Some((&s, "utm_campaign"))));
    // Leads and spend meet case-blind; the channel keeps the name the leads first gave it.
    let brand = total(&t, "utm_campaign", "BRAND_DE");
    assert_eq!((brand.leads, brand.qualified), (3, 1));
    assert_eq!(brand.cost, Some(1800.0));
    assert_eq!(brand.cost_per_lead, Some(600.0));
    assert_eq!(brand.cost_per_qualified_lead, Some(1800.0));
    assert_eq!(brand.predicted_roas, Some(3000.0 / 1800.0));
    assert_eq!(brand.actual_roas, None, "no lead has matured");
    // Week 1 spent on brand_de without a lead: a row of no leads carries the cost.
    let w1 = t.weekly.iter().find(|r| r.channel == "BRAND_DE" && r.week == table::day(week(1))).expect("week 1 row");
    assert_eq!((w1.leads, w1.cost, w1.predicted_roas), (0, Some(300.0), Some(0.0)));
    let gb = total(&t, "utm_campaign", "leadgen_gb");
    assert_eq!((gb.cost, gb.actual_roas), (Some(120.0), Some(900.0 / 120.0)));
    let u = t.unmatched.expect("a spend file gives the unmatched lists");
    assert_eq!(u.spend_without_leads, [("display_awareness".to_string(), 250.0)]);
    assert_eq!(u.leads_without_spend, [("newsletter_oct".to_string(), 1)]);
    // Without spend in the table's dimensions: no cost on the other dimensions.
    assert!(
        t.rankings
            .iter()
            .filter(|r| r.dimension != "utm_campaign")
            .all(|r| r.channels.iter().all(|c| c.cost.is_none()))
    );
}

#[test]
fn a_bad_spend_row_is_an_error_with_its_record_and_column_and_never_its_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("Day,Campaign,Cost\n2026-10-05,brand_de,twelve-hundred-SECRET\n", "record 2, column `Cost`"),
        ("Day,Campaign,Cost\nOct-SECRET-5,brand_de,12\n", "record 2, column `Day`"),
        ("Day,Campaign,Currency code,Cost\n2026-10-05,brand_de,SECRET,12\n", "record 2, column `Currency code`"),
        ("Day,Campaign,Currency code,Cost\n2026-10-05,brand_de,JPY,12\n", "JPY has no rate"),
        ("Date;Name;Amount\n2026-10-05;SECRET;12\n", "no header found"),
        ("Day,Campaign,Cost\n2026-10-05,,12\n", "the campaign is empty"),
    ];
    for (text, expected) in cases {
        let e = read_spend(dir.path(), text).expect_err(text).to_string();
        assert!(e.contains(expected), "{e}");
        assert!(!e.contains("SECRET") && !e.contains("twelve"), "a cell's content leaked: {e}");
    }
}

#[test]
fn meta_and_semicolon_exports_are_read_with_the_currency_in_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "\u{feff}Reporting starts;Reporting ends;Campaign name;Amount spent (GBP)\n\
                2026-10-05;2026-10-05;leadgen_gb;100,00\n2026-10-19;2026-10-19;leadgen_gb;50\n";
    let s = read_spend(dir.path(), text).expect("spend");
    assert_eq!((s.accounting.used, s.accounting.outside_range), (1, 1));
    assert!((s.accounting.cost - 120.0).abs() < 1e-9);
    assert_eq!(s.campaign_totals().len(), 1);
}

#[test]
fn the_weekly_frame_has_the_declared_columns_and_kinds() {
    let t = table::build(&facts(&[(Some("brand_de"), week(0), true, 200.0, true, true, 1000.0)]), &settings(None));
    let mut df = table::frame(&t.weekly, "EUR").expect("frame");
    leadscore_core::artifact::CHANNELS.check(&df, Path::new("channels.parquet")).expect("declared columns");
    assert_eq!(df.height(), 3, "one row per dimension");
    assert_eq!(df.column("week").expect("week").dtype(), &DataType::Date);
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = leadscore_core::io::TableMeta {
        stage: "channels".into(),
        run_date: leadscore_core::RunDate::new(range().1),
        config_hash: String::new(),
    };
    leadscore_core::io::write_parquet(&dir.path().join("c.parquet"), &mut df, &meta).expect("finite values");
}

#[test]
fn no_lead_gives_an_empty_table_not_a_panic() {
    let t = table::build(&facts(&[]), &settings(None));
    assert!(t.weekly.is_empty());
    assert!(t.rankings.iter().all(|r| r.channels.is_empty()));
    assert_eq!(table::frame(&t.weekly, "EUR").expect("frame").height(), 0);
}
