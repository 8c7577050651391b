//! Who may drive the control routes (the v4 API, the Local Explorer API, `/cdn-cgi/stepflare/…`
//! and `/cdn-cgi/handler/…`): a request must name a loopback host (or one allowed by a flag), so
//! that a web page cannot reach them through a host name it made point at 127.0.0.1; a request
//! that changes state must not come from another site's page (its `Origin`); and with
//! `--api-token`, every control request carries the token. The Worker's own routes answer as the
//! user's Worker does, whatever the host.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::envelope::{ApiError, codes, shown};

/// Whether `path` is a control route: the v4 API, or anything under `/cdn-cgi/` (which
/// Cloudflare reserves, so no Worker route is there).
fn is_control_route(path: &str) -> bool {
    path == "/client/v4" || path.starts_with("/client/v4/") || path.starts_with("/cdn-cgi/")
}

/// What the guard allows.
#[derive(Debug, Clone, Default)]
pub struct ControlGuard {
    /// When set, every control request must carry `Authorization: Bearer <token>`.
    pub api_token: Option<String>,
    /// Host names accepted beside the loopback ones (lowercase, without a port).
    pub allowed_hosts: Vec<String>,
    /// The address the server listens on: a request naming it is accepted; one bound to every
    /// interface (`0.0.0.0`, `::`) accepts any host, since it must have a token.
    pub listen_ip: Option<IpAddr>,
}

impl ControlGuard {
    /// Whether `host` (a `Host` header value or an origin's host, maybe with a port) is one the
    /// control routes answer.
    fn allows_host(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && (ip.is_loopback() || Some(ip) == self.listen_ip)
        {
            return true;
        }
        if self.listen_ip.is_some_and(|ip| ip.is_unspecified()) {
            return true;
        }
        self.allowed_hosts.contains(&name)
    }

    /// Why `request` may not use a control route, if it may not.
    fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<ApiError> {
        let forbidden = |message: String| Some(ApiError::new(StatusCode::FORBIDDEN, codes::AUTHENTICATION, message));
        if let Some(host) = headers.get(header::HOST).and_then(|value| value.to_str().ok())
            && !self.allows_host(host)
        {
            return forbidden(format!(
                "Host {:?} is not a loopback name: stepflare's control routes answer localhost, 127.0.0.1 and [::1] (allow another name with --allowed-host)",
                shown(host)
            ));
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state && let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if host.is_empty() || !self.allows_host(host) {
                return forbidden(format!(
                    "a page of {:?} may not change stepflare's state: control requests from a browser must come from a loopback origin",
                    shown(origin)
                ));
            }
        }
        if let Some(expected) = &self.api_token {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            if given != Some(expected.as_str()) {
                return Some(ApiError::new(StatusCode::UNAUTHORIZED, codes::AUTHENTICATION, "Authentication error"));
            }
        }
        None
    }
}

/// The middleware: control routes are checked, every other route goes on to the Worker.
pub(super) async fn guard_control_routes(
    State(guard): State<Arc<ControlGuard>>,
    request: Request,
    next: Next,
) -> Response {
    if is_control_route(request.uri().path())
        && let Some(refusal) = guard.refusal(request.method(), request.headers())
    {
        return refusal.into_response();
    }
    next.run(request).await
}

/// `host` without its port: `example.com:8787` → `example.com`, `[::1]:8787` → `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map(|(name, _)| &host[..name.len() + 1]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(name, _)| name).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), value.parse().expect("a header value"));
        }
        map
    }

    #[test]
    fn loopback_hosts_pass_and_other_names_need_a_flag() {
        let guard = ControlGuard { listen_ip: Some("127.0.0.1".parse().unwrap()), ..ControlGuard::default() };
        for host in ["localhost:8787", "app.localhost", "127.0.0.1:1", "127.1.2.3", "[::1]:8787", "LOCALHOST"] {
            assert!(guard.allows_host(host), "{host}");
        }
        for host in ["evil.example", "evil.example:8787", "localhost.evil.example", "10.0.0.2", "[::2]"] {
            assert!(!guard.allows_host(host), "{host}");
        }
        let flagged = ControlGuard { allowed_hosts: vec!["devbox.lan".into()], ..guard.clone() };
        assert!(flagged.allows_host("devbox.lan:8787"));
        let everywhere = ControlGuard { listen_ip: Some("0.0.0.0".parse().unwrap()), ..ControlGuard::default() };
        assert!(everywhere.allows_host("192.168.1.20:8787"));
    }

    #[test]
    fn a_foreign_origin_may_read_nothing_new_and_change_nothing() {
        let guard = ControlGuard::default();
        let foreign = headers(&[(header::HOST, "127.0.0.1:8787"), (header::ORIGIN, "https://evil.example")]);
        assert!(guard.refusal(&Method::POST, &foreign).is_some());
        assert!(guard.refusal(&Method::DELETE, &foreign).is_some());
        assert!(guard.refusal(&Method::GET, &foreign).is_none(), "a read with a loopback host");
        let opaque = headers(&[(header::ORIGIN, "null")]);
        assert!(guard.refusal(&Method::PATCH, &opaque).is_some());
        let local = headers(&[(header::HOST, "localhost:8787"), (header::ORIGIN, "http://localhost:8787")]);
        assert!(guard.refusal(&Method::POST, &local).is_none());
    }
}
