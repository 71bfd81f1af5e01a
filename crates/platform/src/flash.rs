//! POST → redirect → GET for the consoles: a form's handler answers with a redirect
//! ([`redirect`]) carrying the outcome in a cookie, and the page it leads to shows that
//! message once ([`take`]) and clears the cookie ([`cleared`]). A refresh then reloads
//! the page instead of submitting the form again, and a secret shown once (a new client
//! secret) never sits in an address or the browser's history.
//!
//! The cookie lives 5 minutes at most (`Max-Age`), is scoped to the page it is for
//! (`Path`), and names that page in its value, so no other page shows it, and one left
//! behind (the page answered with an error instead) does not turn up much later.

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

/// The cookie holding the message (`HttpOnly`, `Secure`, `SameSite=Lax`).
pub const COOKIE: &str = "console_flash";

/// A message left for one page.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub message: String,
    /// The page's path, which the cookie is scoped to.
    path: String,
}

fn set_cookie(response: &mut Response, value: &str, path: &str, clear: bool) {
    let expiry = if clear { "; Max-Age=0" } else { "; Max-Age=300" };
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={value}; Path={path}; Secure; HttpOnly; SameSite=Lax{expiry}")) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// 303 See Other to `to` (a local path), the page that shows `message` once.
pub fn redirect(to: &str, message: &str) -> Response {
    let path = to.split(['?', '#']).next().unwrap_or(to);
    let pairs = url::form_urlencoded::Serializer::new(String::new()).append_pair("p", path).append_pair("m", message).finish();
    let value: String = url::form_urlencoded::byte_serialize(pairs.as_bytes()).collect();
    let mut response = Redirect::to(to).into_response();
    set_cookie(&mut response, &value, path, false);
    response
}

/// The message a [`redirect`] left for the page at `path`, if any.
pub fn take(headers: &HeaderMap, path: &str) -> Option<Flash> {
    let raw = crate::http::cookie(headers, COOKIE).filter(|v| !v.is_empty())?;
    let pairs: String = url::form_urlencoded::parse(format!("v={raw}").as_bytes()).map(|(_, v)| v.into_owned()).collect();
    let (mut page, mut message) = (None, None);
    for (k, v) in url::form_urlencoded::parse(pairs.as_bytes()) {
        match k.as_ref() {
            "p" => page = Some(v.into_owned()),
            "m" => message = Some(v.into_owned()),
            _ => {}
        }
    }
    let (page, message) = (page?, message?);
    (page == path && !message.is_empty()).then_some(Flash { message, path: page })
}

/// `response` with the message `flash` (when there was one) cleared, so it shows once.
pub fn cleared(mut response: Response, flash: Option<&Flash>) -> Response {
    if let Some(f) = flash {
        set_cookie(&mut response, "", &f.path, true);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_header(response: &Response) -> HeaderMap {
        let set = response.headers()[SET_COOKIE].to_str().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, HeaderValue::from_str(set.split(';').next().unwrap()).unwrap());
        headers
    }

    #[test]
    fn a_message_survives_the_redirect_whole_for_its_page_only() {
        let message = "Client ID 1 · secret (shown once): a+b/c=; d&p=x";
        let response = redirect("/i/hq/settings?x=1", message);
        assert_eq!(response.status(), 303);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
        assert!(set.contains("; Path=/i/hq/settings;") && set.contains("Max-Age=300"), "a short-lived cookie for the page: {set}");
        let headers = cookie_header(&response);
        let flash = take(&headers, "/i/hq/settings").unwrap();
        assert_eq!(flash.message, message);
        assert_eq!(take(&headers, "/i/hq/settings/edit"), None, "another page does not show it");
        let cleared = cleared(Response::default(), Some(&flash));
        let clear = cleared.headers()[SET_COOKIE].to_str().unwrap();
        assert!(clear.contains("Max-Age=0") && clear.contains("Path=/i/hq/settings;"), "{clear}");
    }
}
