//! Reading source files into raw frames (the file I/O around [`crate::run`]).
//!
//! CSV is read with every column as text, so ingest decides how each value is parsed and can
//! reject a row with a reason instead of failing the file. Parquet and JSON Lines keep their types.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use leadscore_core::config::{FileFormat, Source};
use leadscore_core::layout::InputFile;
use leadscore_core::schema::SourceKind;
use leadscore_core::{Config, CoreError};
use polars::prelude::*;

use crate::error::{IngestError, Result};

/// One file of a source, read into a frame of its raw columns.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// The file.
    pub path: PathBuf,
    /// Its rows, raw columns as in the file.
    pub frame: DataFrame,
}

/// Every file of every configured source, read.
#[derive(Debug, Clone)]
pub struct RawSources {
    /// Leads files.
    pub leads: Vec<RawFile>,
    /// Deals files.
    pub deals: Vec<RawFile>,
    /// Events files, when an events source is configured.
    pub events: Option<Vec<RawFile>>,
}

impl RawSources {
    /// The files of one source.
    pub fn files(&self, kind: SourceKind) -> Option<&[RawFile]> {
        match kind {
            SourceKind::Leads => Some(&self.leads),
            SourceKind::Deals => Some(&self.deals),
            SourceKind::Events => self.events.as_deref(),
        }
    }
}

/// Expands a source's path or glob (relative to the config folder) into files, sorted.
pub fn resolve_files(config: &Config, source: &Source) -> Result<Vec<PathBuf>> {
    let full = config.resolve(&source.path);
    let pattern = full.to_string_lossy().into_owned();
    let has_glob = source.path.contains(['*', '?', '[']);
    let mut files = if has_glob {
        let paths = glob::glob(&pattern).map_err(|e| IngestError::BadPattern {
            source_kind: source.kind,
            pattern: source.path.clone(),
            message: e.msg.to_string(),
        })?;
        paths.filter_map(std::result::Result::ok).filter(|p| p.is_file()).collect::<Vec<_>>()
    } else if full.is_file() {
        vec![full.clone()]
    } else {
        Vec::new()
    };
    files.sort();
    if files.is_empty() {
        return Err(IngestError::NoFiles { source_kind: source.kind, pattern: source.path.clone(), resolved: pattern });
    }
    Ok(files)
}

/// The format of a file: configured, or told by its extension.
pub fn file_format(source: &Source, path: &Path) -> Result<FileFormat> {
    if let Some(f) = source.format {
        return Ok(f);
    }
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    FileFormat::from_extension(&ext).ok_or_else(|| IngestError::UnknownFormat {
        source_kind: source.kind,
        path: path.to_path_buf(),
        extension: if ext.is_empty() { "(none)".into() } else { ext },
    })
}

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|source| CoreError::Read { path: path.to_path_buf(), source })?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = f.read(&mut buf[got..]).map_err(|source| CoreError::Read { path: path.to_path_buf(), source })?;
        if k == 0 {
            break;
        }
        got += k;
    }
    buf.truncate(got);
    Ok(buf)
}

/// Reads one file. A zero-byte file gives an empty frame (the caller decides whether that is an
/// error); content that does not match the format is an error naming the file.
pub fn read_file(path: &Path, format: FileFormat, delimiter: u8) -> Result<DataFrame> {
    let start = head(path, 8192)?;
    if start.is_empty() {
        return Ok(DataFrame::empty());
    }
    let unreadable = |format: &'static str| {
        let path = path.to_path_buf();
        move |source| IngestError::Unreadable { path, format, source }
    };
    match format {
        FileFormat::Csv | FileFormat::Jsonl => {
            let what = if format == FileFormat::Csv { "CSV" } else { "JSON Lines" };
            if start.starts_with(b"PAR1") {
                return Err(IngestError::WrongContent {
                    path: path.into(),
                    format: what,
                    found: "it is a Parquet file".into(),
                });
            }
            if start.starts_with(b"PK\x03\x04") {
                return Err(IngestError::WrongContent {
                    path: path.into(),
                    format: what,
                    found: "it is a ZIP archive (an Excel workbook?); export the sheet as CSV".into(),
                });
            }
            if start.contains(&0) {
                return Err(IngestError::WrongContent {
                    path: path.into(),
                    format: what,
                    found: "it contains binary data".into(),
                });
            }
            if format == FileFormat::Csv {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(Some(0))
                    .map_parse_options(|o| o.with_separator(delimiter).with_missing_is_null(true))
                    .try_into_reader_with_file_path(Some(path.to_path_buf()))
                    .and_then(|r| r.finish())
                    .map_err(unreadable("CSV"))
            } else {
                let file = File::open(path).map_err(|source| CoreError::Read { path: path.to_path_buf(), source })?;
                JsonReader::new(file)
                    .with_json_format(JsonFormat::JsonLines)
                    .infer_schema_len(None)
                    .finish()
                    .map_err(unreadable("JSON Lines"))
            }
        }
        FileFormat::Parquet => {
            if !start.starts_with(b"PAR1") {
                return Err(IngestError::WrongContent {
                    path: path.into(),
                    format: "Parquet",
                    found: "it does not start with the Parquet magic bytes `PAR1`".into(),
                });
            }
            let file = File::open(path).map_err(|source| CoreError::Read { path: path.to_path_buf(), source })?;
            ParquetReader::new(file).finish().map_err(unreadable("Parquet"))
        }
    }
}

/// Reads every file of every configured source, and records each input with its content hash.
pub fn read_sources(config: &Config) -> Result<(RawSources, Vec<InputFile>)> {
    let mut inputs = Vec::new();
    let mut read = |source: &Source| -> Result<Vec<RawFile>> {
        let mut out = Vec::new();
        for path in resolve_files(config, source)? {
            let format = file_format(source, &path)?;
            let frame = read_file(&path, format, source.delimiter)?;
            inputs.push(InputFile::hash(&path, Some(frame.height() as u64))?);
            out.push(RawFile { path, frame });
        }
        Ok(out)
    };
    let leads = read(&config.sources.leads)?;
    let deals = read(&config.sources.deals)?;
    let events = config.sources.events.as_ref().map(&mut read).transpose()?;
    Ok((RawSources { leads, deals, events }, inputs))
}
