//! `[project]` and `[privacy]`: name, currency, time zone, folders, default run date; what
//! personal data is kept.

use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use super::raw::{RawPrivacy, RawProject};
use super::{KeyPath, Validator};
use crate::currency::iso4217;
use crate::time::{RunDate, parse_tz};

/// `timezone`.
pub const DEFAULT_TIMEZONE: &str = "UTC";
/// `output_dir`.
pub const DEFAULT_OUTPUT_DIR: &str = "data";
/// `models_dir`.
pub const DEFAULT_MODELS_DIR: &str = "models";
/// `[privacy] keep_raw_identifiers`.
pub const DEFAULT_KEEP_RAW_IDENTIFIERS: bool = false;

/// Validated `[project]`.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// ISO 4217 code of the project currency.
    pub currency: String,
    /// Business time zone.
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Tz,
    /// Output folder as written (resolved against the config folder by [`Config::output_dir`]).
    pub output_dir: String,
    /// Model registry folder as written (resolved by [`Config::models_dir`]).
    pub models_dir: String,
    /// Run date used without `--date`; `None` means today in `timezone`.
    pub default_run_date: Option<RunDate>,
}

fn ser_tz<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// Validated `[privacy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Privacy {
    /// Keep raw e-mails, phones and names in `leads.parquet` besides their digests.
    pub keep_raw_identifiers: bool,
}

impl Validator<'_> {
    pub(super) fn project(&mut self) -> Option<Project> {
        let path = KeyPath::root().key("project");
        let Some(v) = self.get(&path) else {
            self.problem(&path, "missing section [project] (with at least `name` and `currency`)");
            return None;
        };
        let raw: RawProject = self.deser(&path, v)?;
        let mut ok = true;
        if raw.name.trim().is_empty() {
            self.problem(&path.key("name"), "must not be empty");
            ok = false;
        }
        let currency = iso4217(&raw.currency);
        if currency.is_none() {
            self.problem(
                &path.key("currency"),
                format!("expected an ISO 4217 currency code such as `EUR` or `USD`, found `{}`", raw.currency),
            );
        }
        let tz_name = raw.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
        let timezone = match parse_tz(tz_name) {
            Ok(tz) => Some(tz),
            Err(msg) => {
                self.problem(&path.key("timezone"), msg);
                None
            }
        };
        let default_run_date = match raw.default_run_date.as_deref().map(str::trim) {
            None | Some("today") => Some(None),
            Some(s) => match s.parse::<RunDate>() {
                Ok(d) => Some(Some(d)),
                Err(msg) => {
                    self.problem(&path.key("default_run_date"), format!("{msg} or `today`"));
                    None
                }
            },
        };
        let output_dir = raw.output_dir.unwrap_or_else(|| DEFAULT_OUTPUT_DIR.to_string());
        if output_dir.trim().is_empty() {
            self.problem(&path.key("output_dir"), format!("must not be empty (default `{DEFAULT_OUTPUT_DIR}`)"));
            ok = false;
        }
        let models_dir = raw.models_dir.unwrap_or_else(|| DEFAULT_MODELS_DIR.to_string());
        if models_dir.trim().is_empty() {
            self.problem(&path.key("models_dir"), format!("must not be empty (default `{DEFAULT_MODELS_DIR}`)"));
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Project {
            name: raw.name.trim().to_string(),
            currency: currency?,
            timezone: timezone?,
            output_dir,
            models_dir,
            default_run_date: default_run_date?,
        })
    }

    pub(super) fn privacy(&mut self) -> Option<Privacy> {
        let path = KeyPath::root().key("privacy");
        let raw: RawPrivacy = match self.get(&path) {
            None => RawPrivacy::default(),
            Some(v) => self.deser(&path, v)?,
        };
        Some(Privacy { keep_raw_identifiers: raw.keep_raw_identifiers.unwrap_or(DEFAULT_KEEP_RAW_IDENTIFIERS) })
    }
}
