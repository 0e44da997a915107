//! A dashboard on another origin, in a real browser: headless Chromium, driven through
//! chromedriver's WebDriver protocol with reqwest, loads a page from one loopback origin that
//! calls brokergraph on another with a bearer token and renders the answer; the test reads the
//! rendered page. The same page from an origin not allowed renders the browser's refusal.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! test is skipped, except in CI.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::response::Html;
use brokergraph::http::HttpConfig;
use brokergraph::http::edge::{Cors, EdgeConfig};
use serde_json::{Value, json};

use crate::support::{self, Backend, Setup, platform_admin};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A safety bound on the browser's start and on the page's answer.
const BOUND: Duration = Duration::from_secs(30);

fn installed() -> bool {
    let installed = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    assert!(
        installed || std::env::var_os("CI").is_none(),
        "CI must install chromium and chromium-driver for the browser test"
    );
    if !installed {
        eprintln!(
            "chromium or chromedriver missing (apt-get install chromium chromium-driver): skipped"
        );
    }
    installed
}

/// The dashboard: calls `api` with `token` and renders the answer, or the error, in `#result`.
fn page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>dashboard</title></head>
<body><p id="result">pending</p>
<script>
fetch({api}, {{
  method: "POST",
  headers: {{ "content-type": "application/json", "authorization": "Bearer " + {token} }},
  body: JSON.stringify({{ query: "query Dashboard {{ __typename brokers(first: 1) {{ totalCount }} }}" }}),
}})
  .then((response) => response.json())
  .then((body) => {{
    document.getElementById("result").textContent =
      "answer: " + body.data.__typename + " with " + body.data.brokers.totalCount + " brokers";
  }})
  .catch((error) => {{
    document.getElementById("result").textContent = "refused: " + error;
  }});
</script></body></html>"#,
        api = json!(api),
        token = json!(token),
    )
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().timeout(BOUND).build().unwrap(),
        };
        let deadline = Instant::now() + BOUND;
        loop {
            let status = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await;
            if let Ok(status) = status
                && let Ok(body) = status.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("chromedriver's JSON");
        assert!(status.is_success(), "{path}: {status} {body}");
        body["value"].clone()
    }

    /// Opens `url` in a fresh headless browser and returns what `#result` renders.
    async fn render(&self, url: &str) -> String {
        let profile = tempfile::tempdir().unwrap();
        let session = self
            .command(
                reqwest::Method::POST,
                "/session",
                json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-dev-shm-usage",
                            format!("--user-data-dir={}", profile.path().display()),
                        ],
                    },
                } } }),
            )
            .await;
        let session = format!("/session/{}", session["sessionId"].as_str().unwrap());
        self.command(
            reqwest::Method::POST,
            &format!("{session}/url"),
            json!({ "url": url }),
        )
        .await;
        let deadline = Instant::now() + BOUND;
        let rendered = loop {
            let text = self
                .command(
                    reqwest::Method::POST,
                    &format!("{session}/execute/sync"),
                    json!({ "script": "return document.getElementById('result').textContent", "args": [] }),
                )
                .await;
            let text = text.as_str().unwrap_or("").to_string();
            if text != "pending" || Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        self.command(reqwest::Method::DELETE, &session, json!({}))
            .await;
        rendered
    }
}

async fn should_let_a_dashboard_on_an_allowed_origin_call_brokergraph_in_a_browser(
    backend: Backend,
) {
    if !installed() {
        return;
    }
    // The page's server first: its origin is what brokergraph allows.
    let pages = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_port = pages.local_addr().unwrap().port();
    let allowed = format!("http://localhost:{page_port}");
    let setup = Setup {
        http: HttpConfig {
            edge: EdgeConfig {
                cors: Cors::new(std::slice::from_ref(&allowed), false, Cors::DEFAULT_MAX_AGE)
                    .unwrap(),
                ..EdgeConfig::default()
            },
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let Some(app) = support::spawn_app_with(backend, setup).await else {
        return;
    };
    let api = format!("http://{}/graphql", support::listen(&app).await);
    let html = page(&api, &platform_admin());
    let site = axum::Router::new().route("/", axum::routing::get(move || async { Html(html) }));
    tokio::spawn(async move { axum::serve(pages, site).await });

    let driver = Driver::start().await;
    // localhost:P is allowed; 127.0.0.1:P, the same server, is another origin, not allowed.
    let rendered = driver.render(&format!("{allowed}/")).await;
    assert_eq!(rendered, "answer: Query with 0 brokers");
    let rendered = driver
        .render(&format!("http://127.0.0.1:{page_port}/"))
        .await;
    assert!(
        rendered.starts_with("refused: TypeError"),
        "a page on an origin not allowed must not read the answer: {rendered}"
    );
}

crate::backend_tests!(should_let_a_dashboard_on_an_allowed_origin_call_brokergraph_in_a_browser);
