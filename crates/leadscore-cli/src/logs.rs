//! Log lines on stderr: human (compact) or one JSON object per line, never drawn into the
//! progress bar's line.
//!
//! A JSON line carries its fields at the top level, with the fields of the spans it was logged
//! in: `{"timestamp": …, "level": "INFO", "stage": "train", "run_date": "2026-11-01",
//! "message": "done", "seconds": 0.8}`, so that a log collector can filter on `stage` and
//! `run_date` without knowing about spans.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::LogFormat;

/// The progress bar on screen, if any: log lines are written with it hidden.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows `bar` until [`hide_bar`]: log lines written meanwhile clear it, print, and redraw it.
pub fn show_bar(bar: &ProgressBar) {
    if let Ok(mut slot) = BAR.lock() {
        *slot = Some(bar.clone());
    }
}

/// Forgets the bar [`show_bar`] named.
pub fn hide_bar() {
    if let Ok(mut slot) = BAR.lock() {
        *slot = None;
    }
}

/// Installs the logger: `LEADSCORE_LOG`, else `level`, filters.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("LEADSCORE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_writer(Stderr).with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.fmt_fields(JsonFields::new()).event_format(JsonLine).try_init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).compact().try_init(),
    };
}

/// Standard error, with the progress bar suspended while a line is written.
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// tracing writes each formatted line with one call: the bar is hidden once per line.
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One JSON object per event: time, level, the spans' fields (outermost first), the event's.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            let fields = extensions.get::<FormattedFields<N>>().map(|f| f.fields.as_str()).unwrap_or("");
            if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                line.extend(fields);
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into a JSON object, numbers and booleans as such.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the logger writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_has_the_spans_and_the_events_fields_at_the_top_level() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("stage", stage = "train", run_date = "2026-11-01").entered();
            tracing::info!(seconds = 0.5, rows_in = 12u64, forced = true, reason = "forced", "done");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["stage"], "train", "{text}");
        assert_eq!(line["run_date"], "2026-11-01");
        assert_eq!(line["message"], "done");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["seconds"], 0.5);
        assert_eq!(line["rows_in"], 12);
        assert_eq!(line["forced"], true);
        assert_eq!(line["reason"], "forced");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(text.lines().count(), 1);
    }
}
