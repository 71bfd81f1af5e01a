//! A checked `$filter`, `$orderby` and `$search` as SQL over a resource's columns, so a
//! collection of a million devices is filtered, sorted and paged by the database. The
//! SQL is portable between SQLite and PostgreSQL; values are always bound, never spliced.
//!
//! Semantics (the same as [`super::eval`]): strings and enum members compare without
//! regard to case; `null` compares equal only to `null`, and `ne` is true against a
//! missing value; `not` of a comparison with a missing value is true.

use super::filter::{CmpOp, Expr, Func, Literal, Operand};
use super::query::Search;
use super::resource::{Kind, Prop, Resource};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Null,
}

/// SQL text with `$n` placeholders, numbered from the one the caller gives.
#[derive(Debug, Default, Clone)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
    first: usize,
}

impl Sql {
    pub fn new(first_placeholder: usize) -> Sql {
        Sql { text: String::new(), binds: Vec::new(), first: first_placeholder }
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }
}

/// The property a path names, and the SQL behind it (for a lambda's element too).
fn column(path: &[String], resource: &Resource, scope: Option<(&str, &'static [Prop])>) -> (&'static Prop, &'static str) {
    let prop = match (path, scope) {
        ([var, name], Some((v, props))) if var == v => props.iter().find(|p| p.name.eq_ignore_ascii_case(name)),
        ([name], _) => resource.prop(name),
        _ => None,
    }
    .expect("checked by query::parse");
    (prop, prop.column.unwrap_or("NULL"))
}

/// A literal as the bound value of a property of `kind` (strings lower-cased).
pub fn value(kind: Kind, lit: &Literal) -> Bind {
    match lit {
        Literal::Null => Bind::Null,
        Literal::Bool(b) => Bind::Int(*b as i64),
        Literal::Int(n) => Bind::Int(*n),
        Literal::Float(f) => Bind::Text(f.to_string()),
        Literal::String(s) | Literal::Enum(s) if matches!(kind, Kind::Guid) => Bind::Text(s.to_ascii_lowercase()),
        Literal::String(s) | Literal::Enum(s) => Bind::Text(s.to_ascii_lowercase()),
        Literal::Guid(g) => Bind::Text(g.to_string()),
        Literal::Date(d) => Bind::Int(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or_default()),
        Literal::DateTime(t) => Bind::Int(t.timestamp_millis()),
    }
}

/// The column as compared: lower-cased for text.
fn compared(prop: &Prop, col: &str) -> String {
    match prop.kind {
        Kind::String | Kind::Enum => format!("LOWER({col})"),
        _ => col.to_string(),
    }
}

/// The least string greater than every string that starts with `prefix` (its last
/// character incremented); `None` for an empty prefix or one ending in U+10FFFF.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = chars.pop()?;
    let next = (last as u32 + 1..=0x10FFFF).find_map(char::from_u32)?;
    chars.push(next);
    Some(chars.into_iter().collect())
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Appends the SQL of a checked filter.
pub fn filter(expr: &Expr, resource: &Resource, out: &mut Sql) {
    let text = compile(expr, resource, None, out);
    out.text.push_str(&text);
}

fn compile(expr: &Expr, r: &Resource, scope: Option<(&str, &'static [Prop])>, out: &mut Sql) -> String {
    match expr {
        Expr::And(a, b) => format!("({} AND {})", compile(a, r, scope, out), compile(b, r, scope, out)),
        Expr::Or(a, b) => format!("({} OR {})", compile(a, r, scope, out), compile(b, r, scope, out)),
        // A comparison with a missing value is false, so its negation is true.
        Expr::Not(inner) => format!("(NOT COALESCE({}, FALSE))", compile(inner, r, scope, out)),
        Expr::Compare(left, op, right) => comparison(left, *op, right, r, scope, out),
        Expr::In(Operand::Path(p), values) => {
            let (prop, col) = column(p, r, scope);
            let list: Vec<String> = values.iter().map(|v| out.bind(value(prop.kind, v))).collect();
            format!("({} IN ({}))", compared(prop, col), list.join(", "))
        }
        Expr::Call(func, Operand::Path(p), Operand::Literal(Literal::String(s))) => {
            let (_, col) = column(p, r, scope);
            let lower = s.to_ascii_lowercase();
            let escaped = like_escape(&lower);
            let pattern = match func {
                Func::StartsWith => format!("{escaped}%"),
                Func::EndsWith => format!("%{escaped}"),
                Func::Contains => format!("%{escaped}%"),
            };
            let like = format!("LOWER({col}) LIKE {} ESCAPE '\\'", out.bind(Bind::Text(pattern)));
            // A prefix is also a range, which an index on LOWER(column) answers without a
            // scan (text compares bytewise: SQLite's default, the C collation on PostgreSQL).
            match (func, prefix_end(&lower)) {
                (Func::StartsWith, Some(end)) => {
                    let (from, to) = (out.bind(Bind::Text(lower.clone())), out.bind(Bind::Text(end)));
                    format!("({like} AND LOWER({col}) >= {from} AND LOWER({col}) < {to})")
                }
                _ => format!("({like})"),
            }
        }
        Expr::Lambda { path, all, var, body } => {
            let (prop, _) = column(path, r, scope);
            let Kind::Collection(c) = prop.kind else { unreachable!("checked by query::parse") };
            let inner = match (var, body) {
                (Some(var), Some(body)) => compile(body, r, Some((var.as_str(), c.props)), out),
                _ => "TRUE".into(),
            };
            if *all {
                format!("(NOT EXISTS (SELECT 1 FROM {} WHERE {} AND NOT COALESCE({inner}, FALSE)))", c.from, c.join)
            } else {
                format!("(EXISTS (SELECT 1 FROM {} WHERE {} AND {inner}))", c.from, c.join)
            }
        }
        Expr::In(..) | Expr::Call(..) => unreachable!("checked by query::parse"),
    }
}

fn comparison(left: &Operand, op: CmpOp, right: &Operand, r: &Resource, scope: Option<(&str, &'static [Prop])>, out: &mut Sql) -> String {
    // `'x' eq prop` reads as `prop eq 'x'` with the operator turned around.
    let (left, op, right) = match (left, right) {
        (Operand::Literal(_), _) => (right, flip(op), left),
        _ => (left, op, right),
    };
    let Operand::Literal(lit) = right else { unreachable!("checked by query::parse") };
    if let Operand::Count(p) = left {
        let (prop, _) = column(p, r, scope);
        let Kind::Collection(c) = prop.kind else { unreachable!("checked by query::parse") };
        let n = out.bind(value(Kind::Int, lit));
        return format!("((SELECT COUNT(*) FROM {} WHERE {}) {} {n})", c.from, c.join, sql_op(op));
    }
    let Operand::Path(p) = left else { unreachable!("checked by query::parse") };
    let (prop, col) = column(p, r, scope);
    match (op, lit) {
        (CmpOp::Eq, Literal::Null) => format!("({col} IS NULL)"),
        (CmpOp::Ne, Literal::Null) => format!("({col} IS NOT NULL)"),
        (_, Literal::Null) => "(1 = 0)".into(),
        (CmpOp::Ne, _) => {
            let v = out.bind(value(prop.kind, lit));
            format!("({col} IS NULL OR {} <> {v})", compared(prop, col))
        }
        _ => {
            let v = out.bind(value(prop.kind, lit));
            format!("({} {} {v})", compared(prop, col), sql_op(op))
        }
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

fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
    }
}

/// `$search`: each term must start a word of its property.
pub fn search(s: &Search, out: &mut Sql) {
    let clauses: Vec<String> = s
        .clauses
        .iter()
        .map(|(prop, term)| {
            let col = prop.column.unwrap_or("NULL");
            format!("((' ' || LOWER({col})) LIKE {} ESCAPE '\\')", out.bind(Bind::Text(format!("% {}%", like_escape(term)))))
        })
        .collect();
    out.text.push_str(&format!("({})", clauses.join(if s.any { " OR " } else { " AND " })));
}

/// `ORDER BY` for `$orderby` (missing values first ascending, last descending, on both
/// databases), ending with `key` so pages are stable.
pub fn order_by(order: &[(&'static Prop, bool)], key: &str) -> String {
    let mut parts: Vec<String> = order
        .iter()
        .map(|(prop, desc)| {
            let col = compared(prop, prop.column.unwrap_or("NULL"));
            if *desc { format!("{col} DESC NULLS LAST") } else { format!("{col} ASC NULLS FIRST") }
        })
        .collect();
    parts.push(format!("{key} ASC"));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    //! The SQL and the in-memory evaluation agree on every filter, on the same rows.
    use super::*;
    use crate::odata::eval;
    use crate::odata::query::{self, Headers};
    use crate::odata::resource::{Collection, Support::Default as D};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    static TAGS: Collection =
        Collection { from: "tags el", join: "el.parent = t.id", props: &[Prop::new("skuId", Kind::Guid, Some("el.sku")).eq(D, D)] };

    static THINGS: Resource = Resource {
        entity_set: "things",
        type_name: "thing",
        directory: false,
        props: &[
            Prop::new("id", Kind::Guid, Some("t.id")).eq(D, D),
            Prop::new("displayName", Kind::String, Some("t.name"))
                .eq(D, D)
                .starts_with(D)
                .ends_with(D)
                .contains(D)
                .null(D)
                .range(D)
                .order_by(D),
            Prop::new("operatingSystem", Kind::Enum, Some("t.os")).eq(D, D).order_by(D),
            Prop::new("isCompliant", Kind::Bool, Some("t.flag")).eq(D, D).null(D).order_by(D),
            Prop::new("count", Kind::Int, Some("t.n")).eq(D, D).range(D).order_by(D),
            Prop::new("lastSyncDateTime", Kind::DateTime, Some("t.at")).eq(D, D).range(D).null(D).order_by(D),
            Prop::new("licenses", Kind::Collection(&TAGS), None).eq(D, D),
        ],
        search: &[],
        max_top: 1000,
        default_top: 1000,
    };

    const SKUS: [&str; 3] =
        ["078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "061f9ace-7d42-4136-88ac-31dc755f143f", "c0ffee00-0000-4000-8000-000000000000"];
    const NAMES: [&str; 6] = ["Alice's Mac", "alice mac", "Bob_Book", "100% Mac", "Zed", "mAC"];

    #[derive(Debug, Clone)]
    struct Row {
        name: Option<usize>,
        os: usize,
        flag: Option<bool>,
        n: i64,
        at: Option<i64>,
        skus: Vec<usize>,
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            proptest::option::of(0..NAMES.len()),
            0..3usize,
            proptest::option::of(any::<bool>()),
            -3i64..3,
            proptest::option::of((0i64..3).prop_map(|s| s * 1000)),
            proptest::collection::vec(0..SKUS.len(), 0..3),
        )
            .prop_map(|(name, os, flag, n, at, skus)| Row { name, os, flag, n, at, skus })
    }

    const FILTERS: [&str; 24] = [
        "displayName eq 'alice mac'",
        "displayName eq 'ALICE''S MAC'",
        "displayName ne 'zed'",
        "displayName eq null",
        "displayName ne null",
        "not (displayName eq 'zed')",
        "startswith(displayName, 'al')",
        "endswith(displayName, 'MAC')",
        "contains(displayName, '%')",
        "contains(displayName, '_b')",
        "displayName ge 'b'",
        "operatingSystem in ('macos', 'IOS')",
        "isCompliant eq true",
        "isCompliant ne true",
        "not isCompliant eq false",
        "count gt 0 and count le 2",
        "count lt 0 or operatingSystem eq 'windows'",
        "lastSyncDateTime ge 1970-01-01T00:00:01Z",
        "lastSyncDateTime lt 1970-01-01T00:00:02Z",
        "licenses/any(x:x/skuId eq 078d2b04-f1bd-4111-bbd4-b4b1b354cef4)",
        "licenses/any(x:x/skuId in ('061f9ace-7d42-4136-88ac-31dc755f143f', 'c0ffee00-0000-4000-8000-000000000000'))",
        "licenses/all(x:x/skuId ne 'c0ffee00-0000-4000-8000-000000000000')",
        "licenses/$count eq 0",
        "not licenses/any()",
    ];

    fn item(id: usize, r: &Row) -> Value {
        let os = ["macOS", "iOS", "Windows"][r.os];
        json!({
            "id": format!("00000000-0000-4000-8000-{id:012}"),
            "displayName": r.name.map(|n| NAMES[n]),
            "operatingSystem": os,
            "isCompliant": r.flag,
            "count": r.n,
            "lastSyncDateTime": r.at.map(platform::clock::ms_to_rfc3339),
            "licenses": r.skus.iter().map(|s| json!({"skuId": SKUS[*s]})).collect::<Vec<_>>(),
        })
    }

    async fn sql_ids(pool: &sqlx::SqlitePool, filter: &str, order: &str) -> Vec<String> {
        let pairs = vec![("$filter".to_string(), filter.to_string()), ("$orderby".to_string(), order.to_string())];
        let q = query::parse(&pairs, &THINGS, Headers::default()).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let mut sql = Sql::new(1);
        super::filter(q.filter.as_ref().unwrap(), &THINGS, &mut sql);
        let text = format!("SELECT t.id FROM things t WHERE {} ORDER BY {}", sql.text, order_by(&q.order_by, "t.id"));
        let mut query = sqlx::query_scalar::<_, String>(&text);
        for b in &sql.binds {
            query = match b {
                Bind::Text(s) => query.bind(s.clone()),
                Bind::Int(n) => query.bind(*n),
                Bind::Null => query.bind(Option::<String>::None),
            };
        }
        query.fetch_all(pool).await.unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn memory_ids(items: &[Value], filter: &str, order: &str) -> Vec<String> {
        let pairs = vec![("$filter".to_string(), filter.to_string()), ("$orderby".to_string(), order.to_string())];
        let q = query::parse(&pairs, &THINGS, Headers::default()).unwrap();
        let mut hits: Vec<Value> = items.iter().filter(|i| eval::matches(q.filter.as_ref().unwrap(), &THINGS, i)).cloned().collect();
        eval::sort(&mut hits, &q.order_by, "id");
        hits.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn sql_and_memory_agree(rows in proptest::collection::vec(row(), 0..24)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
                sqlx::query("CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT, os TEXT NOT NULL, flag INTEGER, n INTEGER NOT NULL, at INTEGER)")
                    .execute(&pool).await.unwrap();
                sqlx::query("CREATE TABLE tags (parent TEXT NOT NULL, sku TEXT NOT NULL)").execute(&pool).await.unwrap();
                let items: Vec<Value> = rows.iter().enumerate().map(|(i, r)| item(i, r)).collect();
                for (i, r) in rows.iter().enumerate() {
                    let id = items[i]["id"].as_str().unwrap();
                    sqlx::query("INSERT INTO things VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(id).bind(r.name.map(|n| NAMES[n])).bind(items[i]["operatingSystem"].as_str())
                        .bind(r.flag.map(i64::from)).bind(r.n).bind(r.at)
                        .execute(&pool).await.unwrap();
                    for s in &r.skus {
                        sqlx::query("INSERT INTO tags VALUES ($1, $2)").bind(id).bind(SKUS[*s]).execute(&pool).await.unwrap();
                    }
                }
                for f in FILTERS {
                    for order in ["displayName asc", "isCompliant desc, count asc", "lastSyncDateTime desc"] {
                        let (a, b) = (sql_ids(&pool, f, order).await, memory_ids(&items, f, order));
                        assert_eq!(a, b, "{f} ordered by {order}");
                    }
                }
            });
        }
    }
}
