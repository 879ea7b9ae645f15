//! PostgreSQL over TLS, set from the URL as libpq reads it: `sslmode` is `disable`, `prefer`
//! (the default: TLS when the server offers it, the certificate not checked), `require` (TLS, the
//! certificate not checked, unless `sslrootcert` names roots: then as `verify-ca`), `verify-ca`
//! (the certificate must chain to a root) or `verify-full` (and name the host). The roots are
//! the PEM file `sslrootcert=PATH`, or the system's (`sslrootcert=system` or none given).
//! tokio-postgres reads neither `sslrootcert` nor the verify modes, so both are taken out of the
//! URL here; the TLS itself is rustls.

use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values (`allow` is read as `prefer`: both use TLS when offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => bail!("sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"),
        })
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// The connection settings of a URL and the TLS connector they call for.
pub struct Connection {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    pub mode: SslMode,
}

/// Reads `url`: the settings tokio-postgres knows, and `sslmode` and `sslrootcert` here.
pub fn connection(url: &str) -> anyhow::Result<Connection> {
    let (rest, mode, root) = take_tls_options(url)?;
    let mut config: tokio_postgres::Config = rest.parse().context("the PostgreSQL URL is not valid")?;
    config.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    // libpq: `require` with roots given checks the chain, as `verify-ca` does.
    let checked = match (mode, &root) {
        (SslMode::Require, Some(_)) => SslMode::VerifyCa,
        _ => mode,
    };
    let tls = MakeRustlsConnect::new(client_config(checked, root.as_deref())?);
    Ok(Connection { config, tls, mode })
}

/// Splits `sslmode` and `sslrootcert` off the URL's query; the rest of the URL stays as it was.
fn take_tls_options(url: &str) -> anyhow::Result<(String, SslMode, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), SslMode::Prefer, None)) };
    let (mut mode, mut root) = (SslMode::Prefer, None);
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "sslmode" => mode = SslMode::parse(&value)?,
            "sslrootcert" => root = Some(value.into_owned()),
            _ => {
                rest.append_pair(&name, &value);
            }
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{rest}") };
    Ok((url, mode, root))
}

fn client_config(mode: SslMode, root: Option<&str>) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let config = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider)
                .build()
                .context("cannot check certificates against the roots")?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(chain))).with_no_client_auth()
        }
        SslMode::VerifyFull => builder.with_root_certificates(roots(root)?).with_no_client_auth(),
    };
    Ok(config)
}

/// The roots of `sslrootcert=PATH` (PEM), or the system's for `system` or none.
fn roots(root: Option<&str>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("sslrootcert: cannot read {path}"))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("sslrootcert: {path} is not a PEM certificate file"))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                bail!("sslrootcert: {path} holds no certificate");
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                bail!(
                    "sslmode asks to check the server's certificate and the system has no root certificates; give sslrootcert=PATH"
                );
            }
        }
    }
    Ok(store)
}

/// `prefer` and `require`: the connection is encrypted, the certificate is not checked (libpq
/// does the same). The handshake's signatures are still checked, so the session is with the
/// holder of the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the certificate must chain to a root, whatever host it names.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_options_are_taken_out_of_the_url_and_the_rest_is_kept() {
        let (rest, mode, root) =
            take_tls_options("postgres://u:p@db:5432/fit?sslmode=verify-full&application_name=x&sslrootcert=%2Fca.pem")
                .unwrap();
        assert_eq!(
            (rest.as_str(), mode, root.as_deref()),
            ("postgres://u:p@db:5432/fit?application_name=x", SslMode::VerifyFull, Some("/ca.pem"))
        );
        let (rest, mode, root) = take_tls_options("postgres://db/fit").unwrap();
        assert_eq!((rest.as_str(), mode, root), ("postgres://db/fit", SslMode::Prefer, None));
        let (rest, mode, _) = take_tls_options("postgres://db/fit?sslmode=disable").unwrap();
        assert_eq!((rest.as_str(), mode), ("postgres://db/fit", SslMode::Disable));
    }

    #[test]
    fn an_unknown_sslmode_or_a_missing_root_file_is_refused_with_the_reason() {
        let error = connection("postgres://db/fit?sslmode=verify").err().unwrap();
        assert!(format!("{error:#}").contains("sslmode=verify is not one of"), "{error:#}");
        let error = connection("postgres://db/fit?sslmode=verify-full&sslrootcert=/no/such/file.pem").err().unwrap();
        assert!(format!("{error:#}").contains("sslrootcert: cannot read /no/such/file.pem"), "{error:#}");
    }
}
