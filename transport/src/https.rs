//! TLS for the cluster's HTTPS servers (the scheduler's API and web UI, the nodes' metrics): the
//! server presents its node certificate and accepts, but does not require, a client certificate
//! signed by the cluster CA; a request without one must carry a [bearer token](crate::token).
//! And the matching client side, for tools and tests that speak HTTPS with a cluster identity.

use crate::certs::crypto_provider;
use crate::endpoint::config_error;
use crate::{Identity, TransportError};
use rustls::sign::SingleCertAndKey;
use std::sync::Arc;

/// The protocols an HTTPS server offers, most preferred first.
const HTTP_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl Identity {
    /// A TLS server configuration (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1) presenting this
    /// identity, asking clients for a certificate of the cluster CA without requiring one.
    pub fn https_server_config(&self) -> Result<rustls::ServerConfig, TransportError> {
        let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_client_cert_verifier(self.optional_verifier())
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified_key())));
        tls.alpn_protocols = HTTP_ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(tls)
    }

    /// A TLS client configuration trusting the cluster CA only, presenting this identity's
    /// certificate if `present` (else none: the client then authenticates with a token).
    pub fn https_client_config(&self, present: bool) -> Result<rustls::ClientConfig, TransportError> {
        let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_webpki_verifier(self.server_verifier());
        let mut tls = if present {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified_key())))
        } else {
            builder.with_no_client_auth()
        };
        tls.alpn_protocols = HTTP_ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(tls)
    }
}
