//! A checked `$filter`, `$orderby` and `$search` applied to items held in memory (the
//! small collections: applications, service principals, groups, policies, partners), with
//! the same semantics as the SQL of [`super::sql`]: strings and enum members compare
//! without regard to case, `null` equals only `null`, `ne` is true against a missing
//! value. A test runs both on the same data and filters and compares the results.

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{CmpOp, Expr, Func, Literal, Operand};
use super::query::Search;
use super::resource::{Kind, Prop, Resource};
use super::sql::{Bind, value};

/// A property's value in an item, in the form the SQL compares (text lower-cased,
/// booleans as 0/1, dates as milliseconds).
fn item_value(prop: &Prop, v: Option<&Value>) -> Bind {
    match (prop.kind, v) {
        (_, None | Some(Value::Null)) => Bind::Null,
        (Kind::Bool, Some(Value::Bool(b))) => Bind::Int(*b as i64),
        (Kind::Int, Some(v)) => v.as_i64().map(Bind::Int).unwrap_or(Bind::Null),
        (Kind::DateTime, Some(Value::String(s))) => {
            platform::clock::parse_rfc3339(s).map(|t| Bind::Int(t.timestamp_millis())).unwrap_or(Bind::Null)
        }
        (Kind::Guid, Some(Value::String(s))) => Bind::Text(s.to_ascii_lowercase()),
        (_, Some(Value::String(s))) => Bind::Text(s.to_ascii_lowercase()),
        (_, Some(other)) => Bind::Text(other.to_string().to_ascii_lowercase()),
    }
}

fn order(a: &Bind, b: &Bind) -> Option<Ordering> {
    match (a, b) {
        (Bind::Int(x), Bind::Int(y)) => Some(x.cmp(y)),
        (Bind::Text(x), Bind::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn lookup<'a>(
    path: &[String],
    resource: &Resource,
    item: &'a Value,
    scope: Option<(&str, &'static [Prop], &'a Value)>,
) -> (&'static Prop, Option<&'a Value>) {
    match (path, scope) {
        ([var, name], Some((v, props, element))) if var == v => {
            let prop = props.iter().find(|p| p.name.eq_ignore_ascii_case(name)).expect("checked by query::parse");
            (prop, element.get(prop.name))
        }
        ([name], _) => {
            let prop = resource.prop(name).expect("checked by query::parse");
            (prop, item.get(prop.name))
        }
        _ => unreachable!("checked by query::parse"),
    }
}

/// Whether `item` matches a checked filter.
pub fn matches(expr: &Expr, resource: &Resource, item: &Value) -> bool {
    test(expr, resource, item, None)
}

fn test<'a>(expr: &Expr, r: &Resource, item: &'a Value, scope: Option<(&str, &'static [Prop], &'a Value)>) -> bool {
    match expr {
        Expr::And(a, b) => test(a, r, item, scope) && test(b, r, item, scope),
        Expr::Or(a, b) => test(a, r, item, scope) || test(b, r, item, scope),
        Expr::Not(inner) => !test(inner, r, item, scope),
        Expr::Compare(left, op, right) => compare(left, *op, right, r, item, scope),
        Expr::In(Operand::Path(p), values) => {
            let (prop, v) = lookup(p, r, item, scope);
            let have = item_value(prop, v);
            have != Bind::Null && values.iter().any(|l| value(prop.kind, l) == have)
        }
        Expr::Call(func, Operand::Path(p), Operand::Literal(Literal::String(s))) => {
            let (prop, v) = lookup(p, r, item, scope);
            let Bind::Text(have) = item_value(prop, v) else { return false };
            let s = s.to_ascii_lowercase();
            match func {
                Func::StartsWith => have.starts_with(&s),
                Func::EndsWith => have.ends_with(&s),
                Func::Contains => have.contains(&s),
            }
        }
        Expr::Lambda { path, all, var, body } => {
            let (prop, v) = lookup(path, r, item, scope);
            let Kind::Collection(c) = prop.kind else { return false };
            let elements = v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let holds = |e: &Value| match (var, body) {
                (Some(var), Some(body)) => test(body, r, item, Some((var.as_str(), c.props, e))),
                _ => true,
            };
            if *all { elements.iter().all(holds) } else { elements.iter().any(holds) }
        }
        Expr::In(..) | Expr::Call(..) => false,
    }
}

fn compare<'a>(
    left: &Operand,
    op: CmpOp,
    right: &Operand,
    r: &Resource,
    item: &'a Value,
    scope: Option<(&str, &'static [Prop], &'a Value)>,
) -> bool {
    let (left, op, right) = match (left, right) {
        (Operand::Literal(_), _) => (right, flip(op), left),
        _ => (left, op, right),
    };
    let Operand::Literal(lit) = right else { return false };
    let (have, want) = match left {
        Operand::Count(p) => {
            let (_, v) = lookup(p, r, item, scope);
            (Bind::Int(v.and_then(Value::as_array).map_or(0, Vec::len) as i64), value(Kind::Int, lit))
        }
        Operand::Path(p) => {
            let (prop, v) = lookup(p, r, item, scope);
            (item_value(prop, v), value(prop.kind, lit))
        }
        Operand::Literal(_) => return false,
    };
    match (op, &have, &want) {
        (CmpOp::Eq, _, Bind::Null) => have == Bind::Null,
        (CmpOp::Ne, _, Bind::Null) => have != Bind::Null,
        (_, _, Bind::Null) => false,
        (CmpOp::Ne, Bind::Null, _) => true,
        (_, Bind::Null, _) => false,
        (CmpOp::Eq, _, _) => have == want,
        (CmpOp::Ne, _, _) => have != want,
        (op, _, _) => order(&have, &want).is_some_and(|o| match op {
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            _ => false,
        }),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        other => other,
    }
}

/// Whether `item` matches a `$search`: each term starts a word of its property.
pub fn found(s: &Search, item: &Value) -> bool {
    let hit = |(prop, term): &(&'static Prop, String)| match item_value(prop, item.get(prop.name)) {
        Bind::Text(text) => format!(" {text}").contains(&format!(" {term}")),
        _ => false,
    };
    if s.any { s.clauses.iter().any(hit) } else { s.clauses.iter().all(hit) }
}

/// Sorts items by `$orderby`, then by `key` so pages are stable.
pub fn sort(items: &mut [Value], order_by: &[(&'static Prop, bool)], key: &str) {
    items.sort_by(|a, b| {
        for (prop, desc) in order_by {
            let (x, y) = (item_value(prop, a.get(prop.name)), item_value(prop, b.get(prop.name)));
            // Missing values sort first, as SQL's NULLs do ascending in SQLite.
            let o = match (&x, &y) {
                (Bind::Null, Bind::Null) => Ordering::Equal,
                (Bind::Null, _) => Ordering::Less,
                (_, Bind::Null) => Ordering::Greater,
                _ => order(&x, &y).unwrap_or(Ordering::Equal),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.get(key).map(Value::to_string).cmp(&b.get(key).map(Value::to_string))
    });
}
