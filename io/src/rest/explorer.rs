//! The block explorer: one HTML page with its script and stylesheet,
//! compiled into the binary (`include_str!`, no npm build, no CDN) and
//! served by the REST server at `GET /` and `GET /explorer` (assets under
//! `/explorer/`). The page itself only reads the v0.6 JSON routes (`/chain`,
//! `/chain/blocks/{n}`, `/transactions/{id}`, `/network/peers`), polling
//! `/chain` for new blocks, so it shows exactly what API users see.
//!
//! Everything the page displays is inserted as text (`textContent`), never
//! as markup, and the HTML is sent with a Content-Security-Policy that
//! allows only the page's own script and stylesheet: chaincode arguments
//! such as `<script>` are shown, not run.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("explorer/index.html");
const APP_JS: &str = include_str!("explorer/app.js");
const STYLE_CSS: &str = include_str!("explorer/style.css");

/// What the page may load: its own script, stylesheet and API calls only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// One file of the explorer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// The page (`/`, `/explorer`, `/explorer/`).
    Index,
    /// `/explorer/app.js`.
    Script,
    /// `/explorer/style.css`.
    Style,
}

impl Asset {
    /// The explorer file at `path`, if any.
    pub fn at(path: &str) -> Option<Self> {
        match path {
            "/" | "/explorer" | "/explorer/" | "/explorer/index.html" => Some(Asset::Index),
            "/explorer/app.js" => Some(Asset::Script),
            "/explorer/style.css" => Some(Asset::Style),
            _ => None,
        }
    }

    fn body_and_type(self) -> (&'static str, &'static str) {
        match self {
            Asset::Index => (INDEX_HTML, "text/html; charset=utf-8"),
            Asset::Script => (APP_JS, "text/javascript; charset=utf-8"),
            Asset::Style => (STYLE_CSS, "text/css; charset=utf-8"),
        }
    }
}

/// The response for `asset`, with its content type and the page's
/// security headers.
pub fn serve(asset: Asset) -> Response {
    let (body, content_type) = asset.body_and_type();
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The files change only with the binary; a restarted peer may be newer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_types() {
        assert_eq!(Asset::at("/"), Some(Asset::Index));
        assert_eq!(Asset::at("/explorer"), Some(Asset::Index));
        assert_eq!(Asset::at("/explorer/app.js"), Some(Asset::Script));
        assert_eq!(Asset::at("/explorer/style.css"), Some(Asset::Style));
        assert_eq!(Asset::at("/explorer/nope.js"), None);
        let r = serve(Asset::Script);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        assert!(INDEX_HTML.contains(r#"src="/explorer/app.js""#));
        assert!(INDEX_HTML.contains(r#"href="/explorer/style.css""#));
        for asset in [INDEX_HTML, APP_JS, STYLE_CSS] {
            assert!(!asset.contains("http://") && !asset.contains("https://"));
        }
        // No inline script or handler: the CSP would block it anyway.
        assert_eq!(INDEX_HTML.matches("<script").count(), 1);
        assert!(
            !INDEX_HTML
                .split_whitespace()
                .any(|w| w.starts_with("on") && w.contains('='))
        );
        assert!(!APP_JS.contains("innerHTML") && !APP_JS.contains("outerHTML"));
    }
}
