//! Labels on in-memory tables: golden cases and operators as data, order independence,
//! idempotence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use leadscore_core::schema::{FieldType, SourceKind, canonical_columns, conversions as c, labels as l};
use leadscore_core::time::parse_timestamp;
use leadscore_core::{Config, RunContext, RunDate};
use leadscore_labels::{LabelsInputs, run};
use polars::prelude::*;
use proptest::prelude::*;
use toml::Value;

const TZ: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;

const BASE: &str = r#"
[project]
name = "t"
currency = "EUR"
timezone = "Europe/Amsterdam"

[sources.leads]
path = "l.csv"
mapping = { lead_id = "id", created_at = "c", user_id = "u" }

[sources.deals]
path = "d.csv"
mapping = { deal_id = "id", user_id = "u", created_at = "c" }
extra = { pipeline = "p" }

[sources.events]
path = "e.csv"
mapping = { user_id = "u", name = "n", at = "a" }

[currency]
rates = { USD = 0.5 }
"#;

const WON: &str = r#"
[[conversions]]
name = "won"
source = "deals"
conditions = [{ field = "stage", op = "is", value = "won" }]
"#;

fn config(conversions: &str, target: &str, window_days: i64) -> Config {
    let text = format!("{BASE}{conversions}\n[labels]\ntarget = \"{target}\"\nwindow_days = {window_days}\n");
    Config::from_toml(&text, "test.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn ctx(run_date: &str) -> RunContext {
    RunContext {
        run_date: run_date.parse::<RunDate>().unwrap(),
        config_hash: "h".into(),
        seed: 1,
        retrain: false,
        partition: None,
        scope: leadscore_core::Scope::Full,
    }
}

fn time(v: &Value) -> Option<i64> {
    v.as_str().filter(|s| *s != "__empty__").map(|s| parse_timestamp(s, TZ).unwrap_or_else(|e| panic!("{s}: {e}")))
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| *s != "__empty__").map(str::to_string)
}

fn number(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// A canonical table from rows given as TOML tables (missing keys are empty cells).
fn table(kind: SourceKind, extra: &[&str], rows: &[Value]) -> DataFrame {
    let mut columns = Vec::new();
    let names: Vec<(String, FieldType)> = canonical_columns(kind)
        .into_iter()
        .map(|n| (n.to_string(), kind.field(n).map_or(FieldType::Amount, |f| f.ty)))
        .chain(extra.iter().map(|e| (e.to_string(), FieldType::Text)))
        .collect();
    for (name, ty) in names {
        let cells = rows.iter().map(|r| r.get(&name).cloned().unwrap_or(Value::String("__empty__".into())));
        let col = match ty {
            FieldType::Timestamp => Int64Chunked::from_iter_options(name.as_str().into(), cells.map(|v| time(&v)))
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column(),
            FieldType::Amount | FieldType::Probability => {
                Column::new(name.as_str().into(), cells.map(|v| number(&v)).collect::<Vec<_>>())
            }
            _ => Column::new(name.as_str().into(), cells.map(|v| text(&v)).collect::<Vec<_>>()),
        };
        columns.push(col);
    }
    DataFrame::new_infer_height(columns).unwrap()
}

fn array<'a>(case: &'a Value, key: &str) -> &'a [Value] {
    case.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn inputs(case: &Value) -> LabelsInputs {
    LabelsInputs {
        leads: table(SourceKind::Leads, &[], array(case, "leads")),
        deals: table(SourceKind::Deals, &["pipeline"], array(case, "deals")),
        events: table(SourceKind::Events, &[], array(case, "events")),
        tables: vec![],
    }
}

fn cases(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(file)).unwrap();
    let doc: Value = toml::from_str(&text).unwrap();
    doc.get("case").and_then(Value::as_array).cloned().unwrap()
}

fn row_of(df: &DataFrame, lead: &str) -> Option<usize> {
    df.column(l::LEAD_ID).unwrap().str().unwrap().iter().position(|x| x == Some(lead))
}

#[test]
fn golden_cases() {
    let mut failures = Vec::new();
    for case in cases("golden.toml") {
        let name = case["name"].as_str().unwrap().to_string();
        let conv = case.get("conversions").and_then(Value::as_str).unwrap_or(WON);
        let target = case.get("target").and_then(Value::as_str).unwrap_or("won");
        let window = case["window_days"].as_integer().unwrap();
        let cfg = config(conv, target, window);
        let out = run(&cfg, &inputs(&case), &ctx(case["run_date"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let df = &out.labels;
        let expect = array(&case, "expect");
        if df.height() != expect.len() {
            failures.push(format!("{name}: {} labelled leads, expected {}\n{df}", df.height(), expect.len()));
            continue;
        }
        for e in expect {
            let lead = e["lead_id"].as_str().unwrap();
            let Some(i) = row_of(df, lead) else {
                failures.push(format!("{name}: {lead} not labelled"));
                continue;
            };
            let table = e.as_table().unwrap();
            for (k, want) in table.iter().filter(|(k, _)| *k != "lead_id") {
                let got = df.column(k).unwrap().get(i).unwrap();
                let ok = match (want, &got) {
                    (Value::String(s), AnyValue::Null) if s == "null" => true,
                    (Value::Boolean(b), AnyValue::Boolean(g)) => b == g,
                    (Value::Float(f), AnyValue::Float64(g)) => (f - g).abs() < 1e-9,
                    (Value::Integer(n), AnyValue::UInt32(g)) => *n == i64::from(*g),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{name}: {lead}.{k} = {got}, expected {want}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} golden failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn operators() {
    let mut failures = Vec::new();
    for case in cases("operators.toml") {
        let mut cond = case.as_table().unwrap().clone();
        let rows = cond.remove("rows").unwrap();
        let expect: Vec<bool> =
            cond.remove("expect").unwrap().as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
        let field = cond["field"].as_str().unwrap().to_string();
        let label = format!("{} {} {:?}", field, cond["op"], cond.get("case_insensitive"));
        let conv = format!(
            "[[conversions]]\nname = \"x\"\nsource = \"deals\"\nat = \"created_at\"\nconditions = [{}]\n",
            Value::Table(cond)
        );
        let cfg = config(&conv, "x", 30);
        let deals: Vec<Value> = rows
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut t = toml::map::Map::new();
                t.insert("deal_id".into(), Value::String(format!("d{i}")));
                t.insert("user_id".into(), Value::String(format!("u{i}")));
                t.insert("created_at".into(), Value::String("2026-01-20 00:00:00".into()));
                t.insert(field.clone(), v.clone());
                Value::Table(t)
            })
            .collect();
        let mut case_tables = toml::map::Map::new();
        case_tables.insert("deals".into(), Value::Array(deals));
        let out = run(&cfg, &inputs(&Value::Table(case_tables)), &ctx("2026-03-01"))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let matched = out.conversions.lazy().filter(col(c::CONVERSION_NAME).eq(lit("x"))).collect().unwrap();
        let ids: Vec<String> =
            matched.column(c::SOURCE_ID).unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect();
        let got: Vec<bool> = (0..expect.len()).map(|i| ids.contains(&format!("d{i}"))).collect();
        if got != expect {
            failures.push(format!("{label}: matched {got:?}, expected {expect:?}"));
        }
    }
    assert!(failures.is_empty(), "{} operator failures:\n{}", failures.len(), failures.join("\n"));
}

fn random_case(leads: &[(u8, u16)], deals: &[(u8, u16, bool, u16)]) -> (LabelsInputs, Config) {
    // Leads: (user, minutes after 2026-01-01); deals: (user, minutes, won, amount).
    let base = parse_timestamp("2026-01-01T00:00:00Z", TZ).unwrap();
    let minute = 60_000_000i64;
    let leads_df = DataFrame::new_infer_height(vec![
        Column::new(l::LEAD_ID.into(), (0..leads.len()).map(|i| format!("l{i}")).collect::<Vec<_>>()),
        Column::new(l::USER_ID.into(), leads.iter().map(|(u, _)| format!("u{u}")).collect::<Vec<_>>()),
        Int64Chunked::from_vec(
            l::CREATED_AT.into(),
            leads.iter().map(|(_, m)| base + i64::from(*m) * minute * 60).collect(),
        )
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column(),
    ])
    .unwrap();
    let rows: Vec<Value> = deals
        .iter()
        .enumerate()
        .map(|(i, (u, m, won, amount))| {
            let at = chrono::DateTime::from_timestamp_micros(base + i64::from(*m) * minute * 60).unwrap().to_rfc3339();
            toml::toml! { deal_id = (format!("d{i}")) user_id = (format!("u{u}")) closed_at = at stage = (if *won { "won" } else { "lost" }) amount = (f64::from(*amount)) }
                .into()
        })
        .collect();
    let inputs = LabelsInputs {
        leads: leads_df,
        deals: table(SourceKind::Deals, &["pipeline"], &rows),
        events: table(SourceKind::Events, &[], &[]),
        tables: vec![],
    };
    (inputs, config(WON, "won", 7))
}

fn shuffled(df: &DataFrame, seed: u64) -> DataFrame {
    let n = df.height() as u64;
    let order: Vec<u32> = {
        let mut v: Vec<(u64, u32)> =
            (0..n).map(|i| ((i.wrapping_mul(6364136223846793005).wrapping_add(seed)) % 1_000_003, i as u32)).collect();
        v.sort();
        v.into_iter().map(|(_, i)| i).collect()
    };
    df.take(&IdxCa::from_vec("i".into(), order)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Shuffling the input rows changes nothing, and labelling twice gives the same table.
    #[test]
    fn labels_are_independent_of_row_order_and_idempotent(
        leads in prop::collection::vec((0u8..6, 0u16..2000), 1..30),
        deals in prop::collection::vec((0u8..6, 0u16..2200, any::<bool>(), 0u16..500), 0..30),
        seed in any::<u64>(),
    ) {
        let (inputs, cfg) = random_case(&leads, &deals);
        let ctx = ctx("2026-03-15");
        let a = run(&cfg, &inputs, &ctx).unwrap();
        let b = run(&cfg, &inputs, &ctx).unwrap();
        prop_assert!(a.labels.equals_missing(&b.labels));
        let mixed = LabelsInputs { leads: shuffled(&inputs.leads, seed), deals: shuffled(&inputs.deals, seed ^ 7), events: inputs.events.clone(), tables: vec![] };
        let c = run(&cfg, &mixed, &ctx).unwrap();
        prop_assert!(a.labels.equals_missing(&c.labels), "{}\n{}", a.labels, c.labels);
        prop_assert!(a.conversions.equals_missing(&c.conversions));
        // Never false while unmatured.
        let m = a.labels.column(l::MATURED).unwrap().bool().unwrap();
        let conv = a.labels.column(l::CONVERTED).unwrap().bool().unwrap();
        for (m, c) in m.iter().zip(conv.iter()) {
            prop_assert!(!(m == Some(false) && c == Some(false)));
            prop_assert!(!(m == Some(true) && c.is_none()));
        }
    }
}
