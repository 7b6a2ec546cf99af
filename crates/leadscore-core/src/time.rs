//! Time: the run date, and parsing the timestamp formats CRM exports use.
//!
//! All canonical timestamps are UTC instants stored as microseconds since the Unix epoch
//! (Parquet `TIMESTAMP(MICROS, isAdjustedToUTC=true)`). Text without an offset is read in the
//! project time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Microseconds in one day (durations such as the conversion window are fixed 24-hour days).
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A run date: the run for date D covers data known before D 00:00 in the project time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunDate(NaiveDate);

impl RunDate {
    /// Wraps a calendar date.
    pub fn new(date: NaiveDate) -> Self {
        Self(date)
    }

    /// The calendar date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// D 00:00 in `tz`, as microseconds since the epoch (UTC). On the rare day whose midnight does
    /// not exist (a DST jump at midnight) the first instant of the day is used.
    pub fn start_micros(self, tz: Tz) -> i64 {
        local_to_utc_micros(self.0.and_time(NaiveTime::MIN), tz)
            .or_else(|| local_to_utc_micros(self.0.and_hms_opt(1, 0, 0).unwrap_or_default(), tz))
            .unwrap_or_else(|| self.0.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
    }

    /// The previous calendar day.
    pub fn pred(self) -> Self {
        Self(self.0.pred_opt().unwrap_or(self.0))
    }

    /// The next calendar day.
    pub fn succ(self) -> Self {
        Self(self.0.succ_opt().unwrap_or(self.0))
    }

    /// The date of a UTC instant in `tz`.
    pub fn of_instant(micros: i64, tz: Tz) -> Option<Self> {
        let utc = DateTime::<Utc>::from_timestamp_micros(micros)?;
        Some(Self(utc.with_timezone(&tz).date_naive()))
    }

    /// Today in `tz` (the default run date when neither the command line nor the config names one).
    pub fn today(tz: Tz) -> Self {
        Self(Utc::now().with_timezone(&tz).date_naive())
    }
}

impl fmt::Display for RunDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for RunDate {
    type Err = String;
    /// A date as `YYYY-MM-DD`, from 1900-01-01 to 9999-12-31 (so that date arithmetic on run
    /// dates never leaves the calendar).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("expected a date as YYYY-MM-DD, found `{s}`"))?;
        if !(1900..=9999).contains(&d.year()) {
            return Err(format!("expected a run date from 1900-01-01 to 9999-12-31, found `{s}`"));
        }
        Ok(Self(d))
    }
}

impl Serialize for RunDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RunDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The earliest instant a timestamp may be: 1900-01-01T00:00:00Z. Earlier values (an epoch
/// number with a stray sign or digits) are rejected, never guessed at.
pub const MIN_MICROS: i64 = -2_208_988_800_000_000;
/// The first instant a timestamp may no longer be: 2200-01-01T00:00:00Z.
pub const END_MICROS: i64 = 7_258_118_400_000_000;

/// `micros` if it lies in the accepted range `[1900-01-01, 2200-01-01)` (UTC).
pub fn in_range(micros: i64) -> Result<i64, TimestampError> {
    if (MIN_MICROS..END_MICROS).contains(&micros) { Ok(micros) } else { Err(TimestampError::OutOfRange) }
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// The value is empty.
    Empty,
    /// No supported format matches.
    Unparsable,
    /// The configured `timestamp_format` does not match.
    NotInFormat,
    /// A local time that does not exist in the zone (it falls in a DST gap).
    NonexistentLocalTime,
    /// The value is outside the representable range.
    OutOfRange,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty timestamp"),
            Self::Unparsable => f.write_str(
                "not a supported timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS`, \
                 `YYYY-MM-DDTHH:MM:SS.sss+0000`, `YYYY-MM-DD`, or epoch seconds/milliseconds)",
            ),
            Self::NotInFormat => f.write_str("does not match the source's `timestamp_format`"),
            Self::NonexistentLocalTime => f.write_str("local time does not exist in the project time zone (DST gap)"),
            Self::OutOfRange => {
                f.write_str("outside the accepted range: expected an instant from 1900-01-01 up to 2199-12-31 (UTC)")
            }
        }
    }
}

fn local_to_utc_micros(naive: NaiveDateTime, tz: Tz) -> Option<i64> {
    // Ambiguous local times (the repeated hour when clocks go back) take the earlier instant.
    tz.from_local_datetime(&naive).earliest().map(|dt| dt.timestamp_micros())
}

/// Converts a local wall-clock time in `tz` to UTC microseconds.
pub fn local_micros(naive: NaiveDateTime, tz: Tz) -> Result<i64, TimestampError> {
    local_to_utc_micros(naive, tz).ok_or(TimestampError::NonexistentLocalTime)
}

/// Interprets an integer as epoch seconds, milliseconds or microseconds by magnitude:
/// below 10^11 seconds, below 10^14 milliseconds, otherwise microseconds. (10^11 seconds is the
/// year 5138; 10^11 milliseconds is March 1973.)
pub fn epoch_to_micros(v: i64) -> Result<i64, TimestampError> {
    let a = v.unsigned_abs();
    let micros = if a < 100_000_000_000 {
        v.checked_mul(1_000_000)
    } else if a < 100_000_000_000_000 {
        v.checked_mul(1_000)
    } else {
        Some(v)
    };
    micros.ok_or(TimestampError::OutOfRange).and_then(in_range)
}

/// Parses one timestamp as exported by a CRM into UTC microseconds.
///
/// Accepted, in this order:
/// - an integer: epoch seconds / milliseconds / microseconds by magnitude ([`epoch_to_micros`];
///   HubSpot exports milliseconds);
/// - RFC 3339 with an offset: `2025-09-01T01:17:28Z`, `2025-09-01 01:17:28.5+02:00`;
/// - Salesforce style, offset without colon: `2025-09-01T01:17:28.000+0000`;
/// - local time without offset, read in `tz`: `2025-09-01 01:17:28`, `2025-09-01T01:17:28.250`,
///   `2025-09-01 01:17`;
/// - a date `2025-09-01`, read as local midnight in `tz`.
///
/// Local times in a DST overlap take the earlier instant; local times in a DST gap are an error.
/// Instants outside `[1900-01-01, 2200-01-01)` UTC are [`TimestampError::OutOfRange`].
pub fn parse_timestamp(raw: &str, tz: Tz) -> Result<i64, TimestampError> {
    parse_unchecked(raw, tz).and_then(in_range)
}

/// A strftime format (`timestamp_format`, `%m/%d/%Y %I:%M %p`) read once, to parse a column of
/// values with it.
#[derive(Debug, Clone)]
pub struct TimestampFormat<'a> {
    items: Vec<chrono::format::Item<'a>>,
}

impl<'a> TimestampFormat<'a> {
    /// Reads `format` (checked at config load by [`check_format`]).
    pub fn new(format: &'a str) -> Self {
        Self { items: chrono::format::StrftimeItems::new(format).collect() }
    }

    /// Parses `raw`: with an offset (`%z`) as that instant, else as local time in `tz`; a format
    /// without a time of day gives local midnight. The text is parsed once, then read as an
    /// instant, a local time or a date (what chrono's `parse_from_str` of `DateTime`,
    /// `NaiveDateTime` and `NaiveDate` each do after the same parse).
    pub fn parse(&self, raw: &str, tz: Tz) -> Result<i64, TimestampError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(TimestampError::Empty);
        }
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse(&mut parsed, s, self.items.iter()).map_err(|_| TimestampError::NotInFormat)?;
        let micros = if let Ok(dt) = parsed.to_datetime() {
            Ok(dt.timestamp_micros())
        } else if let Ok(naive) = parsed.to_naive_datetime_with_offset(0) {
            local_micros(naive, tz)
        } else if let Ok(d) = parsed.to_naive_date() {
            local_micros(d.and_time(NaiveTime::MIN), tz)
        } else {
            Err(TimestampError::NotInFormat)
        };
        micros.and_then(in_range)
    }
}

/// Whether `format` is a strftime format chrono understands that names at least a year, a month
/// and a day (`%Y`/`%y`, `%m`/`%b`/`%B`, `%d`/`%e`, or `%F`, `%D`, `%c`, `%s`).
pub fn check_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("`{format}` is not a strftime format (see chrono's `format::strftime`)"));
    }
    let has = |specs: &[&str]| specs.iter().any(|s| format.contains(s));
    let whole = has(&["%F", "%D", "%c", "%s", "%+"]);
    let parts = has(&["%Y", "%y", "%G"]) && has(&["%m", "%b", "%B", "%h"]) && has(&["%d", "%e"]);
    if !(whole || parts) {
        return Err(format!("`{format}` does not name a year, a month and a day"));
    }
    Ok(())
}

/// A timestamp in the ISO shapes exports use most, read byte by byte: `YYYY-MM-DD`, optionally
/// followed by `T` or a space and `HH:MM` or `HH:MM:SS` with up to nine fraction digits, and an
/// offset after seconds (`Z`, `±HH:MM`, `±HHMM`; `±HH` after a space-separated time, as
/// PostgreSQL writes it). The local time and the offset in seconds, if any; `None` for any other
/// shape, which [`parse_unchecked`] then reads with chrono, as it reads these when told so (a
/// test compares the two on every shape).
fn iso_fast(b: &[u8]) -> Option<(NaiveDateTime, Option<i32>)> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    }
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    if b.len() == 10 {
        return Some((date.and_time(NaiveTime::MIN), None));
    }
    let sep = b[10];
    if !(sep == b'T' || sep == b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (hour, minute) = (num(&b[11..13])?, num(&b[14..16])?);
    if b.len() == 16 {
        return Some((date.and_time(NaiveTime::from_hms_opt(hour, minute, 0)?), None));
    }
    if b.len() < 19 || b[16] != b':' {
        return None;
    }
    let second = num(&b[17..19])?;
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(&fraction[..digits])? * 10u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = match rest {
        [] => None,
        [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, tail @ ..] => {
            let minutes = match tail {
                [b':', m1, m2] | [m1, m2] => num(&[*m1, *m2])?,
                [] if sep == b' ' => 0,
                _ => return None,
            };
            let hours = num(&[*h1, *h2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = (hours * 3600 + minutes * 60) as i32;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    Some((date.and_time(time), offset))
}

fn parse_unchecked(raw: &str, tz: Tz) -> Result<i64, TimestampError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(TimestampError::Empty);
    }
    let bytes = s.as_bytes();
    if bytes.iter().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 0 && *b == b'-')) && s != "-" {
        let v: i64 = s.parse().map_err(|_| TimestampError::OutOfRange)?;
        return epoch_to_micros(v);
    }
    match iso_fast(bytes) {
        Some((naive, Some(offset))) => return Ok(naive.and_utc().timestamp_micros() - i64::from(offset) * 1_000_000),
        Some((naive, None)) => return local_micros(naive, tz),
        None => {}
    }
    parse_chrono(s, tz)
}

/// [`parse_unchecked`] for what is not a number, with chrono's parsers alone.
fn parse_chrono(s: &str, tz: Tz) -> Result<i64, TimestampError> {
    let bytes = s.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(TimestampError::Unparsable);
    }
    if bytes.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| TimestampError::Unparsable)?;
        return local_micros(d.and_time(NaiveTime::MIN), tz);
    }
    let sep = bytes[10];
    if sep != b'T' && sep != b' ' && sep != b't' {
        return Err(TimestampError::Unparsable);
    }
    if has_offset(&bytes[11..]) {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Ok(dt.timestamp_micros());
        }
        // `%#z` also reads an offset of hours only (`+00`, PostgreSQL's `timestamptz` text).
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
            if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
                return Ok(dt.timestamp_micros());
            }
        }
        return Err(TimestampError::Unparsable);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return local_micros(naive, tz);
        }
    }
    Err(TimestampError::Unparsable)
}

/// Whether the time part (after the date and separator) carries a zone: `Z` or a `+`/`-` offset.
fn has_offset(time: &[u8]) -> bool {
    time.iter().any(|b| matches!(b, b'Z' | b'z' | b'+' | b'-'))
}

/// Formats UTC microseconds as RFC 3339 with a `Z` suffix (for messages and reports).
pub fn format_micros(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("<invalid instant {micros}>"))
}

/// The polars time zone of a chrono-tz zone (for local-time expressions such as months and hours).
pub fn polars_time_zone(tz: Tz) -> polars::prelude::TimeZone {
    polars::prelude::TimeZone::opt_try_new(Some(tz.name())).ok().flatten().unwrap_or(polars::prelude::TimeZone::UTC)
}

/// An expression for the local month (`YYYY-MM`) of a UTC timestamp column.
pub fn local_month(column: &str, tz: Tz) -> polars::prelude::Expr {
    use polars::prelude::*;
    col(column).dt().convert_time_zone(polars_time_zone(tz)).dt().strftime("%Y-%m")
}

/// Parses an IANA time zone name, with a message that says what was expected.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("expected an IANA time zone name such as `Europe/Amsterdam` or `UTC`, found `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ams() -> Tz {
        chrono_tz::Europe::Amsterdam
    }

    fn parse_with_format(raw: &str, format: &str, tz: Tz) -> Result<i64, TimestampError> {
        TimestampFormat::new(format).parse(raw, tz)
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_micros()).unwrap_or(i64::MIN)
    }

    #[test]
    fn parses_every_supported_format() {
        let tz = ams();
        let cases = [
            ("2025-09-01T01:17:28Z", "2025-09-01T01:17:28Z"),
            ("2025-09-01T01:17:28.5+02:00", "2025-08-31T23:17:28.5Z"),
            ("2025-09-01 01:17:28+00:00", "2025-09-01T01:17:28Z"),
            ("2025-09-01T01:17:28.000+0000", "2025-09-01T01:17:28Z"),
            ("2025-09-01T03:17:28.000+0200", "2025-09-01T01:17:28Z"),
            // PostgreSQL's `timestamptz` text (an offset of hours only; fractions when there are).
            ("2025-09-01 01:17:28+00", "2025-09-01T01:17:28Z"),
            ("2025-09-01 06:47:28.123456+05:30", "2025-09-01T01:17:28.123456Z"),
            ("2025-08-31 22:17:28-03", "2025-09-01T01:17:28Z"),
            // Local wall-clock time in Amsterdam (CEST, +02:00 in September).
            ("2025-09-01 03:17:28", "2025-09-01T01:17:28Z"),
            ("2025-09-01T03:17:28.250", "2025-09-01T01:17:28.25Z"),
            ("2025-09-01 03:17", "2025-09-01T01:17:00Z"),
            ("2025-01-15", "2025-01-14T23:00:00Z"),
            // HubSpot epoch milliseconds and plain epoch seconds.
            ("1756689448000", "2025-09-01T01:17:28Z"),
            ("1756689448", "2025-09-01T01:17:28Z"),
            ("  2025-09-01T01:17:28Z ", "2025-09-01T01:17:28Z"),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_timestamp(raw, tz), Ok(utc(want)), "{raw}");
        }
    }

    #[test]
    fn the_byte_parser_reads_every_shape_it_takes_as_chrono_does() {
        let dates = ["2025-09-01", "2024-02-29", "2025-02-29", "2025-13-01", "2025-00-10", "1899-12-31", "2025-03-30"];
        let dates = dates.iter().copied().chain(["2025-10-26", "20x5-01-01", "2025-1-01"]);
        let times = ["01:17", "01:17:28", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "02:30:00", "02:30", "1:17"];
        let fractions = ["", ".5", ".250", ".123456", ".123456789", ".1234567891", ".", ".5x"];
        let offsets = ["", "Z", "z", "+02:00", "-03:00", "+0200", "-0330", "+02", "-03", "+2400", "+05:30", " +0000"];
        let offsets = offsets.iter().copied().chain(["+0560", "+02:0", "+2", "Zx", "-"]);
        let (mut fast, mut total) = (0, 0);
        for tz in [ams(), chrono_tz::UTC, chrono_tz::America::New_York] {
            for date in dates.clone() {
                let mut cases = vec![date.to_string(), format!("{date}x"), format!("{date} ")];
                for sep in ["T", " ", "t", "_"] {
                    for time in times {
                        for fraction in fractions {
                            for offset in offsets.clone() {
                                cases.push(format!("{date}{sep}{time}{fraction}{offset}"));
                            }
                        }
                    }
                }
                for s in cases {
                    total += 1;
                    if iso_fast(s.as_bytes()).is_some() {
                        fast += 1;
                        assert_eq!(parse_unchecked(&s, tz), parse_chrono(&s, tz), "{s} in {tz}");
                    }
                }
            }
        }
        // The shapes exports use are all read by the byte parser.
        for s in
            ["2025-09-01T01:17:28.000+0000", "2025-09-01 01:17:28", "2025-09-01T01:17:28Z", "2025-09-01 01:17:28+00"]
        {
            assert!(iso_fast(s.as_bytes()).is_some(), "{s}");
        }
        assert!(fast >= 1000, "{fast} of {total} cases compared");
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        let tz = ams();
        assert_eq!(parse_timestamp("", tz), Err(TimestampError::Empty));
        assert_eq!(parse_timestamp("   ", tz), Err(TimestampError::Empty));
        for bad in ["31/02/2025", "2025-02-31 10:00:00", "yesterday", "2025-13-01", "2025-09-01X10", "-"] {
            assert_eq!(parse_timestamp(bad, tz), Err(TimestampError::Unparsable), "{bad}");
        }
        assert_eq!(parse_timestamp("99999999999999999999", tz), Err(TimestampError::OutOfRange));
    }

    #[test]
    fn a_configured_format_reads_us_reports_offsets_and_dates() {
        let tz = chrono_tz::Europe::Amsterdam;
        // 2025-11-03 20:00 CET = 19:00Z.
        assert_eq!(parse_with_format("11/03/2025 08:00 PM", "%m/%d/%Y %I:%M %p", tz), Ok(1_762_196_400_000_000));
        assert_eq!(parse_with_format("03.11.2025", "%d.%m.%Y", tz), Ok(1_762_124_400_000_000));
        assert_eq!(parse_with_format("2025-11-03 20:00 +0000", "%Y-%m-%d %H:%M %z", tz), Ok(1_762_200_000_000_000));
        assert_eq!(parse_with_format("2025-11-03", "%m/%d/%Y", tz), Err(TimestampError::NotInFormat));
        assert_eq!(parse_with_format("  ", "%m/%d/%Y", tz), Err(TimestampError::Empty));
        // The DST gap stays an error with a format too (2026-03-29 02:30 does not exist).
        assert_eq!(
            parse_with_format("03/29/2026 02:30 AM", "%m/%d/%Y %I:%M %p", tz),
            Err(TimestampError::NonexistentLocalTime)
        );
        assert!(check_format("%m/%d/%Y %I:%M %p").is_ok() && check_format("%F").is_ok());
        assert!(check_format("%H:%M").is_err() && check_format("%Q").is_err());
    }

    #[test]
    fn dst_gap_is_an_error_and_overlap_takes_the_earlier_instant() {
        let tz = ams();
        // 2025-03-30 02:30 does not exist in Amsterdam.
        assert_eq!(parse_timestamp("2025-03-30 02:30:00", tz), Err(TimestampError::NonexistentLocalTime));
        // 2025-10-26 02:30 happens twice; the first is at +02:00.
        assert_eq!(parse_timestamp("2025-10-26 02:30:00", tz), Ok(utc("2025-10-26T00:30:00Z")));
    }

    #[test]
    fn run_date_starts_at_local_midnight() {
        let d: RunDate = "2025-09-02".parse().unwrap_or(RunDate(NaiveDate::MIN));
        assert_eq!(d.start_micros(ams()), utc("2025-09-01T22:00:00Z"));
        assert_eq!(d.start_micros(chrono_tz::UTC), utc("2025-09-02T00:00:00Z"));
        assert_eq!(d.to_string(), "2025-09-02");
        assert_eq!(d.pred().to_string(), "2025-09-01");
        assert_eq!(RunDate::of_instant(utc("2025-09-01T22:30:00Z"), ams()), Some(d));
        assert!("2025-9-2x".parse::<RunDate>().is_err());
    }
}
