//! HTTP clients for the users: one per user (its own cookie jar and connections), all sharing a
//! TLS configuration built once per run.
//!
//! Invariant: building a user's client reads no file. reqwest's default TLS set-up loads and
//! parses the platform's root certificates (every file in `/etc/ssl/certs`) for each client;
//! done per user, a pool of 1 000 users spent seconds on it before it could serve. The roots are
//! loaded once here and every client reuses them.

use std::sync::Arc;
use std::time::Duration;

/// Builds the users' clients.
#[derive(Debug, Clone)]
pub(crate) struct ClientFactory {
    tls: Option<rustls::ClientConfig>,
    timeout: Duration,
}

impl ClientFactory {
    /// Load the TLS roots once. When the platform's roots cannot be loaded, clients fall back
    /// to reqwest's own set-up (and its error, if any, surfaces on the first HTTPS request).
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            tls: tls_config().ok(),
            timeout,
        }
    }

    /// A new client with its own cookie jar and connection pool.
    pub(crate) fn user_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("kneepoint/", env!("CARGO_PKG_VERSION")))
            .cookie_store(true)
            .timeout(self.timeout);
        if let Some(tls) = &self.tls {
            builder = builder.tls_backend_preconfigured(tls.clone());
        }
        builder.build()
    }
}

/// What reqwest builds for each client, once: the platform's roots, safe protocol versions,
/// HTTP/1.1 over ALPN.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_build_from_the_shared_configuration() {
        let factory = ClientFactory::new(Duration::from_secs(5));
        assert!(factory.tls.is_some(), "the platform's roots load");
        for _ in 0..3 {
            factory.user_client().expect("a client builds");
        }
    }
}
