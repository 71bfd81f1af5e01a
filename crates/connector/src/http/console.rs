//! The operator's page (`/operator`): every link with its health — status, last test,
//! last upload, backlog, lag, dead letters, last error — and *Re-test* and *Reconcile* for
//! each. The operator signs in with the configured `operator_token`; the session is a
//! cookie signed with that token ([`platform::secrets::sign_until`]), so every node
//! accepts it and nothing is stored. Without a token the page is off, as the operator API
//! is.

use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use platform::flash;
use platform::html::{Frame, Layout, Markup, NavLink, badge, console, html, page};
use platform::problem::Refuse;
use wire::LinkId;

use super::Path;
use super::operator::health_of;
use crate::error::{ConnectorError, Result};
use crate::http::Bytes;
use crate::{Shared, maintenance, onboarding};

/// Where the page is.
pub const PAGE: &str = "/operator";

/// The session cookie (`HttpOnly`, `Secure`, `SameSite=Lax`).
const COOKIE: &str = "connector_operator";

/// How long a sign-in lasts, in ms.
const SESSION_MS: i64 = 8 * 3600 * 1000;

/// What the session cookie is signed for.
const PURPOSE: &str = "connector-operator-session";

/// The operator signed in to the page, with the message the form posted before left.
/// Rejection: the sign-in form, or 404 when no operator token is configured.
pub(crate) struct OperatorSession {
    flash: Option<flash::Flash>,
}

impl FromRequestParts<Shared> for OperatorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> std::result::Result<Self, Response> {
        let Some(token) = state.config.operator_token.as_deref() else {
            return Err(off().into_response());
        };
        let signed = platform::http::cookie(&parts.headers, COOKIE).unwrap_or_default();
        if platform::secrets::check_signed(token, PURPOSE, &signed, state.clock.now_ms()) {
            Ok(OperatorSession { flash: flash::take(&parts.headers, parts.uri.path()) })
        } else {
            Err(Html(sign_in_page(None)).into_response())
        }
    }
}

fn off() -> ConnectorError {
    ConnectorError::not_found("The operator page is off: no operator_token is configured.")
}

fn sign_in_page(error: Option<&str>) -> String {
    page(
        "Cloud Connector operator",
        html! {
            h1 { "Cloud Connector operator" }
            @if let Some(e) = error { p id="error" class="message error" role="alert" { (e) } }
            form class="stacked" method="post" action={ (PAGE) "/login" } {
                label { "Operator token " input name="token" type="password" required autocomplete="current-password"; }
                button { "Sign in" }
            }
        },
    )
}

/// `POST /operator/login`: the operator token, as configured, opens an eight-hour session.
pub async fn login(State(state): State<Shared>, body: Bytes) -> Result<Response> {
    let Some(expected) = state.config.operator_token.as_deref() else {
        return Err(off());
    };
    let given = url::form_urlencoded::parse(&body).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).unwrap_or_default();
    // Compared as digests: equal length, so the comparison's time says nothing.
    if platform::secrets::digest_hex(&given) != platform::secrets::digest_hex(expected) {
        return Ok((StatusCode::UNAUTHORIZED, Html(sign_in_page(Some("The operator token is not valid.")))).into_response());
    }
    let value = platform::secrets::sign_until(expected, PURPOSE, state.clock.now_ms() + SESSION_MS);
    let cookie = format!("{COOKIE}={value}; Path={PAGE}; Secure; HttpOnly; SameSite=Lax");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(PAGE)).into_response())
}

/// `POST /operator/logout`: the session cookie is cleared (a copy of it stays valid until
/// it expires; changing `operator_token` ends every session).
pub async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path={PAGE}; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to(PAGE)).into_response()
}

/// `GET /operator`: every link with its health.
pub async fn links(State(state): State<Shared>, me: OperatorSession) -> Result<Response> {
    let mut rows = Vec::new();
    for l in state.store.all_links().await? {
        rows.push(link_row(&health_of(&state, &l).await?));
    }
    let frame = Frame {
        product: "Cloud Connector".into(),
        home: PAGE.into(),
        who: format!("operator · node {}", state.node),
        layout: Layout::TopBar(vec![NavLink::new(PAGE, "Links")]),
        current: PAGE.into(),
        crumbs: vec![],
    };
    let body = html! {
        @if let Some(f) = &me.flash { p id="message" class="message" role="status" { (f.message) } }
        form class="actions" method="post" action={ (PAGE) "/logout" } { button class="secondary" { "Sign out" } }
        h1 { "Links" }
        p class="muted" { "Every instance's connection to its tenant, with its delivery health." }
        table id="links" {
            tr { th { "Instance" } th { "Tenant" } th { "Status" } th { "Last test" } th { "Last upload" } th { "Backlog" }
                 th { "Lag" } th { "Dead letters" } th { "Accepted / rejected" } th { "Last error" } th {} }
            @for r in rows { (r) }
        }
    };
    Ok(flash::cleared(Html(console("Links", &frame, body)).into_response(), me.flash.as_ref()))
}

fn link_row(h: &wire::connector_api::LinkHealth) -> Markup {
    let id = &h.link.link_id;
    let failed: Vec<String> = h.link.checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    html! {
        tr {
            td { (h.instance_name) }
            td { (h.link.tenant_id.as_ref().map(|t| t.to_string()).unwrap_or_default()) }
            td class="link-status" { (badge(status_label(h.link.status), None)) @for f in &failed { br; small { (f) } } }
            td { (h.link.last_tested_at.as_deref().unwrap_or("never")) }
            td { (h.last_upload_at.as_deref().unwrap_or("never")) }
            td { (h.backlog) } td { (h.lag_seconds) " s" } td { (h.dead_letters) }
            td { (h.accepted_total) " / " (h.rejected_total) }
            td { (h.last_error.as_deref().unwrap_or("")) }
            td {
                form method="post" action={ (PAGE) "/links/" (id) "/health-check" } { button class="secondary" aria-label={ "Re-test " (h.instance_name) } { "Re-test" } }
                form method="post" action={ (PAGE) "/links/" (id) "/reconcile" } { button class="secondary" aria-label={ "Reconcile " (h.instance_name) } { "Reconcile" } }
            }
        }
    }
}

/// A link state as the consoles name it.
fn status_label(s: wire::connector_api::LinkStatus) -> &'static str {
    use wire::connector_api::LinkStatus as L;
    match s {
        L::AwaitingConsent => "Awaiting consent",
        L::AwaitingConfirmation => "Awaiting confirmation",
        L::Active => "Active",
        L::Failing => "Failing",
        L::Terminated => "Terminated",
        L::Disconnected => "Disconnected",
    }
}

/// `POST /operator/links/{id}/health-check`: *Re-test*.
pub async fn retest(State(state): State<Shared>, Path(id): Path<LinkId>, _: OperatorSession) -> Result<Response> {
    let Some(link) = state.store.link(&id).await? else {
        return Ok(flash::redirect(PAGE, &format!("Link {id} does not exist.")));
    };
    let message = match onboarding::health_check(&state, link).await {
        Ok(view) => format!("Re-tested: {}.", status_label(view.status)),
        Err(e @ ConnectorError::Refused(_)) => e.to_string(),
        Err(e) => return Err(e),
    };
    Ok(flash::redirect(PAGE, &message))
}

/// `POST /operator/links/{id}/reconcile`: *Reconcile*.
pub async fn reconcile(State(state): State<Shared>, Path(id): Path<LinkId>, _: OperatorSession) -> Result<Response> {
    let Some(link) = state.store.link(&id).await? else {
        return Ok(flash::redirect(PAGE, &format!("Link {id} does not exist.")));
    };
    if link.status != wire::connector_api::LinkStatus::Active {
        return Ok(flash::redirect(PAGE, &format!("Only an active link is reconciled; this one is {}.", link.status)));
    }
    let queued = maintenance::reconcile(&state, &link).await?;
    Ok(flash::redirect(PAGE, &format!("Reconcile queued {queued} updates.")))
}
