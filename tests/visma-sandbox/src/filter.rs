//! A subset of OData `$filter`: `eq ne gt ge lt le and or not`, parentheses,
//! `contains/startswith/endswith(Prop,'x')`, single-quoted strings, bare numbers, GUIDs,
//! booleans, `null` and ISO dates/date-times. Property paths may use `/` for nested objects.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::util::{json_decimal, parse_datetime};

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    Guid(Uuid),
    DateTime(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Op, Lit),
    Func(Func, String, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    if i >= chars.len() {
                        return Err("unterminated string literal".into());
                    }
                    if chars[i] == '\'' {
                        if i + 1 < chars.len() && chars[i + 1] == '\'' {
                            v.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | ',' | '\'')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn is_ident(w: &str) -> bool {
    let mut cs = w.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic())
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
}

fn parse_lit_word(w: &str) -> Option<Lit> {
    match w {
        "true" => return Some(Lit::Bool(true)),
        "false" => return Some(Lit::Bool(false)),
        "null" => return Some(Lit::Null),
        _ => {}
    }
    if w.len() == 36 {
        if let Ok(u) = Uuid::parse_str(w) {
            return Some(Lit::Guid(u));
        }
    }
    if w.len() >= 10 && w.as_bytes().get(4) == Some(&b'-') {
        if let Some(t) = parse_datetime(w) {
            return Some(Lit::DateTime(t));
        }
    }
    if let Ok(d) = Decimal::from_str(w) {
        return Some(Lit::Num(d));
    }
    None
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("expected ')'".into()),
                }
            }
            Some(Tok::Word(w)) => {
                let func = match w.to_ascii_lowercase().as_str() {
                    "contains" | "substringof" => Some(Func::Contains),
                    "startswith" => Some(Func::StartsWith),
                    "endswith" => Some(Func::EndsWith),
                    _ => None,
                };
                if let (Some(func), Some(Tok::LParen)) = (func, self.peek()) {
                    self.pos += 1;
                    let prop = match self.next() {
                        Some(Tok::Word(p)) if is_ident(&p) => p,
                        _ => return Err(format!("expected a property name in {w}(...)")),
                    };
                    if self.next() != Some(Tok::Comma) {
                        return Err(format!("expected ',' in {w}(...)"));
                    }
                    let val = match self.next() {
                        Some(Tok::Str(v)) => v,
                        _ => return Err(format!("expected a string literal in {w}(...)")),
                    };
                    if self.next() != Some(Tok::RParen) {
                        return Err(format!("expected ')' after {w}(...)"));
                    }
                    return Ok(Expr::Func(func, prop, val));
                }
                if !is_ident(&w) {
                    return Err(format!("'{w}' is not a property name"));
                }
                let op = match self.next() {
                    Some(Tok::Word(o)) => match o.as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        _ => return Err(format!("unknown operator '{o}'")),
                    },
                    _ => return Err(format!("expected an operator after '{w}'")),
                };
                let lit = match self.next() {
                    Some(Tok::Str(v)) => Lit::Str(v),
                    Some(Tok::Word(v)) => {
                        parse_lit_word(&v).ok_or_else(|| format!("'{v}' is not a valid literal"))?
                    }
                    _ => return Err("expected a literal".into()),
                };
                Ok(Expr::Cmp(w, op, lit))
            }
            Some(t) => Err(format!("unexpected token {t:?}")),
            None => Err("unexpected end of filter".into()),
        }
    }
}

/// Parses a `$filter` expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("empty filter".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected token {:?}", p.toks[p.pos]));
    }
    Ok(e)
}

/// All property paths the expression refers to.
pub fn properties(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            properties(a, out);
            properties(b, out);
        }
        Expr::Not(a) => properties(a, out),
        Expr::Cmp(p, _, _) | Expr::Func(_, p, _) => {
            out.insert(p.clone());
        }
    }
}

/// Looks up a `/`-separated property path.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('/') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match lit {
        Lit::Null => Some(if v.is_null() {
            Ordering::Equal
        } else {
            Ordering::Greater
        }),
        _ if v.is_null() => None,
        Lit::Str(s) => match v {
            Value::String(x) => Some(x.as_str().cmp(s.as_str())),
            Value::Number(_) => {
                let d = json_decimal(v)?;
                Some(d.cmp(&Decimal::from_str(s).ok()?))
            }
            _ => None,
        },
        Lit::Num(n) => match v {
            Value::Number(_) => Some(json_decimal(v)?.cmp(n)),
            Value::String(x) => Some(Decimal::from_str(x).ok()?.cmp(n)),
            _ => None,
        },
        Lit::Bool(b) => v.as_bool().map(|x| x.cmp(b)),
        Lit::Guid(g) => {
            let x = Uuid::parse_str(v.as_str()?).ok()?;
            Some(x.cmp(g))
        }
        Lit::DateTime(t) => Some(parse_datetime(v.as_str()?)?.cmp(t)),
    }
}

/// Evaluates the expression against one entity's JSON.
pub fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::Not(a) => !eval(a, v),
        Expr::Func(f, p, needle) => {
            let Some(hay) = lookup(v, p).and_then(Value::as_str) else {
                return false;
            };
            let hay = hay.to_lowercase();
            let needle = needle.to_lowercase();
            match f {
                Func::Contains => hay.contains(&needle),
                Func::StartsWith => hay.starts_with(&needle),
                Func::EndsWith => hay.ends_with(&needle),
            }
        }
        Expr::Cmp(p, op, lit) => {
            let val = lookup(v, p).unwrap_or(&Value::Null);
            let ord = compare(val, lit);
            match (op, ord) {
                (Op::Ne, None) => true,
                (_, None) => false,
                (Op::Eq, Some(o)) => o == Ordering::Equal,
                (Op::Ne, Some(o)) => o != Ordering::Equal,
                (Op::Gt, Some(o)) => o == Ordering::Greater && !val.is_null(),
                (Op::Ge, Some(o)) => o != Ordering::Less && !val.is_null(),
                (Op::Lt, Some(o)) => o == Ordering::Less,
                (Op::Le, Some(o)) => o != Ordering::Greater,
            }
        }
    }
}

/// Orders two JSON values for `$orderby` (nulls first, numbers numerically, strings
/// that look like dates chronologically, other strings case-insensitively).
pub fn order_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(_), Value::Number(_)) => json_decimal(a).cmp(&json_decimal(b)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => {
            if let (Ok(dx), Ok(dy)) = (Decimal::from_str(x), Decimal::from_str(y)) {
                return dx.cmp(&dy);
            }
            x.to_lowercase().cmp(&y.to_lowercase())
        }
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_evaluates() {
        let v = json!({"Name":"Acme","Number":"1930","ChangedUtc":"2024-05-02T10:00:00.123456Z","IsActive":true,"Total":12.5});
        let t = |f: &str| eval(&parse(f).unwrap(), &v);
        assert!(t("Name eq 'Acme'"));
        assert!(!t("Name eq 'acme'"));
        assert!(t("Number gt 1337"));
        assert!(t("ChangedUtc gt 2024-05-01T00:00:00Z"));
        assert!(!t("ChangedUtc gt 2024-05-03"));
        assert!(t("(Name eq 'X' or IsActive eq true) and Total ge 12.50"));
        assert!(t("contains(Name,'cm')"));
        assert!(t("not (Name eq 'X')"));
        assert!(parse("Name eq").is_err());
        assert!(parse("Name like 'x'").is_err());
        assert!(parse("(Name eq 'x'").is_err());
    }
}
