//! Interactive sign-in to an app protected by Conditional Access, as a user on a Mac
//! performs it: the authorize page, then the credentials with the Mac's device proof.

use crate::{Fleet, FleetError, Mac, between, expect_ok};

/// How an interactive sign-in to an app ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    /// Conditional Access let the user in: the app receives this authorization code.
    Granted { code: String },
    /// Refused with an AADSTS code; `partner_link` is where the page sends the user.
    Refused { aadsts: String, partner_link: Option<String> },
    /// Let in with a warning (a warned compliance policy the Mac does not meet): the page
    /// says what and until when, links to the fix, and continues to the app with `code`.
    Warned { code: String, warning: String, partner_link: Option<String> },
}

impl Fleet {
    /// The device credential the platform's SSO extension presents at sign-in: a
    /// short-lived JWT signed with the Workplace Join key.
    pub fn device_credential(mac: &Mac, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(mac.device_key_pem.as_ref()?.as_bytes()).ok()?;
        let claims = serde_json::json!({
            "device_id": mac.device_id.as_ref()?, "tid": mac.tenant_id.as_ref()?,
            "iat": now.timestamp(), "exp": now.timestamp() + 300,
        });
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), &claims, &key).ok()
    }

    /// The user opens `client_id` in a browser on this Mac and signs in. With
    /// `present_device`, the browser presents the Mac's device credential (as Safari with
    /// the SSO extension does); without, the cloud cannot recognise the Mac.
    pub async fn sign_in(
        &self,
        mac: &Mac,
        client_id: &str,
        redirect_uri: &str,
        present_device: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SignIn, FleetError> {
        Ok(self.sign_in_timed(mac, client_id, redirect_uri, present_device, now).await?.0)
    }

    /// As [`Fleet::sign_in`], with the time the authority reports for its decision
    /// (`Server-Timing: decision;dur=…`, milliseconds) when it reports one.
    pub async fn sign_in_timed(
        &self,
        mac: &Mac,
        client_id: &str,
        redirect_uri: &str,
        present_device: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(SignIn, Option<f64>), FleetError> {
        let domain = mac.profile.upn.split('@').nth(1).unwrap_or("organizations");
        let resp = self
            .http
            .get(format!("{}/{domain}/oauth2/v2.0/authorize", self.authority))
            .query(&[
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "openid profile"),
                ("state", "s"),
            ])
            .send()
            .await;
        let page =
            expect_ok("authorize", resp).await?.text().await.map_err(|source| FleetError::Transport { step: "authorize", source })?;
        let action = between(&page, "action=\"", "\"").ok_or(FleetError::Http { step: "authorize", status: 200, body: page.clone() })?;
        let mut req = self
            .http
            .post(format!("{}{action}", self.authority))
            .form(&[("login", mac.profile.upn.as_str()), ("passwd", mac.profile.password.as_str())]);
        if present_device && let Some(credential) = Self::device_credential(mac, now) {
            req = req.header("x-ms-device-credential", credential);
        }
        let resp = req.send().await.map_err(|source| FleetError::Transport { step: "sign-in", source })?;
        let decision_ms = resp.headers().get("server-timing").and_then(|v| v.to_str().ok()).and_then(|t| server_timing(t, "decision"));
        if resp.status().is_redirection() {
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let code = code_of(&location).ok_or(FleetError::Http { step: "sign-in", status: 302, body: location })?;
            return Ok((SignIn::Granted { code }, decision_ms));
        }
        let body =
            expect_ok("sign-in", Ok(resp)).await?.text().await.map_err(|source| FleetError::Transport { step: "sign-in", source })?;
        let partner_link = between(&body, "id=\"partner-link\" href=\"", "\"").map(|l| l.replace("&amp;", "&"));
        if let Some(next) = between(&body, "id=\"continue\" href=\"", "\"") {
            let next = next.replace("&amp;", "&");
            let code = code_of(&next).ok_or(FleetError::Http { step: "sign-in", status: 200, body: body.clone() })?;
            let warning = between(&body, "id=\"warning\">", "<").unwrap_or_default();
            return Ok((SignIn::Warned { code, warning, partner_link }, decision_ms));
        }
        let aadsts =
            between(&body, "id=\"error-code\">", "<").ok_or(FleetError::Http { step: "sign-in", status: 200, body: body.clone() })?;
        Ok((SignIn::Refused { aadsts, partner_link }, decision_ms))
    }
}

/// The authorization code a redirect back to the app carries.
fn code_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned())
}

/// The `dur` of metric `name` in a `Server-Timing` header (`a;dur=1.5, b;desc="x";dur=2`).
fn server_timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').map(str::trim).find_map(|metric| {
        let mut params = metric.split(';').map(str::trim);
        (params.next()? == name).then_some(())?;
        params.find_map(|p| p.strip_prefix("dur=")).and_then(|d| d.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::server_timing;

    #[test]
    fn server_timing_names_each_metrics_duration() {
        let header = "decision;dur=5.228, total;desc=\"whole step\";dur=14.9";
        assert_eq!(server_timing(header, "decision"), Some(5.228));
        assert_eq!(server_timing(header, "total"), Some(14.9));
        assert_eq!(server_timing(header, "db"), None);
        assert_eq!(server_timing("decision", "decision"), None, "a metric without a duration");
    }
}
