//! Microsoft Graph (the parts this system reads and writes), answered as Graph answers:
//! paths read without regard to case with every key form ([`path`]), query options
//! checked per resource with Graph's errors ([`crate::odata`]), `@odata.context`,
//! `@odata.count` and `@odata.nextLink` paging, `/$count`, and `request-id`,
//! `client-request-id` and `innerError` on every answer ([`request_ids`]).

mod administration;
mod directory;
mod intune;
mod partners;
mod path;
mod what_if;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use directory::partner_endpoints;
use path::Route;

use super::{Bytes, authenticate};
use crate::Shared;
use crate::entra::directory::Tenant;
use crate::entra::tokens::AccessClaims;
use crate::error::{CloudError, Result};
use crate::odata::query::{self, Headers, QueryOptions};
use crate::odata::resource::Resource;
use crate::odata::sql::Sql;
use crate::odata::{eval, sql};

pub fn router() -> Router<Shared> {
    Router::new().route("/{*rest}", axum::routing::any(dispatch)).layer(axum::middleware::from_fn(request_ids))
}

const GRAPH_AUDIENCES: [&str; 2] = ["https://graph.microsoft.com", wire::ids::GRAPH_APP_ID];

/// One Graph request: who may be asking, what it asks, with which options.
pub(crate) struct Ctx<'a> {
    pub state: &'a Shared,
    pub version: &'static str,
    pub headers: &'a HeaderMap,
    /// The query string's pairs, decoded.
    pub pairs: Vec<(String, String)>,
    /// The request path after the version (for `@odata.nextLink`).
    pub path: String,
    /// The request writes (not a GET): it counts against the write budget too.
    pub write: bool,
}

impl Ctx<'_> {
    /// The caller's tenant, after checking the token and one of the permissions `any_of`
    /// (a `….ReadWrite.…` permission grants its `….Read.…`, as in Graph).
    pub async fn caller(&self, any_of: &[&str]) -> Result<Tenant> {
        Ok(self.caller_with_claims(any_of).await?.0)
    }

    /// As [`Ctx::caller`], with the caller's token claims (who signed in, if anyone).
    pub async fn caller_with_claims(&self, any_of: &[&str]) -> Result<(Tenant, AccessClaims)> {
        let claims = authenticate(self.state, self.headers, &GRAPH_AUDIENCES)?;
        super::throttle(self.state, &claims, self.write)?;
        let writes: Vec<String> = any_of.iter().filter(|p| p.contains(".Read.")).map(|p| p.replace(".Read.", ".ReadWrite.")).collect();
        let any_of: Vec<&str> = any_of.iter().copied().chain(writes.iter().map(String::as_str)).collect();
        if !claims.has_role(&any_of) && !claims.has_scope(&any_of) {
            return Err(CloudError::forbidden("Insufficient privileges to complete the operation."));
        }
        let tenant = self.state.store.tenant(&claims.tid).await?.ok_or_else(|| CloudError::unauthorized("Unknown tenant."))?;
        Ok((tenant, claims))
    }

    fn eventual(&self) -> bool {
        self.headers.get("consistencylevel").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
    }

    /// The query options, checked against `resource`.
    pub fn options(&self, resource: &Resource) -> Result<QueryOptions> {
        query::parse(&self.pairs, resource, Headers { eventual: self.eventual() })
    }

    /// `…/$metadata#<context>`, with the selected properties.
    fn context(&self, context: &str, q: &QueryOptions) -> String {
        let select = q.select.as_ref().map(|s| format!("({})", s.join(","))).unwrap_or_default();
        format!("{}/graph/{}/$metadata#{context}{select}", self.state.base_url, self.version)
    }

    /// The same request continued at `token`.
    fn next_link(&self, token: &str) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken")) {
            ser.append_pair(k, v);
        }
        ser.append_pair("$skiptoken", token);
        format!("{}/graph/{}/{}?{}", self.state.base_url, self.version, self.path, ser.finish())
    }
}

/// A page of a collection, ready to answer.
pub(crate) struct Listing {
    pub items: Vec<Value>,
    pub count: Option<i64>,
    pub next: Option<String>,
}

/// Keeps the `$select`ed properties (and annotations) of an item.
pub(crate) fn select(item: Value, q: &QueryOptions) -> Value {
    let (Some(fields), Value::Object(map)) = (&q.select, &item) else { return item };
    Value::Object(
        map.iter().filter(|(k, _)| k.starts_with('@') || fields.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
    )
}

/// The answer to a collection request.
pub(crate) fn collection(ctx: &Ctx<'_>, context: &str, q: &QueryOptions, listing: Listing) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), json!(ctx.context(context, q)));
    if let Some(n) = listing.count.filter(|_| q.count) {
        body.insert("@odata.count".into(), json!(n));
    }
    if let Some(token) = listing.next {
        body.insert("@odata.nextLink".into(), json!(ctx.next_link(&token)));
    }
    body.insert("value".into(), Value::Array(listing.items.into_iter().map(|i| select(i, q)).collect()));
    axum::Json(Value::Object(body)).into_response()
}

/// The answer to a single-item request (`$select` applies).
pub(crate) fn entity(ctx: &Ctx<'_>, context: &str, q: &QueryOptions, item: Value) -> Response {
    let mut item = select(item, q);
    if let Value::Object(map) = &mut item {
        map.insert("@odata.context".into(), json!(ctx.context(&format!("{context}/$entity"), q)));
    }
    axum::Json(item).into_response()
}

/// `/$count`: the number as text. Directory objects count only with
/// `ConsistencyLevel: eventual`.
pub(crate) fn count(ctx: &Ctx<'_>, resource: &Resource, n: i64) -> Result<Response> {
    if resource.directory && !ctx.eventual() {
        return Err(CloudError::invalid("Request_BadRequest", "$count is not currently supported."));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], n.to_string()).into_response())
}

/// Where a page starts: an offset (`o.N`) or, in the default order, after a key (`k.ID`).
fn start(q: &QueryOptions) -> Result<(i64, Option<String>)> {
    let invalid = || CloudError::bad_request("The $skiptoken is not valid.");
    match q.skiptoken.as_deref() {
        None => Ok((q.skip, None)),
        Some(t) => match t.split_once('.') {
            Some(("o", n)) => n.parse().map(|n| (n, None)).map_err(|_| invalid()),
            Some(("k", key)) if q.order_by.is_empty() => Ok((0, Some(key.to_string()))),
            _ => Err(invalid()),
        },
    }
}

/// A page of items held in memory, filtered, searched, sorted and counted as the SQL
/// would (`odata::eval`).
pub(crate) fn list_memory(resource: &Resource, q: &QueryOptions, items: Vec<Value>) -> Result<Listing> {
    let mut hits: Vec<Value> = items
        .into_iter()
        .filter(|i| q.filter.as_ref().is_none_or(|f| eval::matches(f, resource, i)))
        .filter(|i| q.search.as_ref().is_none_or(|s| eval::found(s, i)))
        .collect();
    // Without `$orderby` the collection keeps its own order (sign-ins: newest first).
    if !q.order_by.is_empty() {
        eval::sort(&mut hits, &q.order_by, "id");
    }
    let total = hits.len() as i64;
    let (offset, _) = start(q)?;
    let page: Vec<Value> = hits.into_iter().skip(offset.max(0) as usize).take(q.top as usize).collect();
    let next = (offset + (page.len() as i64) < total).then(|| format!("o.{}", offset + page.len() as i64));
    Ok(Listing { items: page, count: Some(total), next })
}

/// The condition of a query read from the database: its `$filter` and `$search`.
pub(crate) fn condition(resource: &Resource, q: &QueryOptions) -> Sql {
    let mut out = Sql::new(2);
    if let Some(f) = &q.filter {
        sql::filter(f, resource, &mut out);
    }
    if let Some(s) = &q.search {
        if !out.text.is_empty() {
            out.text.push_str(" AND ");
        }
        sql::search(s, &mut out);
    }
    out
}

/// The page the database is asked for, and how its next page is named.
pub(crate) fn page(resource: &Resource, q: &QueryOptions, key_column: &str) -> Result<crate::store::Page> {
    let (offset, after) = start(q)?;
    Ok(crate::store::Page {
        condition: condition(resource, q),
        order: sql::order_by(&q.order_by, key_column),
        after,
        offset,
        limit: q.top + 1,
    })
}

/// Turns one more row than the page into the next page's token.
pub(crate) fn paged<T>(
    mut rows: Vec<T>,
    q: &QueryOptions,
    page: &crate::store::Page,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if rows.len() as i64 <= q.top {
        return (rows, None);
    }
    rows.truncate(q.top as usize);
    let token = if q.order_by.is_empty() && q.skip == 0 && !q.skiptoken.as_deref().is_some_and(|t| t.starts_with("o.")) {
        rows.last().map(|r| format!("k.{}", key(r)))
    } else {
        Some(format!("o.{}", page.offset + q.top))
    };
    (rows, token)
}

async fn dispatch(
    State(state): State<Shared>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let rest = uri.path().strip_prefix("/graph/").unwrap_or_default();
    if rest.trim_end_matches('/').eq_ignore_ascii_case("oidc/userinfo") && matches!(method, Method::GET | Method::POST) {
        return userinfo(&state, &headers).await;
    }
    let (version, route) = path::parse(rest)?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let path = rest.split_once('/').map(|(_, p)| p.to_string()).unwrap_or_default();
    let ctx = Ctx { state: &state, version, headers: &headers, pairs, path, write: method != Method::GET };
    let not_allowed = CloudError::method_not_allowed;
    match (&method, route) {
        (&Method::GET, route) => match route {
            Route::PartnerTerminate(_)
            | Route::PolicyAssign(_)
            | Route::PolicyScheduleActions(_)
            | Route::UserAssignLicense(_)
            | Route::GroupMemberRefs(_)
            | Route::GroupMemberRef(..) => Err(not_allowed()),
            Route::ManagedDevices
            | Route::ManagedDevicesCount
            | Route::ManagedDevice(_)
            | Route::UserManagedDevices(_)
            | Route::Partners
            | Route::Partner(_)
            | Route::CompliancePartners
            | Route::CompliancePartner(_)
            | Route::Policies
            | Route::Policy(_)
            | Route::PolicyAssignments(_) => intune::get(&ctx, route).await,
            route => directory::get(&ctx, route).await,
        },
        (&Method::DELETE, Route::ManagedDevice(key)) => intune::delete_managed_device(&ctx, key).await,
        (&Method::POST, Route::Users) => administration::create_user(&ctx, &body).await,
        (&Method::PATCH, Route::User(key)) => administration::update_user(&ctx, key, &body).await,
        (&Method::DELETE, Route::User(key)) => administration::delete_user(&ctx, key).await,
        (&Method::POST, Route::UserAssignLicense(key)) => administration::assign_licence(&ctx, key, &body).await,
        (&Method::POST, Route::Groups) => administration::create_group(&ctx, &body).await,
        (&Method::PATCH, Route::Group(key)) => administration::update_group(&ctx, key, &body).await,
        (&Method::DELETE, Route::Group(key)) => administration::delete_group(&ctx, key).await,
        (&Method::POST, Route::GroupMemberRefs(key)) => administration::add_member(&ctx, key, &body).await,
        (&Method::DELETE, Route::GroupMemberRef(key, member)) => administration::remove_member(&ctx, key, member).await,
        (&Method::PATCH, Route::Device(key)) => administration::update_device(&ctx, key, &body).await,
        (&Method::DELETE, Route::Device(key)) => administration::delete_device(&ctx, key).await,
        (&Method::POST, Route::ConditionalAccessPolicies) => administration::create_ca_policy(&ctx, &body).await,
        (&Method::POST, Route::ConditionalAccessEvaluate) => what_if::evaluate(&ctx, &body).await,
        (&Method::PATCH, Route::ConditionalAccessPolicy(key)) => administration::update_ca_policy(&ctx, key, &body).await,
        (&Method::DELETE, Route::ConditionalAccessPolicy(key)) => administration::delete_ca_policy(&ctx, key).await,
        (&Method::PATCH, Route::Policy(key)) => intune::update_policy(&ctx, key, &body).await,
        (&Method::DELETE, Route::Policy(key)) => intune::delete_policy(&ctx, key).await,
        (&Method::POST, Route::PolicyScheduleActions(key)) => intune::schedule_actions(&ctx, key, &body).await,
        (&Method::POST, Route::Partners) => partners::create_partner(&ctx, &body).await,
        (&Method::PATCH, Route::Partner(key)) => partners::update_partner(&ctx, key, &body).await,
        (&Method::DELETE, Route::Partner(key)) => partners::delete_partner(&ctx, key).await,
        (&Method::POST, Route::PartnerTerminate(key)) => partners::terminate(&ctx, key).await,
        (&Method::POST, Route::CompliancePartners) => partners::create_compliance_partner(&ctx, &body).await,
        (&Method::PATCH, Route::CompliancePartner(key)) => partners::update_compliance_partner(&ctx, key, &body).await,
        (&Method::DELETE, Route::CompliancePartner(key)) => partners::delete_compliance_partner(&ctx, key).await,
        (&Method::POST, Route::Policies) => intune::create_policy(&ctx, &body).await,
        (&Method::POST, Route::PolicyAssign(key)) => intune::assign(&ctx, key, &body).await,
        _ => Err(not_allowed()),
    }
}

/// The OpenID Connect UserInfo endpoint Graph hosts (`/oidc/userinfo`, the discovery
/// document's `userinfo_endpoint`): the signed-in user of a delegated Graph token as
/// `sub`, `name`, `given_name`, `family_name`, `email` (Microsoft Learn, "Microsoft
/// identity platform UserInfo endpoint").
async fn userinfo(state: &Shared, headers: &HeaderMap) -> Result<Response> {
    let claims = authenticate(state, headers, &GRAPH_AUDIENCES)?;
    if claims.upn.is_none() {
        return Err(CloudError::unauthorized("UserInfo needs an access token issued to a signed-in user."));
    }
    let user = state.store.user(&claims.oid).await?.ok_or_else(|| CloudError::unauthorized("The token's user no longer exists."))?;
    let (given, family) = user.display_name.split_once(' ').unwrap_or((user.display_name.as_str(), ""));
    Ok(axum::Json(json!({
        "sub": claims.sub, "name": user.display_name, "given_name": given, "family_name": family, "email": user.upn,
        "picture": "https://graph.microsoft.com/v1.0/me/photo/$value",
    }))
    .into_response())
}

/// Every Graph answer carries `request-id` and `client-request-id` (the caller's, when it
/// sent one), and every error repeats them with its date in `innerError`, as Graph does.
async fn request_ids(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let body = if parts.status.is_client_error() || parts.status.is_server_error() {
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        let mut error: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"error": {"code": "UnknownError", "message": ""}}));
        if let Some(e) = error.get_mut("error").and_then(Value::as_object_mut) {
            e.insert(
                "innerError".into(),
                json!({"date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                       "request-id": request_id, "client-request-id": client_request_id}),
            );
        }
        parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        axum::body::Body::from(serde_json::to_vec(&error).unwrap_or_default())
    } else {
        body
    };
    for (name, value) in [("request-id", &request_id), ("client-request-id", &client_request_id)] {
        if let Ok(v) = header::HeaderValue::from_str(value) {
            parts.headers.insert(name, v);
        }
    }
    Response::from_parts(parts, body)
}
