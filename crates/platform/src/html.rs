//! The frame of every server-rendered page. Pages are `maud` templates: every value
//! spliced into one is escaped unless it is `PreEscaped`, so no page escapes by hand.

pub use maud::{Markup, PreEscaped, html};

/// The product's plain stylesheet, shared by every console.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}\
    table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
    .ok{color:#060}.bad{color:#a00}nav a{margin-right:1em}";

/// A whole page: `title` and `body` in the product's frame, as the document's text.
pub fn page(title: &str, body: Markup) -> String {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
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
}
