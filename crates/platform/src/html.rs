//! The frame of every server-rendered page. Pages are `maud` templates: every value
//! spliced into one is escaped unless it is `PreEscaped`, so no page escapes by hand.
//!
//! Two layouts share one stylesheet ([`STYLE`], served inline so a page is one request
//! and works without JavaScript): the device-management console's top bar
//! ([`Layout::TopBar`], as Jamf Pro places Computers, Settings and the signed-in admin)
//! and an admin center's left navigation ([`Layout::SideNav`], as the Intune and Entra
//! admin centers each have their own). Status words get a coloured [`badge`].

pub use maud::{Markup, PreEscaped, html};

/// The product's stylesheet, shared by every console: full-width content, a header bar,
/// a left navigation for the admin centers, badges, and visible keyboard focus.
const STYLE: &str = include_str!("console.css");

/// A link of a navigation bar: where it goes and what it says.
pub struct NavLink {
    pub href: String,
    pub label: String,
}

impl NavLink {
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Self {
        NavLink { href: href.into(), label: label.into() }
    }
}

/// Where a console's navigation sits.
pub enum Layout {
    /// Links across the header, beside the product name (the mdm console).
    TopBar(Vec<NavLink>),
    /// Links down the left side (the Intune and Entra admin centers).
    SideNav(Vec<NavLink>),
}

/// The header and navigation of a console page.
pub struct Frame {
    /// The product or place named at the top left ("Microsoft Intune admin center", an
    /// instance's name), linking to `home`.
    pub product: String,
    pub home: String,
    /// Who is signed in and where (tenant, instance), at the top right.
    pub who: String,
    pub layout: Layout,
    /// The path of the current page: its navigation link is marked current (the longest
    /// link that is a prefix of it).
    pub current: String,
    /// The trail above the title, `(label, href)`; the last one is the page itself.
    pub crumbs: Vec<(String, Option<String>)>,
}

/// A whole page without console chrome (sign-in, consent, landing pages): `title` and
/// `body` in the product's frame, as the document's text.
pub fn page(title: &str, body: Markup) -> String {
    document(title, html! { main class="plain" { (body) } })
}

/// A console page: the frame's header and navigation, the breadcrumbs, then `content`.
pub fn console(title: &str, frame: &Frame, content: Markup) -> String {
    let links = match &frame.layout {
        Layout::TopBar(l) | Layout::SideNav(l) => l,
    };
    let current = links.iter().filter(|l| frame.current.starts_with(&l.href)).map(|l| l.href.len()).max();
    let nav = html! {
        nav aria-label="Main" {
            @for l in links {
                a href=(l.href) aria-current=[(Some(l.href.len()) == current).then_some("page")] { (l.label) }
            }
        }
    };
    let body = html! {
        a class="skip" href="#content" { "Skip to content" }
        header {
            a class="product" href=(frame.home) { (frame.product) }
            @if let Layout::TopBar(_) = frame.layout { (nav) }
            span class="who" { (frame.who) }
        }
        div class="shell" {
            @if let Layout::SideNav(_) = frame.layout { aside { (nav) } }
            main id="content" {
                @if frame.crumbs.len() > 1 {
                    ol class="crumbs" aria-label="Breadcrumb" {
                        @for (label, href) in &frame.crumbs {
                            li { @match href { Some(h) => a href=(h) { (label) }, None => span { (label) } } }
                        }
                    }
                }
                (content)
            }
        }
    };
    document(title, body)
}

fn document(title: &str, body: Markup) -> String {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// A status word in a coloured badge: green for a working state (Active, Passed,
/// Compliant), red for a broken one (Failing, Failed, Terminated, Noncompliant), amber
/// for one waiting on someone (Pending, Unresponsive, Stale), grey otherwise (Disabled).
/// The word keeps its own text; `id` names the element for tests and links.
pub fn badge(label: &str, id: Option<&str>) -> Markup {
    let word = label.to_ascii_lowercase();
    let kind = match word.as_str() {
        "active" | "passed" | "compliant" | "enabled" | "granted" | "success" | "accepted" => "good",
        "failing" | "failed" | "noncompliant" | "not compliant" | "blocked" | "failure" | "rejected" => "bad",
        "unresponsive" | "stale" | "in grace period" => "wait",
        w if w.starts_with("terminated") => "bad",
        w if w.starts_with("pending") || w.starts_with("awaiting") => "wait",
        _ => "none",
    };
    html! { span class={ "badge " (kind) } id=[id] { (label) } }
}

/// The search box above a console list: a GET form with the one field `q`.
pub fn search_box(label: &str, value: &str) -> Markup {
    html! { form role="search" class="search" { label { (label) " " input type="search" name="q" value=(value); } " " button { "Search" } } }
}

/// The line under a console list paged by key: how many rows are shown, a link back to
/// the first page when this is a later one (`paged`), and to the next page when there is
/// one (`next`, the last key shown). Both keep the search `q`.
pub fn pager(q: &str, paged: bool, next: Option<&str>, shown: usize) -> Markup {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    html! {
        p class="paging" {
            (shown) " shown"
            @if paged { " · " a href={ "?q=" (q) } { "First page" } }
            @if let Some(after) = next {
                " · " a rel="next" href={ "?q=" (q) "&after=" (url::form_urlencoded::byte_serialize(after.as_bytes()).collect::<String>()) } { "Next" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_markup_is_not() {
        let name = "<a href=\"x\">&";
        let doc = page("T & C", html! { p id="v" { (name) } });
        assert!(doc.contains("<title>T &amp; C</title>"), "{doc}");
        assert!(doc.contains("<p id=\"v\">&lt;a href=&quot;x&quot;&gt;&amp;</p>"), "{doc}");
    }

    #[test]
    fn the_longest_matching_link_is_the_current_one() {
        let frame = Frame {
            product: "P".into(),
            home: "/".into(),
            who: "admin".into(),
            layout: Layout::SideNav(vec![NavLink::new("/c", "Home"), NavLink::new("/c/users", "Users")]),
            current: "/c/users/42".into(),
            crumbs: vec![("Home".into(), Some("/c".into())), ("Users".into(), None)],
        };
        let doc = console("Users", &frame, html! {});
        assert!(doc.contains(r#"<a href="/c/users" aria-current="page">Users</a>"#), "{doc}");
        assert!(doc.contains(r#"<a href="/c">Home</a>"#), "{doc}");
        assert!(doc.contains("<aside>"), "a side navigation: {doc}");
    }

    #[test]
    fn badges_colour_by_meaning() {
        assert!(badge("Active", Some("status")).into_string().contains(r#"class="badge good" id="status">Active<"#));
        assert!(badge("Failing", None).into_string().contains("badge bad"));
        assert!(badge("Unresponsive", None).into_string().contains("badge wait"));
        assert!(badge("Awaiting confirmation", None).into_string().contains("badge wait"));
        assert!(badge("Terminated by Intune", None).into_string().contains("badge bad"));
        assert!(badge("Disabled", None).into_string().contains("badge none"));
    }

    #[test]
    fn the_pager_keeps_the_search() {
        let p = pager("a b&c", true, Some("k/1"), 50).into_string();
        assert!(p.contains("50 shown") && p.contains(r#"href="?q=a+b%26c""#), "{p}");
        assert!(p.contains(r#"href="?q=a+b%26c&amp;after=k%2F1""#), "{p}");
        assert!(!pager("", false, None, 3).into_string().contains("href"));
    }
}
