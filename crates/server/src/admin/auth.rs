//! Bearer-token protection for the `/admin/*` endpoints. The token itself (where it comes
//! from, how it is compared) lives with the configuration in [`crate::config::token`].
//!
//! The answers, in the order they are decided:
//!
//! 1. A token is configured and the request has no `Authorization: Bearer` credentials, or
//!    the wrong ones: `401 Unauthorized` with `WWW-Authenticate: Bearer realm="switchyard-admin"`
//!    (and `error="invalid_token"` when a token was presented). Reads need the token too.
//! 2. A mutation (any method but GET and HEAD) while `admin.mutations_enabled = false`:
//!    `403 Forbidden`, `mutations_disabled`, whoever asks.
//! 3. A mutation with no token configured from a peer that is not on loopback: `403
//!    Forbidden`, `token_required`. The exposure rule ([`crate::config::token::check_exposure`])
//!    already refuses to start with a tokenless, mutating admin listener off loopback; this
//!    keeps the promise per request as well, so a forwarded or unforeseen peer cannot mutate
//!    without a token. A request whose peer is unknown counts as not on loopback.
//!
//! The debug endpoints that expose more than a decision (CPU profiles, sampled client
//! addresses) go through [`require_token_or_loopback`]: rules 1 and 3 apply to every method,
//! rule 2 to none, since reading them changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use super::respond::error_response;
use crate::config::token::AdminToken;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// The realm named in `WWW-Authenticate`.
const CHALLENGE: &str = "Bearer realm=\"switchyard-admin\"";
/// The challenge when credentials were presented and refused (RFC 6750 section 3.1).
const CHALLENGE_INVALID: &str = "Bearer realm=\"switchyard-admin\", error=\"invalid_token\"";

/// What the auth middleware needs.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    /// The required token; `None` means mutations only from loopback peers (and the exposure
    /// rule keeps such a listener on loopback).
    pub token: Option<AdminToken>,
    /// When false, every mutating endpoint answers 403.
    pub mutations_enabled: bool,
}

/// How much a request may do, which decides which rules apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// GET and HEAD on `/admin/*`: the token when one is set.
    Read,
    /// Any other method on `/admin/*`: the token, or loopback without one, and only while
    /// mutations are enabled.
    Mutation,
    /// A read that discloses what the process does (profiles, client samples): the token, or
    /// loopback without one, whatever `mutations_enabled` says.
    Sensitive,
}

impl Access {
    fn of(method: &Method) -> Self {
        if matches!(*method, Method::GET | Method::HEAD) { Self::Read } else { Self::Mutation }
    }
}

/// What the policy says about one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Allow,
    /// No credentials, or not bearer ones.
    NoCredentials,
    /// A bearer token that is not the configured one.
    InvalidToken,
    MutationsDisabled,
    /// A mutation from off the machine with no token configured.
    TokenRequired,
}

impl AuthPolicy {
    /// The verdict for an `/admin/*` request (the tests' shorthand).
    #[cfg(test)]
    fn judge(&self, method: &Method, headers: &HeaderMap, peer: Option<SocketAddr>) -> Verdict {
        self.judge_access(Access::of(method), headers, peer)
    }

    fn judge_access(
        &self,
        access: Access,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Verdict {
        if let Some(token) = &self.token {
            match bearer(headers) {
                None => return Verdict::NoCredentials,
                Some(presented) if !token.matches(presented) => return Verdict::InvalidToken,
                Some(_) => {}
            }
        }
        if access == Access::Mutation && !self.mutations_enabled {
            return Verdict::MutationsDisabled;
        }
        let on_loopback = peer.is_some_and(|p| p.ip().to_canonical().is_loopback());
        if access != Access::Read && self.token.is_none() && !on_loopback {
            return Verdict::TokenRequired;
        }
        Verdict::Allow
    }
}

/// The credentials of `Authorization: Bearer TOKEN` (the scheme in any case, RFC 7235).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

/// Axum middleware for `/admin/*`; see the module documentation for its answers.
pub async fn require_token(
    State(policy): State<Arc<AuthPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let access = Access::of(req.method());
    guard(&policy, access, req, next).await
}

/// Axum middleware for the sensitive debug endpoints: the token when one is set, else a
/// loopback peer, for every method.
pub async fn require_token_or_loopback(
    State(policy): State<Arc<AuthPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    guard(&policy, Access::Sensitive, req, next).await
}

async fn guard(policy: &AuthPolicy, access: Access, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let challenge = match policy.judge_access(access, req.headers(), peer) {
        Verdict::Allow => return next.run(req).await,
        Verdict::NoCredentials => CHALLENGE,
        Verdict::InvalidToken => CHALLENGE_INVALID,
        Verdict::MutationsDisabled => {
            return error_response(
                StatusCode::FORBIDDEN,
                "mutations_disabled",
                "admin mutations are disabled by admin.mutations_enabled = false",
            );
        }
        Verdict::TokenRequired => {
            let message = match access {
                Access::Sensitive => {
                    "no admin token is configured: this endpoint answers loopback peers only"
                }
                _ => {
                    "no admin token is configured: admin mutations are accepted from loopback only"
                }
            };
            return error_response(StatusCode::FORBIDDEN, "token_required", message);
        }
    };
    let mut resp = error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid bearer token is required",
    );
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    const TOKEN: &str = "admin-t0ken-for-tests";

    fn policy(token: bool, mutations_enabled: bool) -> AuthPolicy {
        AuthPolicy { token: token.then(|| AdminToken::new(TOKEN).unwrap()), mutations_enabled }
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn peer(addr: &str) -> Option<SocketAddr> {
        Some(addr.parse().unwrap())
    }

    #[test]
    fn with_a_token_every_request_needs_it() {
        let p = policy(true, true);
        let lo = peer("127.0.0.1:5000");
        let right = format!("Bearer {TOKEN}");
        for m in [Method::GET, Method::POST] {
            assert_eq!(p.judge(&m, &headers(None), lo), Verdict::NoCredentials);
            assert_eq!(p.judge(&m, &headers(Some("Basic YTpi")), lo), Verdict::NoCredentials);
            assert_eq!(p.judge(&m, &headers(Some("Bearer")), lo), Verdict::NoCredentials);
            assert_eq!(p.judge(&m, &headers(Some("Bearer nope")), lo), Verdict::InvalidToken);
            let longer = format!("Bearer {TOKEN}x");
            assert_eq!(p.judge(&m, &headers(Some(&longer)), lo), Verdict::InvalidToken);
            let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
            assert_eq!(p.judge(&m, &headers(Some(&prefix)), lo), Verdict::InvalidToken);
            assert_eq!(p.judge(&m, &headers(Some(&right)), lo), Verdict::Allow);
            let lower = format!("bearer {TOKEN}");
            assert_eq!(p.judge(&m, &headers(Some(&lower)), lo), Verdict::Allow);
            // The token, not the address, decides.
            let far = peer("198.51.100.7:5000");
            assert_eq!(p.judge(&m, &headers(Some(&right)), far), Verdict::Allow);
            assert_eq!(p.judge(&m, &headers(None), far), Verdict::NoCredentials);
        }
    }

    #[test]
    fn disabled_mutations_are_forbidden_once_authenticated() {
        let p = policy(true, false);
        let lo = peer("127.0.0.1:5000");
        let right = format!("Bearer {TOKEN}");
        assert_eq!(p.judge(&Method::POST, &headers(None), lo), Verdict::NoCredentials);
        assert_eq!(p.judge(&Method::POST, &headers(Some(&right)), lo), Verdict::MutationsDisabled);
        assert_eq!(p.judge(&Method::GET, &headers(Some(&right)), lo), Verdict::Allow);
        let p = policy(false, false);
        assert_eq!(p.judge(&Method::POST, &headers(None), lo), Verdict::MutationsDisabled);
        assert_eq!(p.judge(&Method::HEAD, &headers(None), lo), Verdict::Allow);
    }

    #[test]
    fn without_a_token_only_loopback_peers_mutate() {
        let p = policy(false, true);
        for ok in ["127.0.0.1:1", "127.8.9.10:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert_eq!(p.judge(&Method::POST, &headers(None), peer(ok)), Verdict::Allow, "{ok}");
        }
        for far in ["192.0.2.1:1", "[2001:db8::1]:1", "[::ffff:192.0.2.1]:1", "0.0.0.0:1"] {
            let v = p.judge(&Method::POST, &headers(None), peer(far));
            assert_eq!(v, Verdict::TokenRequired, "{far}");
            assert_eq!(p.judge(&Method::GET, &headers(None), peer(far)), Verdict::Allow);
        }
        assert_eq!(p.judge(&Method::POST, &headers(None), None), Verdict::TokenRequired);
    }

    #[test]
    fn sensitive_reads_need_the_token_or_loopback_whatever_mutations_say() {
        let right = format!("Bearer {TOKEN}");
        let far = peer("198.51.100.7:5000");
        let lo = peer("127.0.0.1:5000");
        for mutations in [true, false] {
            let p = policy(true, mutations);
            assert_eq!(
                p.judge_access(Access::Sensitive, &headers(None), lo),
                Verdict::NoCredentials
            );
            let wrong = headers(Some("Bearer nope"));
            assert_eq!(p.judge_access(Access::Sensitive, &wrong, lo), Verdict::InvalidToken);
            let h = headers(Some(&right));
            assert_eq!(p.judge_access(Access::Sensitive, &h, far), Verdict::Allow);
            let p = policy(false, mutations);
            assert_eq!(p.judge_access(Access::Sensitive, &headers(None), lo), Verdict::Allow);
            let v = p.judge_access(Access::Sensitive, &headers(None), far);
            assert_eq!(v, Verdict::TokenRequired);
            assert_eq!(p.judge_access(Access::Sensitive, &headers(None), None), v);
        }
    }

    /// Through the middleware on a router, as the admin listener runs it.
    async fn call(p: AuthPolicy, method: &str, auth: Option<&str>, from: &str) -> Response {
        let router = Router::new()
            .route("/admin/x", get(|| async { "read" }).post(|| async { "done" }))
            .layer(axum::middleware::from_fn_with_state(Arc::new(p), require_token));
        let mut req = axum::http::Request::builder().method(method).uri("/admin/x");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(from.parse().unwrap()));
        router.oneshot(req).await.unwrap()
    }

    async fn body(resp: Response) -> String {
        let b = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_carry_the_right_status_challenge_and_code() {
        let lo = "127.0.0.1:4000";
        let r = call(policy(true, true), "POST", None, lo).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], CHALLENGE);
        assert!(body(r).await.contains("\"unauthorized\""));

        let r = call(policy(true, true), "POST", Some("Bearer wrong"), lo).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], CHALLENGE_INVALID);
        let text = body(r).await;
        assert!(!text.contains("wrong") && !text.contains(TOKEN), "{text}");

        let right = format!("Bearer {TOKEN}");
        let r = call(policy(true, true), "POST", Some(&right), lo).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r).await, "done");

        let r = call(policy(true, false), "POST", Some(&right), lo).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert!(body(r).await.contains("\"mutations_disabled\""));

        let r = call(policy(false, true), "POST", None, "203.0.113.9:4000").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(body(r).await.contains("\"token_required\""));
        let r = call(policy(false, true), "GET", None, "203.0.113.9:4000").await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = call(policy(false, true), "POST", None, lo).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}
