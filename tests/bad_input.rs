//! leadscore tried as a hostile user would: one case per kind of bad input, each checking the exit
//! code a scheduler sees, the message's key words, that no personal data from the input reaches
//! stderr, and that nothing half-written is left behind.
//!
//! The ingest-level cases run `leadscore stage ingest` (or `validate`) on a small export with
//! personal data in every row; the pipeline-level cases run the whole DAG on a synthetic export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use polars::prelude::*;
use serde_json::Value;

const DATE: &str = "2026-02-01";
/// Rows of the small export: a single bad row stays under the 5% reject-rate gate.
const ROWS: usize = 40;

/// The personal data of lead `i` of the small export: e-mail, phone, first and last name.
fn person(i: usize) -> [String; 4] {
    let first = ["Annelies", "Bartholomew", "Cornelius", "Dorothea"][i % 4];
    let last = ["Kwakernaak", "Oosterhuis", "Zuidervaart", "Vandermolen"][i % 4];
    [
        format!("{}.{}{i}@examplecorp.io", first.to_lowercase(), last.to_lowercase()),
        format!("+31 6 5550 {i:04}"),
        first.to_string(),
        last.to_string(),
    ]
}

/// Every personal value of the small export, for "is it on stderr?" checks.
fn personal_data() -> Vec<String> {
    (0..ROWS).flat_map(person).collect()
}

const LEADS_HEADER: &str = "id,created,user,email,phone,first,last,size";

/// Lead `i` as a CSV line.
fn lead_line(i: usize) -> String {
    let [email, phone, first, last] = person(i);
    format!("l{i},2026-01-{:02} 10:00:00,u{},{email},{phone},{first},{last},{}", 1 + i % 28, i % 7, 10 + i)
}

/// The small export's leads file with `edit` applied to the line of each lead (0-based).
fn leads_csv(edit: impl Fn(usize, String) -> String) -> Vec<u8> {
    let mut s = format!("{LEADS_HEADER}\n");
    for i in 0..ROWS {
        s.push_str(&edit(i, lead_line(i)));
        s.push('\n');
    }
    s.into_bytes()
}

fn deals_csv(edit: impl Fn(usize, String) -> String) -> Vec<u8> {
    let mut s = String::from("id,user,created,closed,stage,amount,currency\n");
    for i in 0..ROWS {
        let line = format!("d{i},u{},2026-01-{:02},2026-01-{:02},won,{},EUR", i % 7, 1 + i % 20, 5 + i % 20, 100 * i);
        s.push_str(&edit(i, line));
        s.push('\n');
    }
    s.into_bytes()
}

const CONFIG: &str = r#"[project]
name = "t"
currency = "EUR"
timezone = "UTC"
output_dir = "out"

[sources.leads]
path = "leads.csv"
mapping = { lead_id = "id", created_at = "created", user_id = "user", email = "email", phone = "phone", first_name = "first", last_name = "last" }

[sources.deals]
path = "deals.csv"
mapping = { deal_id = "id", user_id = "user", created_at = "created", closed_at = "closed", stage = "stage", amount = "amount", currency = "currency" }

[[attributes]]
column = "size"
kind = "numeric"

[currency]
rates = { GBP = 1.17 }

[[conversions]]
name = "won"
source = "deals"
conditions = [{ field = "stage", op = "is", value = "won" }]

[labels]
target = "won"
window_days = 30
"#;

/// One kind of bad input at ingest.
struct Case {
    name: &'static str,
    leads: Vec<u8>,
    /// File name of the leads file.
    leads_file: &'static str,
    deals: Vec<u8>,
    /// Edits the config text.
    config: fn(&str) -> String,
    /// `leadscore <args> --config … --date …`.
    args: &'static [&'static str],
    code: i32,
    /// Key words the message (stderr) must hold.
    says: &'static [&'static str],
    /// For a run that succeeds: a reject it must hold (source, row, reason, detail key word).
    reject: Option<(&'static str, u64, &'static str, &'static str)>,
}

fn same(c: &str) -> String {
    c.to_string()
}

fn ingest_case(name: &'static str, leads: Vec<u8>, code: i32, says: &'static [&'static str]) -> Case {
    Case {
        name,
        leads,
        leads_file: "leads.csv",
        deals: deals_csv(|_, l| l),
        config: same,
        args: &["stage", "ingest"],
        code,
        says,
        reject: None,
    }
}

fn rejected(
    name: &'static str,
    leads: Vec<u8>,
    source: &'static str,
    row: u64,
    reason: &'static str,
    detail: &'static str,
) -> Case {
    Case { reject: Some((source, row, reason, detail)), ..ingest_case(name, leads, 0, &[]) }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push(p.clone());
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Nothing half-written: no staging folder, no temporary file anywhere under `dir`.
fn assert_nothing_half_written(dir: &Path, what: &str) {
    for p in files_under(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".partial-")
                && !name.contains(".old-")
                && !name.ends_with(".tmp")
                && !name.contains(".staging-"),
            "{what}: {} was left behind",
            p.display()
        );
    }
}

fn assert_no_personal_data(text: &str, personal: &[String], what: &str) {
    for v in personal {
        assert!(!text.contains(v.as_str()), "{what}: personal data {v:?} in\n{text}");
    }
}

fn cases() -> Vec<Case> {
    let nul_at =
        |row: usize| move |i: usize, l: String| if i == row { l.replacen("Annelies", "Anne\0lies", 1) } else { l };
    vec![
        rejected(
            "an unbalanced quote mid-file rejects its line only",
            leads_csv(|i, l| if i == 4 { l.replacen(",annelies", ",\"annelies", 1) } else { l }),
            "leads",
            5,
            "unbalanced_quote",
            "`email`",
        ),
        rejected(
            "a quote left open at the end of the file rejects the last line",
            leads_csv(|i, l| if i == ROWS - 1 { l.replacen(",+31", ",\"+31", 1) } else { l }),
            "leads",
            ROWS as u64,
            "unbalanced_quote",
            "`phone`",
        ),
        ingest_case(
            "a header whose quote is never closed fails the file",
            [b"id,\"created,user,email,phone,first,last,size\n".as_slice(), &leads_csv(|_, l| l)[LEADS_HEADER.len() + 1..]]
                .concat(),
            3,
            &["leads.csv", "record 0", "header", "never"],
        ),
        rejected(
            "a row with too many fields",
            leads_csv(|i, l| if i == 7 { format!("{l},extra,more") } else { l }),
            "leads",
            8,
            "wrong_field_count",
            "expected 8 fields",
        ),
        rejected(
            "a row with too few fields",
            leads_csv(|i, l| if i == 9 { l.rsplitn(3, ',').last().unwrap().to_string() } else { l }),
            "leads",
            10,
            "wrong_field_count",
            "found 6",
        ),
        {
            // Windows-1252 bytes from Excel: `é` as 0xE9.
            let mut bytes = leads_csv(|_, l| l);
            let at = bytes.windows(9).position(|w| w == b"Cornelius").expect("a Cornelius") + 3;
            bytes[at] = 0xE9;
            Case { reject: Some(("leads", 3, "invalid_encoding", "not UTF-8")), ..ingest_case("bytes that are not UTF-8", bytes, 0, &[]) }
        },
        rejected("a NUL byte in the first data row", leads_csv(nul_at(0)), "leads", 1, "invalid_encoding", "NUL"),
        rejected("a NUL byte in row 33: the same as in the first", leads_csv(nul_at(32)), "leads", 33, "invalid_encoding", "NUL"),
        ingest_case(
            "a JSON Lines file saved as .csv",
            b"{\"id\":\"l1\",\"email\":\"annelies.kwakernaak0@examplecorp.io\"}\n".to_vec(),
            3,
            &["leads.csv", "looks like JSON", "jsonl"],
        ),
        ingest_case(
            "a header that names a column twice",
            leads_csv(|_, l| l).into_iter().collect::<Vec<u8>>().replace_first(b"size", b"user"),
            3,
            &["leads.csv", "`user` twice", "fields 3 and 8"],
        ),
        ingest_case("a UTF-16 file", [&[0xFF, 0xFE][..], &leads_csv(|_, l| l)].concat(), 3, &["leads.csv", "UTF-16"]),
        ingest_case("a gzip file", [&[0x1F, 0x8B, 0x08][..], b"compressed"].concat(), 3, &["leads.csv", "gzip"]),
        ingest_case("a Parquet file named .csv", b"PAR1 not really".to_vec(), 3, &["leads.csv", "Parquet"]),
        ingest_case("an empty leads file", Vec::new(), 3, &["no leads", "leads.csv"]),
        ingest_case("a header and no rows", format!("{LEADS_HEADER}\n").into_bytes(), 3, &["no leads"]),
        ingest_case(
            "a file without a header row",
            leads_csv(|_, l| l)[LEADS_HEADER.len() + 1..].to_vec(),
            3,
            &["leads.csv", "missing column", "does the file have a header row"],
        ),
        ingest_case(
            "every lead id empty",
            leads_csv(|i, l| l.replacen(&format!("l{i},"), ",", 1)),
            3,
            &["[sources.leads]", "40 of 40 rows rejected", "missing_id 40", "rows 1, 2, 3"],
        ),
        ingest_case(
            "every creation date in a US format",
            leads_csv(|i, l| l.replacen(&format!("2026-01-{:02} 10:00:00", 1 + i % 28), "01/11/2026 08:00 PM", 1)),
            3,
            &["[sources.leads]", "unparsable_timestamp 40", "max_reject_rate"],
        ),
        rejected(
            "an epoch creation date outside any calendar",
            leads_csv(|i, l| if i == 2 { l.replacen("2026-01-03 10:00:00", "-9000000000000000000", 1) } else { l }),
            "leads",
            3,
            "unparsable_timestamp",
            "1900-01-01",
        ),
        Case {
            reject: Some(("deals", 4, "unparsable_timestamp", "2199-12-31")),
            deals: deals_csv(|i, l| if i == 3 { set_field(&l, 3, "99999999999999999") } else { l }),
            ..ingest_case("an epoch close date far in the future", leads_csv(|_, l| l), 0, &[])
        },
        Case {
            deals: deals_csv(|i, l| if i > 0 { l.replacen(",2026-01-", ",01/", 1) } else { l }),
            ..ingest_case(
                "39 of 40 deals in a date format ingest does not read",
                leads_csv(|_, l| l),
                3,
                &["[sources.deals]", "39 of 40 rows rejected", "unparsable_timestamp 39", "rows 2, 3, 4 of"],
            )
        },
        Case {
            reject: Some(("deals", 6, "non_finite_amount", "not a finite number")),
            deals: deals_csv(|i, l| if i == 5 { l.replacen(",500,EUR", ",1.7e308,GBP", 1) } else { l }),
            ..ingest_case("an amount that overflows once converted", leads_csv(|_, l| l), 0, &[])
        },
        Case {
            leads_file: "elsewhere.csv",
            ..ingest_case("a leads file that does not exist", leads_csv(|_, l| l), 3, &["[sources.leads]", "leads.csv", "matches no file"])
        },
        Case {
            config: |c| c.replace("output_dir = \"out\"", "output_dir = \"leads.csv/out\""),
            ..ingest_case("an output folder that is a file", leads_csv(|_, l| l), 2, &["output_dir", "leads.csv is a file"])
        },
        Case {
            config: |c| c.replace("timezone = \"UTC\"", "timezone = \"Mars/Olympus\"\ncolour = \"red\""),
            ..ingest_case(
                "an unknown key does not hide an invalid time zone in the same section",
                leads_csv(|_, l| l),
                2,
                &["unknown field `colour`", "Mars/Olympus", "2 problems"],
            )
        },
        Case {
            config: |c| c.replace("path = \"deals.csv\"", "path = \"deals.csv\"\nmax_reject_rate = 7"),
            ..ingest_case("a reject rate that is not a share", leads_csv(|_, l| l), 2, &["max_reject_rate", "between 0 and 1"])
        },
        ingest_case(
            "a semicolon-separated file read as commas",
            leads_csv(|_, l| l.replace(',', ";")).replace_first(LEADS_HEADER.as_bytes(), LEADS_HEADER.replace(',', ";").as_bytes()),
            3,
            &["leads.csv", "missing column `id`", "id;created;user"],
        ),
        Case {
            leads_file: "leads.jsonl",
            config: |c| c.replace("path = \"leads.csv\"", "path = \"leads.jsonl\""),
            reject: Some(("leads", 3, "invalid_json", "line 3")),
            ..ingest_case(
                "a JSON Lines line that is not valid JSON",
                (0..ROWS)
                    .map(|i| {
                        let [email, phone, first, last] = person(i);
                        if i == 2 {
                            format!("{{\"id\":\"l{i}\",\"email\":\"{email}\"\n")
                        } else {
                            format!(
                                "{{\"id\":\"l{i}\",\"created\":\"2026-01-{:02}\",\"user\":\"u{}\",\"email\":\"{email}\",\"phone\":\"{phone}\",\"first\":\"{first}\",\"last\":\"{last}\",\"size\":{}}}\n",
                                1 + i % 28,
                                i % 7,
                                10 + i
                            )
                        }
                    })
                    .collect::<String>()
                    .into_bytes(),
                0,
                &[],
            )
        },
        {
            // Excel on Windows: a byte-order mark and CRLF line ends are fine.
            let text = String::from_utf8(leads_csv(|_, l| l)).unwrap().replace('\n', "\r\n");
            Case { reject: None, ..ingest_case("a byte-order mark and CRLF line ends", [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(), 0, &[]) }
        },
        Case {
            args: &["stage", "ingest", "--date", "0001-01-01"],
            ..ingest_case("a run date outside the calendar leadscore works in", leads_csv(|_, l| l), 2, &["1900-01-01", "0001-01-01"])
        },
        Case {
            args: &["validate"],
            ..ingest_case(
                "validate exits as a run would on unusable input",
                leads_csv(|i, l| l.replacen(&format!("2026-01-{:02} 10:00:00", 1 + i % 28), "11/03/2025 08:00 PM", 1)),
                3,
                &["unparsable_timestamp 40"],
            )
        },
        Case {
            args: &["validate"],
            ..ingest_case(
                "validate exits 4 when training would refuse",
                leads_csv(|_, l| l),
                4,
                &["not enough data", "min_conversions"],
            )
        },
    ]
}

/// A CSV line with field `k` (0-based) replaced.
fn set_field(line: &str, k: usize, value: &str) -> String {
    let mut f: Vec<&str> = line.split(',').collect();
    f[k] = value;
    f.join(",")
}

trait ReplaceFirst {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        match self.windows(from.len()).position(|w| w == from) {
            Some(p) => [&self[..p], to, &self[p + from.len()..]].concat(),
            None => self,
        }
    }
}

#[test]
fn every_kind_of_bad_input_gets_its_exit_code_a_clear_message_and_no_personal_data() {
    let personal = personal_data();
    let cases = cases();
    assert!(cases.len() >= 30, "{} kinds", cases.len());
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(case.leads_file), &case.leads).unwrap();
        fs::write(dir.path().join("deals.csv"), &case.deals).unwrap();
        let config = dir.path().join("leadscore.toml");
        fs::write(&config, (case.config)(CONFIG)).unwrap();
        let mut args: Vec<&str> = case.args.to_vec();
        args.extend(["--config", config.to_str().unwrap()]);
        if !args.contains(&"--date") {
            args.extend(["--date", DATE]);
        }
        let o = leadscore(&args, dir.path());
        let err = stderr(&o);
        assert_eq!(code(&o), case.code, "{}: exit code\n{err}", case.name);
        assert!(!err.contains("panicked"), "{}: {err}", case.name);
        for word in case.says {
            assert!(err.contains(word), "{}: the message lacks {word:?}\n{err}", case.name);
        }
        assert_no_personal_data(&err, &personal, case.name);
        assert_no_personal_data(&String::from_utf8_lossy(&o.stdout), &personal, case.name);
        assert_nothing_half_written(dir.path(), case.name);
        let ingest = dir.path().join(format!("out/runs/{DATE}/ingest"));
        if case.code != 0 {
            assert!(!ingest.exists(), "{}: a failed ingest wrote {}", case.name, ingest.display());
        }
        if let Some((source, row, reason, detail)) = case.reject {
            let rejects = ParquetReader::new(fs::File::open(ingest.join("rejects.parquet")).unwrap()).finish().unwrap();
            let s = |c: &str, i: usize| rejects.column(c).unwrap().str().unwrap().get(i).unwrap_or("").to_string();
            let rows = rejects.column("row").unwrap().u64().unwrap().clone();
            let found = (0..rejects.height())
                .find(|&i| s("source", i) == source && rows.get(i) == Some(row) && s("reason", i) == reason);
            let Some(i) = found else {
                panic!("{}: no {reason} reject of {source} row {row}; rejects:\n{rejects}", case.name)
            };
            assert!(s("detail", i).contains(detail), "{}: detail {:?} lacks {detail:?}", case.name, s("detail", i));
            assert_no_personal_data(&s("detail", i), &personal, case.name);
            // The raw values of identity columns are masked.
            assert_no_personal_data(&s("raw", i), &personal, case.name);
            // Every record is accounted for.
            let report: Value = serde_json::from_str(&fs::read_to_string(ingest.join("report.json")).unwrap()).unwrap();
            for src in report["sources"].as_array().unwrap() {
                assert_eq!(
                    src["read"].as_u64().unwrap(),
                    src["accepted"].as_u64().unwrap() + src["rejected"].as_u64().unwrap(),
                    "{}: {src}",
                    case.name
                );
            }
        }
    }
}

// ---- Pipeline-level cases, on a synthetic export ----

fn synth(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("export");
    let mut args = vec!["synth", "--out", out.to_str().unwrap(), "--leads", "3000", "--months", "12", "--seed", "11"];
    args.extend_from_slice(extra);
    let o = leadscore(&args, dir);
    assert_eq!(code(&o), 0, "synth failed: {}", stderr(&o));
    out
}

/// Every e-mail, phone and name of the synthetic export's contacts.
fn export_personal_data(export: &Path) -> (Vec<String>, std::collections::HashSet<String>) {
    let mut r = csv::Reader::from_path(export.join("contacts.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let at = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (email, phone, first, last) = (at("Email"), at("Phone Number"), at("First Name"), at("Last Name"));
    let (mut raw, mut names) = (Vec::new(), std::collections::HashSet::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        raw.extend([rec[email].trim().to_string(), rec[phone].trim().to_string()].into_iter().filter(|v| v.len() > 4));
        names.extend([rec[first].trim().to_string(), rec[last].trim().to_string()].into_iter().filter(|v| v.len() > 3));
    }
    (raw, names)
}

fn run_at(config: &Path, date: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--config", config.to_str().unwrap(), "--date", date];
    args.extend_from_slice(extra);
    leadscore(&args, config.parent().unwrap())
}

fn summary(o: &Output) -> Vec<(String, String)> {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    v["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| (s["stage"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn run_dates_outside_the_history_exit_4_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    let (raw, _) = export_personal_data(&export);
    for (date, why) in
        [("2000-01-01", "no lead was created before the run date"), ("2999-01-01", "too late for this history")]
    {
        let o = run_at(&config, date, &[]);
        let err = stderr(&o);
        assert_eq!(code(&o), 4, "{date}: {err}");
        assert!(err.contains("not enough data") && err.contains(why), "{date}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_no_personal_data(&err, &raw, date);
        assert!(!export.join(format!("runs/{date}/features")).exists());
        assert_nothing_half_written(&export, date);
    }
}

#[test]
fn the_champion_model_registry_is_checked_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    // Boosted trees that learn next to nothing: the logistic regression wins, alone or blended, and
    // its coefficients can overflow.
    let weak = "\n[train]\nmax_trees = 10\nlearning_rate = 0.0001\nmax_depth = 1\n";
    fs::write(&config, fs::read_to_string(&config).unwrap() + weak).unwrap();
    let date = "2026-11-01";
    let o = run_at(&config, date, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let models = export.join("models");
    let champion: Value = serde_json::from_str(&fs::read_to_string(models.join("champion.json")).unwrap()).unwrap();
    let id = champion["model_id"].as_str().unwrap().to_string();

    // A model whose coefficients overflow the log-odds: exit 2, naming the file and the field.
    let model_file = models.join(&id).join("model.json");
    let original = fs::read_to_string(&model_file).unwrap();
    let mut m: Value = serde_json::from_str(&original).unwrap();
    let classifier = &mut m["classifier"];
    let kind = classifier["kind"].as_str().unwrap_or_default().to_string();
    assert!(["logistic", "blend"].contains(&kind.as_str()), "with weak trees a logistic regression wins: {kind}");
    let n = classifier["coefficients"].as_array().unwrap().len();
    classifier["coefficients"] = Value::from(vec![1e308; n]);
    fs::write(&model_file, serde_json::to_string(&m).unwrap()).unwrap();
    let o = leadscore(&["stage", "qualify", "--config", config.to_str().unwrap(), "--date", date], &export);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("invalid model artifact") && err.contains("model.json") && err.contains("classifier"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // A number JSON cannot hold as a finite float: refused when the model is loaded.
    fs::write(&model_file, original.replacen("\"recency_shift\":", "\"recency_shift\": 1e999, \"_\":", 1)).unwrap();
    let o = leadscore(&["stage", "qualify", "--config", config.to_str().unwrap(), "--date", date], &export);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("model.json"), "{}", stderr(&o));
    // A beta calibrator with a negative slope would turn part of the ranking over: refused.
    let mut m: Value = serde_json::from_str(&original).unwrap();
    m["calibrator"] = serde_json::json!({ "method": "beta", "a": -0.5, "b": 1.0, "c": 0.0 });
    fs::write(&model_file, serde_json::to_string(&m).unwrap()).unwrap();
    let o = leadscore(&["stage", "qualify", "--config", config.to_str().unwrap(), "--date", date], &export);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("calibrator.a/b") && stderr(&o).contains("model.json"), "{}", stderr(&o));
    fs::write(&model_file, &original).unwrap();

    // champion.json naming a model folder that is gone: the run trains a new champion.
    fs::rename(models.join(&id), dir.path().join("moved-model")).unwrap();
    let o = run_at(&config, date, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let statuses = summary(&o);
    assert!(statuses.contains(&("train".into(), "ran".into())), "{statuses:?}");
    assert!(stderr(&o).contains("whose folder is missing"), "{}", stderr(&o));
    assert!(models.join(&id).is_dir(), "the champion's folder is back");

    // A deleted champion.json: the same.
    fs::remove_file(models.join("champion.json")).unwrap();
    let o = run_at(&config, date, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(summary(&o).contains(&("train".into(), "ran".into())), "{:?}", summary(&o));
    assert!(models.join("champion.json").exists());

    // Nothing to score is not a failure, and says so.
    let o = run_at(&config, "2026-12-15", &[]);
    assert_eq!(code(&o), 99, "{}", stderr(&o));
    assert!(stderr(&o).contains("had nothing to do"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("failed"), "{}", stderr(&o));
    assert_nothing_half_written(&export, "registry");
}

#[test]
fn manifests_do_not_depend_on_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let config = export.join("leadscore.toml");
    let o = leadscore(&["run", "--config", "leadscore.toml", "--only", "ingest,labels"], &export);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The same config named by its absolute path from another folder: everything is up to date.
    let o = leadscore(
        &["run", "--config", config.canonicalize().unwrap().to_str().unwrap(), "--only", "ingest,labels", "--json"],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(summary(&o), [("ingest".into(), "skipped".into()), ("labels".into(), "skipped".into())]);
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(export.join("runs/2026-11-01/ingest/manifest.json")).unwrap())
            .unwrap();
    let inputs: Vec<&str> =
        manifest["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["contacts.csv", "deals.csv", "events.csv"], "paths relative to the config's folder");
}

#[test]
fn extreme_numeric_attributes_keep_the_fitted_statistics_finite() {
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &[]);
    let contacts = export.join("contacts.csv");
    let mut r = csv::Reader::from_path(&contacts).unwrap();
    let h = r.headers().unwrap().clone();
    let size = h.iter().position(|c| c == "Number of Employees").unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&h).unwrap();
    for (i, rec) in r.records().enumerate() {
        let mut rec: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        match i % 97 {
            0 => rec[size] = "1e308".into(),
            1 => rec[size] = "-1e308".into(),
            _ => {}
        }
        w.write_record(&rec).unwrap();
    }
    fs::write(&contacts, w.into_inner().unwrap()).unwrap();
    let config = export.join("leadscore.toml");
    let o = run_at(&config, "2026-11-01", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let spec: Value =
        serde_json::from_str(&fs::read_to_string(export.join("runs/2026-11-01/features/feature_spec.json")).unwrap())
            .unwrap();
    for f in spec["features"].as_array().unwrap() {
        for k in ["impute", "mean", "std"] {
            if let Some(v) = f.get(k) {
                assert!(v.as_f64().is_some_and(f64::is_finite), "{}: `{k}` is {v}", f["name"]);
            }
        }
    }
}

/// All text in a file: Parquet string cells one per line, anything else as (lossy) text.
fn file_text(p: &Path) -> String {
    if p.extension().is_some_and(|e| e == "parquet") {
        let df = ParquetReader::new(fs::File::open(p).unwrap()).finish().unwrap();
        let mut out = String::new();
        for c in df.columns() {
            if let Ok(s) = c.cast(&DataType::String) {
                for v in s.str().unwrap().iter().flatten() {
                    out.push_str(v);
                    out.push('\n');
                }
            }
        }
        out
    } else {
        String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned()
    }
}

#[test]
fn no_personal_data_at_rest_and_every_output_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let export = synth(dir.path(), &["--dirty-rate", "0.01"]);
    let config = export.join("leadscore.toml");
    let o = run_at(&config, "2026-11-01", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (raw, names) = export_personal_data(&export);
    let mut checked = 0;
    for root in [export.join("runs"), export.join("models")] {
        for p in std::iter::once(root.clone()).chain(files_under(&root)) {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode, want, "{} has mode {mode:o}", p.display());
            if p.is_dir() {
                continue;
            }
            let text = file_text(&p);
            for v in &raw {
                assert!(!text.contains(v.as_str()), "{} holds {v:?}", p.display());
            }
            for line in text.lines() {
                for token in line.split(|c: char| !c.is_alphanumeric()) {
                    assert!(!names.contains(token), "{} holds the name {token:?}", p.display());
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} files");
    // Opting in keeps the raw identifiers in leads.parquet only.
    let text = fs::read_to_string(&config).unwrap() + "\n[privacy]\nkeep_raw_identifiers = true\n";
    fs::write(&config, text).unwrap();
    let o = leadscore(&["stage", "ingest", "--config", config.to_str().unwrap(), "--date", "2026-11-01"], &export);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let leads = file_text(&export.join("runs/2026-11-01/ingest/leads.parquet"));
    assert!(raw.iter().take(50).any(|v| leads.contains(v.as_str())), "kept raw identifiers are in leads.parquet");
}
