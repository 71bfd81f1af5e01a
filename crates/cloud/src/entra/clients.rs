//! Client authentication at the token endpoint (Microsoft identity platform, "Microsoft
//! identity platform application authentication certificate credentials" and "client
//! secret"): a client secret that is one of the app's and not expired, or a client
//! assertion signed by one of its certificates; in both cases the app must have a
//! service principal in the tenant. Errors carry the AADSTS codes Microsoft answers with.

use crate::entra::assertions;
use crate::entra::directory::{Application, Tenant};
use crate::error::{CloudError, Result};
use crate::store::Store;

/// How a client proves itself.
pub enum ClientCredential<'a> {
    /// A client secret (Basic header or body).
    Secret { client_id: String, secret: String },
    /// A JWT signed with a certificate's key; `audiences` are the token endpoint URLs it
    /// may name.
    Assertion { client_id: String, assertion: &'a str, audiences: &'a [String] },
}

/// `appidacr` of a token: how its client authenticated.
pub const ACR_SECRET: &str = "1";
pub const ACR_CERTIFICATE: &str = "2";

/// AADSTS700016: no such app in the tenant (or not consented to there).
pub fn app_not_found(client_id: &str, tenant: &str) -> CloudError {
    CloudError::login(
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the \
         application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        ),
    )
}

/// The app `credential` proves, and its `appidacr` ([`ACR_SECRET`] or
/// [`ACR_CERTIFICATE`]). Errors: 700016 (unknown app, or none in this tenant), 7000215
/// (wrong secret), 7000222 (expired secret), and the assertion's own.
pub async fn authenticate(
    store: &Store,
    tenant: &Tenant,
    credential: ClientCredential<'_>,
    now_ms: i64,
) -> Result<(Application, &'static str)> {
    let (app, acr) = match credential {
        ClientCredential::Secret { client_id, secret } => {
            let app = store.application(&client_id).await?.ok_or_else(|| app_not_found(&client_id, &tenant.id))?;
            check_secret(store, &app, &secret, now_ms).await?;
            (app, ACR_SECRET)
        }
        ClientCredential::Assertion { client_id, assertion, audiences } => {
            let app = store.application(&client_id).await?.ok_or_else(|| app_not_found(&client_id, &tenant.id))?;
            assertions::verify(store, &app.app_id, assertion, audiences, now_ms).await?;
            (app, ACR_CERTIFICATE)
        }
    };
    if store.service_principal(&tenant.id, &app.app_id).await?.is_none() {
        return Err(app_not_found(&app.app_id, &tenant.id));
    }
    Ok((app, acr))
}

async fn check_secret(store: &Store, app: &Application, secret: &str, now_ms: i64) -> Result<()> {
    let digest = platform::secrets::digest_hex(secret);
    match store.secrets(&app.app_id).await?.iter().find(|(d, _)| *d == digest) {
        None => Err(CloudError::login(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, \
             not the client secret ID, for a secret added to app '{}'.",
                app.app_id
            ),
        )),
        Some((_, expires)) if *expires <= now_ms => Err(CloudError::login(
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app.",
                app.app_id
            ),
        )),
        Some(_) => Ok(()),
    }
}
