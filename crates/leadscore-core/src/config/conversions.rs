//! Conversion definitions and the label settings: validated types and their checks.
//!
//! A definition matches rows of a source (deals or events) by numbered conditions combined with a
//! logic expression, or is the union (`combine`) of other definitions. Presets bring ready-made
//! definitions (`closed_won`, `open_opp`) that a definition of the same name overrides.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;
use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::logic::{self, Logic};
use super::raw::{Dedupe, Op, RawCondition, RawConversion, RawLabels};
use super::{KeyPath, Preset, Validator, one_of};
use crate::schema::{FieldType, SourceKind, canonical_columns, deals, events};
use crate::time::{MICROS_PER_DAY, parse_timestamp};

/// The kind of values a field holds, for choosing operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Text (ids, names, stages, codes).
    Text,
    /// Numbers (amounts, probabilities).
    Number,
    /// Instants.
    Time,
}

/// One operand of a condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// An instant, UTC microseconds.
    Time(i64),
}

/// A condition's operand(s), shaped by its operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// `is_set`, `is_not_set`.
    None,
    /// Single-value operators.
    One(Scalar),
    /// `is_any_of`, `is_none_of`.
    Many(Vec<Scalar>),
    /// `is_between`, low and high, both included.
    Between(Scalar, Scalar),
}

/// A validated condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The source column.
    pub field: String,
    /// The type of the column.
    pub ty: ValueType,
    /// The operator.
    pub op: Op,
    /// The operand(s), typed like the column.
    pub operand: Operand,
    /// Compare text ignoring case.
    pub case_insensitive: bool,
}

/// A definition that matches source rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matcher {
    /// Deals or events.
    pub source: SourceKind,
    /// Numbered conditions.
    pub conditions: Vec<Condition>,
    /// How they combine (`None` when there are no conditions: every row matches).
    pub logic: Option<Logic>,
    /// Events only: the event name that must match.
    pub event_name: Option<String>,
    /// The timestamp field dating the conversion.
    pub at: String,
    /// The numeric value field.
    pub value: String,
    /// A field holding the value's currency, if the value needs converting.
    pub currency: Option<String>,
}

/// What a definition is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    /// Rows of a source that meet conditions.
    Match(Matcher),
    /// The union of other definitions.
    Combine(Vec<String>),
    /// The result of a SQL query over the ingested tables (see [`crate::sql`]).
    Sql(String),
}

/// A validated conversion definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversionDef {
    /// Unique name.
    pub name: String,
    /// Conditions, or a union.
    pub kind: DefinitionKind,
    /// Which conversions count.
    pub dedupe: Dedupe,
    /// Brought by a preset (not written in the config).
    pub builtin: bool,
}

/// What definitions are checked against: each source's `extra` columns, and the tables a SQL
/// definition sees (empty, with the ingested columns and types).
pub(super) struct DefinitionSources {
    /// Deals' and events' `extra` columns (output name → file column), for the configured ones.
    pub extras: BTreeMap<SourceKind, BTreeMap<String, String>>,
    /// The tables of [`crate::sql::empty_tables`].
    pub sql_tables: Vec<(String, polars::prelude::LazyFrame)>,
}

/// `[labels] window_days`.
pub const DEFAULT_WINDOW_DAYS: u32 = 40;
/// `[labels] history_months`.
pub const DEFAULT_HISTORY_MONTHS: u32 = 12;
/// Fewer months of history than this draw a warning (labels and train).
pub const RECOMMENDED_HISTORY_MONTHS: u32 = 6;
/// `[labels] warn_below_per_month`.
pub const DEFAULT_WARN_BELOW_PER_MONTH: u32 = 30;
/// `[labels] min_conversions`.
pub const DEFAULT_MIN_CONVERSIONS: u32 = 100;

/// Validated `[labels]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Labels {
    /// The target definition.
    pub target: String,
    /// Conversion window, days.
    pub window_days: u32,
    /// Months of training history.
    pub history_months: u32,
    /// Warn below this many target conversions in a month.
    pub warn_below_per_month: u32,
    /// Refuse to train below this many target conversions in the training window.
    pub min_conversions: u32,
}

impl Labels {
    /// The window in microseconds.
    pub fn window_micros(&self) -> i64 {
        i64::from(self.window_days) * MICROS_PER_DAY
    }

    /// The training window: leads created on the local dates `[from, to)`, `to` = run date −
    /// window, `from` = `to` − `history_months`. Labels reports it and features trains on it.
    pub fn training_window(&self, run_date: crate::RunDate) -> (crate::RunDate, crate::RunDate) {
        let to = run_date.date() - chrono::Duration::days(i64::from(self.window_days));
        let from = to.checked_sub_months(chrono::Months::new(self.history_months)).unwrap_or(to);
        (crate::RunDate::new(from), crate::RunDate::new(to))
    }

    /// Over `labels.parquet`: the leads a model may learn from, those created in the training
    /// window (`tz` midnights) whose window has ended, that were not already customers.
    pub fn is_training_lead(&self, run_date: crate::RunDate, tz: Tz) -> polars::prelude::Expr {
        use crate::schema::labels as l;
        use polars::prelude::{TimeUnit, col, lit};
        let (from, to) = self.training_window(run_date);
        let at = || col(l::CREATED_AT).dt().timestamp(TimeUnit::Microseconds);
        at().gt_eq(lit(from.start_micros(tz)))
            .and(at().lt(lit(to.start_micros(tz))))
            .and(col(l::MATURED))
            .and(col(l::EXISTING_CUSTOMER).not())
    }
}

/// The columns a definition may test, with their types: the canonical columns of the source and
/// its `extra` columns (text).
pub fn source_fields(kind: SourceKind, extra: &BTreeMap<String, String>) -> Vec<(String, ValueType)> {
    let mut out: Vec<(String, ValueType)> = canonical_columns(kind)
        .into_iter()
        .map(|c| {
            let ty = match kind.field(c).map(|f| f.ty) {
                Some(FieldType::Timestamp) => ValueType::Time,
                Some(FieldType::Amount | FieldType::Probability) | None => ValueType::Number,
                Some(FieldType::Id | FieldType::Text | FieldType::Currency) => ValueType::Text,
            };
            (c.to_string(), ty)
        })
        .collect();
    out.extend(extra.keys().map(|k| (k.clone(), ValueType::Text)));
    out
}

/// Ready-made definitions a preset brings, as TOML (validated like the user's own).
fn builtin_toml(preset: Preset) -> &'static str {
    match preset {
        Preset::Hubspot => HUBSPOT_CONVERSIONS,
        Preset::Dynamics365 => DYNAMICS365_CONVERSIONS,
        Preset::Pipedrive => PIPEDRIVE_CONVERSIONS,
        Preset::Salesforce => SALESFORCE_CONVERSIONS,
    }
}

/// HubSpot's ready-made conversions.
const HUBSPOT_CONVERSIONS: &str = r#"
[[conversions]]
name = "closed_won"
source = "deals"
conditions = [
  { field = "stage", op = "is", value = "closedwon", case_insensitive = true },
  { field = "type", op = "does_not_contain", value = "existing", case_insensitive = true },
]
at = "closed_at"
value = "amount"

[[conversions]]
name = "open_opp"
source = "deals"
conditions = [
  { field = "type", op = "does_not_contain", value = "existing", case_insensitive = true },
]
at = "created_at"
value = "amount"
dedupe = "first_per_user"
"#;

/// Dynamics 365's ready-made conversions. `statecode` 1 is Won (written `Won` by an export with
/// labels); an opportunity is a conversion of the lead it was qualified from.
const DYNAMICS365_CONVERSIONS: &str = r#"
[[conversions]]
name = "closed_won"
source = "deals"
conditions = [
  { field = "stage", op = "is_any_of", values = ["1", "Won"], case_insensitive = true },
]
at = "closed_at"
value = "amount"

[[conversions]]
name = "open_opp"
source = "deals"
at = "created_at"
value = "amount"
dedupe = "first_per_user"
"#;

/// Pipedrive's ready-made conversions. `status` won; a deleted deal is no opportunity.
const PIPEDRIVE_CONVERSIONS: &str = r#"
[[conversions]]
name = "closed_won"
source = "deals"
conditions = [{ field = "stage", op = "is", value = "won", case_insensitive = true }]
at = "closed_at"
value = "amount"

[[conversions]]
name = "open_opp"
source = "deals"
conditions = [{ field = "stage", op = "is_not", value = "deleted", case_insensitive = true }]
at = "created_at"
value = "amount"
dedupe = "first_per_user"
"#;

/// Salesforce's ready-made conversions.
const SALESFORCE_CONVERSIONS: &str = r#"
[[conversions]]
name = "closed_won"
source = "deals"
conditions = [
  { field = "stage", op = "is", value = "Closed Won", case_insensitive = true },
  { field = "type", op = "does_not_contain", value = "existing", case_insensitive = true },
  { field = "type", op = "is_not", value = "Renewal", case_insensitive = true },
]
at = "closed_at"
value = "amount"

[[conversions]]
name = "open_opp"
source = "deals"
conditions = [
  { field = "type", op = "does_not_contain", value = "existing", case_insensitive = true },
  { field = "type", op = "is_not", value = "Renewal", case_insensitive = true },
]
at = "created_at"
value = "amount"
dedupe = "first_per_user"
"#;

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Text => "text",
        ValueType::Number => "numeric",
        ValueType::Time => "timestamp",
    }
}

fn ops_for(t: ValueType) -> &'static [Op] {
    match t {
        ValueType::Text => &[
            Op::Is,
            Op::IsNot,
            Op::IsAnyOf,
            Op::IsNoneOf,
            Op::Contains,
            Op::DoesNotContain,
            Op::StartsWith,
            Op::IsSet,
            Op::IsNotSet,
        ],
        ValueType::Number => &[
            Op::Is,
            Op::IsNot,
            Op::IsAnyOf,
            Op::IsNoneOf,
            Op::IsMoreThan,
            Op::IsLessThan,
            Op::IsAtLeast,
            Op::IsAtMost,
            Op::IsBetween,
            Op::IsSet,
            Op::IsNotSet,
        ],
        ValueType::Time => {
            &[Op::IsMoreThan, Op::IsLessThan, Op::IsAtLeast, Op::IsAtMost, Op::IsBetween, Op::IsSet, Op::IsNotSet]
        }
    }
}

/// What shape of operand an operator takes.
enum Arity {
    Zero,
    One,
    Many,
    Two,
}

fn arity(op: Op) -> Arity {
    match op {
        Op::IsSet | Op::IsNotSet => Arity::Zero,
        Op::IsAnyOf | Op::IsNoneOf => Arity::Many,
        Op::IsBetween => Arity::Two,
        _ => Arity::One,
    }
}

impl Validator<'_> {
    fn scalar(&mut self, path: &KeyPath, v: &toml::Value, ty: ValueType, tz: Tz) -> Option<Scalar> {
        match (ty, v) {
            (ValueType::Text, toml::Value::String(s)) => Some(Scalar::Text(s.clone())),
            (ValueType::Number, toml::Value::Integer(i)) => Some(Scalar::Number(*i as f64)),
            (ValueType::Number, toml::Value::Float(f)) if f.is_finite() => Some(Scalar::Number(*f)),
            (ValueType::Time, toml::Value::String(s)) => match parse_timestamp(s, tz) {
                Ok(t) => Some(Scalar::Time(t)),
                Err(e) => {
                    self.problem(path, format!("`{s}` is not a timestamp: {e}"));
                    None
                }
            },
            (ValueType::Time, toml::Value::Datetime(d)) => match parse_timestamp(&d.to_string(), tz) {
                Ok(t) => Some(Scalar::Time(t)),
                Err(e) => {
                    self.problem(path, format!("`{d}` is not a timestamp: {e}"));
                    None
                }
            },
            (ty, v) => {
                let expected = match ty {
                    ValueType::Text => "a string",
                    ValueType::Number => "a number",
                    ValueType::Time => "a date or timestamp string such as \"2026-01-31\"",
                };
                self.problem(path, format!("the field is {}, so expected {expected}, found {v}", type_name(ty)));
                None
            }
        }
    }

    fn condition(
        &mut self,
        path: &KeyPath,
        raw: &RawCondition,
        fields: &[(String, ValueType)],
        source: SourceKind,
        tz: Tz,
    ) -> Option<Condition> {
        let Some((_, ty)) = fields.iter().find(|(f, _)| *f == raw.field) else {
            self.problem(
                &path.key("field"),
                format!(
                    "unknown {source} field `{}`; the fields of {source} are {}",
                    raw.field,
                    one_of(fields.iter().map(|f| f.0.as_str()))
                ),
            );
            return None;
        };
        let ty = *ty;
        let mut ok = true;
        if !ops_for(ty).contains(&raw.op) {
            self.problem(
                &path.key("op"),
                format!(
                    "`{}` does not fit the {} field `{}`; use one of {}",
                    raw.op.name(),
                    type_name(ty),
                    raw.field,
                    one_of(ops_for(ty).iter().map(|o| o.name()))
                ),
            );
            ok = false;
        }
        if raw.case_insensitive && ty != ValueType::Text {
            self.problem(
                &path.key("case_insensitive"),
                format!("`case_insensitive` only applies to text fields; `{}` is {}", raw.field, type_name(ty)),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let operand = self.operand(path, raw, ty, tz)?;
        Some(Condition { field: raw.field.clone(), ty, op: raw.op, operand, case_insensitive: raw.case_insensitive })
    }

    /// The value or values a condition compares its field with, checked against the operator's
    /// arity and the field's type.
    fn operand(&mut self, path: &KeyPath, raw: &RawCondition, ty: ValueType, tz: Tz) -> Option<Operand> {
        let op = raw.op.name();
        match arity(raw.op) {
            Arity::Zero => {
                if raw.value.is_some() || raw.values.is_some() {
                    self.problem(path, format!("`{op}` takes no `value` or `values`"));
                    return None;
                }
                Some(Operand::None)
            }
            Arity::One => {
                if raw.values.is_some() {
                    self.problem(&path.key("values"), format!("`{op}` takes one `value`, not `values`"));
                    return None;
                }
                let Some(v) = &raw.value else {
                    self.problem(path, format!("`{op}` needs a `value`"));
                    return None;
                };
                Some(Operand::One(self.scalar(&path.key("value"), v, ty, tz)?))
            }
            Arity::Many | Arity::Two => {
                if raw.value.is_some() {
                    self.problem(&path.key("value"), format!("`{op}` takes a list `values`, not `value`"));
                    return None;
                }
                let vs = raw.values.clone().unwrap_or_default();
                let two = matches!(arity(raw.op), Arity::Two);
                if (two && vs.len() != 2) || vs.is_empty() {
                    let want = if two { "exactly two `values` (low and high)" } else { "a non-empty list `values`" };
                    self.problem(path, format!("`{op}` needs {want}"));
                    return None;
                }
                let mut scalars = Vec::new();
                for (i, v) in vs.iter().enumerate() {
                    scalars.push(self.scalar(&path.key("values").index(i), v, ty, tz)?);
                }
                if !two {
                    return Some(Operand::Many(scalars));
                }
                let (lo, hi) = (scalars[0].clone(), scalars[1].clone());
                let ordered = match (&lo, &hi) {
                    (Scalar::Number(a), Scalar::Number(b)) => a <= b,
                    (Scalar::Time(a), Scalar::Time(b)) => a <= b,
                    _ => true,
                };
                if !ordered {
                    self.problem(&path.key("values"), "`is_between` needs the low value first");
                    return None;
                }
                Some(Operand::Between(lo, hi))
            }
        }
    }

    fn field_of(
        &mut self,
        path: &KeyPath,
        name: &str,
        want: ValueType,
        fields: &[(String, ValueType)],
        source: SourceKind,
    ) -> bool {
        match fields.iter().find(|(f, _)| f == name) {
            Some((_, t)) if *t == want => true,
            Some((_, t)) => {
                self.problem(
                    path,
                    format!("`{name}` is a {} field; a {} field is needed here", type_name(*t), type_name(want)),
                );
                false
            }
            None => {
                let candidates = fields.iter().filter(|(_, t)| *t == want).map(|(f, _)| f.as_str());
                self.problem(
                    path,
                    format!(
                        "unknown {source} field `{name}`; the {} fields are {}",
                        type_name(want),
                        one_of(candidates)
                    ),
                );
                false
            }
        }
    }

    /// Whether a `combine` (or `sql`) definition sets nothing but `name`, `combine` (or `sql`)
    /// and `dedupe`.
    fn combine_only(&mut self, path: &KeyPath, raw: &RawConversion) -> bool {
        let what = if raw.sql.is_some() { "sql" } else { "combine" };
        let stray: Vec<&str> = [
            ("source", raw.source.is_some()),
            ("conditions", !raw.conditions.is_empty()),
            ("logic", raw.logic.is_some()),
            ("at", raw.at.is_some()),
            ("value", raw.value.is_some()),
            ("currency", raw.currency.is_some()),
            ("event_name", raw.event_name.is_some()),
            ("combine", raw.sql.is_some() && !raw.combine.is_empty()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect();
        if stray.is_empty() {
            return true;
        }
        self.problem(
            path,
            format!("a `{what}` definition takes only `name`, `{what}` and `dedupe`; remove {}", one_of(stray)),
        );
        false
    }

    /// The `logic` over `n` conditions: all of them when it is not given; every condition it
    /// names must exist and every condition must be used. `None` in the error case too, with
    /// `ok` cleared.
    fn logic(&mut self, path: &KeyPath, text: Option<&String>, n: usize, ok: &mut bool) -> Option<Logic> {
        let Some(text) = text else {
            return (n > 0).then(|| Logic::all(n));
        };
        let l = match logic::parse(text) {
            Ok(l) => l,
            Err(e) => {
                self.problem(&path.key("logic"), format!("`{text}` {e}"));
                *ok = false;
                return None;
            }
        };
        let used = l.referenced();
        for i in used.iter().filter(|i| **i >= n) {
            self.problem(
                &path.key("logic"),
                format!("`${}` points at no condition; there {} {n}", i + 1, if n == 1 { "is" } else { "are" }),
            );
            *ok = false;
        }
        for i in (0..n).filter(|i| !used.contains(i)) {
            self.problem(&path.key("conditions").index(i), format!("condition `${}` is never used by `logic`", i + 1));
            *ok = false;
        }
        Some(l)
    }

    /// `event_name`, which only an events definition may set, and not to an empty string.
    fn event_name(
        &mut self,
        path: &KeyPath,
        raw: Option<&String>,
        source: SourceKind,
        ok: &mut bool,
    ) -> Option<String> {
        match (raw, source) {
            (Some(_), SourceKind::Deals) => {
                self.problem(&path.key("event_name"), "`event_name` applies to `source = \"events\"` only");
                *ok = false;
                None
            }
            (Some(e), _) if e.trim().is_empty() => {
                self.problem(&path.key("event_name"), "must not be empty");
                *ok = false;
                None
            }
            (e, _) => e.cloned(),
        }
    }

    fn definition(
        &mut self,
        path: &KeyPath,
        raw: RawConversion,
        sources: &DefinitionSources,
        tz: Tz,
        builtin: bool,
    ) -> Option<ConversionDef> {
        // An empty name is reported, but the definition is still checked (and its references
        // followed) so every problem shows at once; the config fails to load either way.
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            self.problem(&path.key("name"), "must not be empty");
        }
        let dedupe = raw.dedupe.unwrap_or(Dedupe::Id);
        if let Dedupe::PerUserDays(days) = dedupe
            && !(1..=3660).contains(&days)
        {
            self.problem(&path.key("dedupe"), format!("`per_user_days` must be between 1 and 3660, found {days}"));
        }
        if let Some(query) = &raw.sql {
            if !self.combine_only(path, &raw) {
                return None;
            }
            if let Err(e) = crate::sql::conversions(query, &sources.sql_tables, tz) {
                self.problem(&path.key("sql"), e);
                return None;
            }
            return Some(ConversionDef { name, kind: DefinitionKind::Sql(query.trim().to_string()), dedupe, builtin });
        }
        if !raw.combine.is_empty() {
            return self.combine_only(path, &raw).then_some(ConversionDef {
                name,
                kind: DefinitionKind::Combine(raw.combine),
                dedupe,
                builtin,
            });
        }
        let matcher = self.matcher(path, raw, sources, tz)?;
        Some(ConversionDef { name, kind: DefinitionKind::Match(matcher), dedupe, builtin })
    }

    /// A definition by conditions on a source's fields: each condition, the logic that combines
    /// them, and the fields the time, the value and the currency are read from.
    fn matcher(&mut self, path: &KeyPath, raw: RawConversion, sources: &DefinitionSources, tz: Tz) -> Option<Matcher> {
        let mut ok = true;
        let Some(source) = raw.source else {
            self.problem(path, "needs `source = \"deals\"` or `source = \"events\"` (or `combine = [...]`)");
            return None;
        };
        if source == SourceKind::Leads {
            self.problem(&path.key("source"), "conversions come from `deals` or `events`, not `leads`");
            return None;
        }
        let Some(extra) = sources.extras.get(&source) else {
            self.problem(&path.key("source"), format!("no [sources.{source}] is configured"));
            return None;
        };
        let fields = source_fields(source, extra);
        let mut conditions = Vec::new();
        for (i, c) in raw.conditions.iter().enumerate() {
            match self.condition(&path.key("conditions").index(i), c, &fields, source, tz) {
                Some(c) => conditions.push(c),
                None => ok = false,
            }
        }
        let logic = self.logic(path, raw.logic.as_ref(), raw.conditions.len(), &mut ok);
        let event_name = self.event_name(path, raw.event_name.as_ref(), source, &mut ok);
        let (default_at, default_value) = match source {
            SourceKind::Events => (events::AT, events::VALUE),
            _ => (deals::CLOSED_AT, deals::AMOUNT),
        };
        let at = raw.at.unwrap_or_else(|| default_at.to_string());
        ok &= self.field_of(&path.key("at"), &at, ValueType::Time, &fields, source);
        let value = raw.value.unwrap_or_else(|| default_value.to_string());
        ok &= self.field_of(&path.key("value"), &value, ValueType::Number, &fields, source);
        if let Some(cur) = &raw.currency {
            ok &= self.field_of(&path.key("currency"), cur, ValueType::Text, &fields, source);
        }
        ok.then_some(Matcher { source, conditions, logic, event_name, at, value, currency: raw.currency })
    }

    /// Validates `[[conversions]]` (plus the preset's ready-made ones) and `[labels]`.
    pub(super) fn conversions(
        &mut self,
        preset: Option<Preset>,
        sources: &DefinitionSources,
        tz: Tz,
    ) -> Option<(Vec<ConversionDef>, Option<Labels>)> {
        let path = KeyPath::root().key("conversions");
        let mut defs: Vec<ConversionDef> = Vec::new();
        // Where each definition is written (`None`: a preset's), for locating problems.
        let mut at: Vec<KeyPath> = Vec::new();
        let mut ok = true;
        if let Some(v) = self.get(&path) {
            match v.get_ref() {
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let ip = path.index(i);
                        match self
                            .deser::<RawConversion>(&ip, item)
                            .and_then(|r| self.definition(&ip, r, sources, tz, false))
                        {
                            Some(d) => {
                                if defs.iter().any(|x| x.name == d.name) {
                                    self.problem(&ip.key("name"), format!("conversion `{}` is defined twice", d.name));
                                    ok = false;
                                } else {
                                    defs.push(d);
                                    at.push(ip);
                                }
                            }
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    self.problem(&path, "expected an array of tables: write each definition as [[conversions]]");
                    ok = false;
                }
            }
        }
        if let Some(p) = preset {
            for b in builtin_definitions(p, sources, tz) {
                if !defs.iter().any(|d| d.name == b.name) {
                    defs.push(b);
                    at.push(path.clone());
                }
            }
        }
        // Combined names must exist, and combinations must not form a cycle.
        let names: BTreeSet<String> = defs.iter().map(|d| d.name.clone()).collect();
        for (d, p_at) in defs.iter().zip(&at) {
            if let DefinitionKind::Combine(parts) = &d.kind {
                for p in parts {
                    if !names.contains(p) {
                        self.problem(
                            &p_at.key("combine"),
                            format!(
                                "`{}` combines unknown conversion `{p}`; the conversions are {}",
                                d.name,
                                one_of(&names)
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        for (d, p_at) in defs.iter().zip(&at) {
            if let Some(cycle) = find_cycle(&defs, &d.name) {
                self.problem(&p_at.key("combine"), format!("combinations form a cycle: {}", cycle.join(" → ")));
                ok = false;
                break;
            }
        }
        let labels = self.labels(preset, &names);
        if !ok {
            return None;
        }
        Some((defs, labels?))
    }

    fn labels(&mut self, preset: Option<Preset>, names: &BTreeSet<String>) -> Option<Option<Labels>> {
        let path = KeyPath::root().key("labels");
        let raw = match self.get(&path) {
            Some(v) => self.deser::<RawLabels>(&path, v)?,
            None if preset.is_some() => RawLabels {
                target: None,
                window_days: None,
                history_months: None,
                warn_below_per_month: None,
                min_conversions: None,
            },
            None => return Some(None),
        };
        let mut ok = true;
        let target = match (raw.target, preset) {
            (Some(t), _) => t,
            (None, Some(_)) => "closed_won".to_string(),
            (None, None) => {
                self.problem(&path, "needs `target`, the conversion definition models learn to predict");
                return None;
            }
        };
        if !names.contains(&target) {
            self.problem(
                &path.key("target"),
                format!("unknown conversion `{target}`; define it under [[conversions]] (known: {})", one_of(names)),
            );
            ok = false;
        }
        let window_days = raw.window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
        if !(1..=730).contains(&window_days) {
            self.problem(&path.key("window_days"), format!("must be between 1 and 730 days, found {window_days}"));
            ok = false;
        }
        let history_months = raw.history_months.unwrap_or(DEFAULT_HISTORY_MONTHS);
        if !(1..=120).contains(&history_months) {
            self.problem(&path.key("history_months"), format!("must be between 1 and 120, found {history_months}"));
            ok = false;
        }
        ok.then_some(Some(Labels {
            target,
            window_days,
            history_months,
            warn_below_per_month: raw.warn_below_per_month.unwrap_or(DEFAULT_WARN_BELOW_PER_MONTH),
            min_conversions: raw.min_conversions.unwrap_or(DEFAULT_MIN_CONVERSIONS),
        }))
    }
}

/// A cycle through `start` in the combination graph, as a path of names.
fn find_cycle(defs: &[ConversionDef], start: &str) -> Option<Vec<String>> {
    fn walk(
        defs: &[ConversionDef],
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let Some(DefinitionKind::Combine(parts)) = defs.iter().find(|d| d.name == at).map(|d| &d.kind) else {
            return false;
        };
        for p in parts {
            path.push(p.clone());
            if p == start {
                return true;
            }
            if seen.insert(p.clone()) && walk(defs, p, start, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(defs, start, start, &mut path, &mut seen).then_some(path)
}

/// The preset's ready-made definitions, validated against the configured sources.
fn builtin_definitions(preset: Preset, sources: &DefinitionSources, tz: Tz) -> Vec<ConversionDef> {
    let text = builtin_toml(preset);
    let Ok(doc): Result<Spanned<DeTable<'_>>, _> = DeTable::parse(text) else { return Vec::new() };
    let base = std::path::Path::new(".");
    let mut v = Validator { text, doc: &doc, base_dir: base, problems: Vec::new() };
    let path = KeyPath::root().key("conversions");
    let Some(DeValue::Array(items)) = v.get(&path).map(|x| x.get_ref()) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = path.index(i);
        if let Some(d) = v.deser::<RawConversion>(&ip, item).and_then(|r| v.definition(&ip, r, sources, tz, true)) {
            out.push(d);
        }
    }
    debug_assert!(v.problems.is_empty(), "built-in definitions are invalid: {:?}", v.problems);
    out
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Text(t) => format!("{t:?}"),
        Scalar::Number(n) => format!("{n}"),
        Scalar::Time(t) => crate::time::format_micros(*t),
    }
}

impl Condition {
    /// The condition in words: `stage is "closedwon" (ignoring case)`.
    pub fn describe(&self) -> String {
        let op = self.op.name().replace('_', " ");
        let operand = match &self.operand {
            Operand::None => String::new(),
            Operand::One(v) => format!(" {}", scalar_text(v)),
            Operand::Many(vs) => format!(" [{}]", vs.iter().map(scalar_text).collect::<Vec<_>>().join(", ")),
            Operand::Between(a, b) => format!(" {} and {}", scalar_text(a), scalar_text(b)),
        };
        let ci = if self.case_insensitive { " (ignoring case)" } else { "" };
        format!("{} {op}{operand}{ci}", self.field)
    }
}

impl ConversionDef {
    /// The definition in words, for `validate` and reports.
    pub fn describe(&self) -> String {
        let dedupe = match self.dedupe {
            Dedupe::Id => "one per record".to_string(),
            Dedupe::FirstPerUser => "first per user".to_string(),
            Dedupe::PerUserDays(days) => format!("at most one per user in {days} days"),
        };
        match &self.kind {
            DefinitionKind::Combine(parts) => format!("any of {}; {dedupe}", parts.join(", ")),
            DefinitionKind::Sql(query) => {
                format!("the rows of `{}`; {dedupe}", query.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            DefinitionKind::Match(m) => {
                let mut s = format!("{}", m.source);
                let mut clauses = Vec::new();
                if let Some(e) = &m.event_name {
                    clauses.push(format!("name is {e:?}"));
                }
                if let Some(l) = &m.logic {
                    let mut text = l.to_string();
                    // Replace $N (highest first, so $1 does not eat $10) by the condition in words.
                    for (i, c) in m.conditions.iter().enumerate().rev() {
                        text = text.replace(&format!("${}", i + 1), &format!("[{}]", c.describe()));
                    }
                    clauses.push(text);
                }
                if clauses.is_empty() {
                    s.push_str(" (every row)");
                } else {
                    s.push_str(&format!(" where {}", clauses.join(" AND ")));
                }
                let cur = m.currency.as_ref().map(|c| format!(" converted by {c}")).unwrap_or_default();
                format!("{s}; dated by {}; valued by {}{cur}; {dedupe}", m.at, m.value)
            }
        }
    }
}
