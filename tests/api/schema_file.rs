//! `schema.graphql` at the repository root is the schema the server builds.

#[test]
fn schema_graphql_matches_the_server() {
    let built = brokergraph::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &built).expect("write schema.graphql");
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == built,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test)"
    );
}
