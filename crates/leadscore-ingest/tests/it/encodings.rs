//! `[sources.*] encoding` on real bytes: one export written as UTF-8, Windows-1252, ISO-8859-1
//! and UTF-16 (both byte orders, with the byte-order mark Excel writes) ingests to the same
//! tables; the wrong encoding is a reject or an error that says which setting to use.

use leadscore_core::{Classify, ExitKind};
use leadscore_ingest::{IngestError, read_sources, run};
use polars::prelude::*;

use super::ctx;

/// Leads with accented names and attributes; `€` only where the encoding has it.
pub(crate) fn leads(euro: bool) -> String {
    let budget = if euro { "€ 5k" } else { "EUR 5k" };
    format!(
        "id,created,user,title,city,budget\n\
         l1,2026-01-05 10:00:00,u1,Directrice Générale,Zürich,{budget}\n\
         l2,2026-01-06 11:00:00,u2,Jefe de Operaciones,São Paulo,{budget}\n\
         l3,2026-01-07 12:00:00,u3,Geschäftsführer,Düsseldorf,{budget}\n\
         l4,2026-01-08 09:00:00,u4,CEO,Berlin,EUR 10k\n"
    )
}

pub(crate) const DEALS: &str =
    "id,user,created,closed,stage,amount,currency\nd1,u1,2026-01-08,2026-01-20,won,100,EUR\n";

pub(crate) fn config(encoding: &str) -> String {
    format!(
        r#"
[project]
name = "t"
currency = "EUR"
timezone = "Europe/Amsterdam"

[sources.leads]
path = "leads.csv"
{encoding}
mapping = {{ lead_id = "id", created_at = "created", user_id = "user" }}

[sources.deals]
path = "deals.csv"
mapping = {{ deal_id = "id", user_id = "user", created_at = "created", closed_at = "closed", stage = "stage", amount = "amount", currency = "currency" }}

[[attributes]]
column = "title"
kind = "text"

[[attributes]]
column = "city"
kind = "categorical"

[[attributes]]
column = "budget"
kind = "categorical"
"#
    )
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mark: [u8; 2] = if little_endian { [0xFF, 0xFE] } else { [0xFE, 0xFF] };
    let units = text.encode_utf16().flat_map(|u| if little_endian { u.to_le_bytes() } else { u.to_be_bytes() });
    mark.into_iter().chain(units).collect()
}

/// Windows-1252 / ISO-8859-1 bytes of text whose every character has one.
fn single_byte(text: &str) -> Vec<u8> {
    text.chars().map(|c| if c == '€' { 0x80 } else { u8::try_from(u32::from(c)).expect("one byte") }).collect()
}

/// Ingests `leads` bytes with the `encoding` line in the leads source.
fn ingest(leads_bytes: &[u8], encoding: &str) -> Result<leadscore_ingest::IngestOutputs, IngestError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leads.csv"), leads_bytes).unwrap();
    std::fs::write(dir.path().join("deals.csv"), DEALS).unwrap();
    let cfg =
        leadscore_core::Config::from_toml(&config(encoding), "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let (sources, _) = read_sources(&cfg, None)?;
    run(&cfg, sources, &ctx())
}

fn attributes(out: &leadscore_ingest::IngestOutputs) -> DataFrame {
    out.leads.select(["lead_id", "title", "city", "budget"]).unwrap()
}

#[test]
fn every_encoding_ingests_to_the_tables_of_the_utf8_export() {
    let want = attributes(&ingest(leads(true).as_bytes(), "").unwrap());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("encoding = \"windows-1252\"", single_byte(&leads(true))),
        ("encoding = \"cp1252\"", single_byte(&leads(true))),
        ("encoding = \"utf-16\"", utf16(&leads(true), true)),
        ("encoding = \"utf-16\"", utf16(&leads(true), false)),
        ("encoding = \"utf-8\"", [b"\xEF\xBB\xBF".as_slice(), leads(true).as_bytes()].concat()),
    ];
    for (encoding, bytes) in cases {
        let out = ingest(&bytes, encoding).unwrap_or_else(|e| panic!("{encoding}: {e}"));
        assert_eq!(out.report.sources[0].rejected, 0, "{encoding}");
        assert!(attributes(&out).equals_missing(&want), "{encoding}: {}", attributes(&out));
    }
    // ISO-8859-1 has no `€`: the export without it reads the same as its UTF-8 text.
    let want = attributes(&ingest(leads(false).as_bytes(), "").unwrap());
    let out = ingest(&single_byte(&leads(false)), "encoding = \"latin-1\"").unwrap();
    assert!(attributes(&out).equals_missing(&want));
}

#[test]
fn the_wrong_encoding_says_which_setting_reads_the_file() {
    // Windows-1252 bytes read as UTF-8: the rows are rejected, naming the setting.
    let out = ingest(&single_byte(&leads(true)), "max_reject_rate = 1.0").unwrap();
    let reasons = out.rejects.column("reason").unwrap().str().unwrap().iter().flatten().collect::<Vec<_>>();
    assert_eq!(reasons, ["invalid_encoding"; 3]);
    let detail = out.rejects.column("detail").unwrap().str().unwrap().get(0).unwrap().to_string();
    assert!(detail.contains("`encoding`") && detail.contains("windows-1252"), "{detail}");
    assert!(!detail.contains("Zürich") && !detail.contains("Directrice"), "no value is quoted: {detail}");

    // A UTF-16 file without the setting fails, saying which setting reads it.
    let e = ingest(&utf16(&leads(true), true), "").map(|_| ()).unwrap_err();
    assert_eq!(e.exit_kind(), ExitKind::InputData);
    assert!(e.to_string().contains("encoding = \"utf-16\""), "{e}");

    // UTF-16 declared without a byte-order mark: the byte order is unknown.
    let no_mark: Vec<u8> = utf16(&leads(true), true).split_off(2);
    let e = ingest(&no_mark, "encoding = \"utf-16\"").map(|_| ()).unwrap_err();
    assert_eq!(e.exit_kind(), ExitKind::InputData);
    assert!(e.to_string().contains("byte-order mark") && e.to_string().contains("leads.csv"), "{e}");
}

#[test]
fn an_unknown_encoding_is_a_config_error_listing_the_known_ones() {
    let e = leadscore_core::Config::from_toml(&config("encoding = \"ebcdic\""), "t.toml", std::path::Path::new("."))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown encoding `ebcdic`") && e.contains("windows-1252") && e.contains("utf-16"), "{e}");
}
