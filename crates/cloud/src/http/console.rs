//! The admin consoles: the Intune admin center and the Entra admin center, server-rendered,
//! behind a sign-in. Pages follow the administrator's guide's navigation.

use super::Query;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use platform::html::{escape, page};

use super::{cookie, form};
use crate::Shared;
use crate::entra::directory::User;
use crate::error::Result;
use crate::intune::partner;

const SESSION_COOKIE: &str = "cloud_console";
pub const PARTNER_PAGE: &str = "/console/intune/tenant-admin/connectors/partner-device-management";

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_form).post(login))
        .route(PARTNER_PAGE, get(partner_page).post(save_partner))
        .route("/console/entra/enterprise-applications", get(enterprise_applications))
}

fn nav() -> &'static str {
    "<nav><a href=\"/console\">Home</a><a href=\"/console/entra/enterprise-applications\">Entra › Enterprise applications</a>\
     <a href=\"/console/intune/tenant-admin/connectors/partner-device-management\">Intune › Tenant administration › Connectors and tokens › Partner device management</a></nav>"
}

/// The signed-in admin, or a redirect to the sign-in page.
async fn admin(state: &Shared, headers: &HeaderMap, here: &str) -> Result<Result<User, Response>> {
    let to_login = || {
        Redirect::to(&format!("/console/login?next={}", url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()))
            .into_response()
    };
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(Err(to_login()));
    };
    let digest = platform::secrets::digest_hex(&token);
    let Some(user_id) = state.store.console_session_user(&digest, state.clock.now_ms()).await? else {
        return Ok(Err(to_login()));
    };
    match state.store.user(&user_id).await? {
        Some(u) if u.global_admin != 0 => Ok(Ok(u)),
        Some(_) => Ok(Err((
            axum::http::StatusCode::FORBIDDEN,
            Html(page("Access denied", "<h1>Access denied</h1><p>Only administrators of the tenant may use the admin centers.</p>")),
        )
            .into_response())),
        None => Ok(Err(to_login())),
    }
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

fn safe_next(next: Option<String>) -> String {
    // Only local paths: the sign-in must never redirect elsewhere.
    next.filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or_else(|| "/console".into())
}

async fn login_form(Query(q): Query<Next>) -> Html<String> {
    Html(login_page(&safe_next(q.next), None))
}

fn login_page(next: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"bad\">{}</p>", escape(e))).unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/console/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Email <input name=\"username\" type=\"email\" required></label><br>\
         <label>Password <input name=\"password\" type=\"password\" required></label><br>\
         <button type=\"submit\">Sign in</button></form>",
            escape(next)
        ),
    )
}

async fn login(State(state): State<Shared>, body: Bytes) -> Result<Response> {
    let f = form(&body);
    let next = safe_next(f.get("next").cloned());
    let (username, password) = (f.get("username").cloned().unwrap_or_default(), f.get("password").cloned().unwrap_or_default());
    let user = match state.store.user_by_upn(&username).await? {
        Some(u) if platform::secrets::verify_password(&password, &u.password_hash) => u,
        _ => {
            return Ok(Html(login_page(&next, Some("Your account or password is incorrect."))).into_response());
        }
    };
    let token = platform::secrets::random_token(32);
    let expires = state.clock.now_ms() + 8 * 3600 * 1000;
    state.store.insert_console_session(&platform::secrets::digest_hex(&token), &user.id, expires).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

async fn home(State(state): State<Shared>, headers: HeaderMap) -> Result<Response> {
    let user = match admin(&state, &headers, "/console").await? {
        Ok(u) => u,
        Err(r) => return Ok(r),
    };
    Ok(Html(page("Admin centers", &format!("{}<h1>Admin centers</h1><p>Signed in as {}</p>", nav(), escape(&user.upn)))).into_response())
}

async fn partner_page(State(state): State<Shared>, headers: HeaderMap) -> Result<Response> {
    let user = match admin(&state, &headers, PARTNER_PAGE).await? {
        Ok(u) => u,
        Err(r) => return Ok(r),
    };
    render_partner(&state, &user, None).await
}

async fn render_partner(state: &Shared, user: &User, message: Option<&str>) -> Result<Response> {
    let p = state.store.partner(&user.tenant_id).await?;
    let (app_id, status, heartbeat, noncompliant, removal) = match &p {
        Some(p) => (
            p.app_id.clone().unwrap_or_default(),
            partner::display(&p.partner_state),
            p.last_heartbeat_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
            p.noncompliant_at_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
            p.removal_at_ms.map(platform::clock::ms_to_rfc3339).unwrap_or_else(|| "—".into()),
        ),
        None => (String::new(), partner::display(partner::state::UNAVAILABLE), "—".into(), "—".into(), "—".into()),
    };
    let message = message.map(|m| format!("<p id=\"message\">{}</p>", escape(m))).unwrap_or_default();
    Ok(Html(page(
        "Partner device management",
        &format!(
            "{}<h1>Partner device management</h1>{message}\
         <table><tr><th>Connection status</th><td id=\"status\">{}</td></tr>\
         <tr><th>Last heartbeat</th><td>{}</td></tr>\
         <tr><th>Devices will be marked noncompliant</th><td>{}</td></tr>\
         <tr><th>Devices will be removed</th><td id=\"removal\">{}</td></tr></table>\
         <form method=\"post\"><label>Specify the Microsoft Entra App ID for Jamf \
         <input name=\"app_id\" value=\"{}\" size=\"40\"></label> <button type=\"submit\">Save</button></form>",
            nav(),
            escape(status),
            escape(&heartbeat),
            escape(&noncompliant),
            escape(&removal),
            escape(&app_id)
        ),
    ))
    .into_response())
}

async fn save_partner(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let user = match admin(&state, &headers, PARTNER_PAGE).await? {
        Ok(u) => u,
        Err(r) => return Ok(r),
    };
    let app_id = form(&body).get("app_id").map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    if !app_id.is_empty() && uuid::Uuid::parse_str(&app_id).is_err() {
        return render_partner(&state, &user, Some("The App ID must be a GUID, for example 00000000-0000-0000-0000-000000000000.")).await;
    }
    let now = state.clock.now_ms();
    let mut p = state.store.partner(&user.tenant_id).await?.unwrap_or_else(|| partner::new_partner(&user.tenant_id, now));
    let cleared = app_id.is_empty() && p.app_id.is_some();
    partner::set_app_id(&mut p, (!app_id.is_empty()).then_some(app_id), now);
    if cleared && p.partner_state != partner::state::TERMINATED && p.provisioned != 0 {
        partner::terminate(&mut p, now);
    }
    state.store.save_partner(&p).await?;
    render_partner(&state, &user, Some("Saved.")).await
}

async fn enterprise_applications(State(state): State<Shared>, headers: HeaderMap) -> Result<Response> {
    let user = match admin(&state, &headers, "/console/entra/enterprise-applications").await? {
        Ok(u) => u,
        Err(r) => return Ok(r),
    };
    let mut rows = String::new();
    for sp in state.store.service_principals(&user.tenant_id).await? {
        let grants: Vec<String> = state.store.grants(&sp.id).await?.iter().map(|g| format!("{} ({})", g.value, g.kind)).collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&sp.display_name),
            escape(&sp.app_id),
            escape(&grants.join(", "))
        ));
    }
    Ok(Html(page(
        "Enterprise applications",
        &format!(
            "{}<h1>Enterprise applications</h1><table><tr><th>Name</th><th>Application ID</th><th>Permissions</th></tr>{rows}</table>",
            nav()
        ),
    ))
    .into_response())
}
