//! The logic of a conversion definition: `$1 AND ($2 OR NOT $3)` over its numbered conditions.
//!
//! Precedence: `NOT` binds tighter than `AND`, and `AND` tighter than `OR`; parentheses group.
//! Keywords are case-insensitive. Conditions are numbered from 1 in the order they are listed.
//! Parsing never panics, whatever the input (a property test checks it).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// Deepest nesting accepted (guards the recursive parser against stack exhaustion).
pub const MAX_DEPTH: usize = 64;

/// A parsed logic expression. Condition indices are 0-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Logic {
    /// Condition `$n` (stored as `n - 1`).
    Cond(usize),
    /// Negation.
    Not(Box<Logic>),
    /// All must hold.
    And(Vec<Logic>),
    /// At least one must hold.
    Or(Vec<Logic>),
}

impl Logic {
    /// All conditions ANDed: the default when a definition gives no `logic`.
    pub fn all(n: usize) -> Self {
        if n == 1 { Self::Cond(0) } else { Self::And((0..n).map(Self::Cond).collect()) }
    }

    /// The conditions the expression refers to.
    pub fn referenced(&self) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut BTreeSet<usize>) {
        match self {
            Self::Cond(i) => {
                out.insert(*i);
            }
            Self::Not(x) => x.collect(out),
            Self::And(xs) | Self::Or(xs) => xs.iter().for_each(|x| x.collect(out)),
        }
    }

    /// Evaluates the expression given each condition's truth value.
    pub fn eval(&self, cond: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Self::Cond(i) => cond(*i),
            Self::Not(x) => !x.eval(cond),
            Self::And(xs) => xs.iter().all(|x| x.eval(cond)),
            Self::Or(xs) => xs.iter().any(|x| x.eval(cond)),
        }
    }
}

impl fmt::Display for Logic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cond(i) => write!(f, "${}", i + 1),
            Self::Not(x) => match **x {
                Self::And(_) | Self::Or(_) => write!(f, "NOT ({x})"),
                _ => write!(f, "NOT {x}"),
            },
            Self::And(xs) => {
                for (k, x) in xs.iter().enumerate() {
                    if k > 0 {
                        f.write_str(" AND ")?;
                    }
                    match x {
                        Self::Or(_) | Self::And(_) => write!(f, "({x})")?,
                        _ => write!(f, "{x}")?,
                    }
                }
                Ok(())
            }
            Self::Or(xs) => {
                for (k, x) in xs.iter().enumerate() {
                    if k > 0 {
                        f.write_str(" OR ")?;
                    }
                    match x {
                        Self::Or(_) => write!(f, "({x})")?,
                        _ => write!(f, "{x}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Why a logic expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicError {
    /// 1-based character position in the expression.
    pub position: usize,
    /// What was expected and found.
    pub message: String,
}

impl fmt::Display for LogicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Cond(usize),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn describe(t: Option<&(usize, Tok)>) -> String {
    match t.map(|t| &t.1) {
        None => "the end".into(),
        Some(Tok::Cond(n)) => format!("`${n}`"),
        Some(Tok::And) => "`AND`".into(),
        Some(Tok::Or) => "`OR`".into(),
        Some(Tok::Not) => "`NOT`".into(),
        Some(Tok::Open) => "`(`".into(),
        Some(Tok::Close) => "`)`".into(),
    }
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, LogicError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((pos, Tok::Open));
            i += 1;
        } else if c == ')' {
            out.push((pos, Tok::Close));
            i += 1;
        } else if c == '$' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                return Err(LogicError {
                    position: pos,
                    message: "expected a condition number after `$`, like `$1`".into(),
                });
            }
            let digits: String = chars[start..j].iter().collect();
            let n: usize = digits.parse().map_err(|_| LogicError {
                position: pos,
                message: format!("condition number `${digits}` is too large"),
            })?;
            if n == 0 {
                return Err(LogicError { position: pos, message: "conditions are numbered from `$1`".into() });
            }
            out.push((pos, Tok::Cond(n)));
            i = j;
        } else if c.is_ascii_alphabetic() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let tok = match word.to_ascii_uppercase().as_str() {
                "AND" => Tok::And,
                "OR" => Tok::Or,
                "NOT" => Tok::Not,
                _ => {
                    return Err(LogicError {
                        position: pos,
                        message: format!("unknown word `{word}`; expected `AND`, `OR`, `NOT`, `$N`, or parentheses"),
                    });
                }
            };
            out.push((pos, tok));
            i = j;
        } else {
            return Err(LogicError {
                position: pos,
                message: format!("unexpected `{c}`; expected `AND`, `OR`, `NOT`, `$N`, or parentheses"),
            });
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&(usize, Tok)> {
        self.toks.get(self.at)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.0)
    }

    fn err<T>(&self, expected: &str) -> Result<T, LogicError> {
        Err(LogicError {
            position: self.pos(),
            message: format!("expected {expected}, found {}", describe(self.peek())),
        })
    }

    fn or(&mut self, depth: usize) -> Result<Logic, LogicError> {
        let mut xs = vec![self.and(depth)?];
        while self.peek().is_some_and(|t| t.1 == Tok::Or) {
            self.at += 1;
            xs.push(self.and(depth)?);
        }
        Ok(if xs.len() == 1 { xs.remove(0) } else { Logic::Or(xs) })
    }

    fn and(&mut self, depth: usize) -> Result<Logic, LogicError> {
        let mut xs = vec![self.unary(depth)?];
        while self.peek().is_some_and(|t| t.1 == Tok::And) {
            self.at += 1;
            xs.push(self.unary(depth)?);
        }
        Ok(if xs.len() == 1 { xs.remove(0) } else { Logic::And(xs) })
    }

    fn unary(&mut self, depth: usize) -> Result<Logic, LogicError> {
        if depth > MAX_DEPTH {
            return Err(LogicError {
                position: self.pos(),
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        match self.peek().map(|t| t.1.clone()) {
            Some(Tok::Not) => {
                self.at += 1;
                Ok(Logic::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::Cond(n)) => {
                self.at += 1;
                Ok(Logic::Cond(n - 1))
            }
            Some(Tok::Open) => {
                self.at += 1;
                let inner = self.or(depth + 1)?;
                if self.peek().is_some_and(|t| t.1 == Tok::Close) {
                    self.at += 1;
                    Ok(inner)
                } else {
                    self.err("`)`")
                }
            }
            _ => self.err("a condition `$N`, `NOT` or `(`"),
        }
    }
}

/// Parses a logic expression.
pub fn parse(s: &str) -> Result<Logic, LogicError> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err(LogicError { position: 1, message: "empty expression; write e.g. `$1 AND $2`".into() });
    }
    let mut p = Parser { toks, at: 0, end: s.chars().count() + 1 };
    let out = p.or(0)?;
    if p.at < p.toks.len() {
        return p.err("`AND`, `OR` or the end");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn c(i: usize) -> Logic {
        Logic::Cond(i)
    }

    #[test]
    fn precedence_not_over_and_over_or() {
        assert_eq!(parse("$1 OR $2 AND $3"), Ok(Logic::Or(vec![c(0), Logic::And(vec![c(1), c(2)])])));
        assert_eq!(parse("NOT $1 AND $2"), Ok(Logic::And(vec![Logic::Not(Box::new(c(0))), c(1)])));
        assert_eq!(
            parse("$1 and ($2 or not $3)"),
            Ok(Logic::And(vec![c(0), Logic::Or(vec![c(1), Logic::Not(Box::new(c(2)))])]))
        );
        assert_eq!(parse("(($1))"), Ok(c(0)));
        let e = parse("$1 AND ($2 OR NOT $3)").unwrap_or(c(99));
        assert_eq!(e.to_string(), "$1 AND ($2 OR NOT $3)");
        assert_eq!(e.referenced().into_iter().collect::<Vec<_>>(), [0, 1, 2]);
        // Evaluation follows the precedence.
        let truth = [false, true, true];
        assert!(!e.eval(&|i| truth[i]));
        let truth = [true, false, false];
        assert!(e.eval(&|i| truth[i]));
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("", 1, "empty"),
            ("$1 AND", 7, "expected a condition"),
            ("$1 $2", 4, "expected `AND`, `OR` or the end"),
            ("($1 OR $2", 10, "expected `)`"),
            ("$0", 1, "numbered from `$1`"),
            ("$", 1, "condition number after `$`"),
            ("$1 XOR $2", 4, "unknown word `XOR`"),
            ("$1 & $2", 4, "unexpected `&`"),
            (")", 1, "expected a condition"),
        ];
        for (s, pos, msg) in cases {
            match parse(s) {
                Err(e) => {
                    assert_eq!(e.position, pos, "{s}: {e}");
                    assert!(e.message.contains(msg), "{s}: {e}");
                }
                Ok(l) => panic!("{s} parsed as {l}"),
            }
        }
        let deep = format!("{}$1{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&deep).is_err_and(|e| e.message.contains("nested")));
        let nots = format!("{}$1", "NOT ".repeat(500));
        assert!(parse(&nots).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,60}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_logic_shaped_input(parts in prop::collection::vec(
            prop_oneof![Just("$1"), Just("$2"), Just("$10"), Just("AND"), Just("or"), Just("NOT"), Just("("), Just(")"), Just("$"), Just(" ")], 0..40)) {
            let s = parts.join(" ");
            if let Ok(l) = parse(&s) {
                // What parses, prints back to something that parses to the same tree.
                prop_assert_eq!(parse(&l.to_string()), Ok(l));
            }
        }
    }
}
