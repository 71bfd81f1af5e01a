//! The query options of a Graph request (`$filter`, `$select`, `$orderby`, `$top`,
//! `$skip`, `$count`, `$search`, `$skiptoken`), read and checked against the resource
//! they ask of, with Graph's own errors for what a resource does not support. Option
//! names may come without `$` and in any case, as Graph accepts them.

use super::filter::{self, CmpOp, Expr, Func, Literal, Operand};
use super::resource::{Kind, Prop, Resource, Support};
use crate::error::CloudError;

/// The query of one collection request, checked.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub filter: Option<Expr>,
    /// `$select`, canonical names; `None`: every property.
    pub select: Option<Vec<&'static str>>,
    /// `$orderby`: properties, `true` for descending.
    pub order_by: Vec<(&'static Prop, bool)>,
    pub top: i64,
    pub skip: i64,
    /// `$count=true` and honoured: the answer carries `@odata.count`.
    pub count: bool,
    pub search: Option<Search>,
    pub skiptoken: Option<String>,
}

/// `$search="displayName:mac" OR "displayName:book"`: tokens matched at word starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Clauses joined by `or` (`true`) or `and`.
    pub any: bool,
    pub clauses: Vec<(&'static Prop, String)>,
}

/// What the request carried besides its query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers {
    /// `ConsistencyLevel: eventual`.
    pub eventual: bool,
}

fn bad(code: &'static str, message: impl Into<String>) -> CloudError {
    CloudError::invalid(code, message)
}

/// `Request_UnsupportedQuery` for directory objects, `BadRequest` elsewhere.
fn unsupported(resource: &Resource, message: impl Into<String>) -> CloudError {
    bad(if resource.directory { "Request_UnsupportedQuery" } else { "BadRequest" }, message)
}

const OPTIONS: [&str; 9] = ["filter", "select", "orderby", "top", "skip", "count", "search", "skiptoken", "expand"];

/// Reads the query string's pairs for `resource`.
pub fn parse(pairs: &[(String, String)], resource: &Resource, headers: Headers) -> Result<QueryOptions, CloudError> {
    let mut raw: std::collections::HashMap<&'static str, String> = Default::default();
    for (k, v) in pairs {
        let name = k.strip_prefix('$').unwrap_or(k).to_ascii_lowercase();
        let Some(option) = OPTIONS.iter().find(|o| **o == name) else {
            if k.starts_with('$') {
                return Err(bad("BadRequest", format!("Unrecognized query argument specified: '{k}'.")));
            }
            continue; // `api-version` and the like are not OData options.
        };
        if raw.insert(option, v.clone()).is_some() {
            return Err(bad(
                "BadRequest",
                format!("Query option '${option}' was specified more than once, but it must be specified at most once."),
            ));
        }
    }
    if raw.contains_key("expand") {
        return Err(bad("BadRequest", format!("Query option '$expand' is not supported on {}.", resource.entity_set)));
    }
    let count = match raw.get("count").map(|c| c.to_ascii_lowercase()) {
        None => false,
        Some(c) if c == "true" => true,
        Some(c) if c == "false" => false,
        Some(c) => return Err(bad("BadRequest", format!("'{c}' is not a valid count option."))),
    };
    // Directory objects count only in advanced queries; without the header Graph ignores
    // `$count=true` silently.
    let advanced = !resource.directory || (headers.eventual && count);
    let mut q = QueryOptions { count: count && (!resource.directory || headers.eventual), ..Default::default() };
    q.top = top(raw.get("top"), resource)?;
    q.skip = skip(raw.get("skip"), resource)?;
    q.skiptoken = raw.get("skiptoken").cloned();
    if let Some(sel) = raw.get("select") {
        q.select = Some(select(sel, resource)?);
    }
    if let Some(f) = raw.get("filter").filter(|f| !f.trim().is_empty()) {
        let expr = filter::parse(f).map_err(|e| bad("BadRequest", format!("Invalid filter clause: {e}")))?;
        check(&expr, resource, advanced, None)?;
        q.filter = Some(expr);
    }
    if let Some(o) = raw.get("orderby") {
        q.order_by = order_by(o, resource, advanced)?;
        if resource.directory && q.filter.is_some() && !q.order_by.is_empty() && !advanced {
            return Err(unsupported(resource, "Sorting not supported for current query."));
        }
    }
    if let Some(s) = raw.get("search") {
        q.search = Some(search(s, resource, headers)?);
    }
    Ok(q)
}

fn top(value: Option<&String>, resource: &Resource) -> Result<i64, CloudError> {
    let Some(v) = value else { return Ok(resource.default_top) };
    match v.trim().parse::<i64>() {
        Ok(n) if (1..=resource.max_top).contains(&n) => Ok(n),
        _ => Err(bad(
            if resource.directory { "Request_BadRequest" } else { "BadRequest" },
            format!("Invalid page size specified: '{v}'. Must be between 1 and {} inclusive.", resource.max_top),
        )),
    }
}

fn skip(value: Option<&String>, resource: &Resource) -> Result<i64, CloudError> {
    let Some(v) = value else { return Ok(0) };
    if resource.directory {
        return Err(bad("Request_BadRequest", "'$skip' is not supported by the service."));
    }
    v.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| bad("BadRequest", format!("Invalid value for $skip: '{v}'.")))
}

fn no_property(resource: &Resource, name: &str) -> CloudError {
    bad("BadRequest", format!("Could not find a property named '{name}' on type 'microsoft.graph.{}'.", resource.type_name))
}

fn select(value: &str, resource: &Resource) -> Result<Vec<&'static str>, CloudError> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(bad("BadRequest", "Syntax error: an empty property name in $select."));
        }
        let prop = resource.prop(name).ok_or_else(|| no_property(resource, name))?;
        if !out.contains(&prop.name) {
            out.push(prop.name);
        }
    }
    Ok(out)
}

fn order_by(value: &str, resource: &Resource, advanced: bool) -> Result<Vec<(&'static Prop, bool)>, CloudError> {
    let mut out = Vec::new();
    for clause in value.split(',').map(str::trim) {
        let mut words = clause.split_whitespace();
        let name = words.next().ok_or_else(|| bad("BadRequest", "Syntax error: an empty $orderby clause."))?;
        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(bad("BadRequest", format!("Syntax error: '{other}' is not asc or desc in $orderby."))),
        };
        if words.next().is_some() {
            return Err(bad("BadRequest", format!("Syntax error in $orderby clause '{clause}'.")));
        }
        let prop = resource.prop(name).ok_or_else(|| no_property(resource, name))?;
        match prop.order_by {
            Support::Default => {}
            Support::Advanced if advanced => {}
            _ => return Err(unsupported(resource, "Sorting not supported for current query.")),
        }
        out.push((prop, desc));
    }
    Ok(out)
}

fn search(value: &str, resource: &Resource, headers: Headers) -> Result<Search, CloudError> {
    if resource.search.is_empty() {
        return Err(bad("BadRequest", format!("Query option '$search' is not supported on {}.", resource.entity_set)));
    }
    if !headers.eventual {
        return Err(unsupported(
            resource,
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    let invalid = || bad("Request_BadRequest", format!("Invalid search: {value}. Use \"property:term\" clauses joined by AND or OR."));
    let mut clauses = Vec::new();
    let mut any = None;
    let mut rest = value.trim();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('"').ok_or_else(invalid)?;
        let end = inner.find('"').ok_or_else(invalid)?;
        let (name, term) = inner[..end].split_once(':').ok_or_else(invalid)?;
        let prop = resource.prop(name.trim()).filter(|p| resource.search.contains(&p.name)).ok_or_else(invalid)?;
        clauses.push((prop, term.trim().to_ascii_lowercase()));
        rest = inner[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (word, after) = rest.split_once(char::is_whitespace).ok_or_else(invalid)?;
        let or = match word.to_ascii_uppercase().as_str() {
            "OR" => true,
            "AND" => false,
            _ => return Err(invalid()),
        };
        if any.is_some_and(|a| a != or) {
            return Err(invalid());
        }
        any = Some(or);
        rest = after.trim_start();
    }
    if clauses.is_empty() {
        return Err(invalid());
    }
    Ok(Search { any: any.unwrap_or(false), clauses })
}

/// What an operator needs of a property.
fn needed(prop: &Prop, what: Op) -> Support {
    match what {
        Op::Eq => prop.eq,
        Op::Negation => prop.negation.min(prop.eq),
        Op::Range => prop.range,
        Op::Null => prop.null,
        Op::Func(Func::StartsWith) => prop.starts_with,
        Op::Func(Func::EndsWith) => prop.ends_with,
        Op::Func(Func::Contains) => prop.contains,
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Negation,
    Range,
    Null,
    Func(Func),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Negation => "ne",
            Op::Range => "ge",
            Op::Null => "null",
            Op::Func(Func::StartsWith) => "startsWith",
            Op::Func(Func::EndsWith) => "endsWith",
            Op::Func(Func::Contains) => "contains",
        }
    }
}

/// A lambda's range variable and the collection it ranges over.
type Scope<'a> = Option<(&'a str, &'static [Prop])>;

/// The property a path names: of the resource, or of a lambda's element.
fn resolve(path: &[String], resource: &Resource, scope: Scope<'_>) -> Result<&'static Prop, CloudError> {
    let name = path.join("/");
    match (path, scope) {
        ([var, prop], Some((v, props))) if var == v => {
            props.iter().find(|p| p.name.eq_ignore_ascii_case(prop)).ok_or_else(|| no_property(resource, prop))
        }
        ([single], _) => resource.prop(single).ok_or_else(|| no_property(resource, single)),
        _ => Err(no_property(resource, &name)),
    }
}

fn allow(prop: &Prop, op: Op, resource: &Resource, advanced: bool) -> Result<(), CloudError> {
    match needed(prop, op) {
        Support::Default => Ok(()),
        Support::Advanced if advanced => Ok(()),
        Support::Advanced => Err(unsupported(
            resource,
            format!(
                "Operator '{}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
                op.name()
            ),
        )),
        Support::No => Err(unsupported(
            resource,
            format!(
                "Unsupported or invalid query filter clause specified for property '{}' of resource '{}'.",
                prop.name,
                resource.display_name()
            ),
        )),
    }
}

/// Whether a literal fits a property's type (Graph's "incompatible types" error).
fn fits(prop: &Prop, lit: &Literal) -> bool {
    match (prop.kind, lit) {
        (_, Literal::Null) => true,
        (Kind::String | Kind::Enum, Literal::String(_) | Literal::Enum(_)) => true,
        (Kind::Guid, Literal::Guid(_)) => true,
        (Kind::Guid, Literal::String(s)) => uuid::Uuid::parse_str(s).is_ok(),
        (Kind::Bool, Literal::Bool(_)) => true,
        (Kind::Int, Literal::Int(_)) => true,
        (Kind::DateTime, Literal::DateTime(_) | Literal::Date(_)) => true,
        _ => false,
    }
}

fn literal_edm(lit: &Literal) -> &'static str {
    match lit {
        Literal::Null => "null",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(_) => "Edm.Int32",
        Literal::Float(_) => "Edm.Double",
        Literal::String(_) | Literal::Enum(_) => "Edm.String",
        Literal::Guid(_) => "Edm.Guid",
        Literal::Date(_) => "Edm.Date",
        Literal::DateTime(_) => "Edm.DateTimeOffset",
    }
}

fn typed(prop: &Prop, lit: &Literal, op: &str) -> Result<(), CloudError> {
    if fits(prop, lit) {
        return Ok(());
    }
    Err(bad(
        "BadRequest",
        format!(
            "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{op}'.",
            prop.kind.edm(),
            literal_edm(lit)
        ),
    ))
}

/// Checks every property a filter names and every operator it uses.
fn check(expr: &Expr, resource: &Resource, advanced: bool, scope: Scope<'_>) -> Result<(), CloudError> {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check(a, resource, advanced, scope)?;
            check(b, resource, advanced, scope)
        }
        Expr::Not(inner) => {
            if !advanced && resource.directory {
                return Err(unsupported(
                    resource,
                    "Operator 'not' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
                ));
            }
            check(inner, resource, advanced, scope)
        }
        Expr::Compare(left, op, right) => compare(left, *op, right, resource, advanced, scope),
        Expr::In(Operand::Path(p), values) => {
            let prop = resolve(p, resource, scope)?;
            allow(prop, Op::Eq, resource, advanced)?;
            values.iter().try_for_each(|v| typed(prop, v, "In"))
        }
        Expr::In(..) => Err(bad("BadRequest", "The left operand of 'in' must be a property.")),
        Expr::Call(func, Operand::Path(p), Operand::Literal(lit @ Literal::String(_))) => {
            let prop = resolve(p, resource, scope)?;
            allow(prop, Op::Func(*func), resource, advanced)?;
            typed(prop, lit, "Call")
        }
        Expr::Call(..) => Err(bad("BadRequest", "startsWith, endsWith and contains take a property and a string.")),
        Expr::Lambda { path, var, body, .. } => {
            let prop = resolve(path, resource, scope)?;
            let Kind::Collection(collection) = prop.kind else {
                return Err(unsupported(resource, format!("Property '{}' is not a collection.", prop.name)));
            };
            allow(prop, Op::Eq, resource, advanced)?;
            match (var, body) {
                (Some(var), Some(body)) => check(body, resource, advanced, Some((var.as_str(), collection.props))),
                _ => Ok(()),
            }
        }
    }
}

fn compare(left: &Operand, op: CmpOp, right: &Operand, resource: &Resource, advanced: bool, scope: Scope<'_>) -> Result<(), CloudError> {
    let (path, lit, count) = match (left, right) {
        (Operand::Path(p), Operand::Literal(l)) | (Operand::Literal(l), Operand::Path(p)) => (p, l, false),
        (Operand::Count(p), Operand::Literal(l)) | (Operand::Literal(l), Operand::Count(p)) => (p, l, true),
        _ => return Err(bad("BadRequest", "A comparison needs a property on one side and a value on the other.")),
    };
    let prop = resolve(path, resource, scope)?;
    if count {
        if !matches!(prop.kind, Kind::Collection(_)) || !matches!(lit, Literal::Int(_)) {
            return Err(bad("BadRequest", "$count compares the size of a collection with a number."));
        }
        // Empty collections are only found in advanced queries.
        return allow(prop, Op::Negation, resource, advanced);
    }
    let kind = match (op, lit) {
        (_, Literal::Null) => Op::Null,
        (CmpOp::Eq, _) => Op::Eq,
        (CmpOp::Ne, _) => Op::Negation,
        _ => Op::Range,
    };
    if matches!(op, CmpOp::Ne) && matches!(lit, Literal::Null) {
        allow(prop, Op::Negation, resource, advanced)?;
    }
    allow(prop, kind, resource, advanced)?;
    typed(
        prop,
        lit,
        match op {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::resource::{DEVICES, MANAGED_DEVICES, USERS};

    fn q(query: &str, r: &Resource, eventual: bool) -> Result<QueryOptions, String> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        parse(&pairs, r, Headers { eventual }).map_err(|e| e.to_string())
    }

    #[test]
    fn graph_refuses_what_it_does_not_support_and_says_so() {
        assert!(q("$filter=operatingSystem eq 'macOS' and startswith(displayName,'Mac')", &DEVICES, false).is_ok());
        let e = q("$filter=displayName ne 'x'", &DEVICES, false).unwrap_err();
        assert!(e.contains("Operator 'ne' is not supported because the required parameters might be missing"), "{e}");
        assert!(q("$filter=displayName ne 'x'&$count=true", &DEVICES, true).is_ok());
        let e = q("$filter=trustType ge 'a'", &DEVICES, false).unwrap_err();
        assert!(e.contains("Unsupported or invalid query filter clause specified for property 'trustType' of resource 'Device'"), "{e}");
        let e = q("$filter=isCompliant eq 'yes'", &DEVICES, false).unwrap_err();
        assert!(e.contains("incompatible types") && e.contains("Edm.Boolean"), "{e}");
        assert!(q("$skip=5", &USERS, false).unwrap_err().contains("'$skip' is not supported by the service."));
        assert_eq!(q("$skip=5", &MANAGED_DEVICES, false).unwrap().skip, 5);
        assert!(q("$search=\"displayName:mac\"", &DEVICES, false).unwrap_err().contains("ConsistencyLevel: eventual"));
        let s = q("$search=\"displayName:mac\" OR \"displayName:book\"", &DEVICES, true).unwrap().search.unwrap();
        assert!(s.any && s.clauses.len() == 2);
        assert!(q("$select=id,foo", &DEVICES, false).unwrap_err().contains("Could not find a property named 'foo'"));
        assert_eq!(q("select=ID,DeviceId", &DEVICES, false).unwrap().select.unwrap(), ["id", "deviceId"], "names without $ and case");
        assert!(q("$top=1000", &USERS, false).unwrap_err().contains("Must be between 1 and 999"));
        assert!(q("$foo=1", &USERS, false).unwrap_err().contains("Unrecognized query argument"));
        assert!(!q("$count=true", &USERS, false).unwrap().count, "ignored without ConsistencyLevel, as Graph does");
        assert!(q("$count=true", &MANAGED_DEVICES, false).unwrap().count);
        let e = q("$filter=startswith(displayName,'a')&$orderby=displayName", &USERS, false).unwrap_err();
        assert!(e.contains("Sorting not supported for current query."), "{e}");
        assert!(q("$filter=assignedLicenses/any(x:x/skuId eq 078d2b04-f1bd-4111-bbd4-b4b1b354cef4)", &USERS, false).is_ok());
        assert!(q("$filter=assignedLicenses/$count eq 0", &USERS, false).is_err());
        assert!(q("$filter=assignedLicenses/$count eq 0&$count=true", &USERS, true).is_ok());
        assert!(q("$filter=endswith(userPrincipalName,'@contoso.example')&$count=true", &USERS, true).is_ok());
    }
}
