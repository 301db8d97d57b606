//! Bearer tokens: the scheduler's signed statement that whoever holds the token acts as a
//! client (or an admin) of a tenant until it expires, for the HTTP API and the web UI, where a
//! browser user cannot present a client certificate. `flicker token create` asks the scheduler
//! for one over the cluster's QUIC protocol, so a token never grants more than the certificate
//! that asked for it.
//!
//! A token is the text `flicker1.` followed by the URL-safe base64 (no padding) of the
//! postcard-encoded [`Claims`] and their signature, made with the scheduler's TLS key, as
//! [capabilities](crate::capability) are: any process of the cluster checks a token with the CA
//! alone ([`TokenCheck`]). A token cannot be revoked before it expires, except by revoking the
//! scheduler's certificate (which ends every token): keep lifetimes short.

use crate::capability::now_ms;
use crate::signature::{Signature, SignatureError};
use crate::{Identity, Peer, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flicker_protocol::TenantId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What starts every token: the format's name and version.
const PREFIX: &str = "flicker1.";

/// The longest token accepted, in bytes (a token holds the scheduler's certificate, ~1 KiB).
pub const MAX_TOKEN_LEN: usize = 8 << 10;

/// The longest lifetime a token may have: 30 days.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The name of whoever asked for it (the name of their certificate).
    pub name: String,
    /// Whether its holder is an admin (`true`) or a tenant's client.
    pub admin: bool,
    /// The tenant its holder acts for (`None` for an admin of no tenant).
    pub tenant: Option<TenantId>,
    /// When it was made, in milliseconds since the Unix epoch.
    pub issued_ms: u64,
    /// When it stops being accepted, in milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

impl Claims {
    /// Claims for `peer` (a client or an admin) acting for `tenant`, valid for `ttl` from now.
    pub fn new(peer: &Peer, tenant: Option<TenantId>, ttl: Duration) -> Self {
        let issued_ms = now_ms();
        Claims {
            name: peer.name.clone(),
            admin: peer.role == Role::Admin,
            tenant,
            issued_ms,
            expires_ms: issued_ms.saturating_add(ttl.as_millis() as u64),
        }
    }

    /// Who the holder of a token with these claims is.
    pub fn peer(&self) -> Peer {
        let role = if self.admin { Role::Admin } else { Role::Client };
        Peer { name: self.name.clone(), role, tenant: self.tenant.clone() }
    }

    /// What the scheduler signs: a fixed prefix and the encoded claims.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = b"flicker bearer token\0".to_vec();
        bytes.extend(postcard::to_allocvec(self).unwrap_or_default());
        bytes
    }
}

/// A token as it travels, decoded.
#[derive(Serialize, Deserialize)]
struct Sealed {
    claims: Claims,
    issuer: Vec<u8>,
    scheme: u16,
    signature: Vec<u8>,
}

/// Why a token was not made, or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// This identity's key cannot sign one.
    #[error("cannot sign a token: {reason}")]
    Sign {
        /// Why.
        reason: String,
    },
    /// Not a token of this format, or longer than [`MAX_TOKEN_LEN`].
    #[error("the token is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// It expired.
    #[error("the token of {name:?} expired; ask for a new one with `flicker token create`")]
    Expired {
        /// Whose it is.
        name: String,
    },
    /// Its signer is not the cluster's scheduler.
    #[error("the token is not signed by the cluster's scheduler: {reason}")]
    Issuer {
        /// What is wrong with the signer's certificate.
        reason: String,
    },
    /// Its signature does not match its claims.
    #[error("the token's signature is not valid")]
    Signature,
}

impl Identity {
    /// A token with `claims`, signed with this identity's key: only the scheduler's is accepted.
    pub fn mint_token(&self, claims: Claims) -> Result<String, TokenError> {
        let Signature { issuer, scheme, bytes } =
            self.sign(&claims.signed_bytes()).map_err(|e| TokenError::Sign { reason: e.to_string() })?;
        let sealed = Sealed { claims, issuer, scheme, signature: bytes };
        let encoded =
            postcard::to_allocvec(&sealed).map_err(|e| TokenError::Sign { reason: e.to_string() })?;
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(encoded)))
    }
}

/// Checks tokens with a process's trust (its identity's CA and revocation list).
#[derive(Clone)]
pub struct TokenCheck {
    identity: Identity,
}

impl TokenCheck {
    /// Checks with `identity`'s CA and revocation list.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }

    /// The claims of `token` if the cluster's scheduler signed them and they have not expired.
    pub fn check(&self, token: &str) -> Result<Claims, TokenError> {
        let malformed = |reason: &str| TokenError::Malformed { reason: reason.to_owned() };
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed("longer than any token the scheduler makes"));
        }
        let body =
            token.strip_prefix(PREFIX).ok_or_else(|| malformed("it does not start with `flicker1.`"))?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed("it is not URL-safe base64"))?;
        let sealed: Sealed =
            postcard::from_bytes(&bytes).map_err(|_| malformed("its contents do not decode"))?;
        let signature = Signature { issuer: sealed.issuer, scheme: sealed.scheme, bytes: sealed.signature };
        self.identity.check_scheduler_signature(&sealed.claims.signed_bytes(), &signature).map_err(
            |error| match error {
                SignatureError::Sign { reason } | SignatureError::Issuer { reason } => {
                    TokenError::Issuer { reason }
                }
                SignatureError::Mismatch => TokenError::Signature,
            },
        )?;
        if now_ms() >= sealed.claims.expires_ms {
            return Err(TokenError::Expired { name: sealed.claims.name });
        }
        Ok(sealed.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EphemeralCa;

    fn alice() -> Peer {
        Peer { name: "alice".into(), role: Role::Client, tenant: Some(TenantId("acme".into())) }
    }

    #[test]
    fn only_the_schedulers_unaltered_unexpired_token_is_accepted() {
        let ca = EphemeralCa::new().unwrap();
        let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
        let check = TokenCheck::new(ca.identity("exec-1", Role::Executor).unwrap());
        let claims = Claims::new(&alice(), alice().tenant, Duration::from_secs(3600));
        let token = scheduler.mint_token(claims.clone()).unwrap();
        assert!(token.starts_with("flicker1.") && token.len() < MAX_TOKEN_LEN);
        assert_eq!(check.check(&token).unwrap(), claims);
        assert_eq!(check.check(&token).unwrap().peer(), alice());

        // Changed claims (another tenant, a later expiry, admin) break the signature.
        let mut sealed: Sealed =
            postcard::from_bytes(&URL_SAFE_NO_PAD.decode(token.strip_prefix(PREFIX).unwrap()).unwrap())
                .unwrap();
        sealed.claims.admin = true;
        let forged = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(postcard::to_allocvec(&sealed).unwrap()));
        assert_eq!(check.check(&forged), Err(TokenError::Signature));

        let expired = scheduler.mint_token(Claims::new(&alice(), alice().tenant, Duration::ZERO)).unwrap();
        assert!(matches!(check.check(&expired), Err(TokenError::Expired { .. })));

        // An executor's key, or another cluster's scheduler, cannot make one.
        let by_executor = ca.identity("exec-2", Role::Executor).unwrap().mint_token(claims.clone()).unwrap();
        assert!(matches!(check.check(&by_executor), Err(TokenError::Issuer { .. })));
        let foreign = EphemeralCa::new().unwrap().identity("scheduler", Role::Scheduler).unwrap();
        assert!(matches!(check.check(&foreign.mint_token(claims).unwrap()), Err(TokenError::Issuer { .. })));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let ca = EphemeralCa::new().unwrap();
        let check = TokenCheck::new(ca.identity("scheduler", Role::Scheduler).unwrap());
        for token in
            ["", "Bearer x", "flicker1.", "flicker1.!!!", "flicker1.AAAA", &"a".repeat(MAX_TOKEN_LEN + 1)]
        {
            assert!(matches!(check.check(token), Err(TokenError::Malformed { .. })), "{token:?}");
        }
    }
}
