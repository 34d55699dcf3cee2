//! Mutual TLS for the peer transport: loading the node's certificate, key
//! and the network CA (`peer.tls.*`), building quinn's server and client
//! configurations over rustls with the ring provider, and reading a peer's
//! id out of its certificate.
//!
//! Both directions verify the remote's chain against the network CA and
//! nothing else; client authentication is mandatory. Host names are not
//! checked by TLS (peers are dialed by address): the id the certificate
//! names is read with [`peer_id`] and the remote's HELLO must claim it.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// ALPN protocol id of the fabrik peer transport.
pub const ALPN: &[u8] = b"fabrik-p2p/1";

/// The files named by `peer.tls.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `peer.tls.cert.file`: this node's certificate (PEM).
    pub cert: PathBuf,
    /// `peer.tls.key.file`: its private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// `peer.tls.rootcert.file`: the network CA's certificate (PEM).
    pub ca: PathBuf,
}

/// Why the TLS set-up failed. Each names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("cannot load {what} from {} ({key}): {problem}; run `peerd testnet` to make a network's certificates", path.display())]
    File {
        /// What was expected (certificate, key, CA certificate).
        what: &'static str,
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// rustls or quinn refused the material.
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// quinn configurations for both directions plus our own certified id.
#[derive(Debug)]
pub struct TlsSetup {
    /// Accepting side (client certificates required).
    pub server: quinn::ServerConfig,
    /// Dialing side (presents our certificate).
    pub client: quinn::ClientConfig,
    /// The id our own certificate names.
    pub own_id: String,
}

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(
    what: &'static str,
    key: &'static str,
    path: &Path,
    problem: impl ToString,
) -> TlsError {
    TlsError::File {
        what,
        key,
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

fn load_certs(
    path: &Path,
    what: &'static str,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(what, key, path, e))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(what, key, path, e))?;
    if certs.is_empty() {
        return Err(file_err(what, key, path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes =
        std::fs::read(path).map_err(|e| file_err("private key", "peer.tls.key.file", path, e))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| file_err("private key", "peer.tls.key.file", path, e))
}

fn transport(idle: Duration) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // One long-lived bidirectional stream per peer pair.
    t.max_concurrent_bidi_streams(1u32.into());
    t.max_concurrent_uni_streams(0u32.into());
    t.keep_alive_interval(Some(idle / 4));
    t.max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok());
    Arc::new(t)
}

/// Loads the files and builds both quinn configurations.
///
/// # Errors
/// [`TlsError`] naming the file or the refused material.
pub fn setup(files: &TlsFiles, idle: Duration) -> Result<TlsSetup, TlsError> {
    install_provider();
    let chain = load_certs(&files.cert, "certificate", "peer.tls.cert.file")?;
    let key = load_key(&files.key)?;
    let ca = load_certs(&files.ca, "CA certificate", "peer.tls.rootcert.file")?;
    let own_id = chain
        .first()
        .map(|c| peer_id(c))
        .transpose()
        .map_err(|e| file_err("certificate", "peer.tls.cert.file", &files.cert, e))?
        .unwrap_or_default();
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots
            .add(cert)
            .map_err(|e| file_err("CA certificate", "peer.tls.rootcert.file", &files.ca, e))?;
    }
    let roots = Arc::new(roots);
    let cfg = |e: &dyn std::fmt::Display| TlsError::Config(e.to_string());
    let transport = transport(idle);

    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(|e| cfg(&e))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| cfg(&e))?
        .with_client_cert_verifier(Arc::new(NamedClientVerifier(client_verifier)))
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| cfg(&e))?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    let server = quinn::crypto::rustls::QuicServerConfig::try_from(server).map_err(|e| cfg(&e))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
    server.transport_config(transport.clone());

    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| cfg(&e))?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| cfg(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnlyServerVerifier(server_verifier)))
        .with_client_auth_cert(chain, key)
        .map_err(|e| cfg(&e))?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    let client = quinn::crypto::rustls::QuicClientConfig::try_from(client).map_err(|e| cfg(&e))?;
    let mut client = quinn::ClientConfig::new(Arc::new(client));
    client.transport_config(transport);
    Ok(TlsSetup {
        server,
        client,
        own_id,
    })
}

/// The peer id a certificate names: its first DNS subject alternative
/// name, else its common name.
///
/// # Errors
/// When the certificate does not parse or names no id.
pub fn peer_id(der: &[u8]) -> Result<String, String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                return Ok((*dns).to_string());
            }
        }
    }
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| "certificate names no peer id (no DNS name, no common name)".to_string())
}

/// Wraps a chain error with the id the refused certificate claims.
fn with_claimed_id(end_entity: &CertificateDer<'_>, e: Error) -> Error {
    let claimed = peer_id(end_entity).unwrap_or_else(|p| format!("(unreadable: {p})"));
    Error::General(format!(
        "certificate claiming peer id \"{claimed}\" is refused ({e}): it is not issued by this network's CA (peer.tls.rootcert.file)"
    ))
}

/// Checks the server's chain against the network CA only; the name is
/// checked against the HELLO after the handshake.
#[derive(Debug)]
struct CaOnlyServerVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnlyServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the chain first and the name last, so a name
        // mismatch means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(with_claimed_id(end_entity, e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The webpki client verifier, with refusals naming the claimed id.
#[derive(Debug)]
struct NamedClientVerifier(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for NamedClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.0
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| with_claimed_id(end_entity, e))
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The id named by the remote's certificate on an established connection.
///
/// # Errors
/// When the remote presented no certificate or it names no id.
pub fn remote_id(conn: &quinn::Connection) -> Result<String, String> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| "the remote presented no certificate".to_string())?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| "the remote's identity is not a certificate chain".to_string())?;
    let first = certs
        .first()
        .ok_or_else(|| "the remote presented an empty certificate chain".to_string())?;
    peer_id(first)
}
