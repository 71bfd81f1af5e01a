//! A minimal browser: cookies, redirects followed by hand (so every hop is visible), and
//! forms posted as a person would post them. The demo and the scenario tests use it to
//! drive the consoles and the consent pages exactly as an admin's browser does.

use anyhow::{Context, bail};
use reqwest::header::LOCATION;

pub struct Browser {
    http: reqwest::Client,
}

/// Where a navigation ended.
pub struct Page {
    pub url: String,
    pub status: u16,
    pub body: String,
}

impl Page {
    /// The `action` of the first form on the page, made absolute.
    pub fn form_action(&self) -> anyhow::Result<String> {
        let start = self.body.find("action=\"").context("the page has no form")? + "action=\"".len();
        let end = self.body[start..].find('"').context("unterminated form action")? + start;
        let action = self.body[start..end].replace("&amp;", "&");
        Ok(url::Url::parse(&self.url)?.join(&action)?.to_string())
    }

    /// Text of the element with `id`.
    pub fn element_text(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\"");
        let at = self.body.find(&marker)?;
        let start = self.body[at..].find('>')? + at + 1;
        let end = self.body[start..].find('<')? + start;
        Some(self.body[start..end].trim().to_string())
    }
}

impl Browser {
    pub fn new(ca_pem: &str) -> Self {
        let http = platform::http::client_builder(ca_pem).cookie_store(true).build().expect("browser client");
        Browser { http }
    }

    async fn follow(&self, mut resp: reqwest::Response) -> anyhow::Result<Page> {
        for _ in 0..20 {
            if !resp.status().is_redirection() {
                let url = resp.url().to_string();
                let status = resp.status().as_u16();
                return Ok(Page { url, status, body: resp.text().await? });
            }
            let location = resp.headers().get(LOCATION).context("redirect without Location")?.to_str()?.to_string();
            let next = resp.url().join(&location)?;
            resp = self.http.get(next).send().await?;
        }
        bail!("too many redirects")
    }

    pub async fn get(&self, url: &str) -> anyhow::Result<Page> {
        self.follow(self.http.get(url).send().await?).await
    }

    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        self.follow(self.http.post(url).form(fields).send().await?).await
    }
}
