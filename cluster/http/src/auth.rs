//! Who sent a request: the peer of its connection's client certificate, or of its bearer token.

use crate::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use flicker_transport::{Peer, Role, TokenCheck};

/// The peer named by the client certificate of a request's connection, if it presented one;
/// attached to every request by [`HttpServer`](crate::HttpServer).
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Option<Peer>);

/// The identity of a request's sender: its client certificate's peer (a client or an admin), or
/// its bearer token's. Extracting it refuses the request with 401 when there is neither, or the
/// token is not accepted, and with 403 for a node's certificate (nodes do not use the API).
#[derive(Debug, Clone)]
pub struct Caller(pub Peer);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if let Some(ClientCertificate(Some(peer))) = parts.extensions.get::<ClientCertificate>() {
            return match peer.role {
                Role::Client | Role::Admin => Ok(Caller(peer.clone())),
                Role::Scheduler | Role::Executor => Err(ApiError::forbidden(format!(
                    "{peer} is a node: only clients and admins may call the API"
                ))),
            };
        }
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthenticated(
                "no identity: present a client certificate of the cluster or a bearer token (`flicker token create`)",
            )
        })?;
        let token =
            header.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header is not `Bearer <token>`")
            })?;
        let check = parts
            .extensions
            .get::<TokenCheck>()
            .ok_or_else(|| ApiError::unauthenticated("this server accepts no tokens"))?;
        let claims =
            check.check(token.trim()).map_err(|error| ApiError::unauthenticated(error.to_string()))?;
        Ok(Caller(claims.peer()))
    }
}

impl Caller {
    /// The caller, if an admin; else 403 saying who may do `what`.
    pub fn admin(self, what: &str) -> Result<Peer, ApiError> {
        match self.0.role {
            Role::Admin => Ok(self.0),
            _ => Err(ApiError::forbidden(format!("{} may not {what}: only admins may", self.0))),
        }
    }
}
