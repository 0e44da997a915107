//! GraphiQL playground, served entirely by this binary.
//!
//! Admins often run brokergraph behind firewalls or fully air-gapped, where a page that
//! pulls GraphiQL from a CDN stays on "Loading..." forever. So the page and every script
//! and stylesheet it needs are compiled in (see `static/graphiql/VERSIONS.md` for the
//! pinned versions and licenses) and the page references nothing outside this server.
//!
//! The asset routes are absolute (`/playground/...`), so merge this router at the root.

use axum::{
    Router,
    body::Bytes,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

/// Settings the page is rendered with.
#[derive(Clone, Debug, Default)]
pub struct PlaygroundConfig {
    /// GraphQL endpoint path, e.g. "/graphql".
    pub endpoint: String,
    /// WebSocket endpoint path for subscriptions, e.g. "/graphql/ws".
    pub subscription_endpoint: String,
    /// A development bearer token to pre-fill the playground's request headers with, if any.
    pub dev_token: Option<String>,
}

/// Routes of the playground: `GET /` (the page) and `GET /playground/{file}` (its pinned assets).
pub fn router<S: Clone + Send + Sync + 'static>(config: PlaygroundConfig) -> Router<S> {
    // The page only depends on the config, so render it once.
    let page = Bytes::from(render_page(&config));
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move { page_response(page) }
            }),
        )
        .route("/playground/{file}", get(asset))
}

/// One vendored file. Its name is both the file name under `static/graphiql/` and the URL
/// name, and it carries the package version: the asset is cached as immutable, so an
/// upgrade must change its URL, and deriving the URL from the file name guarantees that.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../static/graphiql/", $name)),
        }
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// In load order: ReactDOM needs `window.React`, GraphiQL needs both.
static SCRIPTS: [Asset; 3] = [
    asset!("react-18.3.1.production.min.js", JAVASCRIPT),
    asset!("react-dom-18.3.1.production.min.js", JAVASCRIPT),
    asset!("graphiql-3.9.0.min.js", JAVASCRIPT),
];

static STYLESHEET: Asset = asset!("graphiql-3.9.0.min.css", CSS);

/// Shown in the query editor the first time the playground is opened.
const DEFAULT_QUERY: &str = "\
{
  brokers(first: 5) {
    totalCount
    edges {
      node {
        name
        organizations(first: 3) {
          edges {
            node {
              name
              tenant {
                microsoftTenantId
              }
            }
          }
        }
      }
    }
  }
}
";

/// Asset names are versioned, so a browser never needs to ask for one twice.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn asset_url(asset: &Asset) -> String {
    format!("/playground/{}", asset.name)
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = SCRIPTS
        .iter()
        .chain([&STYLESHEET])
        .find(|asset| asset.name == file)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Bytes::from_static(asset.bytes),
    )
        .into_response()
}

fn page_response(page: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page may embed a bearer token: keep it out of every cache.
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page,
    )
        .into_response()
}

/// Everything the page's script needs, as one JSON value so it is escaped in one place.
fn page_config(config: &PlaygroundConfig) -> serde_json::Value {
    let mut props = json!({
        "defaultQuery": DEFAULT_QUERY,
        // Never write the (dev) token to the browser's localStorage.
        "shouldPersistHeaders": false,
    });
    if let Some(token) = &config.dev_token {
        // `{:#}` pretty-prints, so the headers editor shows readable JSON.
        let headers = format!(
            "{:#}",
            json!({ "Authorization": format!("Bearer {token}") })
        );
        // `headers` wins over tabs restored from localStorage; `defaultHeaders` seeds new tabs.
        props["defaultHeaders"] = headers.clone().into();
        props["headers"] = headers.into();
        props["defaultEditorToolsVisibility"] = "headers".into();
    }
    json!({
        "endpoint": config.endpoint,
        "subscriptionEndpoint": config.subscription_endpoint,
        "props": props,
    })
}

/// JSON is valid JavaScript, but inside `<script>` the HTML parser would still end the
/// element at `</script` (or get confused by `<!--`) even within a string literal. Both
/// start with `<`, and `\u003c` is the same character to JSON and JavaScript.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

fn render_page(config: &PlaygroundConfig) -> String {
    let stylesheet = asset_url(&STYLESHEET);
    let scripts: String = SCRIPTS
        .iter()
        .map(|script| format!("<script src=\"{}\"></script>\n", asset_url(script)))
        .collect();
    let config = script_json(&page_config(config));
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brokergraph playground</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
<style>html, body {{ height: 100%; margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading...</div>
{scripts}<script>
(function () {{
  "use strict";
  var config = {config};
  var wsScheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var props = config.props;
  props.fetcher = GraphiQL.createFetcher({{
    url: window.location.origin + config.endpoint,
    subscriptionUrl: wsScheme + window.location.host + config.subscriptionEndpoint
  }});
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, props));
}})();
</script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{
        body::Body,
        http::{HeaderName, Request},
    };
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn config(dev_token: Option<&str>) -> PlaygroundConfig {
        PlaygroundConfig {
            endpoint: "/graphql".into(),
            subscription_endpoint: "/graphql/ws".into(),
            dev_token: dev_token.map(Into::into),
        }
    }

    async fn fetch(
        config: PlaygroundConfig,
        uri: &str,
    ) -> Result<(StatusCode, axum::http::HeaderMap, Bytes), Box<dyn std::error::Error>> {
        let request = Request::get(uri).body(Body::empty())?;
        let response = router::<()>(config).oneshot(request).await?;
        let (parts, body) = response.into_parts();
        Ok((
            parts.status,
            parts.headers,
            body.collect().await?.to_bytes(),
        ))
    }

    fn header_str(headers: &axum::http::HeaderMap, name: HeaderName) -> &str {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `src="..."` and `href="..."` value of the page.
    fn referenced_urls(page: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| page.split(attribute).skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    /// The JSON the page's script is configured with.
    fn embedded_config(page: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let start = page.find("var config = ").ok_or("no config")? + "var config = ".len();
        let end = start + page[start..].find(";\n").ok_or("no end of config")?;
        Ok(serde_json::from_str(&page[start..end])?)
    }

    #[tokio::test]
    async fn page_loads_only_local_assets_and_they_are_served() -> TestResult {
        let (status, headers, body) = fetch(config(None), "/").await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header_str(&headers, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_str(&headers, header::CACHE_CONTROL), "no-store");
        let page = std::str::from_utf8(&body)?;
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        assert!(!page.contains("\"//"), "no protocol-relative URL: {page}");

        let urls: Vec<&str> = referenced_urls(page)
            .into_iter()
            .filter(|url| *url != "data:,")
            .collect();
        for asset in SCRIPTS.iter().chain([&STYLESHEET]) {
            assert!(
                urls.contains(&asset_url(asset).as_str()),
                "{} not referenced",
                asset.name
            );
        }
        for url in urls {
            let (status, headers, body) = fetch(config(None), url).await?;
            assert_eq!(status, StatusCode::OK, "{url}");
            let expected = if url.ends_with(".css") {
                CSS
            } else {
                JAVASCRIPT
            };
            assert_eq!(
                header_str(&headers, header::CONTENT_TYPE),
                expected,
                "{url}"
            );
            assert_eq!(
                header_str(&headers, header::CACHE_CONTROL),
                IMMUTABLE,
                "{url}"
            );
            assert!(body.len() > 1000, "{url} looks truncated");
        }
        Ok(())
    }

    #[tokio::test]
    async fn page_without_token_has_no_headers() -> TestResult {
        let (_, _, body) = fetch(config(None), "/").await?;
        let page = std::str::from_utf8(&body)?;
        let config = embedded_config(page)?;
        assert_eq!(config["endpoint"], "/graphql");
        assert_eq!(config["subscriptionEndpoint"], "/graphql/ws");
        assert_eq!(config["props"]["shouldPersistHeaders"], false);
        assert_eq!(config["props"]["defaultQuery"], DEFAULT_QUERY);
        assert!(config["props"].get("headers").is_none());
        assert!(config["props"].get("defaultHeaders").is_none());
        assert!(
            config["props"]
                .get("defaultEditorToolsVisibility")
                .is_none()
        );
        assert!(page.contains("GraphiQL.createFetcher("));
        Ok(())
    }

    #[tokio::test]
    async fn token_is_prefilled_and_cannot_break_out_of_the_script() -> TestResult {
        let token = r#"abc</script><script>alert("x")</script><!--"#;
        let (status, _, body) = fetch(config(Some(token)), "/").await?;
        assert_eq!(status, StatusCode::OK);
        let page = std::str::from_utf8(&body)?;
        // Only the page's own script elements are closed; the token's `<` are escaped.
        assert_eq!(page.matches("</script").count(), SCRIPTS.len() + 1);
        assert!(!page.contains("<!--"));
        assert!(page.contains(r"abc\u003c/script>\u003cscript>alert("));

        let props = &embedded_config(page)?["props"];
        let headers = props["headers"].as_str().ok_or("no headers")?;
        assert!(
            headers.starts_with("{\n  \"Authorization\": "),
            "not pretty: {headers}"
        );
        let parsed: serde_json::Value = serde_json::from_str(headers)?;
        assert_eq!(
            parsed,
            json!({ "Authorization": format!("Bearer {token}") })
        );
        assert_eq!(props["defaultHeaders"], headers);
        assert_eq!(props["defaultEditorToolsVisibility"], "headers");
        assert_eq!(props["shouldPersistHeaders"], false);
        Ok(())
    }

    #[tokio::test]
    async fn unknown_asset_is_not_found() -> TestResult {
        for uri in [
            "/playground/nope.js",
            "/playground/graphiql.min.js",
            "/playground/..%2FCargo.toml",
        ] {
            let (status, _, _) = fetch(config(None), uri).await?;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        }
        Ok(())
    }
}
