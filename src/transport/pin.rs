//! The pin set and the two rustls verifiers that enforce it: the client
//! checks the server's pin for the peer it dialled; the server accepts any
//! pin registered under an agreement. Signatures inside the handshake are
//! still verified with the certificate's key.

use crate::protocol::country::Country;
use crate::protocol::keys::SpkiPin;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// SHA-256 pin of a DER certificate's SubjectPublicKeyInfo.
pub fn spki_pin(cert_der: &[u8]) -> Result<SpkiPin, String> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| format!("not a usable X.509 certificate ({e:?})"))?;
    Ok(SpkiPin::of_spki(cert.subject_public_key_info().as_ref()))
}

/// The pins this node accepts, each mapped to its peer's country. Replaced
/// whole when peers change.
#[derive(Debug, Default)]
pub struct Pins(RwLock<HashMap<[u8; 32], Country>>);

impl Pins {
    /// A pin set from `(pin, country)` pairs.
    pub fn new(pins: impl IntoIterator<Item = (SpkiPin, Country)>) -> Pins {
        Pins(RwLock::new(
            pins.into_iter().map(|(p, c)| (p.0, c)).collect(),
        ))
    }

    /// Replaces every pin.
    pub fn replace(&self, pins: impl IntoIterator<Item = (SpkiPin, Country)>) {
        let map = pins.into_iter().map(|(p, c)| (p.0, c)).collect();
        match self.0.write() {
            Ok(mut g) => *g = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
    }

    /// The country pinned to `pin`.
    pub fn lookup(&self, pin: &SpkiPin) -> Option<Country> {
        match self.0.read() {
            Ok(g) => g.get(&pin.0).copied(),
            Err(poisoned) => poisoned.into_inner().get(&pin.0).copied(),
        }
    }
}

fn refuse(msg: String) -> rustls::Error {
    rustls::Error::General(msg)
}

fn verify13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

/// Client side: the server must present exactly the pinned key.
#[derive(Debug)]
pub(crate) struct ServerPinVerifier {
    expected: SpkiPin,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerPinVerifier {
    pub(crate) fn new(expected: SpkiPin, provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        ServerPinVerifier { expected, provider }
    }
}

impl ServerCertVerifier for ServerPinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = spki_pin(end_entity).map_err(refuse)?;
        if pin == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refuse(format!(
                "server certificate {pin} does not match the pinned {}",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(refuse("TLS 1.2 is not allowed".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss, &self.provider)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Server side: the client must present a key pinned under an agreement.
#[derive(Debug)]
pub(crate) struct ClientPinVerifier {
    pins: Arc<Pins>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientPinVerifier {
    pub(crate) fn new(pins: Arc<Pins>, provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        ClientPinVerifier { pins, provider }
    }
}

impl ClientCertVerifier for ClientPinVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let pin = spki_pin(end_entity).map_err(refuse)?;
        if self.pins.lookup(&pin).is_some() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(refuse(format!(
                "client certificate {pin} is not pinned by any agreement"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(refuse("TLS 1.2 is not allowed".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss, &self.provider)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
