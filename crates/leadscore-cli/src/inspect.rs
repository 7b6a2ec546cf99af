//! `leadscore inspect`: a Parquet file described by the arrow/parquet crates, a reader independent
//! of the polars writer that produced it.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use arrow::util::pretty::pretty_format_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not readable Parquet.
    #[error("{path} is not a readable Parquet file: {message}")]
    NotParquet {
        /// The file.
        path: String,
        /// The reader's message.
        message: String,
    },
}

/// One column of the schema.
#[derive(Debug, Serialize)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Arrow type.
    pub data_type: String,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// One row group.
#[derive(Debug, Serialize)]
pub struct RowGroup {
    /// Rows.
    pub rows: i64,
    /// Compressed bytes.
    pub compressed_bytes: i64,
    /// Uncompressed bytes.
    pub uncompressed_bytes: i64,
}

/// What `inspect` reports.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: String,
    /// Rows.
    pub rows: i64,
    /// Columns.
    pub schema: Vec<Field>,
    /// Row groups.
    pub row_groups: Vec<RowGroup>,
    /// The writer.
    pub created_by: Option<String>,
    /// Key-value metadata other than the embedded Arrow schema (leadscore provenance first).
    pub metadata: Vec<(String, String)>,
    /// The first rows, pretty-printed, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

/// Reads a Parquet file's footer (and, with `head > 0`, its first rows).
pub fn inspect(path: &Path, head: usize) -> Result<Inspection, InspectError> {
    let p = path.display().to_string();
    let not_parquet = |e: &dyn std::fmt::Display| InspectError::NotParquet { path: p.clone(), message: e.to_string() };
    let file = File::open(path).map_err(|source| InspectError::Open { path: p.clone(), source })?;
    let reader = SerializedFileReader::new(file).map_err(|e| not_parquet(&e))?;
    let md = reader.metadata();
    let fm = md.file_metadata();
    let kv = fm.key_value_metadata();
    let arrow_schema = parquet_to_arrow_schema(fm.schema_descr(), kv).map_err(|e| not_parquet(&e))?;
    let schema = arrow_schema
        .fields()
        .iter()
        .map(|f| Field { name: f.name().clone(), data_type: f.data_type().to_string(), nullable: f.is_nullable() })
        .collect();
    let row_groups = md
        .row_groups()
        .iter()
        .map(|rg| RowGroup {
            rows: rg.num_rows(),
            compressed_bytes: rg.compressed_size(),
            uncompressed_bytes: rg.total_byte_size(),
        })
        .collect();
    let mut metadata: Vec<(String, String)> = kv
        .map(|kv| {
            kv.iter()
                .filter(|e| e.key != "ARROW:schema")
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    metadata.sort_by_key(|(k, _)| (!k.starts_with("leadscore."), k.clone()));
    let head = if head > 0 {
        let file = File::open(path).map_err(|source| InspectError::Open { path: p.clone(), source })?;
        let batches = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(head).with_limit(head).build())
            .map_err(|e| not_parquet(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| not_parquet(&e))?;
        Some(pretty_format_batches(&batches).map_err(|e| not_parquet(&e))?.to_string())
    } else {
        None
    };
    Ok(Inspection {
        path: p.clone(),
        rows: fm.num_rows(),
        schema,
        row_groups,
        created_by: fm.created_by().map(str::to_string),
        metadata,
        head,
    })
}

impl Inspection {
    /// Human-readable rendering.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.path);
        let _ = writeln!(s, "rows: {}", self.rows);
        let _ = writeln!(s, "row groups: {}", self.row_groups.len());
        for (i, rg) in self.row_groups.iter().enumerate() {
            let _ = writeln!(
                s,
                "  #{i}: {} rows, {} bytes compressed ({} uncompressed)",
                rg.rows, rg.compressed_bytes, rg.uncompressed_bytes
            );
        }
        if let Some(c) = &self.created_by {
            let _ = writeln!(s, "created by: {c}");
        }
        let _ = writeln!(s, "schema ({} columns):", self.schema.len());
        let width = self.schema.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &self.schema {
            let _ = writeln!(s, "  {:<width$}  {}{}", f.name, f.data_type, if f.nullable { "" } else { " not null" });
        }
        if !self.metadata.is_empty() {
            let _ = writeln!(s, "metadata:");
            for (k, v) in &self.metadata {
                let _ = writeln!(s, "  {k} = {v}");
            }
        }
        if let Some(h) = &self.head {
            let _ = writeln!(s, "{h}");
        }
        s
    }
}
