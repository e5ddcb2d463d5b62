//! The node's home directory: creating it (`init`), reading and checking
//! every file in it, and registering peers. Private keys are written with
//! mode 0600 and held in zeroizing buffers.
//!
//! ```text
//! HOME/node.toml                 this node's configuration
//! HOME/keys/signing.key          Ed25519 seed (0600)
//! HOME/keys/encryption.key       X25519 private key (0600)
//! HOME/keys/tls.key, tls.crt     TLS key (0600) and self-signed certificate (PEM)
//! HOME/keys/storage.key          key that encrypts forms at rest (0600)
//! HOME/keys/api.token            bearer token of the local API (0600)
//! HOME/peers/CC.toml             registered peer cards
//! HOME/agreements/ID.toml        agreements, as both parties signed them
//! HOME/store/                    the sled store (owned by the serving process)
//! ```

use crate::config::NodeConfig;
use crate::protocol::FieldError;
use crate::protocol::agreement::Agreement;
use crate::protocol::card::PeerCard;
use crate::protocol::country::Country;
use crate::protocol::keys::{DecryptionKey, SigningKey, SpkiPin, VerifyingKey};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A problem with the home, named by file and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// The field in it (or `(file)`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.field,
            self.message
        )
    }
}

/// Errors of the home layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// `init` found something already there.
    #[error("{0} already exists; init never overwrites a node home")]
    Exists(PathBuf),
    /// Input the operator gave is invalid.
    #[error("{0}")]
    Invalid(String),
    /// One or more files are wrong.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<Problem>),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("cannot create keys: {0}")]
    Keygen(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitParams {
    /// Country code (validated).
    pub country: Country,
    /// NFP name.
    pub name: String,
    /// QUIC endpoint `HOST:PORT`.
    pub endpoint: String,
    /// API address (loopback).
    pub api: std::net::SocketAddr,
    /// UDP address to bind, when `endpoint` is a host name or a NAT'd address.
    pub listen: Option<std::net::SocketAddr>,
}

/// The TLS identity: certificate and private key, DER.
pub struct TlsIdentity {
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key DER.
    pub key_der: Zeroizing<Vec<u8>>,
    /// SHA-256 of the certificate's SPKI.
    pub pin: SpkiPin,
}

/// A registered peer and the agreement it is bound by.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its card.
    pub card: PeerCard,
    /// The agreement.
    pub agreement: Agreement,
    /// [`Agreement::hash`] of it, computed once: every envelope names it.
    pub agreement_hash: [u8; 32],
    /// The parties whose signature of this exact agreement verifies.
    pub signed_by: Vec<Country>,
}

/// Everything a serving node loads from its home.
pub struct Setup {
    /// `node.toml`.
    pub config: NodeConfig,
    /// Envelope and receipt signing key.
    pub signing: SigningKey,
    /// Envelope decryption key.
    pub decryption: DecryptionKey,
    /// TLS identity.
    pub tls: TlsIdentity,
    /// Key for forms at rest.
    pub storage_key: Zeroizing<[u8; 32]>,
    /// API bearer token.
    pub api_token: Zeroizing<String>,
    /// Peers by country.
    pub peers: BTreeMap<Country, Peer>,
}

impl Setup {
    /// This node's card.
    pub fn card(&self) -> PeerCard {
        PeerCard {
            country: self.config.country,
            name: self.config.name.clone(),
            endpoint: self.config.endpoint.clone(),
            signing_key: self.signing.verifying_key(),
            encryption_key: self.decryption.public(),
            tls_spki_sha256: self.tls.pin,
            log_origin: None,
            rotation: 0,
            previous: Vec::new(),
        }
    }
}

/// A node home directory.
#[derive(Debug, Clone)]
pub struct Home {
    /// The directory.
    pub dir: PathBuf,
}

/// Fresh random bytes from the operating system.
///
/// A message needs four small draws (its id, the ephemeral key's seed and
/// two nonces); rather than a system call each, every thread reads 4 KiB
/// at a time from the OS and hands the bytes out once each, wiping each
/// byte as it goes (and the rest when the thread ends).
pub fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, HomeError> {
    let mut b = Zeroizing::new([0u8; N]);
    fill_random(b.as_mut_slice())
        .map_err(|e| HomeError::Keygen(format!("no randomness from the OS: {e}")))?;
    Ok(b)
}

/// The bytes a thread has read from the OS and not yet handed out.
struct RandomPool {
    bytes: Zeroizing<[u8; RandomPool::SIZE]>,
    /// Bytes before this offset have been handed out (and wiped).
    used: usize,
}

impl RandomPool {
    const SIZE: usize = 4096;
    /// Larger draws go straight to the OS.
    const LARGEST: usize = 256;
}

thread_local! {
    static RANDOM_POOL: std::cell::RefCell<RandomPool> = std::cell::RefCell::new(RandomPool {
        bytes: Zeroizing::new([0; RandomPool::SIZE]),
        used: RandomPool::SIZE,
    });
}

fn fill_random(out: &mut [u8]) -> Result<(), getrandom::Error> {
    if out.len() > RandomPool::LARGEST {
        return getrandom::fill(out);
    }
    RANDOM_POOL.with_borrow_mut(|pool| {
        if RandomPool::SIZE - pool.used < out.len() {
            getrandom::fill(pool.bytes.as_mut_slice())?;
            pool.used = 0;
        }
        let taken = &mut pool.bytes[pool.used..pool.used + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        pool.used += out.len();
        Ok(())
    })
}

impl Home {
    /// The home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }
    /// `node.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
    fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }
    /// The peers directory.
    pub fn peers_dir(&self) -> PathBuf {
        self.dir.join("peers")
    }
    /// The agreements directory.
    pub fn agreements_dir(&self) -> PathBuf {
        self.dir.join("agreements")
    }
    /// The sled store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }
    /// The API token file.
    pub fn token_path(&self) -> PathBuf {
        self.keys().join("api.token")
    }

    /// Creates a new home: configuration, keys, certificate and token.
    /// Refuses if the directory exists and is not empty.
    pub fn init(&self, p: &InitParams) -> Result<PeerCard, HomeError> {
        if self.dir.exists() {
            let mut entries = fs::read_dir(&self.dir).map_err(io(&self.dir))?;
            if entries.next().is_some() {
                return Err(HomeError::Exists(self.dir.clone()));
            }
        }
        let config = NodeConfig {
            country: p.country,
            name: p.name.clone(),
            endpoint: p.endpoint.clone(),
            listen: p.listen,
            api: p.api,
            delivery: Default::default(),
            audit: Default::default(),
            deadlines: Default::default(),
        };
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(HomeError::Invalid(
                problems
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        for d in [
            &self.dir,
            &self.keys(),
            &self.peers_dir(),
            &self.agreements_dir(),
        ] {
            fs::create_dir_all(d).map_err(io(d))?;
        }
        for d in [&self.dir, &self.keys()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(io(d))?;
        }
        let signing = SigningKey::from_seed(&*random::<32>()?);
        let decryption = DecryptionKey::from_bytes(&*random::<32>()?)
            .map_err(|e| HomeError::Keygen(e.to_string()))?;
        write_secret(&self.keys().join("signing.key"), signing.seed().as_slice())?;
        write_secret(
            &self.keys().join("encryption.key"),
            decryption.to_bytes().as_slice(),
        )?;
        write_secret(&self.keys().join("storage.key"), random::<32>()?.as_slice())?;
        let token = hex::encode(random::<32>()?.as_slice());
        write_secret(&self.token_path(), format!("{token}\n").as_bytes())?;
        let (cert_pem, key_pem) = make_certificate(p.country, CERTIFICATE_DAYS)?;
        write_secret(&self.keys().join("tls.key"), key_pem.as_bytes())?;
        write_public(&self.keys().join("tls.crt"), cert_pem.as_bytes())?;
        write_public(&self.config_path(), config.to_toml().as_bytes())?;
        let setup = self.load()?;
        Ok(setup.card())
    }

    /// Reads the configuration only.
    pub fn config(&self) -> Result<NodeConfig, HomeError> {
        let path = self.config_path();
        let text = read_text(&path)?;
        NodeConfig::from_toml(&text).map_err(|errs| problems(&path, errs))
    }

    /// Reads and checks everything; fails with every problem found.
    pub fn load(&self) -> Result<Setup, HomeError> {
        let config = self.config()?;
        let seed = read_secret::<32>(&self.keys().join("signing.key"))?;
        let signing = SigningKey::from_seed(&seed);
        let dk_path = self.keys().join("encryption.key");
        let decryption = DecryptionKey::from_bytes(&*read_secret::<32>(&dk_path)?)
            .map_err(|e| HomeError::Invalid(format!("{}: {e}", dk_path.display())))?;
        let storage_key = read_secret::<32>(&self.keys().join("storage.key"))?;
        check_mode(&self.token_path())?;
        let api_token = Zeroizing::new(read_text(&self.token_path())?.trim().to_string());
        let tls = self.tls_identity()?;
        let (peers, errs) = self.peers(config.country);
        if !errs.is_empty() {
            return Err(HomeError::Problems(errs));
        }
        Ok(Setup {
            config,
            signing,
            decryption,
            tls,
            storage_key,
            api_token,
            peers,
        })
    }

    fn tls_identity(&self) -> Result<TlsIdentity, HomeError> {
        tls_identity_in(&self.keys())
    }
}

/// The TLS identity kept in `dir` (`tls.crt`, `tls.key`).
fn tls_identity_in(dir: &Path) -> Result<TlsIdentity, HomeError> {
    {
        let cert_path = dir.join("tls.crt");
        let key_path = dir.join("tls.key");
        let cert_pem = read_text(&cert_path)?;
        let key_pem = Zeroizing::new(read_text(&key_path)?);
        check_mode(&key_path)?;
        let cert_der = pem_body(&cert_pem, "CERTIFICATE").ok_or_else(|| {
            HomeError::Invalid(format!("{}: not a PEM certificate", cert_path.display()))
        })?;
        let key_der = Zeroizing::new(pem_body(&key_pem, "PRIVATE KEY").ok_or_else(|| {
            HomeError::Invalid(format!(
                "{}: not a PEM PKCS#8 private key",
                key_path.display()
            ))
        })?);
        let pin = crate::transport::spki_pin(&cert_der)
            .map_err(|e| HomeError::Invalid(format!("{}: {e}", cert_path.display())))?;
        Ok(TlsIdentity {
            cert_der,
            key_der,
            pin,
        })
    }
}

impl Home {
    /// Reads every peer card and agreement, pairing each peer with the one
    /// agreement that names both it and `me`.
    pub fn peers(&self, me: Country) -> (BTreeMap<Country, Peer>, Vec<Problem>) {
        let mut problems_found = Vec::new();
        let mut agreements = Vec::new();
        for path in toml_files(&self.agreements_dir(), &mut problems_found) {
            match read_text(&path) {
                Ok(t) => match Agreement::from_toml(&t) {
                    Ok(a) => {
                        if !a.parties.contains(&me) {
                            problems_found.push(Problem {
                                file: path.clone(),
                                field: "parties".into(),
                                message: format!("does not name this node's country {me}"),
                            });
                        } else if path.file_stem().and_then(|s| s.to_str()) != Some(a.id.as_str()) {
                            problems_found.push(Problem {
                                file: path.clone(),
                                field: "id".into(),
                                message: format!("file name must be {}.toml", a.id),
                            });
                        } else {
                            agreements.push(a);
                        }
                    }
                    Err(errs) => problems_found.extend(errs.into_iter().map(|e| at(&path, e))),
                },
                Err(e) => problems_found.push(file_problem(&path, e)),
            }
        }
        let mut peers = BTreeMap::new();
        for path in toml_files(&self.peers_dir(), &mut problems_found) {
            let card = match read_text(&path).map(|t| PeerCard::from_toml(&t)) {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    problems_found.push(at(&path, e));
                    continue;
                }
                Err(e) => {
                    problems_found.push(file_problem(&path, e));
                    continue;
                }
            };
            if path.file_stem().and_then(|s| s.to_str()) != Some(card.country.as_str()) {
                problems_found.push(Problem {
                    file: path.clone(),
                    field: "country".into(),
                    message: format!("file name must be {}.toml", card.country),
                });
                continue;
            }
            let matching: Vec<&Agreement> = agreements
                .iter()
                .filter(|a| a.parties.contains(&card.country))
                .collect();
            match matching.as_slice() {
                [a] => {
                    peers.insert(
                        card.country,
                        Peer {
                            signed_by: self.signed_by(a, &card),
                            card,
                            agreement_hash: a.hash(),
                            agreement: (*a).clone(),
                        },
                    );
                }
                [] => problems_found.push(Problem {
                    file: path.clone(),
                    field: "country".into(),
                    message: format!("no agreement names {} and {me}", card.country),
                }),
                many => problems_found.push(Problem {
                    file: path.clone(),
                    field: "country".into(),
                    message: format!(
                        "more than one agreement names {}: {}",
                        card.country,
                        many.iter()
                            .map(|a| a.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
        let mut seen: Vec<(SpkiPin, Country)> = Vec::new();
        for p in peers.values() {
            if let Some((_, other)) = seen.iter().find(|(pin, _)| *pin == p.card.tls_spki_sha256) {
                problems_found.push(Problem {
                    file: self.peers_dir().join(format!("{}.toml", p.card.country)),
                    field: "tls_spki_sha256".into(),
                    message: format!(
                        "the same pin is registered for {other}; every peer needs its own key"
                    ),
                });
            }
            seen.push((p.card.tls_spki_sha256, p.card.country));
        }
        if let Ok(config) = self.config()
            && let Ok(own) = self.tls_identity()
        {
            for p in peers.values().filter(|p| p.card.tls_spki_sha256 == own.pin) {
                problems_found.push(Problem {
                    file: self.peers_dir().join(format!("{}.toml", p.card.country)),
                    field: "tls_spki_sha256".into(),
                    message: format!("is this node's own pin ({})", config.country),
                });
            }
        }
        (peers, problems_found)
    }

    /// Every problem in the home, each with file and field.
    pub fn check(&self) -> Vec<Problem> {
        let config = match self.config() {
            Ok(c) => c,
            Err(HomeError::Problems(p)) => return p,
            Err(e) => {
                return vec![Problem {
                    file: self.config_path(),
                    field: "(file)".into(),
                    message: e.to_string(),
                }];
            }
        };
        let mut out = Vec::new();
        for name in [
            "signing.key",
            "encryption.key",
            "storage.key",
            "api.token",
            "tls.key",
        ] {
            let path = self.keys().join(name);
            if let Err(e) = check_mode(&path) {
                out.push(Problem {
                    file: path,
                    field: "(file)".into(),
                    message: e.to_string(),
                });
            }
        }
        if let Err(e) = self.tls_identity() {
            out.push(Problem {
                file: self.keys().join("tls.crt"),
                field: "(file)".into(),
                message: e.to_string(),
            });
        }
        out.extend(self.peers(config.country).1);
        out
    }

    /// Validates a card and an agreement and registers the peer under it.
    /// Returns the card and the agreement as stored.
    pub fn add_peer(
        &self,
        card_text: &str,
        agreement_text: &str,
    ) -> Result<(PeerCard, Agreement), HomeError> {
        let config = self.config()?;
        let me = config.country;
        let card = PeerCard::from_toml(card_text)
            .map_err(|e| HomeError::Invalid(format!("peer card: {e}")))?;
        let agreement = Agreement::from_toml(agreement_text).map_err(|errs| {
            HomeError::Invalid(format!(
                "agreement: {}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        if card.country == me {
            return Err(HomeError::Invalid(format!(
                "peer card: country is {me}, this node's own country"
            )));
        }
        if !agreement.parties.contains(&me) || !agreement.parties.contains(&card.country) {
            return Err(HomeError::Invalid(format!(
                "agreement {}: parties must be {me} and {}",
                agreement.id, card.country
            )));
        }
        let apath = self.agreements_dir().join(format!("{}.toml", agreement.id));
        if apath.exists() {
            let old_text = read_text(&apath)?;
            if let Ok(old) = Agreement::from_toml(&old_text)
                && old.hash() != agreement.hash()
                && agreement.version <= old.version
            {
                return Err(HomeError::Invalid(format!(
                    "agreement {} v{} (hash {}) is already registered; a different text needs a higher version (an amendment)",
                    old.id,
                    old.version,
                    hex::encode(old.hash())
                )));
            }
        }
        // Another agreement file naming the same peer would be ambiguous.
        let (existing, _) = self.peers(me);
        if let Some(other) = existing.values().find(|p| {
            p.card.country != card.country && p.card.tls_spki_sha256 == card.tls_spki_sha256
        }) {
            return Err(HomeError::Invalid(format!(
                "peer card: pin {} is already registered for {}",
                card.tls_spki_sha256, other.card.country
            )));
        }
        if let Some(p) = existing.get(&card.country)
            && p.agreement.id != agreement.id
        {
            return Err(HomeError::Invalid(format!(
                "{} is already registered under agreement {}",
                card.country, p.agreement.id
            )));
        }
        write_atomic(&apath, agreement.to_toml().as_bytes())?;
        let cpath = self.peers_dir().join(format!("{}.toml", card.country));
        write_atomic(&cpath, card.to_toml().as_bytes())?;
        Ok((card, agreement))
    }

    /// The API token, for local clients.
    pub fn api_token(&self) -> Result<Zeroizing<String>, HomeError> {
        check_mode(&self.token_path())?;
        Ok(Zeroizing::new(
            read_text(&self.token_path())?.trim().to_string(),
        ))
    }
}

impl Home {
    /// The agreement signatures directory.
    pub fn signatures_dir(&self) -> PathBuf {
        self.agreements_dir().join("signatures")
    }

    fn signature_path(&self, id: &str, version: u32, party: Country) -> PathBuf {
        self.signatures_dir()
            .join(format!("{id}.v{version}.{party}.sig"))
    }

    /// This node's signing public key, read from its private key file.
    fn own_signing_key(&self) -> Option<crate::protocol::keys::VerifyingKey> {
        read_secret::<32>(&self.keys().join("signing.key"))
            .ok()
            .map(|seed| SigningKey::from_seed(&seed).verifying_key())
    }

    /// Which parties' signatures of `agreement` verify: this node's with its
    /// own keys, the peer's with the keys in its registered card. A key a
    /// rotation replaced still counts for what it signed, even one revoked
    /// as compromised: an agreement takes both parties' signatures of one
    /// canonical hash, so a stolen key alone cannot put any text in force.
    pub fn signed_by(&self, agreement: &Agreement, peer: &PeerCard) -> Vec<Country> {
        let mut out = Vec::new();
        let me = self.config().ok().map(|c| c.country);
        for party in &agreement.parties {
            let keys: Vec<VerifyingKey> = if Some(*party) == me {
                match self.own_card() {
                    Ok(c) => c.all_signing_keys(),
                    Err(_) => self.own_signing_key().into_iter().collect(),
                }
            } else if *party == peer.country {
                peer.all_signing_keys()
            } else {
                Vec::new()
            };
            let path = self.signature_path(&agreement.id, agreement.version, *party);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match crate::protocol::signature::AgreementSignature::from_toml(&text) {
                Ok(sig)
                    if sig.party == *party
                        && keys.iter().any(|k| sig.verify(agreement, k).is_ok()) =>
                {
                    out.push(*party)
                }
                _ => {}
            }
        }
        out
    }

    /// Signs an agreement with this node's key; writes and returns the
    /// signature file to send to the other party.
    pub fn sign_agreement(&self, agreement_text: &str) -> Result<(PathBuf, String), HomeError> {
        let setup = self.load()?;
        let agreement = Agreement::from_toml(agreement_text).map_err(|errs| {
            HomeError::Problems(
                errs.into_iter()
                    .map(|e| Problem {
                        file: PathBuf::from("--agreement"),
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            )
        })?;
        let me = setup.config.country;
        if !agreement.parties.contains(&me) {
            return Err(HomeError::Invalid(format!(
                "agreement {} does not name this node's country {me}",
                agreement.id
            )));
        }
        let sig =
            crate::protocol::signature::AgreementSignature::sign(&agreement, me, &setup.signing);
        let dir = self.signatures_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = self.signature_path(&agreement.id, agreement.version, me);
        write_atomic(&path, sig.to_toml().as_bytes())?;
        Ok((path, sig.to_toml()))
    }

    /// Stores the other party's signature file after checking it is well
    /// formed and self-consistent; whether it counts is decided against the
    /// registered agreement and card.
    pub fn add_signature(
        &self,
        text: &str,
    ) -> Result<crate::protocol::signature::AgreementSignature, HomeError> {
        let sig = crate::protocol::signature::AgreementSignature::from_toml(text)
            .map_err(|e| HomeError::Invalid(format!("signature file: {e}")))?;
        let config = self.config()?;
        if sig.party == config.country {
            return Err(HomeError::Invalid(
                "this is this node's own signature; sign with `agreement sign`".into(),
            ));
        }
        let (peers, _) = self.peers(config.country);
        if let Some(p) = peers.get(&sig.party) {
            if p.card.signing_key != sig.signing_key {
                return Err(HomeError::Invalid(format!(
                    "the signature is by key {}, but {}'s registered card has {}",
                    sig.signing_key, sig.party, p.card.signing_key
                )));
            }
            if p.agreement.id == sig.agreement && p.agreement.version == sig.version {
                sig.verify(&p.agreement, &p.card.signing_key)
                    .map_err(|e| HomeError::Invalid(format!("{}'s signature {e}", sig.party)))?;
            }
        }
        let dir = self.signatures_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(
            &self.signature_path(&sig.agreement, sig.version, sig.party),
            sig.to_toml().as_bytes(),
        )?;
        Ok(sig)
    }
}

/// The audit detail of a `peer-added` entry: agreement, hash and pin.
pub fn peer_added_detail(card: &PeerCard, agreement: &Agreement) -> String {
    format!(
        "agreement {} v{} {}; pin {}",
        agreement.id,
        agreement.version,
        hex::encode(agreement.hash()),
        card.tls_spki_sha256
    )
}

fn at(path: &Path, e: FieldError) -> Problem {
    Problem {
        file: path.to_path_buf(),
        field: e.field,
        message: e.message,
    }
}

fn file_problem(path: &Path, e: HomeError) -> Problem {
    Problem {
        file: path.to_path_buf(),
        field: "(file)".into(),
        message: e.to_string(),
    }
}

fn problems(path: &Path, errs: Vec<FieldError>) -> HomeError {
    HomeError::Problems(errs.into_iter().map(|e| at(path, e)).collect())
}

fn toml_files(dir: &Path, problems_found: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().and_then(|x| x.to_str()) == Some("toml") {
                    out.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems_found.push(Problem {
            file: dir.to_path_buf(),
            field: "(directory)".into(),
            message: e.to_string(),
        }),
    }
    out.sort();
    out
}

fn read_text(path: &Path) -> Result<String, HomeError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.len() > 1 << 20 {
        return Err(HomeError::Invalid(format!(
            "{}: larger than 1 MiB",
            path.display()
        )));
    }
    fs::read_to_string(path).map_err(io(path))
}

fn read_secret<const N: usize>(path: &Path) -> Result<Zeroizing<[u8; N]>, HomeError> {
    check_mode(path)?;
    let bytes = Zeroizing::new(fs::read(path).map_err(io(path))?);
    if bytes.len() != N {
        return Err(HomeError::Invalid(format!(
            "{}: expected {N} bytes, found {}",
            path.display(),
            bytes.len()
        )));
    }
    let mut out = Zeroizing::new([0u8; N]);
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Refuses a secret file that others can read or write.
fn check_mode(path: &Path) -> Result<(), HomeError> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(HomeError::Invalid(format!(
            "{}: mode is {:o}; a private key must be 0600 (run: chmod 600 {})",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Writes `path` through a temporary file and a rename, then syncs the
/// directory, so a crash leaves either the old file or the new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("toml.tmp");
    let _ = fs::remove_file(&tmp);
    write_public(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let b64: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// A self-signed Ed25519 certificate for `country`'s node, valid for about
/// ten years (peers pin its key, not its dates).
/// How long a node's TLS certificate is valid. The node renews it by a
/// rotation before it expires ([`RENEW_BEFORE_DAYS`]).
pub const CERTIFICATE_DAYS: i64 = 2 * 365;

/// A certificate expiring within this many days is renewed, and warned of.
pub const RENEW_BEFORE_DAYS: i64 = 30;

fn make_certificate(country: Country, days: i64) -> Result<(String, Zeroizing<String>), HomeError> {
    let err = |e: rcgen::Error| HomeError::Keygen(e.to_string());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
    let host = format!("{}.nfp-node.invalid", country.as_str().to_ascii_lowercase());
    let mut params = rcgen::CertificateParams::new(vec![host]).map_err(err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("nfp-node {}", country.as_str()),
    );
    let day = |t: jiff::Timestamp| {
        let d = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        rcgen::date_time_ymd(
            i32::from(d.year()),
            u8::try_from(d.month()).unwrap_or(1),
            u8::try_from(d.day()).unwrap_or(1),
        )
    };
    let now = jiff::Timestamp::now();
    // From the start of yesterday, to allow for clocks a little behind.
    params.not_before = day(now - jiff::SignedDuration::from_hours(24));
    params.not_after = day(now + jiff::SignedDuration::from_hours(24 * days.clamp(1, 3650)));
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
}

/// Which keys a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChoice {
    /// The TLS certificate and key.
    pub tls: bool,
    /// The Ed25519 signing key.
    pub signing: bool,
    /// The X25519 encryption key.
    pub encryption: bool,
}

impl KeyChoice {
    /// Every key.
    pub const ALL: KeyChoice = KeyChoice {
        tls: true,
        signing: true,
        encryption: true,
    };
}

/// A node's private keys as kept in one directory.
pub struct KeyFiles {
    /// Signing key.
    pub signing: SigningKey,
    /// Decryption key.
    pub decryption: DecryptionKey,
    /// TLS identity.
    pub tls: TlsIdentity,
}

impl KeyFiles {
    /// The public keys, as a card of `base` shows them.
    pub fn card(&self, base: &PeerCard) -> PeerCard {
        PeerCard {
            signing_key: self.signing.verifying_key(),
            encryption_key: self.decryption.public(),
            tls_spki_sha256: self.tls.pin,
            ..base.clone()
        }
    }
}

const ROTATED_FILES: [&str; 4] = ["signing.key", "encryption.key", "tls.key", "tls.crt"];

fn read_key_files(dir: &Path) -> Result<KeyFiles, HomeError> {
    let seed = read_secret::<32>(&dir.join("signing.key"))?;
    let signing = SigningKey::from_seed(&seed);
    let dk_path = dir.join("encryption.key");
    let decryption = DecryptionKey::from_bytes(&*read_secret::<32>(&dk_path)?)
        .map_err(|e| HomeError::Invalid(format!("{}: {e}", dk_path.display())))?;
    Ok(KeyFiles {
        signing,
        decryption,
        tls: tls_identity_in(dir)?,
    })
}

fn sync_dir(dir: &Path) -> Result<(), HomeError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn private_dir(dir: &Path) -> Result<(), HomeError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

/// Copies a key file keeping its mode, and syncs the copy.
fn copy_key_file(from: &Path, to: &Path) -> Result<(), HomeError> {
    let bytes = Zeroizing::new(fs::read(from).map_err(io(from))?);
    let mode = fs::metadata(from).map_err(io(from))?.permissions().mode() & 0o777;
    let _ = fs::remove_file(to);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(io(to))?;
    f.write_all(&bytes).map_err(io(to))?;
    f.sync_all().map_err(io(to))
}

impl Home {
    fn staged_dir(&self) -> PathBuf {
        self.keys().join("next")
    }

    fn retired_dir(&self, serial: u32) -> PathBuf {
        self.keys().join("retired").join(serial.to_string())
    }

    /// The keys in force.
    pub fn current_keys(&self) -> Result<KeyFiles, HomeError> {
        read_key_files(&self.keys())
    }

    /// Makes the keys of a rotation in `keys/next/`: new ones for what
    /// `choice` names, copies of the current ones for the rest. Nothing is
    /// in force until [`Home::commit_staged`].
    pub fn stage_rotation(&self, choice: KeyChoice) -> Result<KeyFiles, HomeError> {
        let config = self.config()?;
        let next = self.staged_dir();
        if next.exists() {
            fs::remove_dir_all(&next).map_err(io(&next))?;
        }
        private_dir(&next)?;
        let keys = self.keys();
        if choice.signing {
            let seed = random::<32>()?;
            write_secret(&next.join("signing.key"), seed.as_slice())?;
        } else {
            copy_key_file(&keys.join("signing.key"), &next.join("signing.key"))?;
        }
        if choice.encryption {
            let seed = random::<32>()?;
            DecryptionKey::from_bytes(&seed).map_err(|e| HomeError::Keygen(e.to_string()))?;
            write_secret(&next.join("encryption.key"), seed.as_slice())?;
        } else {
            copy_key_file(&keys.join("encryption.key"), &next.join("encryption.key"))?;
        }
        if choice.tls {
            let (cert_pem, key_pem) = make_certificate(config.country, CERTIFICATE_DAYS)?;
            write_secret(&next.join("tls.key"), key_pem.as_bytes())?;
            write_public(&next.join("tls.crt"), cert_pem.as_bytes())?;
        } else {
            for f in ["tls.key", "tls.crt"] {
                copy_key_file(&keys.join(f), &next.join(f))?;
            }
        }
        sync_dir(&next)?;
        read_key_files(&next)
    }

    /// The keys staged by [`Home::stage_rotation`], if any.
    pub fn staged_keys(&self) -> Option<KeyFiles> {
        let next = self.staged_dir();
        if next.exists() {
            read_key_files(&next).ok()
        } else {
            None
        }
    }

    /// Drops staged keys (a rotation that was never recorded).
    pub fn discard_staged(&self) -> Result<(), HomeError> {
        let next = self.staged_dir();
        if next.exists() {
            fs::remove_dir_all(&next).map_err(io(&next))?;
        }
        Ok(())
    }

    /// Keeps copies of the keys in force under `keys/retired/SERIAL/`.
    pub fn retire_current(&self, serial: u32) -> Result<(), HomeError> {
        let dir = self.retired_dir(serial);
        private_dir(&self.keys().join("retired"))?;
        private_dir(&dir)?;
        for f in ROTATED_FILES {
            copy_key_file(&self.keys().join(f), &dir.join(f))?;
        }
        sync_dir(&dir)
    }

    /// Puts the staged keys in force: each file renamed over the current
    /// one, then the directory synced.
    pub fn commit_staged(&self) -> Result<(), HomeError> {
        let next = self.staged_dir();
        for f in ROTATED_FILES {
            let from = next.join(f);
            if from.exists() {
                fs::rename(&from, self.keys().join(f)).map_err(io(&from))?;
            }
        }
        sync_dir(&self.keys())?;
        fs::remove_dir_all(&next).map_err(io(&next))
    }

    /// The keys retired by rotation `serial`.
    pub fn retired_keys(&self, serial: u32) -> Result<KeyFiles, HomeError> {
        read_key_files(&self.retired_dir(serial))
    }

    /// Deletes the retired keys of rotation `serial` once no longer needed.
    pub fn forget_retired(&self, serial: u32) -> Result<(), HomeError> {
        let dir = self.retired_dir(serial);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Replaces a peer's card (after it rotated its keys).
    pub fn write_peer_card(&self, card: &PeerCard) -> Result<(), HomeError> {
        let path = self.peers_dir().join(format!("{}.toml", card.country));
        write_atomic(&path, card.to_toml().as_bytes())
    }

    /// Saves this node's card as it stands after a key rotation (with its
    /// log origin and retired keys), for `nfp-node card`.
    pub fn write_own_card(&self, card: &PeerCard) -> Result<(), HomeError> {
        write_atomic(&self.dir.join("card.toml"), card.to_toml().as_bytes())
    }

    /// This node's card: the one saved at the last key rotation if its
    /// keys are those in force, else the one the keys give.
    pub fn own_card(&self) -> Result<PeerCard, HomeError> {
        let config = self.config()?;
        let keys = self.current_keys()?;
        let base = PeerCard {
            country: config.country,
            name: config.name,
            endpoint: config.endpoint,
            signing_key: keys.signing.verifying_key(),
            encryption_key: keys.decryption.public(),
            tls_spki_sha256: keys.tls.pin,
            log_origin: None,
            rotation: 0,
            previous: Vec::new(),
        };
        let saved = fs::read_to_string(self.dir.join("card.toml"))
            .ok()
            .and_then(|t| PeerCard::from_toml(&t).ok());
        Ok(match saved {
            Some(c)
                if c.signing_key == base.signing_key
                    && c.tls_spki_sha256 == base.tls_spki_sha256
                    && c.encryption_key == base.encryption_key =>
            {
                PeerCard {
                    name: base.name,
                    endpoint: base.endpoint,
                    ..c
                }
            }
            _ => base,
        })
    }

    /// When this node's TLS certificate expires (Unix seconds).
    pub fn certificate_expiry(&self) -> Result<i64, HomeError> {
        let id = self.tls_identity()?;
        crate::transport::validity::validity(&id.cert_der)
            .map(|v| v.not_after)
            .map_err(|e| HomeError::Invalid(format!("keys/tls.crt: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(cc: &str, port: u16) -> InitParams {
        InitParams {
            country: cc.parse().unwrap(),
            name: format!("NFP {cc}"),
            endpoint: format!("127.0.0.1:{port}"),
            api: format!("127.0.0.1:{}", port + 1).parse().unwrap(),
            listen: None,
        }
    }

    #[test]
    fn pooled_randomness_hands_each_byte_out_once_and_wipes_it() {
        // Draws across several refills never repeat, and the pool keeps
        // nothing it has handed out.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let a = random::<24>().unwrap();
            assert!(seen.insert(*a), "a 24-byte draw repeated");
            RANDOM_POOL.with_borrow(|pool| {
                assert!(pool.bytes[..pool.used].iter().all(|&b| b == 0));
                assert!(pool.bytes[pool.used..].iter().any(|&b| b != 0));
            });
        }
        // A draw larger than the pool's limit bypasses it.
        let used = RANDOM_POOL.with_borrow(|pool| pool.used);
        let big = random::<{ RandomPool::LARGEST + 1 }>().unwrap();
        assert!(big.iter().any(|&b| b != 0));
        assert_eq!(RANDOM_POOL.with_borrow(|pool| pool.used), used);
    }

    #[test]
    fn init_creates_a_complete_private_home_and_refuses_to_rerun() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::new(t.path().join("gr"));
        let card = home.init(&params("GR", 7401)).unwrap();
        assert_eq!(card.country.as_str(), "GR");
        for k in [
            "signing.key",
            "encryption.key",
            "storage.key",
            "api.token",
            "tls.key",
        ] {
            let mode = fs::metadata(home.keys().join(k))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{k}");
        }
        assert!(home.check().is_empty(), "{:?}", home.check());
        assert!(matches!(
            home.init(&params("GR", 7401)),
            Err(HomeError::Exists(_))
        ));
        let setup = home.load().unwrap();
        assert_eq!(setup.card(), card);
    }

    #[test]
    fn loose_key_permissions_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::new(t.path().join("al"));
        home.init(&params("AL", 7501)).unwrap();
        let k = home.keys().join("signing.key");
        fs::set_permissions(&k, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(home.load().is_err());
        let problems = home.check();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("0600"));
    }

    #[test]
    fn peers_register_under_their_agreement() {
        let t = tempfile::tempdir().unwrap();
        let al = Home::new(t.path().join("al"));
        let gr = Home::new(t.path().join("gr"));
        let al_card = al.init(&params("AL", 7501)).unwrap();
        let gr_card = gr.init(&params("GR", 7401)).unwrap();
        let agreement =
            "id = \"AL-GR\"\nversion = 1\nparties = [\"AL\", \"GR\"]\nlanguages = [\"en\"]\n";
        al.add_peer(&gr_card.to_toml(), agreement).unwrap();
        gr.add_peer(&al_card.to_toml(), agreement).unwrap();
        let setup = al.load().unwrap();
        assert_eq!(setup.peers.len(), 1);
        // Own card, wrong parties and silent rewrites are refused.
        assert!(al.add_peer(&al_card.to_toml(), agreement).is_err());
        let other = agreement.replace("\"GR\"]", "\"FR\"]");
        assert!(al.add_peer(&gr_card.to_toml(), &other).is_err());
        let changed = agreement.replace("[\"en\"]", "[\"en\", \"el\"]");
        assert!(al.add_peer(&gr_card.to_toml(), &changed).is_err());
        let amended = changed.replace("version = 1", "version = 2");
        al.add_peer(&gr_card.to_toml(), &amended).unwrap();
        assert_eq!(
            al.load().unwrap().peers[&gr_card.country].agreement.version,
            2
        );
        // A broken file is reported with its field.
        fs::write(al.peers_dir().join("GR.toml"), "country = \"GR\"\n").unwrap();
        let problems = al.check();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].file.ends_with("peers/GR.toml"));
        assert_eq!(problems[0].field, "name");
    }
}
