//! RSQL, the filter language of Jamf Pro's API (`filter=general.name=="Orchard";udid==X`),
//! read by a grammar (winnow) rather than by splitting on separators, so a `;` or `,`
//! inside a quoted value stays part of the value.
//!
//! Grammar (the rsql-parser definition Jamf Pro follows):
//!
//! ```text
//! or         = and *( "," and )
//! and        = constraint *( ";" constraint )
//! constraint = "(" or ")" / comparison
//! comparison = selector operator arguments
//! operator   = "==" / "!=" / "=" 1*ALPHA "=" / "<" / "<=" / ">" / ">="
//! arguments  = "(" value *( "," value ) ")" / value
//! value      = unreserved / '"' … '"' / "'" … "'"     (backslash escapes in quotes)
//! ```
//! Reserved characters, never part of an unquoted word: `" ' ( ) ; , = ! ~ < >` and the
//! white space between tokens (space, tab, CR, LF); any other character is (the read API's
//! OpenAPI document states the same in its pattern).

use winnow::Parser;
use winnow::ascii::multispace0;
use winnow::combinator::{alt, cut_err, delimited, preceded, repeat, separated};
use winnow::error::{ContextError, ErrMode};
use winnow::token::{any, none_of, take_while};

/// Longest filter read, in characters.
pub const MAX_LENGTH: usize = 4096;
/// Deepest nesting of parentheses.
pub const MAX_DEPTH: usize = 16;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Every child holds (`;`).
    And(Vec<Node>),
    /// Any child holds (`,`).
    Or(Vec<Node>),
    Comparison(Comparison),
}

/// `selector operator arguments`, e.g. `general.name=="Orchard"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub selector: String,
    /// As written, normalised: `<` is `=lt=`, `<=` `=le=`, `>` `=gt=`, `>=` `=ge=`.
    pub operator: String,
    /// One value, or the list in parentheses (`=in=("a","b")`).
    pub arguments: Vec<String>,
}

/// Why a filter cannot be read: the byte offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

/// Parses a filter; a lone comparison or group comes back as itself, not wrapped.
pub fn parse(filter: &str) -> Result<Node, SyntaxError> {
    if filter.chars().count() > MAX_LENGTH {
        return Err(SyntaxError(format!("the filter is longer than {MAX_LENGTH} characters")));
    }
    if depth(filter) > MAX_DEPTH {
        return Err(SyntaxError(format!("the filter nests deeper than {MAX_DEPTH} groups")));
    }
    delimited(multispace0, or, multispace0)
        .parse(filter)
        .map_err(|e| SyntaxError(format!("filter syntax error at position {} in '{filter}'", e.offset())))
}

/// How deep the filter's groups nest; parentheses inside quoted values do not count.
fn depth(filter: &str) -> usize {
    let (mut depth, mut deepest, mut quote, mut escaped) = (0usize, 0usize, None, false);
    for c in filter.chars() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ')') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    deepest
}

type PResult<T> = winnow::Result<T, ErrMode<ContextError>>;

const RESERVED: [char; 12] = ['"', '\'', '(', ')', ';', ',', '=', '!', '~', '<', '>', ' '];

fn or(input: &mut &str) -> PResult<Node> {
    let mut parts: Vec<Node> = separated(1.., and, ws(',')).parse_next(input)?;
    Ok(if parts.len() == 1 { parts.remove(0) } else { Node::Or(parts) })
}

fn and(input: &mut &str) -> PResult<Node> {
    let mut parts: Vec<Node> = separated(1.., constraint, ws(';')).parse_next(input)?;
    Ok(if parts.len() == 1 { parts.remove(0) } else { Node::And(parts) })
}

fn constraint(input: &mut &str) -> PResult<Node> {
    alt((delimited(ws('('), cut_err(or), cut_err(ws(')'))), comparison.map(Node::Comparison))).parse_next(input)
}

fn ws<'i>(c: char) -> impl Parser<&'i str, char, ErrMode<ContextError>> {
    delimited(multispace0, c, multispace0)
}

fn comparison(input: &mut &str) -> PResult<Comparison> {
    let selector = unreserved.parse_next(input)?;
    let operator = cut_err(operator).parse_next(input)?;
    let arguments =
        cut_err(alt((delimited(ws('('), separated(1.., value, ws(',')), ws(')')), value.map(|v| vec![v])))).parse_next(input)?;
    Ok(Comparison { selector: selector.to_string(), operator, arguments })
}

fn operator(input: &mut &str) -> PResult<String> {
    alt((
        "==".map(|_| "==".to_string()),
        "!=".map(|_| "!=".to_string()),
        "<=".map(|_| "=le=".to_string()),
        ">=".map(|_| "=ge=".to_string()),
        "<".map(|_| "=lt=".to_string()),
        ">".map(|_| "=gt=".to_string()),
        delimited('=', take_while(1.., |c: char| c.is_ascii_alphabetic()), '=').map(|w: &str| format!("={}=", w.to_ascii_lowercase())),
    ))
    .parse_next(input)
}

fn unreserved<'i>(input: &mut &'i str) -> PResult<&'i str> {
    take_while(1.., |c: char| !RESERVED.contains(&c) && !matches!(c, '\t' | '\r' | '\n')).parse_next(input)
}

fn value(input: &mut &str) -> PResult<String> {
    alt((quoted('"'), quoted('\''), unreserved.map(str::to_string))).parse_next(input)
}

/// A value in `quote`s; a backslash makes the next character literal.
fn quoted<'i>(quote: char) -> impl Parser<&'i str, String, ErrMode<ContextError>> {
    let piece = alt((preceded('\\', any), none_of([quote, '\\'])));
    delimited(
        quote,
        repeat(0.., piece).fold(String::new, |mut s, c| {
            s.push(c);
            s
        }),
        cut_err(quote),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(selector: &str, value: &str) -> Node {
        Node::Comparison(Comparison { selector: selector.into(), operator: "==".into(), arguments: vec![value.into()] })
    }

    #[test]
    fn separators_inside_quotes_stay_in_the_value() {
        assert_eq!(parse(r#"general.name=="Lab; 2, east""#).unwrap(), eq("general.name", "Lab; 2, east"));
        assert_eq!(parse(r#"general.name=='It\'s "mine"'"#).unwrap(), eq("general.name", r#"It's "mine""#));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let node = parse("udid==A;general.name==B,udid==C").unwrap();
        assert_eq!(node, Node::Or(vec![Node::And(vec![eq("udid", "A"), eq("general.name", "B")]), eq("udid", "C")]));
        let grouped = parse("udid==A;(general.name==B,udid==C)").unwrap();
        assert_eq!(grouped, Node::And(vec![eq("udid", "A"), Node::Or(vec![eq("general.name", "B"), eq("udid", "C")])]));
    }

    #[test]
    fn operators_and_argument_lists() {
        let Node::Comparison(c) = parse("id=in=(1, 2,'3')").unwrap() else { panic!() };
        assert_eq!((c.operator.as_str(), c.arguments), ("=in=", vec!["1".to_string(), "2".into(), "3".into()]));
        let Node::Comparison(c) = parse("id>=5").unwrap() else { panic!() };
        assert_eq!(c.operator, "=ge=");
    }

    #[test]
    fn broken_filters_say_where() {
        for bad in ["", "general.name", "general.name==", "general.name==\"open", "(udid==A", "udid==A;", "udid=~A", "==A"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("position") || e.contains("longer"), "{bad}: {e}");
        }
        assert!(parse(&"(".repeat(17)).unwrap_err().to_string().contains("nests deeper"));
        let parens_in_a_value = format!("general.name==\"{}\"", "(".repeat(40));
        assert!(parse(&parens_in_a_value).is_ok(), "parentheses inside quotes are no groups");
    }
}
