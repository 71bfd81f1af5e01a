//! A minimal browser: cookies, redirects followed by hand (so every hop is visible), and
//! forms posted as a person would post them. The demo and the scenario tests use it to
//! drive the consoles and the consent pages exactly as an admin's browser does.

use anyhow::{Context, bail};
use reqwest::header::LOCATION;
use scraper::{Html, Selector};

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
    /// The page read by an HTML parser.
    pub fn document(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// The `action` of the first form on the page that names one, made absolute.
    pub fn form_action(&self) -> anyhow::Result<String> {
        let document = self.document();
        let action =
            document.select(&selector("form[action]")).next().and_then(|f| f.value().attr("action")).context("the page has no form")?;
        Ok(url::Url::parse(&self.url)?.join(action)?.to_string())
    }

    /// Text of the element with `id`, trimmed.
    pub fn element_text(&self, id: &str) -> Option<String> {
        self.texts(&format!("[id=\"{id}\"]")).into_iter().next()
    }

    /// The trimmed text of every element `css` selects, in document order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.document().select(&selector(css)).map(|e| e.text().collect::<String>().trim().to_string()).collect()
    }

    /// The link (`href`, as written) in the first table row `rows_css` selects that has a
    /// cell whose whole text is `text`.
    pub fn row_link(&self, rows_css: &str, text: &str) -> Option<String> {
        let document = self.document();
        let cell = selector("td");
        let row = document.select(&selector(rows_css)).find(|r| r.select(&cell).any(|c| c.text().collect::<String>().trim() == text))?;
        row.select(&selector("a[href]")).next()?.value().attr("href").map(str::to_string)
    }

    /// The `attribute` of every element `css` selects that has it, in document order.
    pub fn attributes(&self, css: &str, attribute: &str) -> Vec<String> {
        self.document().select(&selector(css)).filter_map(|e| e.value().attr(attribute).map(str::to_string)).collect()
    }
}

/// A CSS selector written in this crate; one that does not parse is a bug here.
fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css:?}: {e}"))
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
