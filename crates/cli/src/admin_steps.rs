//! What administrators do in the consoles, step by step, through a browser: the
//! procedures of the administrator's guide. Shared by the demo and the scenario tests.

use anyhow::{Context, bail};

use cloud::seed::SeededUser;

use crate::browser::{Browser, Page};
use crate::stack::Stack;

/// Where a deployment's services answer and which CA its clients trust: what a person at
/// a browser needs. A [`Stack`] is one ([`Stack::site`]); so is a deployment of separate
/// `serve` processes (docs/deploy.md).
#[derive(Debug, Clone)]
pub struct Site {
    /// The cloud's public base URL.
    pub cloud_url: String,
    /// The mdm's public base URL.
    pub mdm_url: String,
    /// The CA (PEM) the services' certificates chain to.
    pub ca_pem: String,
}

impl Site {
    /// A browser (with cookies) trusting the site's CA.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.ca_pem)
    }

    /// `<mdm>/i/<slug>`, where an instance's console and APIs are.
    pub fn instance_url(&self, slug: &str) -> String {
        format!("{}/i/{slug}", self.mdm_url.trim_end_matches('/'))
    }
}

/// A user name and password.
pub type Login<'a> = (&'a str, &'a str);

/// The mdm console of one instance, signed in.
pub async fn mdm_sign_in(stack: &Stack, slug: &str) -> anyhow::Result<Browser> {
    let i = stack.instance(slug);
    mdm_sign_in_at(&stack.site(), slug, (&i.admin_username, &i.admin_password)).await
}

/// As [`mdm_sign_in`], at `site` as `admin`.
pub async fn mdm_sign_in_at(site: &Site, slug: &str, admin: Login<'_>) -> anyhow::Result<Browser> {
    let b = site.browser();
    let page = b.post_form(&format!("{}/login", site.instance_url(slug)), &[("username", admin.0), ("password", admin.1)]).await?;
    if page.body.contains("Invalid username or password") {
        bail!("mdm sign-in refused for {slug}");
    }
    Ok(b)
}

/// Signs in on the cloud's consent pages and accepts, as often as the flow asks, until
/// the browser leaves the cloud. Returns the page it lands on.
pub async fn consent_as(stack: &Stack, b: &Browser, page: Page, upn: &str, password: &str) -> anyhow::Result<Page> {
    consent_at(&stack.cloud.url(), b, page, (upn, password)).await
}

/// As [`consent_as`], for the cloud at `cloud`.
pub async fn consent_at(cloud: &str, b: &Browser, mut page: Page, admin: Login<'_>) -> anyhow::Result<Page> {
    for _ in 0..6 {
        if !page.url.starts_with(cloud) {
            return Ok(page);
        }
        let action = page.form_action().with_context(|| format!("no form on {}: {}", page.url, page.body))?;
        page = if action.ends_with("/signin") {
            b.post_form(&action, &[("login", admin.0), ("passwd", admin.1)]).await?
        } else if action.ends_with("/decide") {
            b.post_form(&action, &[("decision", "accept")]).await?
        } else {
            bail!("unexpected form {action} on {}", page.url);
        };
    }
    bail!("the consent flow did not return from the cloud")
}

/// Settings › Global Management › Conditional Access › Edit: the fields of S3 steps 1–4,
/// then Connect (step 5). Returns the page the browser is on afterwards.
pub async fn mdm_connect(stack: &Stack, b: &Browser, slug: &str, landing_page: &str, custom_url: &str) -> anyhow::Result<Page> {
    mdm_connect_at(&stack.instance_url(slug), b, landing_page, custom_url).await
}

async fn mdm_connect_at(instance_url: &str, b: &Browser, landing_page: &str, custom_url: &str) -> anyhow::Result<Page> {
    b.post_form(
        &format!("{instance_url}/settings/global-management/conditional-access"),
        &[
            ("enabled", "true"),
            ("connection_type", "cloud_connector"),
            ("sovereign_cloud", "local"),
            ("landing_page", landing_page),
            ("custom_url", custom_url),
            ("action", "connect"),
        ],
    )
    .await
}

/// The cloud's admin centers (Entra, Intune), signed in as the tenant's Global Administrator.
pub async fn cloud_console_sign_in(stack: &Stack) -> anyhow::Result<Browser> {
    cloud_console_sign_in_as(stack, &stack.tenant.admin).await
}

/// The cloud's admin centers, signed in as `admin` (the Global Administrator of any tenant).
pub async fn cloud_console_sign_in_as(stack: &Stack, admin: &SeededUser) -> anyhow::Result<Browser> {
    let b = stack.browser();
    let page =
        b.post_form(&format!("{}/console/login", stack.cloud.url()), &[("username", &admin.upn), ("password", &admin.password)]).await?;
    if page.body.contains("incorrect") {
        bail!("the cloud console refused the Global Administrator");
    }
    Ok(b)
}

/// Intune › Partner device management: paste the App ID and Save (S3 step 7).
pub async fn intune_set_app_id(stack: &Stack, app_id: &str) -> anyhow::Result<Page> {
    intune_set_app_id_as(stack, &stack.tenant.admin, app_id).await
}

/// As [`intune_set_app_id`], in the tenant of `admin`.
pub async fn intune_set_app_id_as(stack: &Stack, admin: &SeededUser, app_id: &str) -> anyhow::Result<Page> {
    intune_set_app_id_at(&stack.site(), (&admin.upn, &admin.password), app_id).await
}

/// As [`intune_set_app_id`], at `site` in the tenant of `admin`.
pub async fn intune_set_app_id_at(site: &Site, admin: Login<'_>, app_id: &str) -> anyhow::Result<Page> {
    let b = site.browser();
    let partner_page = format!("{}{}", site.cloud_url, cloud::http::PARTNER_PAGE);
    b.post_form(
        &format!("{}/console/login", site.cloud_url),
        &[("username", admin.0), ("password", admin.1), ("next", cloud::http::PARTNER_PAGE)],
    )
    .await?;
    let mut page = b.post_form(&partner_page, &[("app_id", app_id)]).await?;
    if page.body.contains("Clear the App ID and terminate?") {
        // Clearing the App ID of a connected partner terminates it: confirmed.
        page = b.post_form(&partner_page, &[("app_id", ""), ("confirm", "yes")]).await?;
    }
    if !page.body.contains("Saved.") {
        bail!("Intune did not save the App ID: {}", page.body);
    }
    Ok(page)
}

/// The whole of S3 for one instance: Connect, both consents, the Application ID page,
/// the App ID pasted into Intune, Confirm. Returns the Conditional Access page.
pub async fn connect_instance(stack: &Stack, slug: &str) -> anyhow::Result<Page> {
    connect_instance_to(stack, slug, &stack.tenant.admin).await
}

/// As [`connect_instance`], to the tenant whose Global Administrator `admin` consents.
pub async fn connect_instance_to(stack: &Stack, slug: &str, admin: &SeededUser) -> anyhow::Result<Page> {
    let i = stack.instance(slug);
    connect_instance_at(&stack.site(), slug, (&i.admin_username, &i.admin_password), (&admin.upn, &admin.password)).await
}

/// As [`connect_instance`], at `site`: the instance's administrator `mdm_admin` connects,
/// the tenant's Global Administrator `tenant_admin` consents and sets the App ID.
pub async fn connect_instance_at(site: &Site, slug: &str, mdm_admin: Login<'_>, tenant_admin: Login<'_>) -> anyhow::Result<Page> {
    let b = mdm_sign_in_at(site, slug, mdm_admin).await?;
    let page = mdm_connect_at(&site.instance_url(slug), &b, "registration", "").await?;
    let page = consent_at(&site.cloud_url, &b, page, tenant_admin).await?;
    let app_id = page.element_text("application-id").with_context(|| format!("no Application ID page: {} {}", page.url, page.body))?;
    intune_set_app_id_at(site, tenant_admin, &app_id).await?;
    let page = b.post_form(&format!("{}/settings/global-management/conditional-access/confirm", site.instance_url(slug)), &[]).await?;
    Ok(page)
}

/// Entra › App registrations: a single-tenant app with application `permissions`
/// (`(resource app ID, permission)`), admin consent granted and a client secret.
/// Returns `(application ID, secret)`.
pub async fn register_app(stack: &Stack, name: &str, permissions: &[(&str, &str)]) -> anyhow::Result<(String, String)> {
    let b = cloud_console_sign_in(stack).await?;
    let url = format!("{}/console/entra/app-registrations", stack.cloud.url());
    let page = b.post_form(&url, &[("name", name), ("accounts", "single"), ("redirect_uri", "")]).await?;
    let message = page.element_text("message").context("no registration message")?;
    let app_id = message.rsplit(' ').next().unwrap_or_default().trim_end_matches('.').to_string();
    for (resource, value) in permissions {
        b.post_form(&format!("{url}/{app_id}/permissions"), &[("resource", resource), ("kind", "Application"), ("value", value)]).await?;
    }
    b.post_form(&format!("{url}/{app_id}/consent"), &[]).await?;
    let page = b.post_form(&format!("{url}/{app_id}/secrets"), &[("months", "12")]).await?;
    let secret = page.element_text("message").context("no secret")?.rsplit(' ').next().unwrap_or_default().to_string();
    Ok((app_id, secret))
}

/// S7's manual steps: an app registration in Entra (update_device_attributes and
/// Application.Read.All, admin consent, a client secret), its App ID in Intune, and the
/// instance's Manual settings. Returns the app's ID.
pub async fn manual_integration(stack: &Stack, slug: &str) -> anyhow::Result<String> {
    let permissions = [(wire::ids::INTUNE_APP_ID, "update_device_attributes"), (wire::ids::GRAPH_APP_ID, "Application.Read.All")];
    let (app_id, secret) = register_app(stack, &format!("Manual integration ({slug})"), &permissions).await?;
    intune_set_app_id(stack, &app_id).await?;
    let m = mdm_sign_in(stack, slug).await?;
    let page = m
        .post_form(
            &format!("{}/settings/global-management/conditional-access", stack.instance_url(slug)),
            &[
                ("enabled", "true"),
                ("connection_type", "manual"),
                ("sovereign_cloud", "local"),
                ("landing_page", "registration"),
                ("manual_tenant", &stack.tenant.domain),
                ("manual_app_id", &app_id),
                ("manual_secret", &secret),
                ("action", "save"),
            ],
        )
        .await?;
    if page.element_text("status").as_deref() != Some("Active") {
        bail!("the manual connection of {slug} did not become active: {}", page.body);
    }
    Ok(app_id)
}

/// S2: remove a manual integration — clear *Enable* in the mdm, clear the App ID in
/// Intune, delete the app's enterprise application in Entra.
pub async fn remove_manual_integration(stack: &Stack, slug: &str, app_id: &str) -> anyhow::Result<()> {
    let m = mdm_sign_in(stack, slug).await?;
    let fields = [
        ("connection_type", "manual"),
        ("sovereign_cloud", "local"),
        ("landing_page", "registration"),
        ("manual_tenant", stack.tenant.domain.as_str()),
        ("manual_app_id", app_id),
        ("action", "save"),
    ];
    save_settings_confirmed(&m, &stack.instance_url(slug), &fields).await?;
    intune_set_app_id(stack, "").await?;
    let b = cloud_console_sign_in(stack).await?;
    let list = b.get(&format!("{}/console/entra/enterprise-applications", stack.cloud.url())).await?;
    // The row of the app: a link to its page, then its Application ID.
    let page = format!("{}{}", stack.cloud.url(), list.row_link("#applications tr", app_id).context("the manual app is not listed")?);
    b.post_form(&format!("{page}/delete"), &[("confirm", "yes")]).await?;
    Ok(())
}

/// S5: Settings › Conditional Access › Edit, clear *Enable Intune Integration for macOS*, Save,
/// and *Yes, turn off and disconnect* on the confirmation that follows.
pub async fn disconnect(stack: &Stack, slug: &str) -> anyhow::Result<()> {
    let m = mdm_sign_in(stack, slug).await?;
    let fields =
        [("connection_type", "cloud_connector"), ("sovereign_cloud", "local"), ("landing_page", "registration"), ("action", "save")];
    save_settings_confirmed(&m, &stack.instance_url(slug), &fields).await?;
    Ok(())
}

/// Posts the Conditional Access settings `fields`; when the instance asks to confirm
/// turning the integration off, confirms it. Returns the page the browser ends on.
pub async fn save_settings_confirmed(b: &Browser, instance_url: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
    let url = format!("{instance_url}/settings/global-management/conditional-access");
    let page = b.post_form(&url, fields).await?;
    if !page.body.contains("Turn off the Intune integration?") {
        return Ok(page);
    }
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm", "yes"));
    b.post_form(&url, &confirmed).await
}
