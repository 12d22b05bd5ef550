//! TLS to PostgreSQL (rustls), configured the way libpq is: `sslmode` and `sslrootcert` in
//! DATABASE_URL, or `--db-ca-file`.
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | absent, `disable`, `allow`, `prefer` | no | – | – |
//! | `require` | yes | no (as libpq without a root certificate) | no |
//! | `verify-ca` | yes | against the CA | no |
//! | `verify-full` | yes | against the CA | yes |
//!
//! `prefer` and `allow` connect in plain text here: a connection that may or may not be
//! encrypted protects nothing a deployment can rely on, so the node does not pretend.
//! tokio-postgres knows neither `verify-*` nor `sslrootcert`, so both are taken out of the
//! URL before it is parsed. Without a CA file, `verify-*` checks against the system's
//! trusted roots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;

/// How the connection to PostgreSQL is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text.
    Off,
    /// Encrypted, the certificate not checked.
    Encrypt,
    /// Encrypted, the certificate checked against the CA, not the host name.
    VerifyCa,
    /// Encrypted, the certificate and the host name checked.
    VerifyFull,
}

/// The TLS settings found in a DATABASE_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The `sslmode`.
    pub mode: TlsMode,
    /// The `sslrootcert` (or `--db-ca-file`).
    pub ca_file: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query, answering the URL
/// tokio-postgres can parse and the settings. Key-value connection strings pass through
/// unchanged (TLS needs the URL form).
pub fn split_url(url: &str) -> Result<(String, TlsSettings), StoreError> {
    let mut settings = TlsSettings {
        mode: TlsMode::Off,
        ca_file: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), settings));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                settings.mode = match value {
                    "disable" | "allow" | "prefer" => TlsMode::Off,
                    "require" => TlsMode::Encrypt,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(StoreError::Unavailable(format!(
                            "invalid database URL: sslmode={other} (disable, require, verify-ca or verify-full)"
                        )))
                    }
                }
            }
            "sslrootcert" => settings.ca_file = Some(PathBuf::from(percent_decoded(value))),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, settings))
}

/// `url` with `sslrootcert` set to `ca_file` (after any it had, so it wins): how
/// `--db-ca-file` reaches [`split_url`].
pub fn with_ca_file(url: &str, ca_file: &Path) -> String {
    let path = ca_file.to_string_lossy();
    let mut escaped = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslrootcert={escaped}")
}

/// `%XX` escapes of a URL query value (paths with spaces and the like).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TlsSettings {
    /// The `sslmode` tokio-postgres should use.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            TlsMode::Off => SslMode::Disable,
            _ => SslMode::Require,
        }
    }

    /// The connector for these settings (never used when TLS is off).
    pub fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("TLS setup: {e}")))?;
        let chain = match self.mode {
            TlsMode::Off | TlsMode::Encrypt => None,
            TlsMode::VerifyCa | TlsMode::VerifyFull => Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.roots()?),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| tls_error(format!("TLS setup: {e}")))?,
            ),
        };
        let verifier = Verifier {
            provider,
            chain,
            check_name: self.mode == TlsMode::VerifyFull,
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_pem(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| tls_error(format!("CA file {}: {e}", path.display())))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        if roots.is_empty() {
            return Err(tls_error(
                "no CA to verify PostgreSQL's certificate against: set sslrootcert in \
                 DATABASE_URL or --db-ca-file"
                    .into(),
            ));
        }
        Ok(roots)
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(format!("cannot read the CA file {}: {e}", path.display())))?
        .collect();
    certs.map_err(|e| tls_error(format!("CA file {}: {e}", path.display())))
}

fn tls_error(message: String) -> StoreError {
    StoreError::Unavailable(format!("postgres TLS: {message}"))
}

/// How much of the server's certificate is checked: nothing (`require`, as libpq without
/// a root certificate), the chain against the roots (`verify-ca`), or the chain and the host
/// name (`verify-full`). The handshake's signatures are checked in every mode, so the session
/// key belongs to the certificate presented.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// The chain check; `None` for `require`.
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tls_settings_are_taken_out_of_the_url() {
        let (url, tls) = split_url(
            "postgres://u:p@db:5432/chat?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=a",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@db:5432/chat?application_name=a");
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/ca x.pem")));
        let (url, tls) = split_url("postgres://u@db/chat?sslmode=require").unwrap();
        assert_eq!(
            (url.as_str(), tls.mode),
            ("postgres://u@db/chat", TlsMode::Encrypt)
        );
        for off in ["postgres://db/chat", "postgres://db/chat?sslmode=prefer"] {
            assert_eq!(split_url(off).unwrap().1.mode, TlsMode::Off);
        }
        assert!(split_url("postgres://db/chat?sslmode=maybe").is_err());
    }

    #[test]
    fn a_ca_file_setting_overrides_the_url() {
        let url = with_ca_file(
            "postgres://db/chat?sslmode=verify-ca&sslrootcert=/old.pem",
            Path::new("/etc/my ca.pem"),
        );
        let (_, tls) = split_url(&url).unwrap();
        assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/my ca.pem")));
        assert_eq!(tls.mode, TlsMode::VerifyCa);
    }

    #[test]
    fn verifying_needs_a_ca_it_can_read() {
        let settings = TlsSettings {
            mode: TlsMode::VerifyFull,
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let error = settings.connector().err().unwrap().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
