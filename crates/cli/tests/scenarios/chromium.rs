//! A real browser for the consoles' tests: Debian's headless Chromium, driven over
//! WebDriver (fantoccini) through `chromedriver`. Steps are written as an administrator
//! works: follow the link that says X, fill the field labelled Y, press the button Z.
//! [`Chromium::finish`] ends a test; when it failed, it first saves a screenshot and the
//! page's HTML under `target/browser-failures/` and names them in the panic.
//!
//! The stack's certificates come from its own test CA, which Chromium's trust store does
//! not hold: the session accepts them (`acceptInsecureCerts`), as an admin who installed
//! that CA would.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};

pub struct Chromium {
    client: Client,
    driver: tokio::process::Child,
    name: String,
}

/// `chromedriver` on this machine: `CLOUDCONNECTOR_CHROMEDRIVER`, else the first on PATH
/// or where Debian's `chromium-driver` puts it.
fn chromedriver() -> PathBuf {
    if let Ok(p) = std::env::var("CLOUDCONNECTOR_CHROMEDRIVER") {
        return p.into();
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    on_path
        .map(|d| d.join("chromedriver"))
        .chain([PathBuf::from("/usr/bin/chromedriver")])
        .find(|p| p.exists())
        .expect("chromedriver is needed by the consoles' browser tests: install Debian's chromium and chromium-driver (scripts/test does)")
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// XPath string literal for `text` (which may hold either quote).
fn literal(text: &str) -> String {
    if !text.contains('\'') {
        return format!("'{text}'");
    }
    let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

impl Chromium {
    /// A fresh headless Chromium, 1400×1000, for the test `name` (the name of its failure
    /// files).
    pub async fn start(name: &str) -> Chromium {
        let port = free_port();
        let mut driver = tokio::process::Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), true.into());
        let binary = std::env::var("CLOUDCONNECTOR_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000", "--lang=en-US"]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = ClientBuilder::rustls().expect("TLS roots for the WebDriver client");
            match connector.clone().capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.try_wait() {
                        panic!("chromedriver exited ({status}): {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session with Chromium: {e}"),
            }
        };
        Chromium { client, driver, name: name.into() }
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.client.goto(url).await?)
    }

    /// The first element `locator` finds, waiting up to 10 s for it: a click that
    /// submits a form returns before the next page is there.
    async fn find(&self, locator: Locator<'_>) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
        self.client.wait().at_most(Duration::from_secs(10)).for_element(locator).await
    }

    /// Follows the link whose text is `text`.
    pub async fn click_link(&self, text: &str) -> anyhow::Result<()> {
        let link = self.find(Locator::XPath(&format!("//a[normalize-space()={}]", literal(text)))).await;
        link.with_context(|| format!("no link “{text}”"))?.click().await?;
        Ok(())
    }

    /// Presses the button labelled `text` (its text, or its `aria-label` when several
    /// buttons share a text).
    pub async fn press(&self, text: &str) -> anyhow::Result<()> {
        let xpath = format!("//button[normalize-space()={0} or @aria-label={0}] | //input[@type='submit' and @value={0}]", literal(text));
        let button = self.find(Locator::XPath(&xpath)).await.with_context(|| format!("no button “{text}”"))?;
        let page = self.client.find(Locator::Css("html")).await?;
        button.click().await?;
        // A button submits a form: the next page replaces this one.
        let deadline = Instant::now() + Duration::from_secs(15);
        while page.tag_name().await.is_ok() {
            if Instant::now() > deadline {
                bail!("pressing “{text}” did not lead to another page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The form control labelled `label` (the text of the `<label>` around it or naming
    /// it with `for`, starting with `label`).
    async fn control(&self, label: &str) -> anyhow::Result<fantoccini::elements::Element> {
        let l = literal(label);
        let xpath = format!(
            "//label[starts-with(normalize-space(), {l})]//*[self::input or self::select or self::textarea] \
             | //*[self::input or self::select or self::textarea][@id = //label[starts-with(normalize-space(), {l})]/@for]"
        );
        self.find(Locator::XPath(&xpath)).await.with_context(|| format!("no field labelled “{label}”"))
    }

    /// Types `value` into the field labelled `label`, replacing what it held.
    pub async fn fill(&self, label: &str, value: &str) -> anyhow::Result<()> {
        let field = self.control(label).await?;
        field.clear().await?;
        field.send_keys(value).await?;
        Ok(())
    }

    /// Sets the field labelled `label` to `value` as its picker would (a date and time
    /// picker's keystrokes depend on the locale; its value does not).
    pub async fn pick(&self, label: &str, value: &str) -> anyhow::Result<()> {
        let field = self.control(label).await?;
        let arg = serde_json::to_value(&field)?;
        self.client.execute("arguments[0].value = arguments[1];", vec![arg, serde_json::json!(value)]).await?;
        Ok(())
    }

    /// Chooses the option `option` (its visible text) of the list labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) -> anyhow::Result<()> {
        // By its text, quoted for XPath (a label may hold an apostrophe: "user1's Mac").
        let list = self.control(label).await?;
        let item = list.find(Locator::XPath(&format!(".//option[normalize-space()={}]", literal(option)))).await;
        item.with_context(|| format!("no option “{option}” in “{label}”"))?.click().await?;
        Ok(())
    }

    /// Ticks the checkbox or radio button labelled `label` (left as it is when already on).
    pub async fn tick(&self, label: &str) -> anyhow::Result<()> {
        let field = self.control(label).await?;
        if !field.is_selected().await? {
            field.click().await?;
        }
        Ok(())
    }

    /// Clears the checkbox labelled `label` (left as it is when already off).
    pub async fn untick(&self, label: &str) -> anyhow::Result<()> {
        let field = self.control(label).await?;
        if field.is_selected().await? {
            field.click().await?;
        }
        Ok(())
    }

    /// Whether an element `css` selects is on the page now (no waiting).
    pub async fn has(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.client.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// The text of the first element `css` selects.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self.find(Locator::Css(css)).await.with_context(|| format!("no {css}"))?;
        Ok(element.text().await?.trim().to_string())
    }

    /// The texts of every element `css` selects.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await? {
            out.push(e.text().await?.trim().to_string());
        }
        Ok(out)
    }

    /// Waits up to 10 s for the element `css` to read `expected` (a link followed: the
    /// next page comes a moment after the click).
    pub async fn wait_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        self.until_text(css, expected, Duration::from_secs(10), false).await
    }

    /// Waits up to 30 s for the element `css` to read `expected`, reloading the page
    /// between looks (what an admin does while waiting for a status to change).
    pub async fn reload_until_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        self.until_text(css, expected, Duration::from_secs(30), true).await
    }

    async fn until_text(&self, css: &str, expected: &str, within: Duration, reload: bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.text(css).await.ok().as_deref() == Some(expected) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{css} never read “{expected}” (last: {:?})", self.text(css).await.ok());
            }
            tokio::time::sleep(Duration::from_millis(if reload { 250 } else { 50 })).await;
            if reload {
                self.client.refresh().await?;
            }
        }
    }

    /// Follows the link `text` that opens a new tab (`target="_blank"`) and goes on in
    /// that tab. Returns the tab left, for [`Chromium::close_tab_back_to`].
    pub async fn follow_to_new_tab(&self, text: &str) -> anyhow::Result<WindowHandle> {
        let left = self.client.window().await?;
        let before = self.client.windows().await?;
        self.click_link(text).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(new) = self.client.windows().await?.into_iter().find(|w| !before.contains(w)) {
                self.client.switch_to_window(new).await?;
                return Ok(left);
            }
            if Instant::now() > deadline {
                bail!("“{text}” opened no new tab");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes this tab and goes back to `tab`.
    pub async fn close_tab_back_to(&self, tab: WindowHandle) -> anyhow::Result<()> {
        self.client.close_window().await?;
        self.client.switch_to_window(tab).await?;
        Ok(())
    }

    /// The page as a PNG, saved at `path`.
    pub async fn screenshot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.client.screenshot().await?)?;
        Ok(())
    }

    /// For the docs: when `CLOUDCONNECTOR_SCREENSHOTS` names a folder, the page is saved
    /// there as `<name>.png` (docs/screenshots/ holds the committed ones).
    pub async fn snapshot(&self, name: &str) -> anyhow::Result<()> {
        match std::env::var_os("CLOUDCONNECTOR_SCREENSHOTS") {
            Some(dir) => self.screenshot(&PathBuf::from(dir).join(format!("{name}.png"))).await,
            None => Ok(()),
        }
    }

    /// Ends the test: on failure, saves the page's screenshot and HTML and panics naming
    /// them; the browser and its driver are closed either way.
    pub async fn finish(mut self, outcome: anyhow::Result<()>) {
        let failure = match &outcome {
            Ok(()) => None,
            Err(e) => {
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-failures");
                let png = dir.join(format!("{}.png", self.name));
                let shot = self.screenshot(&png).await;
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let html = dir.join(format!("{}.html", self.name));
                if let Ok(source) = self.client.source().await {
                    let _ = std::fs::write(&html, source);
                }
                Some(format!("{e:#}\n  at {url}\n  screenshot: {} ({shot:?})\n  page: {}", png.display(), html.display()))
            }
        };
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        if let Some(f) = failure {
            panic!("{f}");
        }
    }
}
