//! graphql-js's view of brokergraph, through the Node scripts in `tests/graphql-http`: the
//! official `graphql-http` audit of GraphQL over HTTP, and `schema.graphql` printed the same as
//! the live introspection. Each runs against the real server loop on a local port.
//!
//! The scripts need `npm ci` in `tests/graphql-http` (`.ci/run` does it); without it they are
//! skipped, except in CI.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{self, TestApp, platform_admin};

fn scripts() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/graphql-http"))
}

/// Whether Node and the scripts' packages are installed (and they must be, in CI).
fn installed() -> bool {
    let node = Command::new("node").arg("--version").output().is_ok();
    let packages = scripts().join("node_modules/graphql-http").is_dir()
        && scripts().join("node_modules/graphql").is_dir();
    assert!(
        (node && packages) || std::env::var_os("CI").is_none(),
        "CI must install Node and run `npm ci` in tests/graphql-http"
    );
    if !(node && packages) {
        eprintln!("node or tests/graphql-http/node_modules missing (npm ci there): skipped");
    }
    node && packages
}

/// Runs `node <script> <args>` against the app served on a local port.
async fn node(app: &TestApp, script: &str, extra: &[String]) -> Output {
    let url = format!("http://{}/graphql", support::listen(app).await);
    let mut command = Command::new("node");
    command
        .current_dir(scripts())
        .arg(script)
        .arg(url)
        .arg(platform_admin())
        .args(extra);
    // The server runs on this test's runtime: wait for Node on a thread of its own.
    tokio::task::spawn_blocking(move || command.output().expect("run node"))
        .await
        .expect("node's thread")
}

fn report(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn should_pass_the_graphql_http_audit_without_error_or_warning(app: TestApp) {
    if !installed() {
        return;
    }
    let output = node(&app, "audit.mjs", &[]).await;
    let report = report(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("audits: {\"ok\":"), "{report}");
}

async fn should_print_the_committed_schema_as_introspection_does(app: TestApp) {
    if !installed() {
        return;
    }
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql").to_string();
    let output = node(&app, "schema.mjs", &[file]).await;
    assert!(output.status.success(), "{}", report(&output));
}

crate::db_tests!(
    should_pass_the_graphql_http_audit_without_error_or_warning,
    should_print_the_committed_schema_as_introspection_does,
);
