//! SQL conversion definitions (`[[conversions]] sql = "SELECT …"`): the tables a query sees and
//! the result it must give, checked the same way when the config loads (on empty tables with the
//! ingested columns and types) and when labels runs it (on the run's tables). The engine is
//! polars' SQL context, so a query runs on the same frames the other definitions filter.
//!
//! The result has one row per conversion and these columns (others are refused, so that a typo
//! such as `vale` is not silently a conversion without a value):
//!
//! | column | type | |
//! | --- | --- | --- |
//! | `id` | text or integer | required: the conversion's record id (dedupe and ids use it) |
//! | `user_id` | text or integer | required: who converted (links to leads) |
//! | `at` | timestamp | required: when; a timestamp without a zone is local time of the project |
//! | `value` | number | optional: its value (none when left out) |
//! | `currency` | text | optional: the ISO 4217 code of `value`, converted with `[currency]` |

use chrono_tz::Tz;
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::artifact::{self, Kind};
use crate::config::{Attribute, Table};

/// The record id of a conversion.
pub const ID: &str = "id";
/// Who converted.
pub const USER_ID: &str = "user_id";
/// When.
pub const AT: &str = "at";
/// Its value.
pub const VALUE: &str = "value";
/// The currency of `value`.
pub const CURRENCY: &str = "currency";

/// The ingested tables a query may name, besides the extra tables of `[sources.tables]`.
pub const TABLES: [&str; 3] = ["leads", "deals", "events"];

fn dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Text => DataType::String,
        Kind::Instant => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        Kind::Float => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Integer => DataType::Int64,
        Kind::Date => DataType::Date,
    }
}

/// Empty tables with the columns and types ingest writes: the canonical columns, the deals' and
/// events' `extra` columns (text), and the leads' attributes (by their declared kind; text when
/// the kind is left to inference, so a query that computes with such an attribute should declare
/// its `kind`). `events` is `None` when no events source is configured. The extra tables follow
/// with their declared columns.
pub fn empty_tables(
    attributes: &[Attribute],
    deal_extra: &[String],
    event_extra: Option<&[String]>,
    tables: &[Table],
) -> Vec<(String, LazyFrame)> {
    let frame = |a: &artifact::Artifact, more: Vec<(String, DataType)>| {
        let mut schema: Schema = a.columns.iter().map(|(n, k)| Field::new((*n).into(), dtype(*k))).collect();
        for (n, t) in more {
            schema.with_column(n.into(), t);
        }
        DataFrame::empty_with_schema(&schema).lazy()
    };
    // An inferred kind is unknown until ingest runs: text.
    let attribute_type = |a: &Attribute| a.kind.map_or(DataType::String, |k| k.dtype());
    let text = |names: &[String]| names.iter().map(|n| (n.clone(), DataType::String)).collect::<Vec<_>>();
    let mut out = vec![
        (
            "leads".to_string(),
            frame(&artifact::LEADS, attributes.iter().map(|a| (a.name.clone(), attribute_type(a))).collect()),
        ),
        ("deals".to_string(), frame(&artifact::DEALS, text(deal_extra))),
    ];
    if let Some(extra) = event_extra {
        out.push(("events".to_string(), frame(&artifact::EVENTS, text(extra))));
    }
    for t in tables {
        out.push((t.name.clone(), DataFrame::empty_with_schema(&t.schema()).lazy()));
    }
    out
}

/// What is wrong with a query, from polars' planning error (no data is involved in planning, so
/// the message quotes no value).
fn planning(e: PolarsError) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// Plans `query` over `tables` and returns its result normalised to `id`, `user_id` (text),
/// `at` (UTC instant), `value` (float, null when not selected) and `currency` (text, null when
/// not selected), or what is wrong with it. Nothing is computed until the frame is collected.
pub fn conversions(query: &str, tables: &[(String, LazyFrame)], tz: Tz) -> Result<LazyFrame, String> {
    let mut ctx = SQLContext::new();
    for (name, lf) in tables {
        ctx.register(name.as_str(), lf.clone());
    }
    let mut lf = ctx.execute(query).map_err(planning)?;
    let schema = lf.collect_schema().map_err(planning)?;
    let allowed = [ID, USER_ID, AT, VALUE, CURRENCY];
    let stray: Vec<&str> = schema.iter_names().map(|n| n.as_str()).filter(|n| !allowed.contains(n)).collect();
    if !stray.is_empty() {
        return Err(format!(
            "the result has column(s) {}; expected `id`, `user_id`, `at` and optionally `value` and `currency` \
             (rename with AS)",
            stray.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let ty = |name: &str| schema.get(name).cloned();
    let mut columns = Vec::new();
    for name in [ID, USER_ID] {
        match ty(name) {
            Some(DataType::String) => columns.push(col(name)),
            Some(t) if t.is_integer() => columns.push(col(name).cast(DataType::String)),
            Some(t) => return Err(format!("`{name}` must be text or an integer, found {t}")),
            None => return Err(format!("the result has no `{name}` column; select one (… AS {name})")),
        }
    }
    let local =
        |e: Expr| e.dt().replace_time_zone(Some(crate::time::polars_time_zone(tz)), lit("earliest"), NonExistent::Null);
    let at = match ty(AT) {
        Some(DataType::Datetime(_, Some(_))) => col(AT),
        Some(DataType::Datetime(_, None)) => local(col(AT)),
        Some(DataType::Date) => local(col(AT).cast(DataType::Datetime(TimeUnit::Microseconds, None))),
        Some(t) => return Err(format!("`at` must be a timestamp, found {t}")),
        None => return Err("the result has no `at` column; select the timestamp that dates the conversion".into()),
    };
    columns.push(
        at.dt()
            .convert_time_zone(TimeZone::UTC)
            .cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
            .alias(AT),
    );
    columns.push(match ty(VALUE) {
        Some(t) if t.is_primitive_numeric() || t == DataType::Null => col(VALUE).cast(DataType::Float64),
        Some(t) => return Err(format!("`value` must be a number, found {t}")),
        None => lit(NULL).cast(DataType::Float64).alias(VALUE),
    });
    columns.push(match ty(CURRENCY) {
        Some(DataType::String | DataType::Null) => col(CURRENCY).cast(DataType::String),
        Some(t) => return Err(format!("`currency` must be text (an ISO 4217 code), found {t}")),
        None => lit(NULL).cast(DataType::String).alias(CURRENCY),
    });
    Ok(lf.select(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Vec<(String, LazyFrame)> {
        empty_tables(&[], &["pipeline".to_string()], Some(&[]), &[])
    }

    #[test]
    fn a_query_over_the_ingested_tables_gives_the_conversion_columns() {
        let q = "SELECT deal_id AS id, user_id, closed_at AS at, amount AS value FROM deals \
                 WHERE stage = 'closedwon' AND pipeline = 'default' AND amount > 5000";
        let mut lf = conversions(q, &tables(), chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
        let schema = lf.collect_schema().map(|s| s.iter_names().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(schema.ok(), Some(vec![ID.into(), USER_ID.into(), AT.into(), VALUE.into(), CURRENCY.into()]));
    }

    /// Two things SQL definitions do that need polars features of their own (Cargo.toml:
    /// `rank`, `semi_anti_join`): a user's first won deal, and a condition on another table.
    #[test]
    fn a_query_may_rank_within_a_user_and_test_membership_in_a_subquery() -> PolarsResult<()> {
        let at = |days: &[i64]| {
            Series::new("t".into(), days.iter().map(|d| d * 86_400_000_000).collect::<Vec<_>>())
                .cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
        };
        let mut deals = df!(
            "deal_id" => ["d1", "d2", "d3", "d4"],
            "user_id" => ["u1", "u1", "u2", "u3"],
            "stage" => ["won", "won", "won", "won"],
            "amount" => [10.0, 20.0, 30.0, 40.0],
        )?;
        deals.with_column(at(&[5, 2, 3, 4])?.with_name("closed_at".into()).into())?;
        let events = df!("user_id" => ["u1", "u3"], "name" => ["demo", "webinar"])?;
        let tables = vec![("deals".to_string(), deals.lazy()), ("events".to_string(), events.lazy())];
        let q = "SELECT deal_id AS id, user_id, closed_at AS at, amount AS value FROM \
                 (SELECT *, RANK() OVER (PARTITION BY user_id ORDER BY closed_at) AS k FROM deals WHERE stage = 'won') \
                 WHERE k = 1 AND user_id IN (SELECT user_id FROM events WHERE name = 'demo')";
        let found = conversions(q, &tables, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}")).collect()?;
        let ids: Vec<Option<&str>> = found.column(ID)?.str()?.iter().collect();
        assert_eq!(ids, [Some("d2")], "u1's first won deal; u2 and u3 had no demo");
        Ok(())
    }

    #[test]
    fn a_wrong_query_says_what_is_wrong() {
        let cases = [
            ("SELECT deal_id AS id, user_id, closed_at AS at FROM opportunities", "opportunities"),
            ("SELECT deal_id AS id, user_id, closed_at AS at FROM deals WHERE stag = 'x'", "stag"),
            ("SELECT deal_id AS id, user_id FROM deals", "no `at`"),
            ("SELECT deal_id AS id, user_id, stage AS at FROM deals", "`at` must be a timestamp"),
            ("SELECT deal_id AS id, user_id, closed_at AS at, amount AS vale FROM deals", "`vale`"),
            ("SELECT deal_id AS id, user_id, closed_at AS at, stage AS value FROM deals", "`value` must be a number"),
            ("SELEC 1", ""),
        ];
        for (q, says) in cases {
            let e = conversions(q, &tables(), chrono_tz::UTC).map(|_| ()).expect_err(q);
            assert!(e.contains(says), "{q}: {e}");
        }
    }
}
