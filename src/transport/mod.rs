//! QUIC transport with mutual TLS 1.3 and pinned peers.
//!
//! Each side accepts only a certificate whose SubjectPublicKeyInfo hashes to
//! a pin registered under an agreement. The check runs inside the TLS
//! handshake, so an unknown peer is refused before any application data is
//! read. Session resumption and 0-RTT are off, so removing a pin takes
//! effect for the next connection. One QUIC stream carries one request and
//! its response (see `proto-spec/transport.md`).

mod pin;
pub mod validity;

pub use pin::{Pins, spki_pin};

use crate::home::TlsIdentity;
use crate::protocol::country::Country;
use crate::protocol::keys::SpkiPin;
use crate::protocol::wire::MAX_FRAME;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// ALPN protocol id of this protocol.
pub const ALPN: &[u8] = b"nfp/1";
/// Server name the client sends; certificates are pinned, not named.
pub const SERVER_NAME: &str = "nfp-node.invalid";

/// Errors of the transport layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// TLS or QUIC could not be configured.
    #[error("cannot configure TLS/QUIC: {0}")]
    Config(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The peer's endpoint could not be resolved.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The connection failed or was refused (including a pin mismatch).
    #[error("connection to {0} failed: {1}")]
    Connect(String, String),
    /// A stream failed.
    #[error("stream failed: {0}")]
    Stream(String),
    /// The peer sent more than the frame limit.
    #[error("peer sent more than {MAX_FRAME} bytes")]
    TooLarge,
}

/// One TLS identity: certificate and key, ready for either side.
struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    certified: Arc<rustls::sign::CertifiedKey>,
}

impl Identity {
    fn new(
        identity: &TlsIdentity,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<Identity, TransportError> {
        let cert = CertificateDer::from(identity.cert_der.clone());
        let key = PrivatePkcs8KeyDer::from(identity.key_der.to_vec());
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(key.clone_key()))
            .map_err(cfg)?;
        let certified = Arc::new(rustls::sign::CertifiedKey::new(vec![cert.clone()], signer));
        Ok(Identity {
            cert,
            key,
            certified,
        })
    }
}

/// The node's TLS identities: the current one and, during a key
/// rotation, the one it replaces, which the server keeps presenting until
/// every partner knows the new one.
struct Identities {
    current: Identity,
    previous: Option<Identity>,
    serve_previous: bool,
}

/// Picks the server certificate from [`Identities`] at each handshake.
#[derive(Debug)]
struct IdentityResolver(Arc<std::sync::RwLock<Identities>>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("previous", &self.previous.is_some())
            .field("serve_previous", &self.serve_previous)
            .finish()
    }
}

fn read_ids(l: &std::sync::RwLock<Identities>) -> std::sync::RwLockReadGuard<'_, Identities> {
    match l.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl rustls::server::ResolvesServerCert for IdentityResolver {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let ids = read_ids(&self.0);
        match (&ids.previous, ids.serve_previous) {
            (Some(p), true) => Some(p.certified.clone()),
            _ => Some(ids.current.certified.clone()),
        }
    }
}

/// The node's QUIC endpoint, server and client at once.
pub struct Transport {
    endpoint: quinn::Endpoint,
    pins: Arc<Pins>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    identities: Arc<std::sync::RwLock<Identities>>,
}

fn cfg<E: std::fmt::Display>(e: E) -> TransportError {
    TransportError::Config(e.to_string())
}

/// This node's QUIC endpoint settings that must survive a restart: the
/// key of its stateless resets and the key its connection ids are made
/// and checked with, both derived from its TLS private key. A node that
/// died (`kill -9`, power loss) and came back recognises the connection
/// ids of its peers' old connections as its own and answers them with a
/// reset the peers accept, so they reconnect at once instead of waiting
/// out the idle timeout (30 s) with their messages. quinn's defaults, a
/// random key of each per process, cannot do that.
fn endpoint_config(identity: &TlsIdentity) -> quinn::EndpointConfig {
    let mut okm = zeroize::Zeroizing::new([0u8; 40]);
    // 40 bytes are always within HKDF-SHA256's limit; on the impossible
    // error the keys stay all zeros, which only loses the resets.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, &identity.key_der)
        .expand(b"nfp-node quic endpoint keys v1", &mut okm[..]);
    let reset = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &okm[..32]);
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&okm[32..]);
    let cid_key = u64::from_le_bytes(cid_key);
    let mut config = quinn::EndpointConfig::new(Arc::new(reset));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(quinn::IdleTimeout::try_from(Duration::from_secs(30)).ok());
    t.keep_alive_interval(Some(Duration::from_secs(10)));
    t.max_concurrent_bidi_streams(256u32.into());
    t.max_concurrent_uni_streams(0u32.into());
    t
}

impl Transport {
    /// Binds `listen` with `identity`, accepting the peers in `pins`.
    pub fn bind(
        listen: SocketAddr,
        identity: &TlsIdentity,
        pins: Arc<Pins>,
    ) -> Result<Transport, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let identities = Arc::new(std::sync::RwLock::new(Identities {
            current: Identity::new(identity, &provider)?,
            previous: None,
            serve_previous: false,
        }));
        let verifier = Arc::new(pin::ClientPinVerifier::new(pins.clone(), provider.clone()));
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(cfg)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(IdentityResolver(identities.clone())));
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        tls.send_tls13_tickets = 0;
        tls.max_early_data_size = 0;
        let qtls = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(cfg)?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(qtls));
        server.transport_config(Arc::new(transport_config()));
        let bind = |source| TransportError::Bind {
            addr: listen,
            source,
        };
        let socket = std::net::UdpSocket::bind(listen).map_err(bind)?;
        let runtime = quinn::default_runtime()
            .ok_or_else(|| bind(std::io::Error::other("no async runtime")))?;
        let endpoint =
            quinn::Endpoint::new(endpoint_config(identity), Some(server), socket, runtime)
                .map_err(bind)?;
        Ok(Transport {
            endpoint,
            pins,
            provider,
            identities,
        })
    }

    /// Puts new TLS identities in force for the next handshakes: `current`,
    /// and the one it replaced while partners may not know the new one
    /// yet. With `serve_previous` the server side keeps presenting the
    /// previous one.
    pub fn set_identities(
        &self,
        current: &TlsIdentity,
        previous: Option<&TlsIdentity>,
        serve_previous: bool,
    ) -> Result<(), TransportError> {
        let ids = Identities {
            current: Identity::new(current, &self.provider)?,
            previous: previous
                .map(|p| Identity::new(p, &self.provider))
                .transpose()?,
            serve_previous,
        };
        match self.identities.write() {
            Ok(mut g) => *g = ids,
            Err(p) => *p.into_inner() = ids,
        }
        Ok(())
    }

    /// Whether the server presents the previous certificate; switches it.
    pub fn serve_previous(&self, on: bool) {
        match self.identities.write() {
            Ok(mut g) => g.serve_previous = on,
            Err(p) => p.into_inner().serve_previous = on,
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// The next incoming connection attempt (`None` once closed).
    pub async fn accept(&self) -> Option<quinn::Incoming> {
        self.endpoint.accept().await
    }

    /// Connects to `endpoint` (`HOST:PORT`), accepting only a server whose
    /// certificate matches `pin`.
    pub async fn connect(
        &self,
        endpoint: &str,
        pin: SpkiPin,
    ) -> Result<quinn::Connection, TransportError> {
        self.connect_with(endpoint, &[pin], false, ALPN).await
    }

    /// Connects to `endpoint`, accepting a server certificate matching any
    /// of `pins`, presenting the previous identity (during a rotation, to
    /// a partner that does not know the new one yet) or the current one.
    pub async fn connect_as(
        &self,
        endpoint: &str,
        pins: &[SpkiPin],
        previous_identity: bool,
    ) -> Result<quinn::Connection, TransportError> {
        self.connect_with(endpoint, pins, previous_identity, ALPN)
            .await
    }

    /// As [`Transport::connect`], offering `alpn` instead of this
    /// protocol's. Only for testing that a peer refuses other protocols.
    #[doc(hidden)]
    pub async fn connect_alpn(
        &self,
        endpoint: &str,
        pin: SpkiPin,
        alpn: &[u8],
    ) -> Result<quinn::Connection, TransportError> {
        self.connect_with(endpoint, &[pin], false, alpn).await
    }

    async fn connect_with(
        &self,
        endpoint: &str,
        pins: &[SpkiPin],
        previous_identity: bool,
        alpn: &[u8],
    ) -> Result<quinn::Connection, TransportError> {
        let addr = tokio::net::lookup_host(endpoint)
            .await
            .map_err(|_| TransportError::Resolve(endpoint.to_string()))?
            .next()
            .ok_or_else(|| TransportError::Resolve(endpoint.to_string()))?;
        let verifier = Arc::new(pin::ServerPinVerifier::new(
            pins.to_vec(),
            self.provider.clone(),
        ));
        let (cert, key) = {
            let ids = read_ids(&self.identities);
            let id = match (&ids.previous, previous_identity) {
                (Some(p), true) => p,
                _ => &ids.current,
            };
            (id.cert.clone(), id.key.clone_key())
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(cfg)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![cert], PrivateKeyDer::Pkcs8(key))
            .map_err(cfg)?;
        tls.alpn_protocols = vec![alpn.to_vec()];
        tls.resumption = rustls::client::Resumption::disabled();
        tls.enable_early_data = false;
        let qtls = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(cfg)?;
        let mut client = quinn::ClientConfig::new(Arc::new(qtls));
        client.transport_config(Arc::new(transport_config()));
        let connecting = self
            .endpoint
            .connect_with(client, addr, SERVER_NAME)
            .map_err(|e| TransportError::Connect(endpoint.to_string(), e.to_string()))?;
        connecting
            .await
            .map_err(|e| TransportError::Connect(endpoint.to_string(), e.to_string()))
    }

    /// The pinned peer at the other end of an established connection.
    pub fn peer_of(&self, conn: &quinn::Connection) -> Option<Country> {
        let certs = conn
            .peer_identity()?
            .downcast::<Vec<CertificateDer<'static>>>()
            .ok()?;
        let pin = spki_pin(certs.first()?.as_ref()).ok()?;
        self.pins.lookup(&pin)
    }

    /// When the certificate the other end of `conn` presented expires
    /// (Unix seconds).
    pub fn peer_certificate_expiry(&self, conn: &quinn::Connection) -> Option<i64> {
        let certs = conn
            .peer_identity()?
            .downcast::<Vec<CertificateDer<'static>>>()
            .ok()?;
        validity::validity(certs.first()?.as_ref())
            .ok()
            .map(|v| v.not_after)
    }

    /// The pins in force.
    pub fn pins(&self) -> &Arc<Pins> {
        &self.pins
    }

    /// Closes every connection and the socket.
    pub async fn close(&self) {
        self.endpoint.close(0u32.into(), b"node stopping");
        self.endpoint.wait_idle().await;
    }
}

/// Sends one request frame on a new stream and reads the response frame.
pub async fn exchange(conn: &quinn::Connection, request: &[u8]) -> Result<Vec<u8>, TransportError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| TransportError::Stream(e.to_string()))?;
    send.write_all(request)
        .await
        .map_err(|e| TransportError::Stream(e.to_string()))?;
    send.finish()
        .map_err(|e| TransportError::Stream(e.to_string()))?;
    read_frame(&mut recv).await
}

/// Reads a whole frame from a stream, refusing more than [`MAX_FRAME`].
pub async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Vec<u8>, TransportError> {
    recv.read_to_end(MAX_FRAME).await.map_err(|e| match e {
        quinn::ReadToEndError::TooLong => TransportError::TooLarge,
        other => TransportError::Stream(other.to_string()),
    })
}

/// Writes a response frame and finishes the stream.
pub async fn write_frame(send: &mut quinn::SendStream, frame: &[u8]) -> Result<(), TransportError> {
    send.write_all(frame)
        .await
        .map_err(|e| TransportError::Stream(e.to_string()))?;
    send.finish()
        .map_err(|e| TransportError::Stream(e.to_string()))
}
