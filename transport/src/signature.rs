//! Statements the scheduler signs with its TLS key and any process of the cluster checks with the
//! CA alone: shuffle [capabilities](crate::capability) and bearer [tokens](crate::token). A signed
//! statement carries the signer's certificate, which must chain to the CA, be unrevoked and be
//! the scheduler's (its role's DNS name), so no other certificate can sign one.

use crate::{Identity, Role};
use rustls::SignatureScheme;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The schemes a statement is signed with, in the order tried (the keys `flicker cert` makes
/// are ECDSA P-256).
const SCHEMES: [SignatureScheme; 3] =
    [SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::ED25519, SignatureScheme::RSA_PSS_SHA256];

/// A signature over a statement, with what checking it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The signer's certificate (DER).
    pub(crate) issuer: Vec<u8>,
    /// The signature scheme (a TLS `SignatureScheme` code).
    pub(crate) scheme: u16,
    /// The signature.
    pub(crate) bytes: Vec<u8>,
}

/// Why a statement could not be signed, or its signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// This identity's key cannot sign.
    #[error("{reason}")]
    Sign {
        /// Why.
        reason: String,
    },
    /// The signer is not the cluster's scheduler.
    #[error("{reason}")]
    Issuer {
        /// What is wrong with the signer's certificate.
        reason: String,
    },
    /// The signature does not match the statement.
    #[error("the signature is not valid")]
    Mismatch,
}

impl Identity {
    /// Signs `message` with this identity's key.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Signature, SignatureError> {
        let key = self.certified_key();
        let sign_error = |reason: String| SignatureError::Sign { reason };
        let signer = key.key.choose_scheme(&SCHEMES).ok_or_else(|| sign_error("no usable scheme".into()))?;
        let bytes = signer.sign(message).map_err(|e| sign_error(e.to_string()))?;
        let issuer = key.end_entity_cert().map_err(|e| sign_error(e.to_string()))?.to_vec();
        Ok(Signature { issuer, scheme: u16::from(signer.scheme()), bytes })
    }

    /// Checks that `signature` is the cluster scheduler's, over `message`, with this identity's
    /// CA and revocation list.
    pub(crate) fn check_scheduler_signature(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let issuer_error = |reason: String| SignatureError::Issuer { reason };
        let issuer = CertificateDer::from(signature.issuer.as_slice());
        let scheduler =
            ServerName::try_from(Role::Scheduler.server_name()).map_err(|e| issuer_error(e.to_string()))?;
        self.server_verifier()
            .verify_server_cert(&issuer, &[], &scheduler, &[], UnixTime::now())
            .map_err(|e| issuer_error(e.to_string()))?;
        let certificate =
            webpki::EndEntityCert::try_from(&issuer).map_err(|e| issuer_error(e.to_string()))?;
        let scheme = SignatureScheme::from(signature.scheme);
        let provider = crate::certs::crypto_provider();
        let algorithms = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .filter(|(known, _)| *known == scheme)
            .flat_map(|(_, algorithms)| algorithms.iter());
        for algorithm in algorithms {
            if certificate.verify_signature(*algorithm, message, &signature.bytes).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}
