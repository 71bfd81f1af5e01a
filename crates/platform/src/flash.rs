//! POST → redirect → GET for the consoles: a form's handler answers with a redirect
//! ([`redirect`]) carrying the outcome in a short-lived cookie, and the page it leads to
//! shows that message once ([`take`]) and clears the cookie. A refresh then reloads the
//! page instead of submitting the form again, and a secret shown once (a new client
//! secret) never sits in an address or the browser's history.

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

/// The cookie holding the message (`HttpOnly`, `Secure`, `SameSite=Lax`, 5 minutes).
pub const COOKIE: &str = "console_flash";

/// 303 See Other to `to`, the page that shows `message` once.
pub fn redirect(to: &str, message: &str) -> Response {
    let value: String = url::form_urlencoded::byte_serialize(message.as_bytes()).collect();
    let cookie = format!("{COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=300");
    let mut response = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// The message a [`redirect`] left for this request, if any.
pub fn take(headers: &HeaderMap) -> Option<String> {
    let raw = crate::http::cookie(headers, COOKIE).filter(|v| !v.is_empty())?;
    let decoded: String = url::form_urlencoded::parse(format!("m={raw}").as_bytes()).map(|(_, v)| v.into_owned()).collect();
    Some(decoded).filter(|m| !m.is_empty())
}

/// `response` with the message cleared, so it shows once.
pub fn cleared(mut response: Response) -> Response {
    let cookie = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_survives_the_redirect_whole() {
        let message = "Client ID 1 · secret (shown once): a+b/c=; d";
        let response = redirect("/x", message);
        assert_eq!(response.status(), 303);
        let set = response.headers()[SET_COOKIE].to_str().unwrap();
        let pair = set.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, HeaderValue::from_str(pair).unwrap());
        assert_eq!(take(&headers).as_deref(), Some(message));
        let cleared = cleared(Response::default());
        assert!(cleared.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    }
}
