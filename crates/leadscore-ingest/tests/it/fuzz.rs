//! Fuzzing the parsers with arbitrary bytes (proptest): the CSV and JSON Lines readers, the
//! timestamp parser, and ingest as a whole on a CSV whose body is arbitrary. None may panic, an
//! error may never be an internal one, and every record read is a row or an unreadable record.
//!
//! CI runs the default 256 cases per property. For a longer run:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --profile quick-release --workspace --test it -- fuzz
//! ```
//! (The conversion-logic parser has its own properties in `leadscore-core`'s `config::logic`.)

use leadscore_core::config::{FileFormat, TextEncoding};
use leadscore_core::time::{END_MICROS, MIN_MICROS, parse_timestamp};
use leadscore_core::{Classify, ExitKind};
use leadscore_ingest::{RawSources, read_file, run};
use proptest::prelude::*;

use super::{config_with, ctx, file};

/// Bytes that stress a CSV reader: delimiters, quotes, line ends, NUL, invalid UTF-8, a BOM,
/// multi-byte characters and plain text.
fn csv_byte() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b",".to_vec()),
        3 => Just(b"\"".to_vec()),
        3 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(vec![0xFF]),
        1 => Just(vec![0xC3]),
        1 => Just(b"\xEF\xBB\xBF".to_vec()),
        1 => Just("é".as_bytes().to_vec()),
        1 => Just(b"2026-01-05".to_vec()),
        1 => Just(b"1767600000000".to_vec()),
        1 => Just(b"-9000000000000000000".to_vec()),
        1 => Just(b"1.7e308".to_vec()),
        6 => "[a-z0-9 ._@+-]{1,6}".prop_map(String::into_bytes),
        2 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(csv_byte(), 0..max).prop_map(|parts| parts.concat())
}

fn json_byte() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"{\"id\":\"a\",\"n\":1}".to_vec()),
        2 => Just(b"{".to_vec()),
        2 => Just(b"}".to_vec()),
        2 => Just(b"\"".to_vec()),
        2 => Just(b":".to_vec()),
        2 => Just(b",".to_vec()),
        3 => Just(b"\n".to_vec()),
        1 => Just(b"[1,2]".to_vec()),
        1 => Just(b"true".to_vec()),
        1 => Just(b"1e999".to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(vec![0xFF]),
        4 => "[a-z0-9 ]{1,6}".prop_map(String::into_bytes),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

/// Reads `content` as a file of `format`; checks the accounting when it can be read.
fn read_back(content: &[u8], format: FileFormat, name: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join(name);
    std::fs::write(&path, content).map_err(|e| TestCaseError::fail(e.to_string()))?;
    match read_file(&path, format, b',', TextEncoding::Utf8) {
        Ok(f) => {
            prop_assert_eq!(f.records_read(), (f.frame.height() + f.unreadable.len()) as u64);
            let rows: Vec<u64> = (0..f.frame.height()).map(|i| f.record(i)).collect();
            prop_assert!(rows.windows(2).all(|w| w[0] < w[1]), "record numbers must increase: {:?}", rows);
            for u in &f.unreadable {
                prop_assert!(!rows.contains(&u.record), "record {} is both a row and unreadable", u.record);
            }
        }
        Err(e) => prop_assert_ne!(e.exit_kind(), ExitKind::Internal, "an internal error: {}", e),
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_csv_reader_never_panics_and_accounts_for_every_record(content in bytes(120)) {
        read_back(&content, FileFormat::Csv, "f.csv")?;
    }

    #[test]
    fn fuzz_json_lines_reader_never_panics_and_accounts_for_every_record(
        content in prop::collection::vec(json_byte(), 0..80).prop_map(|p| p.concat())
    ) {
        read_back(&content, FileFormat::Jsonl, "f.jsonl")?;
    }

    #[test]
    fn fuzz_timestamps_parse_or_fail_never_out_of_range(
        s in prop_oneof!["\\PC{0,40}", "-?[0-9]{1,22}", "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]{0,15}[Z+-]?[0-9:]{0,6}"]
    ) {
        if let Ok(v) = parse_timestamp(&s, chrono_tz::Europe::Amsterdam) {
            prop_assert!((MIN_MICROS..END_MICROS).contains(&v), "{} gave {}", s, v);
        }
    }

    /// Ingest as a whole, on a deals file whose body is arbitrary under a valid header: every
    /// record is accepted or rejected, never lost, and nothing panics.
    #[test]
    fn fuzz_ingest_accounts_for_every_record_of_an_arbitrary_body(body in bytes(160)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("deals.csv");
        let mut content = b"id,user,created,closed,stage,p,amount,cur\n".to_vec();
        content.extend_from_slice(&body);
        std::fs::write(&path, &content).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let deals = match read_file(&path, FileFormat::Csv, b',', TextEncoding::Utf8) {
            Ok(f) => f,
            Err(e) => {
                prop_assert_ne!(e.exit_kind(), ExitKind::Internal, "{}", e);
                return Ok(());
            }
        };
        let read = deals.records_read();
        let leads = super::leads_frame(&[Some("a")], &[Some("2026-01-01")], &[None]);
        let src = RawSources { leads: vec![file("leads.csv", leads)], deals: vec![deals], events: None, tables: vec![] };
        match run(&config_with(super::CONFIG), src, &ctx()) {
            Ok(out) => {
                let r = &out.report.sources[1];
                prop_assert_eq!(r.read, read);
                prop_assert_eq!(r.read, r.accepted + r.rejected);
                prop_assert_eq!(out.deals.height() as u64, r.accepted);
            }
            Err(e) => prop_assert_ne!(e.exit_kind(), ExitKind::Internal, "{}", e),
        }
    }
}
