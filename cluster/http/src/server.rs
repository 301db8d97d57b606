//! The TLS accept loop around an `axum` router, and the routes every node serves.

use crate::ApiError;
use crate::auth::{Caller, ClientCertificate};
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use flicker_transport::{Identity, Peer, TokenCheck, TransportError};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// Connections served at once; further ones wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client may take to finish the TLS handshake, or to send a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTPS listener of a node: its certificate, the cluster CA, and the tokens it accepts.
pub struct HttpServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tokens: TokenCheck,
}

impl HttpServer {
    /// Listens on `addr` with `identity`'s certificate; accepts client certificates and tokens
    /// of `identity`'s CA.
    pub async fn bind(addr: SocketAddr, identity: &Identity) -> Result<Self, TransportError> {
        let tls = identity.https_server_config()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| TransportError::Config { reason: format!("cannot listen on {addr}: {e}") })?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            tokens: TokenCheck::new(identity.clone()),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `router` until the task is dropped. Each request carries its connection's
    /// [`ClientCertificate`] and the [`TokenCheck`] as extensions, for [`Caller`].
    pub async fn serve(self, router: Router) {
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = connections.clone().acquire_owned().await else { return };
            let (tcp, remote) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept an HTTPS connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, tokens, router) = (self.acceptor.clone(), self.tokens.clone(), router.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => return tracing::debug!(%remote, %error, "HTTPS handshake failed"),
                    Err(_) => return tracing::debug!(%remote, "HTTPS handshake timed out"),
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|c| Peer::of(c));
                let certificate = ClientCertificate(peer);
                let service = tower::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(certificate.clone());
                    request.extensions_mut().insert(tokens.clone());
                    router.clone().call(request)
                });
                let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http1().timer(TokioTimer::new()).header_read_timeout(HANDSHAKE_TIMEOUT);
                if let Err(error) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service))
                    .await
                {
                    tracing::debug!(%remote, %error, "HTTPS connection ended");
                }
            });
        }
    }
}

/// `GET /healthz`: `ok`, to anyone (load balancers and probes have no identity).
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /metrics`: the text `render` gives, in Prometheus' text format, to admins only (the
/// figures cover every tenant).
pub fn metrics(render: Arc<dyn Fn() -> String + Send + Sync>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move |caller: Caller| async move {
            caller.admin("read the metrics")?;
            Ok::<_, ApiError>(
                ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()).into_response(),
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use flicker_transport::{Claims, EphemeralCa, Role};

    /// A client speaking HTTPS with `identity`'s CA to the scheduler's name on 127.0.0.1,
    /// presenting its certificate if `present`.
    fn client(identity: &Identity, present: bool) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_preconfigured(identity.https_client_config(present).unwrap())
            .resolve(&Role::Scheduler.server_name(), ([127, 0, 0, 1], 0).into())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn callers_are_known_by_certificate_or_token_and_nobody_else_gets_in() {
        let ca = EphemeralCa::new().unwrap();
        let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), &scheduler).await.unwrap();
        let base =
            format!("https://{}:{}", Role::Scheduler.server_name(), server.local_addr().unwrap().port());
        let router = Router::new()
            .route("/healthz", get(health))
            .route("/me", get(|Caller(peer): Caller| async move { peer.to_string() }))
            .merge(metrics(Arc::new(|| "flicker_up 1\n".to_owned())));
        let serving = tokio::spawn(server.serve(router));
        let get = |client: &reqwest::Client, path: &str, token: Option<&str>| {
            let mut request = client.get(format!("{base}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let alice = ca.member("alice", Role::Client, Some("acme")).unwrap();
        let admin = ca.identity("root", Role::Admin).unwrap();
        let executor = ca.identity("exec-1", Role::Executor).unwrap();
        let with_alice = client(&alice, true);
        let anonymous = client(&alice, false);

        assert_eq!(get(&anonymous, "/healthz", None).await.unwrap().text().await.unwrap(), "ok");
        let refused = get(&anonymous, "/me", None).await.unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
        assert!(refused.text().await.unwrap().contains("\"error\":\"unauthenticated\""));
        assert_eq!(get(&anonymous, "/me", Some("flicker1.garbage")).await.unwrap().status(), 401);

        let me = get(&with_alice, "/me", None).await.unwrap().text().await.unwrap();
        assert_eq!(me, "client \"alice\" of tenant \"acme\"");
        let peer = alice.peer().unwrap();
        let token =
            scheduler.mint_token(Claims::new(&peer, peer.tenant.clone(), Duration::from_secs(60))).unwrap();
        assert_eq!(get(&anonymous, "/me", Some(&token)).await.unwrap().text().await.unwrap(), me);
        // A token only the scheduler could make: an executor's is refused.
        let forged =
            executor.mint_token(Claims::new(&peer, peer.tenant.clone(), Duration::from_secs(60))).unwrap();
        assert_eq!(get(&anonymous, "/me", Some(&forged)).await.unwrap().status(), 401);
        assert_eq!(get(&client(&executor, true), "/me", None).await.unwrap().status(), 403);

        assert_eq!(get(&with_alice, "/metrics", None).await.unwrap().status(), 403);
        let metrics = get(&client(&admin, true), "/metrics", None).await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        assert_eq!(metrics.text().await.unwrap(), "flicker_up 1\n");
        serving.abort();
    }
}
