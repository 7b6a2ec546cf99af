//! JSON Lines read line by line: one JSON object per line, columns by key.
//!
//! A line that is not a JSON object (invalid JSON, an array, a bare value), is not UTF-8 or holds
//! a NUL byte is set aside as an [`UnreadableRecord`] with its line number; the other lines are
//! read. Blank lines are skipped. A nested object's keys are columns of their own, named by their
//! dotted path (`{"properties": {"revenue": 5}}` gives `properties.revenue`), as event exports
//! nest their properties; a key that repeats a path already seen in the line (a literal
//! `"properties.revenue"` beside the nested one) is ignored. A column's type follows its values:
//! all booleans → boolean, all integers → Int64, all numbers → Float64, otherwise text (numbers,
//! booleans and arrays as their JSON text). No message quotes a value.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use leadscore_core::CoreError;
use leadscore_core::schema::RejectReason;
use polars::prelude::*;
use serde_json::Value;

use super::{RawFile, RecordNumbers, UnreadableRecord};
use crate::error::{IngestError, Result};

/// One column's values so far, in the narrowest type that holds them all.
enum Cells {
    /// Only nulls so far (how many).
    Empty(usize),
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    /// Text, and how many values it holds.
    Text(StringChunkedBuilder, usize),
}

impl Cells {
    fn len(&self) -> usize {
        match self {
            Self::Empty(n) => *n,
            Self::Bool(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Text(_, n) => *n,
        }
    }

    fn push_null(&mut self) {
        match self {
            Self::Empty(n) => *n += 1,
            Self::Bool(v) => v.push(None),
            Self::Int(v) => v.push(None),
            Self::Float(v) => v.push(None),
            Self::Text(b, n) => {
                b.append_null();
                *n += 1;
            }
        }
    }

    /// Rewrites the values so far as text.
    fn become_text(&mut self, name: &str) {
        let mut b = StringChunkedBuilder::new(name.into(), self.len() + 1);
        match self {
            Self::Empty(n) => (0..*n).for_each(|_| b.append_null()),
            Self::Bool(v) => v.iter().for_each(|x| b.append_option(x.map(|x| if x { "true" } else { "false" }))),
            Self::Int(v) => v.iter().for_each(|x| b.append_option(x.map(|x| x.to_string()))),
            Self::Float(v) => v.iter().for_each(|x| b.append_option(x.map(|x| Value::from(x).to_string()))),
            Self::Text(..) => return,
        }
        let n = self.len();
        *self = Self::Text(b, n);
    }

    fn push(&mut self, name: &str, v: &Value) {
        match (&mut *self, v) {
            (_, Value::Null) => self.push_null(),
            (Self::Empty(n), Value::Bool(x)) => {
                let mut c = vec![None; *n];
                c.push(Some(*x));
                *self = Self::Bool(c);
            }
            (Self::Bool(c), Value::Bool(x)) => c.push(Some(*x)),
            (Self::Empty(n), Value::Number(x)) => {
                *self = match x.as_i64() {
                    Some(i) => {
                        let mut c = vec![None; *n];
                        c.push(Some(i));
                        Self::Int(c)
                    }
                    None => {
                        let mut c = vec![None; *n];
                        c.push(x.as_f64());
                        Self::Float(c)
                    }
                }
            }
            (Self::Int(c), Value::Number(x)) => match x.as_i64() {
                Some(i) => c.push(Some(i)),
                None => {
                    let mut f: Vec<Option<f64>> = c.iter().map(|v| v.map(|v| v as f64)).collect();
                    f.push(x.as_f64());
                    *self = Self::Float(f);
                }
            },
            (Self::Float(c), Value::Number(x)) => c.push(x.as_f64()),
            (Self::Text(b, n), Value::String(s)) => {
                b.append_value(s);
                *n += 1;
            }
            (Self::Text(b, n), other) => {
                b.append_value(other.to_string());
                *n += 1;
            }
            (_, other) => {
                self.become_text(name);
                self.push(name, other);
            }
        }
    }

    fn finish(self, name: &str) -> Column {
        match self {
            Self::Empty(n) => Column::full_null(name.into(), n, &DataType::String),
            Self::Bool(v) => Column::new(name.into(), v),
            Self::Int(v) => Column::new(name.into(), v),
            Self::Float(v) => Column::new(name.into(), v),
            Self::Text(b, _) => b.finish().into_column(),
        }
    }
}

/// Why a line is not a usable record, without quoting it.
fn line_problem(line: &[u8]) -> std::result::Result<serde_json::Map<String, Value>, (RejectReason, String)> {
    if line.contains(&0) {
        return Err((RejectReason::InvalidEncoding, "the line holds a NUL byte (binary data, or UTF-16)".into()));
    }
    if let Err(e) = std::str::from_utf8(line) {
        return Err((
            RejectReason::InvalidEncoding,
            format!("the line is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
        ));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            let found = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err((RejectReason::InvalidJson, format!("expected a JSON object, found {found}")))
        }
        // Syntax and end-of-input errors describe the position, never the data.
        Err(e) if matches!(e.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or("invalid JSON").to_string();
            Err((RejectReason::InvalidJson, format!("not valid JSON at column {}: {what}", e.column())))
        }
        Err(e) => Err((RejectReason::InvalidJson, format!("not valid JSON at column {}", e.column()))),
    }
}

/// Calls `f` with each non-object value of `map` and its dotted key path (`prefix` + key).
fn for_each_leaf(map: &serde_json::Map<String, Value>, prefix: &mut String, f: &mut impl FnMut(&str, &Value)) {
    for (key, value) in map {
        let len = prefix.len();
        prefix.push_str(key);
        match value {
            Value::Object(inner) => {
                prefix.push('.');
                for_each_leaf(inner, prefix, f);
            }
            leaf => f(prefix, leaf),
        }
        prefix.truncate(len);
    }
}

/// Reads a JSON Lines file.
pub(crate) fn read(path: &Path, io: &Path) -> Result<RawFile> {
    let rerr = |source| CoreError::Read { path: path.to_path_buf(), source };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(io).map_err(rerr)?);
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut cells: Vec<Cells> = Vec::new();
    let mut lines_of_rows: Vec<u32> = Vec::new();
    let mut unreadable = Vec::new();
    let mut buf = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(rerr)? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let record = u32::try_from(line_no).map_err(|_| IngestError::TooManyRecords { path: path.to_path_buf() })?;
        let map = match line_problem(line) {
            Ok(map) => map,
            Err((reason, detail)) => {
                unreadable.push(UnreadableRecord {
                    record: line_no,
                    line: line_no,
                    reason,
                    column: None,
                    detail: format!("line {line_no}: {detail}"),
                    values: vec![("line".into(), Some(String::from_utf8_lossy(line).replace('\0', "\u{FFFD}")))],
                });
                continue;
            }
        };
        let row = lines_of_rows.len();
        let mut push = |key: &str, value: &Value| {
            let k = match index.get(key) {
                Some(k) => *k,
                None => {
                    index.insert(key.to_string(), names.len());
                    names.push(key.to_string());
                    cells.push(Cells::Empty(row));
                    names.len() - 1
                }
            };
            if cells[k].len() == row {
                cells[k].push(&names[k], value);
            }
        };
        for_each_leaf(&map, &mut String::new(), &mut push);
        for c in &mut cells {
            if c.len() == row {
                c.push_null();
            }
        }
        lines_of_rows.push(record);
    }
    let rows = lines_of_rows.len();
    let columns: Vec<Column> = names.iter().zip(cells).map(|(n, c)| c.finish(n)).collect();
    let frame = if columns.is_empty() { DataFrame::empty() } else { DataFrame::new(rows, columns)? };
    Ok(RawFile {
        path: path.to_path_buf(),
        frame: frame.into(),
        records: RecordNumbers::Listed(lines_of_rows),
        unreadable,
        left_out: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_values_and_bad_lines_are_set_aside() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| IngestError::Internal(e.to_string()))?;
        let p = dir.path().join("e.jsonl");
        let text = "{\"id\":\"a\",\"n\":1,\"b\":true}\n\n{\"id\":\"b\",\"n\":2.5,\"x\":[1]}\n{\"id\":\"c\",\"b\":\"maybe\"\n[1,2]\n{\"id\":7}\n";
        std::fs::write(&p, text).map_err(|e| IngestError::Internal(e.to_string()))?;
        let f = read(&p, &p)?;
        let df = f.frame.to_frame()?;
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("n")?.dtype(), &DataType::Float64);
        assert_eq!(df.column("b")?.dtype(), &DataType::Boolean);
        assert_eq!(df.column("id")?.str()?.get(2), Some("7"));
        assert_eq!(df.column("x")?.str()?.get(1), Some("[1]"));
        let bad: Vec<_> = f.unreadable.iter().map(|u| (u.record, u.reason)).collect();
        assert_eq!(bad, [(4, RejectReason::InvalidJson), (5, RejectReason::InvalidJson)]);
        assert_eq!((f.record(0), f.record(1), f.record(2)), (1, 3, 6));
        assert!(f.unreadable.iter().all(|u| !u.detail.contains("maybe")));
        Ok(())
    }

    #[test]
    fn nested_objects_are_dotted_columns() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| IngestError::Internal(e.to_string()))?;
        let p = dir.path().join("e.jsonl");
        let text = concat!(
            "{\"event\":\"Signup\",\"properties\":{\"time\":1618716477,\"$insert_id\":\"a\",\"ctx\":{\"ip\":\"x\"}}}\n",
            "{\"event\":\"Purchase\",\"properties\":{\"time\":1618716478,\"Amount\":5.0,\"items\":[1,2]},\"properties.time\":1}\n",
            "{\"event\":\"Empty\",\"properties\":{}}\n",
        );
        std::fs::write(&p, text).map_err(|e| IngestError::Internal(e.to_string()))?;
        let f = read(&p, &p)?;
        let df = f.frame.to_frame()?;
        let mut names: Vec<&str> = f.frame.names();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "event",
                "properties.$insert_id",
                "properties.Amount",
                "properties.ctx.ip",
                "properties.items",
                "properties.time"
            ]
        );
        let time: Vec<Option<i64>> = df.column("properties.time")?.i64()?.iter().collect();
        assert_eq!(time, [Some(1_618_716_477), Some(1_618_716_478), None], "the nested key wins over the literal one");
        assert_eq!(df.column("properties.items")?.str()?.get(1), Some("[1,2]"));
        assert_eq!(df.column("properties.ctx.ip")?.str()?.get(0), Some("x"));
        Ok(())
    }
}
