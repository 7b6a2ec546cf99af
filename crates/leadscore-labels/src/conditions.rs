//! Conditions and logic of a definition as polars expressions.
//!
//! Every condition yields a boolean with no nulls. An empty field fails every operator except the
//! negative ones (`is_not`, `is_none_of`, `does_not_contain`, `is_not_set`), which hold for it.

use leadscore_core::config::{Condition, Logic, Matcher, Op, Operand, Scalar, ValueType};
use polars::prelude::*;

fn text_lit(s: &str, ci: bool) -> Expr {
    lit(if ci { s.to_lowercase() } else { s.to_string() })
}

fn scalar_lit(s: &Scalar, ci: bool) -> Expr {
    match s {
        Scalar::Text(t) => text_lit(t, ci),
        Scalar::Number(n) => lit(*n),
        Scalar::Time(t) => lit(*t),
    }
}

/// The column a condition compares, normalised: lower-cased text for case-insensitive conditions,
/// numbers as f64, timestamps as UTC microseconds.
fn operand_column(c: &Condition) -> Expr {
    let base = col(c.field.as_str());
    match c.ty {
        ValueType::Text if c.case_insensitive => base.str().to_lowercase(),
        ValueType::Text => base,
        ValueType::Number => base.cast(DataType::Float64),
        ValueType::Time => base.dt().timestamp(TimeUnit::Microseconds),
    }
}

fn any_of(x: &Expr, values: &[Scalar], ci: bool) -> Expr {
    values.iter().map(|v| x.clone().eq(scalar_lit(v, ci))).reduce(|a, b| a.or(b)).unwrap_or_else(|| lit(false))
}

/// One condition as a null-free boolean expression.
pub fn condition(c: &Condition) -> Expr {
    let x = operand_column(c);
    let ci = c.case_insensitive;
    let one = |o: &Operand| match o {
        Operand::One(v) => scalar_lit(v, ci),
        // Validation guarantees the shape; an impossible operand matches nothing.
        _ => lit(NULL),
    };
    let (expr, when_empty) = match c.op {
        Op::IsSet => return col(c.field.as_str()).is_not_null(),
        Op::IsNotSet => return col(c.field.as_str()).is_null(),
        Op::Is => (x.eq(one(&c.operand)), false),
        Op::IsNot => (x.neq(one(&c.operand)), true),
        Op::IsAnyOf | Op::IsNoneOf => {
            let vs = match &c.operand {
                Operand::Many(vs) => vs.as_slice(),
                _ => &[],
            };
            let m = any_of(&x, vs, ci);
            if c.op == Op::IsAnyOf { (m, false) } else { (m.not(), true) }
        }
        Op::Contains => (x.str().contains_literal(one(&c.operand)), false),
        Op::DoesNotContain => (x.str().contains_literal(one(&c.operand)).not(), true),
        Op::StartsWith => (x.str().starts_with(one(&c.operand)), false),
        Op::IsMoreThan => (x.gt(one(&c.operand)), false),
        Op::IsLessThan => (x.lt(one(&c.operand)), false),
        Op::IsAtLeast => (x.gt_eq(one(&c.operand)), false),
        Op::IsAtMost => (x.lt_eq(one(&c.operand)), false),
        Op::IsBetween => match &c.operand {
            Operand::Between(lo, hi) => (x.clone().gt_eq(scalar_lit(lo, ci)).and(x.lt_eq(scalar_lit(hi, ci))), false),
            _ => (lit(false), false),
        },
    };
    expr.fill_null(lit(when_empty))
}

/// A logic tree over condition expressions.
pub fn logic(l: &Logic, conds: &[Expr]) -> Expr {
    match l {
        Logic::Cond(i) => conds.get(*i).cloned().unwrap_or_else(|| lit(false)),
        Logic::Not(x) => logic(x, conds).not(),
        Logic::And(xs) => xs.iter().map(|x| logic(x, conds)).reduce(|a, b| a.and(b)).unwrap_or_else(|| lit(true)),
        Logic::Or(xs) => xs.iter().map(|x| logic(x, conds)).reduce(|a, b| a.or(b)).unwrap_or_else(|| lit(false)),
    }
}

/// The row filter of a matching definition: its logic over its conditions, and its event name.
pub fn matcher_filter(m: &Matcher, name_column: &str) -> Expr {
    let conds: Vec<Expr> = m.conditions.iter().map(condition).collect();
    let mut f = m.logic.as_ref().map_or_else(|| lit(true), |l| logic(l, &conds));
    if let Some(e) = &m.event_name {
        f = f.and(col(name_column).eq(lit(e.clone())).fill_null(lit(false)));
    }
    f
}

/// The columns a definition reads (for checking the input has them).
pub fn columns_used(m: &Matcher) -> Vec<&str> {
    let mut v: Vec<&str> = m.conditions.iter().map(|c| c.field.as_str()).collect();
    v.push(&m.at);
    v.push(&m.value);
    if let Some(c) = &m.currency {
        v.push(c);
    }
    v.sort_unstable();
    v.dedup();
    v
}
