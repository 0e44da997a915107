//! What a browser and a network expect of the edge: CORS for the configured origins, compressed
//! answers, and compressed request bodies, all with tower-http's layers.
//!
//! - CORS is off unless origins are configured. A request from an origin not on the list gets
//!   no `Access-Control-*` header at all (tower-http would still answer its preflight with the
//!   allowed methods and headers), so the browser refuses to hand the answer to the page.
//! - Answers are compressed (zstd, br, gzip, by the client's `Accept-Encoding`) above a size,
//!   never a WebSocket upgrade or an event stream, whose messages must go out as they come.
//! - Request bodies may come compressed (`Content-Encoding: gzip`, `br`, `zstd`); the body limit
//!   applies to what they decompress to, so a small bomb is refused like a large body.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{self, HeaderName};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;

use super::graphql::{Media, refuse};
use crate::error::ErrorCode;

/// The command line of the edge (flattened into `cli::ServeArgs`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct EdgeArgs {
    /// Origins whose pages may call brokergraph from a browser (CORS), comma-separated exact
    /// origins such as `https://dash.example.com`, or `*` for any origin (without credentials).
    /// None by default: no CORS.
    #[arg(
        long = "cors-allow-origin",
        env = "BROKERGRAPH_CORS_ALLOW_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_allow_origins: Vec<String>,

    /// Let browsers send credentials (cookies, TLS client certificates) on cross-origin
    /// requests; bearer tokens in `Authorization` need no credentials.
    #[arg(long, env = "BROKERGRAPH_CORS_ALLOW_CREDENTIALS", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub cors_allow_credentials: bool,

    /// Seconds a browser may cache a preflight's answer (`Access-Control-Max-Age`).
    #[arg(
        long,
        env = "BROKERGRAPH_CORS_MAX_AGE",
        default_value_t = Cors::DEFAULT_MAX_AGE.as_secs(),
        global = true
    )]
    pub cors_max_age_seconds: u64,

    /// Compress answers (zstd, br, gzip, as the client accepts).
    #[arg(long, env = "BROKERGRAPH_COMPRESSION", default_value_t = EdgeConfig::DEFAULTS.compression, action = clap::ArgAction::Set, global = true)]
    pub compression: bool,

    /// Smallest answer compressed, in bytes (smaller ones gain too little to be worth it).
    #[arg(
        long,
        env = "BROKERGRAPH_COMPRESSION_MIN_BYTES",
        default_value_t = EdgeConfig::DEFAULTS.compression_min_bytes,
        global = true
    )]
    pub compression_min_bytes: u16,
}

impl EdgeArgs {
    /// The edge these flags ask for, or why it cannot be served.
    pub fn config(&self) -> Result<EdgeConfig, EdgeConfigError> {
        Ok(EdgeConfig {
            cors: Cors::new(
                &self.cors_allow_origins,
                self.cors_allow_credentials,
                Duration::from_secs(self.cors_max_age_seconds),
            )?,
            compression: self.compression,
            compression_min_bytes: self.compression_min_bytes,
        })
    }
}

/// A configuration the edge refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeConfigError {
    /// Browsers refuse credentials on an answer for any origin (`*`).
    #[error(
        "--cors-allow-origin '*' cannot be combined with --cors-allow-credentials: browsers refuse credentials for any origin; list the origins instead"
    )]
    WildcardWithCredentials,
    /// `*` already allows every origin.
    #[error("--cors-allow-origin '*' stands alone: it cannot be listed with other origins")]
    WildcardInList,
    /// Credentials without an origin to allow them for.
    #[error("--cors-allow-credentials needs --cors-allow-origin")]
    CredentialsWithoutOrigins,
    /// Not an origin as browsers send it.
    #[error(
        "--cors-allow-origin: `{0}` is not an origin: scheme, host and port only, as a browser sends it (e.g. https://dash.example.com or http://localhost:5173)"
    )]
    InvalidOrigin(String),
}

/// The edge's settings when nothing is configured, and what the layers read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// CORS, when origins are configured.
    pub cors: Option<Cors>,
    pub compression: bool,
    pub compression_min_bytes: u16,
}

impl EdgeConfig {
    /// The one copy that both `Default` and the command line's defaults read.
    pub const DEFAULTS: EdgeConfig = EdgeConfig {
        cors: None,
        compression: true,
        // Below a kilobyte the headers outweigh what compression saves.
        compression_min_bytes: 1024,
    };
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig::DEFAULTS
    }
}

/// Which origins CORS allows: a valid combination only (see [`Cors::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    origins: Origins,
    allow_credentials: bool,
    max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

impl Cors {
    /// How long browsers cache a preflight when nothing is configured: ten minutes, as
    /// Chromium caps it (Firefox allows a day).
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

    /// CORS for `origins` (exact origins, or `*` alone), or `None` when there are none.
    pub fn new(
        origins: &[String],
        allow_credentials: bool,
        max_age: Duration,
    ) -> Result<Option<Cors>, EdgeConfigError> {
        let origins: Vec<&str> = origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .collect();
        let origins = match origins.as_slice() {
            [] if allow_credentials => return Err(EdgeConfigError::CredentialsWithoutOrigins),
            [] => return Ok(None),
            ["*"] if allow_credentials => return Err(EdgeConfigError::WildcardWithCredentials),
            ["*"] => Origins::Any,
            list if list.contains(&"*") => return Err(EdgeConfigError::WildcardInList),
            list => Origins::List(
                list.iter()
                    .map(|origin| parse_origin(origin))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Some(Cors {
            origins,
            allow_credentials,
            max_age,
        }))
    }

    fn layer(&self) -> CorsLayer {
        let origins = match &self.origins {
            Origins::Any => AllowOrigin::any(),
            Origins::List(list) => AllowOrigin::list(list.iter().cloned()),
        };
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .allow_credentials(self.allow_credentials)
            .max_age(self.max_age)
    }
}

/// The request headers GraphQL clients send: the token and the body's type, Apollo Client's
/// and Apollo Router's (client awareness, CSRF prevention, operation name), graphql-sse's
/// stream token, and a request ID.
const ALLOWED_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-graphql-event-stream-token",
    "x-request-id",
];

/// The answer headers a page may read beyond the safelisted ones: why a token was refused,
/// when to retry, and the request's ID.
const EXPOSED_HEADERS: [&str; 3] = ["www-authenticate", "retry-after", "x-request-id"];

/// `origin` as browsers send it in `Origin`: `scheme://host[:port]`, lower case, nothing else.
fn parse_origin(origin: &str) -> Result<HeaderValue, EdgeConfigError> {
    let invalid = || EdgeConfigError::InvalidOrigin(origin.to_string());
    let uri: axum::http::Uri = origin.parse().map_err(|_| invalid())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(invalid());
    };
    let exact = format!("{scheme}://{authority}");
    if !matches!(scheme, "http" | "https")
        || authority.as_str().contains('@')
        || authority.host().is_empty()
        || !exact.eq_ignore_ascii_case(origin)
    {
        return Err(invalid());
    }
    HeaderValue::from_str(&exact.to_ascii_lowercase()).map_err(|_| invalid())
}

/// The request body encodings accepted: tower-http's `RequestDecompressionLayer` decodes them.
const REQUEST_ENCODINGS: [&[u8]; 4] = [b"identity", b"gzip", b"br", b"zstd"];

/// `router` behind the edge's layers.
pub fn layers(router: Router, config: &EdgeConfig) -> Router {
    let router = router
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn(refuse_unknown_encodings));
    let router = if config.compression {
        let predicate = SizeAbove::new(config.compression_min_bytes)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE)
            .and(not_an_upgrade);
        router.layer(CompressionLayer::new().compress_when(predicate))
    } else {
        router
    };
    match &config.cors {
        Some(cors) => router
            .layer(cors.layer())
            .layer(middleware::map_response(only_for_allowed_origins)),
        None => router,
    }
}

/// Never a `101 Switching Protocols`: what follows it is the WebSocket's, not a body.
fn not_an_upgrade(status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions) -> bool {
    status != StatusCode::SWITCHING_PROTOCOLS
}

/// A body encoding we cannot decode is refused with a code (tower-http's own refusal is an
/// empty 415), naming the encodings we can.
async fn refuse_unknown_encodings(request: Request, next: Next) -> Response {
    let encodings = request.headers().get_all(header::CONTENT_ENCODING);
    let mut encodings = encodings.iter();
    let known = match (encodings.next(), encodings.next()) {
        (None, _) => true,
        (Some(encoding), None) => REQUEST_ENCODINGS.contains(&encoding.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if known {
        return next.run(request).await;
    }
    let mut response = refuse(
        Media::negotiate(request.headers()),
        ErrorCode::UnsupportedMediaType,
        "the body's Content-Encoding must be one of gzip, br, zstd or identity",
    );
    response.headers_mut().insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, br, zstd"),
    );
    response
}

/// An answer for an origin CORS refused carries no `Access-Control-*` header: tower-http adds
/// the preflight's methods, headers and max age whatever the origin.
async fn only_for_allowed_origins(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let cors: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> Vec<String> {
        list.iter().map(|origin| origin.to_string()).collect()
    }

    const MAX_AGE: Duration = Cors::DEFAULT_MAX_AGE;

    /// The content-type rules of compression, on a router of their own (brokergraph's event
    /// streams are not routed yet).
    #[tokio::test]
    async fn should_compress_large_answers_but_never_an_event_stream() {
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt as _;

        let body = "data: x\n\n".repeat(500);
        let (events, text) = (body.clone(), body.clone());
        let router = Router::new()
            .route(
                "/events",
                get(move || async move { ([(header::CONTENT_TYPE, "text/event-stream")], events) }),
            )
            .route(
                "/text",
                get(move || async move { ([(header::CONTENT_TYPE, "text/plain")], text) }),
            );
        let router = layers(router, &EdgeConfig::default());
        for (path, expected) in [("/events", None), ("/text", Some("gzip"))] {
            let request = Request::get(path)
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap_or_default();
            let response = router.clone().oneshot(request).await;
            let encoding = response.as_ref().ok().map(|response| {
                response
                    .headers()
                    .get(header::CONTENT_ENCODING)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string)
            });
            assert_eq!(encoding, Some(expected.map(str::to_string)), "{path}");
        }
    }

    #[test]
    fn should_refuse_any_origin_with_credentials() {
        assert_eq!(
            Cors::new(&origins(&["*"]), true, MAX_AGE),
            Err(EdgeConfigError::WildcardWithCredentials)
        );
        assert!(Cors::new(&origins(&["*"]), false, MAX_AGE).is_ok_and(|cors| cors.is_some()));
    }

    #[test]
    fn should_refuse_a_wildcard_among_origins_and_credentials_without_origins() {
        assert_eq!(
            Cors::new(&origins(&["https://a.example", "*"]), false, MAX_AGE),
            Err(EdgeConfigError::WildcardInList)
        );
        assert_eq!(
            Cors::new(&[], true, MAX_AGE),
            Err(EdgeConfigError::CredentialsWithoutOrigins)
        );
        assert_eq!(Cors::new(&[], false, MAX_AGE), Ok(None));
    }

    #[test]
    fn should_take_exact_origins_only() {
        for good in [
            "https://dash.example.com",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
        ] {
            assert_eq!(
                parse_origin(good).map(|value| value.to_str().unwrap_or("").to_string()),
                Ok(good.to_string()),
                "{good}"
            );
        }
        assert_eq!(
            parse_origin("HTTPS://Dash.Example.com").ok(),
            Some(HeaderValue::from_static("https://dash.example.com"))
        );
        for bad in [
            "dash.example.com",
            "https://dash.example.com/",
            "https://dash.example.com/app",
            "https://dash.example.com?x=1",
            "https://user@dash.example.com",
            "ftp://dash.example.com",
            "https://",
            "null",
        ] {
            assert_eq!(
                parse_origin(bad),
                Err(EdgeConfigError::InvalidOrigin(bad.to_string())),
                "{bad}"
            );
        }
    }
}
