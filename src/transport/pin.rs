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

/// The pins this node accepts, each mapped to its peer's country and, for
/// a pin replaced by a key rotation, the end of its overlap (Unix seconds).
/// Replaced whole when peers change.
#[derive(Debug, Default)]
pub struct Pins(RwLock<HashMap<[u8; 32], PinEntry>>);

/// A pinned peer and, for a replaced pin, the end of its overlap.
type PinEntry = (Country, Option<i64>);

impl Pins {
    /// A pin set from `(pin, country)` pairs, none expiring.
    pub fn new(pins: impl IntoIterator<Item = (SpkiPin, Country)>) -> Pins {
        Pins(RwLock::new(
            pins.into_iter().map(|(p, c)| (p.0, (c, None))).collect(),
        ))
    }

    /// Replaces every pin; a pin with an end is accepted only before it.
    pub fn replace(&self, pins: impl IntoIterator<Item = (SpkiPin, Country, Option<i64>)>) {
        let map = pins.into_iter().map(|(p, c, u)| (p.0, (c, u))).collect();
        match self.0.write() {
            Ok(mut g) => *g = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
    }

    /// The country pinned to `pin`, whether or not its overlap has ended
    /// (for a connection already established).
    pub fn lookup(&self, pin: &SpkiPin) -> Option<Country> {
        self.lookup_at(pin, None)
    }

    /// The country pinned to `pin` if it is accepted at `now` (Unix
    /// seconds; `None`: ignore overlap ends).
    pub fn lookup_at(&self, pin: &SpkiPin, now: Option<i64>) -> Option<Country> {
        let accepted = |(c, until): &(Country, Option<i64>)| match (now, until) {
            (Some(n), Some(u)) if n >= *u => None,
            _ => Some(*c),
        };
        match self.0.read() {
            Ok(g) => g.get(&pin.0).and_then(accepted),
            Err(poisoned) => poisoned.into_inner().get(&pin.0).and_then(accepted),
        }
    }
}

/// Refuses a certificate outside its validity period at `now`, saying
/// when it expired (or starts).
fn check_validity(
    cert: &CertificateDer<'_>,
    now: UnixTime,
    whose: &str,
) -> Result<(), rustls::Error> {
    let v = super::validity::validity(cert.as_ref())
        .map_err(|e| refuse(format!("{whose} certificate: {e}")))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now > v.not_after {
        return Err(refuse(format!(
            "{whose} certificate expired on {}; its node must renew it (`nfp-node keys rotate --tls`)",
            v.not_after_text()
        )));
    }
    if now < v.not_before {
        return Err(refuse(format!("{whose} certificate is not valid yet")));
    }
    Ok(())
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

/// Client side: the server must present one of the keys pinned for the
/// peer dialled (two during a key rotation's overlap).
#[derive(Debug)]
pub(crate) struct ServerPinVerifier {
    expected: Vec<SpkiPin>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerPinVerifier {
    pub(crate) fn new(
        expected: Vec<SpkiPin>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Self {
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
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = spki_pin(end_entity).map_err(refuse)?;
        if !self.expected.contains(&pin) {
            return Err(refuse(format!(
                "server certificate {pin} does not match the pinned {}",
                self.expected
                    .first()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            )));
        }
        check_validity(end_entity, now, "the server's")?;
        Ok(ServerCertVerified::assertion())
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
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let pin = spki_pin(end_entity).map_err(refuse)?;
        let at = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let Some(peer) = self.pins.lookup_at(&pin, Some(at)) else {
            return Err(refuse(format!(
                "client certificate {pin} is not pinned by any agreement"
            )));
        };
        check_validity(end_entity, now, &format!("{peer}'s"))?;
        Ok(ClientCertVerified::assertion())
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
