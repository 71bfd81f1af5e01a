//! OData v4 `$filter` expressions as Microsoft Graph accepts them: comparisons (`eq`,
//! `ne`, `gt`, `ge`, `lt`, `le`), `in`, `and` / `or` / `not` with parentheses,
//! `startswith` / `endswith` / `contains`, lambda operators over collections
//! (`assignedLicenses/any(x:x/skuId eq 078d…)`), `/$count`, and literals: strings
//! (`'it''s'`), numbers, `true`/`false`, `null`, bare GUIDs, dates and date-times, and
//! qualified enum values (`microsoft.graph.complianceState'compliant'`). Keywords and
//! function names are case-insensitive and any run of blanks separates tokens.
//!
//! Grammar (OData v4.01 ABNF, the subset Graph serves):
//! ```text
//! expr    = and ( "or" and )*
//! and     = unary ( "and" unary )*
//! unary   = "not" unary | primary
//! primary = "(" expr ")" | call | lambda | operand ( cmp operand | "in" "(" literal ( "," literal )* ")" )
//! call    = ( "startswith" | "endswith" | "contains" ) "(" operand "," operand ")"
//! lambda  = path "/" ( "any" | "all" ) "(" [ name ":" expr ] ")"
//! operand = literal | path [ "/$count" ]
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use winnow::Parser;
use winnow::ascii::{Caseless, digit1, multispace0, multispace1};
use winnow::combinator::{alt, cut_err, delimited, opt, preceded, separated, terminated};
use winnow::error::{ContextError, ErrMode};
use winnow::token::{any, one_of, take_while};

/// The longest `$filter` accepted, and how deeply it may nest (parentheses and `not`).
pub const MAX_LENGTH: usize = 4096;
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Operand, CmpOp, Operand),
    In(Operand, Vec<Literal>),
    Call(Func, Operand, Operand),
    /// `path/any(var: body)` (`body` `None`: `any()`, the collection is not empty) or `all`.
    Lambda {
        path: Vec<String>,
        all: bool,
        var: Option<String>,
        body: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property, or (inside a lambda) the range variable and a property of it.
    Path(Vec<String>),
    /// `path/$count`: the number of items of a collection.
    Count(Vec<String>),
    Literal(Literal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Guid(uuid::Uuid),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// A qualified enum value; its member name.
    Enum(String),
}

/// Why a filter could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

/// Parses a `$filter` value.
pub fn parse(filter: &str) -> Result<Expr, SyntaxError> {
    if filter.len() > MAX_LENGTH {
        return Err(SyntaxError(format!("The filter is longer than {MAX_LENGTH} characters.")));
    }
    let depth = filter.chars().filter(|c| *c == '(').count();
    let negations = filter.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.eq_ignore_ascii_case("not")).count();
    if depth > MAX_DEPTH || negations > MAX_DEPTH {
        return Err(SyntaxError(format!("The filter nests deeper than {MAX_DEPTH} levels.")));
    }
    delimited(multispace0, expr, multispace0)
        .parse(filter)
        .map_err(|e| SyntaxError(format!("Syntax error at position {} in '{filter}'.", e.offset())))
}

type PResult<T> = winnow::Result<T, ErrMode<ContextError>>;

fn keyword<'i>(word: &'static str) -> impl Parser<&'i str, &'i str, ErrMode<ContextError>> {
    terminated(Caseless(word), winnow::combinator::not(one_of(|c: char| c.is_ascii_alphanumeric() || c == '_')))
}

fn expr(input: &mut &str) -> PResult<Expr> {
    let first = and_expr(input)?;
    let rest: Vec<Expr> =
        winnow::combinator::repeat(0.., preceded((multispace1, keyword("or"), multispace1), and_expr)).parse_next(input)?;
    Ok(rest.into_iter().fold(first, |l, r| Expr::Or(Box::new(l), Box::new(r))))
}

fn and_expr(input: &mut &str) -> PResult<Expr> {
    let first = unary(input)?;
    let rest: Vec<Expr> = winnow::combinator::repeat(0.., preceded((multispace1, keyword("and"), multispace1), unary)).parse_next(input)?;
    Ok(rest.into_iter().fold(first, |l, r| Expr::And(Box::new(l), Box::new(r))))
}

fn unary(input: &mut &str) -> PResult<Expr> {
    alt((
        // `not(x eq 1)` and `not x eq 1` alike.
        preceded((keyword("not"), multispace0), unary).map(|e| Expr::Not(Box::new(e))),
        primary,
    ))
    .parse_next(input)
}

fn primary(input: &mut &str) -> PResult<Expr> {
    alt((delimited(('(', multispace0), expr, (multispace0, ')')), call, lambda, comparison)).parse_next(input)
}

fn cmp_op(input: &mut &str) -> PResult<CmpOp> {
    alt((
        keyword("eq").value(CmpOp::Eq),
        keyword("ne").value(CmpOp::Ne),
        keyword("ge").value(CmpOp::Ge),
        keyword("gt").value(CmpOp::Gt),
        keyword("le").value(CmpOp::Le),
        keyword("lt").value(CmpOp::Lt),
    ))
    .parse_next(input)
}

fn comparison(input: &mut &str) -> PResult<Expr> {
    let left = operand(input)?;
    multispace1(input)?;
    if opt(keyword("in")).parse_next(input)?.is_some() {
        let list = delimited((multispace0, '(', multispace0), separated(1.., literal, (multispace0, ',', multispace0)), (multispace0, ')'));
        return cut_err(list).map(|values: Vec<Literal>| Expr::In(left.clone(), values)).parse_next(input);
    }
    let op = cmp_op(input)?;
    let right = cut_err(preceded(multispace1, operand)).parse_next(input)?;
    Ok(Expr::Compare(left, op, right))
}

fn call(input: &mut &str) -> PResult<Expr> {
    let func = alt((
        Caseless("startswith").value(Func::StartsWith),
        Caseless("endswith").value(Func::EndsWith),
        Caseless("contains").value(Func::Contains),
    ))
    .parse_next(input)?;
    let (a, b) = delimited(
        (multispace0, '(', multispace0),
        cut_err((operand, preceded((multispace0, ',', multispace0), operand))),
        (multispace0, ')'),
    )
    .parse_next(input)?;
    Ok(Expr::Call(func, a, b))
}

fn lambda(input: &mut &str) -> PResult<Expr> {
    let path = path(input)?;
    '/'.parse_next(input)?;
    let all = alt((keyword("any").value(false), keyword("all").value(true))).parse_next(input)?;
    let body = delimited(
        (multispace0, '(', multispace0),
        opt((terminated(identifier, (multispace0, ':', multispace0)), expr)),
        (multispace0, ')'),
    )
    .parse_next(input)?;
    let (var, body) = match body {
        Some((var, body)) => (Some(var), Some(Box::new(body))),
        None => (None, None),
    };
    Ok(Expr::Lambda { path, all, var, body })
}

fn operand(input: &mut &str) -> PResult<Operand> {
    alt((
        literal.map(Operand::Literal),
        (path, opt(Caseless("/$count"))).map(|(p, count)| if count.is_some() { Operand::Count(p) } else { Operand::Path(p) }),
    ))
    .parse_next(input)
}

fn identifier(input: &mut &str) -> PResult<String> {
    (one_of(|c: char| c.is_ascii_alphabetic() || c == '_'), take_while(0.., |c: char| c.is_ascii_alphanumeric() || c == '_'))
        .take()
        .map(str::to_string)
        .parse_next(input)
}

/// `a/b/c`; a `/` before `any(`, `all(` or `$count` ends the path.
fn path(input: &mut &str) -> PResult<Vec<String>> {
    let lambda_or_count =
        alt(((keyword("any"), multispace0, '(').void(), (keyword("all"), multispace0, '(').void(), Caseless("$count").void()));
    separated(1.., identifier, ('/', winnow::combinator::peek(winnow::combinator::not(lambda_or_count)))).parse_next(input)
}

fn literal(input: &mut &str) -> PResult<Literal> {
    alt((
        string.map(Literal::String),
        keyword("null").value(Literal::Null),
        keyword("true").value(Literal::Bool(true)),
        keyword("false").value(Literal::Bool(false)),
        guid.map(Literal::Guid),
        datetime.map(Literal::DateTime),
        date.map(Literal::Date),
        number,
        enum_value.map(Literal::Enum),
    ))
    .parse_next(input)
}

fn string(input: &mut &str) -> PResult<String> {
    '\''.parse_next(input)?;
    let mut out = String::new();
    loop {
        match any.parse_next(input)? {
            '\'' if input.starts_with('\'') => {
                *input = &input[1..];
                out.push('\'');
            }
            '\'' => return Ok(out),
            c => out.push(c),
        }
    }
}

fn guid(input: &mut &str) -> PResult<uuid::Uuid> {
    let hex = |n: usize| take_while(n..=n, |c: char| c.is_ascii_hexdigit());
    (hex(8), '-', hex(4), '-', hex(4), '-', hex(4), '-', hex(12)).take().try_map(uuid::Uuid::parse_str).parse_next(input)
}

fn datetime(input: &mut &str) -> PResult<DateTime<Utc>> {
    let digits = |n: usize| take_while(n..=n, |c: char| c.is_ascii_digit());
    let day = (digits(4), '-', digits(2), '-', digits(2)).take();
    let minutes = (digits(2), ':', digits(2)).take();
    let seconds = opt((':', digits(2), opt(('.', digit1))).take());
    let zone = alt((Caseless("z").value("Z".to_string()), (one_of(['+', '-']), digits(2), ':', digits(2)).take().map(str::to_string)));
    (day, one_of(['T', 't']), minutes, seconds, zone)
        .try_map(|(day, _, minutes, seconds, zone): (&str, char, &str, Option<&str>, String)| {
            DateTime::parse_from_rfc3339(&format!("{day}T{minutes}{}{zone}", seconds.unwrap_or(":00"))).map(|t| t.with_timezone(&Utc))
        })
        .parse_next(input)
}

fn date(input: &mut &str) -> PResult<NaiveDate> {
    let digits = |n: usize| take_while(n..=n, |c: char| c.is_ascii_digit());
    (digits(4), '-', digits(2), '-', digits(2)).take().try_map(|s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d")).parse_next(input)
}

fn number(input: &mut &str) -> PResult<Literal> {
    let text = (opt('-'), digit1, opt(('.', digit1))).take().parse_next(input)?;
    if text.contains('.') {
        text.parse().map(Literal::Float).map_err(|_| ErrMode::Backtrack(ContextError::new()))
    } else {
        text.parse().map(Literal::Int).map_err(|_| ErrMode::Backtrack(ContextError::new()))
    }
}

/// `microsoft.graph.complianceState'compliant'`: the member name.
fn enum_value(input: &mut &str) -> PResult<String> {
    preceded((identifier, winnow::combinator::repeat::<_, _, (), _, _>(1.., ('.', identifier))), string).parse_next(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn path(s: &str) -> Operand {
        Operand::Path(s.split('/').map(String::from).collect())
    }

    fn lit(s: &str) -> Operand {
        Operand::Literal(Literal::String(s.into()))
    }

    #[test]
    fn the_forms_graph_clients_send_parse() {
        assert_eq!(p("deviceId eq 'abc'"), Expr::Compare(path("deviceId"), CmpOp::Eq, lit("abc")));
        assert_eq!(p("  operatingSystem   EQ  'macOS' "), Expr::Compare(path("operatingSystem"), CmpOp::Eq, lit("macOS")));
        assert_eq!(p("displayName eq 'it''s'"), Expr::Compare(path("displayName"), CmpOp::Eq, lit("it's")));
        assert_eq!(p("startsWith(displayName,'Al')"), Expr::Call(Func::StartsWith, path("displayName"), lit("Al")));
        assert!(matches!(p("complianceState in ('compliant', 'inGracePeriod')"), Expr::In(_, v) if v.len() == 2));
        assert!(matches!(p("a eq 1 and (b eq 2 OR NOT c eq true)"), Expr::And(_, r) if matches!(*r, Expr::Or(..))));
        assert!(matches!(p("not(startswith(displayName, 'Conf'))"), Expr::Not(_)));
        let any = p("assignedLicenses/any(x:x/skuId eq 078d2b04-f1bd-4111-bbd4-b4b1b354cef4)");
        let Expr::Lambda { path: lp, all: false, var: Some(v), body: Some(body) } = any else { panic!("{any:?}") };
        assert_eq!((lp, v.as_str()), (vec!["assignedLicenses".to_string()], "x"));
        assert!(matches!(*body, Expr::Compare(_, CmpOp::Eq, Operand::Literal(Literal::Guid(_)))));
        assert!(matches!(p("assignedLicenses/$count ne 0"), Expr::Compare(Operand::Count(_), CmpOp::Ne, _)));
        assert!(matches!(
            p("registrationDateTime ge 2026-01-01T00:00:00Z"),
            Expr::Compare(_, CmpOp::Ge, Operand::Literal(Literal::DateTime(_)))
        ));
        assert!(matches!(p("lastSyncDateTime gt 2026-01-01"), Expr::Compare(_, CmpOp::Gt, Operand::Literal(Literal::Date(_)))));
        assert!(matches!(p("accountEnabled eq false"), Expr::Compare(_, _, Operand::Literal(Literal::Bool(false)))));
        assert!(matches!(p("mdmAppId eq null"), Expr::Compare(_, _, Operand::Literal(Literal::Null))));
        assert!(
            matches!(p("complianceState eq microsoft.graph.complianceState'compliant'"), Expr::Compare(_, _, Operand::Literal(Literal::Enum(e))) if e == "compliant")
        );
        assert!(matches!(p("proxyAddresses/any (p:endsWith(p, 'contoso.com'))"), Expr::Lambda { .. }));
        assert!(matches!(
            p("lastSyncDateTime lt 2026-11-30T08:15+02:00"),
            Expr::Compare(_, CmpOp::Lt, Operand::Literal(Literal::DateTime(_)))
        ));
        assert!(matches!(p("android eq 'x'"), Expr::Compare(..)), "a keyword prefix in a name is a name");
    }

    #[test]
    fn malformed_filters_say_where() {
        for bad in ["deviceId eq", "eq 'x'", "a eq 'unterminated", "a eq 1 and", "(a eq 1", "a in ()", "startswith(a)", "a == 'x'", ""] {
            let e = parse(bad).unwrap_err();
            assert!(e.0.contains("position") || e.0.contains("longer"), "{bad}: {e}");
        }
        assert!(parse(&format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40))).unwrap_err().0.contains("nests"));
        assert!(parse(&"a eq 1 or ".repeat(600)).is_err());
    }
}
