//! Test harness: real `nfp-node` processes on 127.0.0.1 with temporary
//! homes, driven through the binary exactly as an admin or operator would.
#![allow(dead_code)]

use nfp_node::home::Home;
use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::envelope::{self, Meta};
use nfp_node::protocol::forms::{Form, Kind};
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::SigningKey;
use nfp_node::protocol::wire::{Request, Response};
use nfp_node::transport::{self, Pins, Transport};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const AGREEMENT: &str = include_str!("../../config/agreements/AL-GR.toml");
pub const FORM: &str = include_str!("../../config/forms/social-inquiry-request.json");

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nfp-node")
}

/// A port free for UDP and TCP on loopback.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One node: its home and, while serving, its process.
pub struct TestNode {
    pub country: String,
    pub home: PathBuf,
    pub api_port: u16,
    pub quic_port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl TestNode {
    /// `nfp-node init` in `dir/<cc>`.
    pub fn init(dir: &Path, cc: &str) -> TestNode {
        let home = dir.join(cc.to_lowercase());
        let quic_port = free_port();
        let api_port = free_port();
        let o = run(&[
            "init",
            "--home",
            home.to_str().unwrap(),
            "--country",
            cc,
            "--name",
            &format!("NFP {cc} (test)"),
            "--endpoint",
            &format!("127.0.0.1:{quic_port}"),
            "--api",
            &format!("127.0.0.1:{api_port}"),
        ]);
        assert!(o.status.success(), "init {cc}: {}", stderr(&o));
        // Fast retries for tests.
        let cfg = home.join("node.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text = text.replace("retry_max = \"5 minutes\"", "retry_max = \"2 s\"");
        text = text.replace("checkpoint_entries = 100", "checkpoint_entries = 4");
        text = text.replace(
            "checkpoint_interval = \"60 s\"",
            "checkpoint_interval = \"1 s\"",
        );
        std::fs::write(&cfg, text).unwrap();
        TestNode {
            country: cc.into(),
            log: dir.join(format!("{}.log", cc.to_lowercase())),
            home,
            api_port,
            quic_port,
            child: None,
        }
    }

    /// A node whose home already exists at `home`, on the given ports.
    pub fn existing(home: PathBuf, cc: &str, api_port: u16, quic_port: u16) -> TestNode {
        TestNode {
            country: cc.into(),
            log: home.with_extension("log"),
            home,
            api_port,
            quic_port,
            child: None,
        }
    }

    pub fn home_str(&self) -> &str {
        self.home.to_str().unwrap()
    }

    /// Writes this node's card to `dir/<cc>.card.toml` and returns the path.
    pub fn card_file(&self, dir: &Path) -> PathBuf {
        let o = run(&["card", "--home", self.home_str()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let p = dir.join(format!("{}.card.toml", self.country));
        std::fs::write(&p, o.stdout).unwrap();
        p
    }

    pub fn peer_add(&self, card: &Path, agreement: &Path) -> Output {
        run(&[
            "peer",
            "add",
            "--home",
            self.home_str(),
            "--card",
            card.to_str().unwrap(),
            "--agreement",
            agreement.to_str().unwrap(),
        ])
    }

    /// Starts `nfp-node serve` and waits for its API.
    pub fn serve(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin())
            .args(["serve", "--home", self.home_str()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.api_port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("API of {} did not come up: {}", self.country, self.log());
    }

    /// SIGTERM, then waits; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(s) = child.try_wait().unwrap() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// SIGKILL: a crash.
    /// The serving process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `messages --json`.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let o = run(&["messages", "--home", self.home_str(), "--json"]);
        assert!(o.status.success(), "messages: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn message(&self, id: &str) -> Option<serde_json::Value> {
        self.messages().into_iter().find(|m| m["id"] == id)
    }

    /// `audit list --json` entries.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let o = run(&["audit", "list", "--home", self.home_str(), "--json"]);
        assert!(o.status.success(), "audit: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["entries"].as_array().unwrap().clone()
    }

    pub fn audit_events(&self) -> Vec<String> {
        self.audit()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect()
    }

    /// `case open` (nothing to protect: national of and resident in the
    /// peer's country); an already open case is fine.
    pub fn open_case(&self, case: &str) {
        // A refused case reference makes the send that follows fail with
        // its own, clearer error; the tests check that.
        let _ = run(&["case", "open", "--home", self.home_str(), "--case", case]);
    }

    /// `send` of the example form of `kind` (`config/forms/KIND.json`),
    /// with any further flags.
    pub fn send_example(&self, to: &str, kind: &str, case: &str, extra: &[&str]) -> Output {
        let form = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/forms")
            .join(format!("{kind}.json"));
        let mut args = vec![
            "send",
            "--home",
            self.home_str(),
            "--to",
            to,
            "--kind",
            kind,
            "--case",
            case,
            "--form",
            form.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    pub fn send(&self, to: &str, case: &str, form: &Path) -> Output {
        self.open_case(case);
        run(&[
            "send",
            "--home",
            self.home_str(),
            "--to",
            to,
            "--kind",
            "social-inquiry-request",
            "--case",
            case,
            "--form",
            form.to_str().unwrap(),
        ])
    }

    /// Waits until message `id` is in `state`.
    pub fn wait_state(&self, id: &str, state: &str, secs: u64) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(m) = self.message(id) {
                if m["state"] == state {
                    return m;
                }
                if Instant::now() > deadline {
                    panic!("message {id} is {m} not {state}\nlog:\n{}", self.log());
                }
            } else if Instant::now() > deadline {
                panic!("message {id} unknown to {}", self.country);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Two nodes, AL and GR, each registered with the other under AL-GR.
pub struct Pair {
    pub dir: tempfile::TempDir,
    pub al: TestNode,
    pub gr: TestNode,
    pub agreement: PathBuf,
    pub form: PathBuf,
}

pub fn pair() -> Pair {
    pair_with(AGREEMENT)
}

/// Two nodes under the given agreement text.
pub fn pair_with(agreement_text: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let al = TestNode::init(dir.path(), "AL");
    let gr = TestNode::init(dir.path(), "GR");
    let agreement = dir.path().join("AL-GR.toml");
    std::fs::write(&agreement, agreement_text).unwrap();
    let form = dir.path().join("form.json");
    std::fs::write(&form, FORM).unwrap();
    let al_card = al.card_file(dir.path());
    let gr_card = gr.card_file(dir.path());
    let o = al.peer_add(&gr_card, &agreement);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gr.peer_add(&al_card, &agreement);
    assert!(o.status.success(), "{}", stderr(&o));
    sign_and_exchange(&al, &gr, &agreement, dir.path());
    Pair {
        dir,
        al,
        gr,
        agreement,
        form,
    }
}

/// Both nodes sign `agreement` and register each other's signature, as the
/// two admins would by mail.
pub fn sign_and_exchange(a: &TestNode, b: &TestNode, agreement: &Path, dir: &Path) {
    for (signer, other) in [(a, b), (b, a)] {
        let o = run(&[
            "agreement",
            "sign",
            "--home",
            signer.home_str(),
            "--agreement",
            agreement.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "agreement sign: {}", stderr(&o));
        let sig = dir.join(format!("{}.sig", signer.country));
        std::fs::write(&sig, &o.stdout).unwrap();
        let o = run(&[
            "agreement",
            "add-signature",
            "--home",
            other.home_str(),
            "--signature",
            sig.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "agreement add-signature: {}",
            stderr(&o)
        );
    }
}

/// A client that speaks for GR with GR's real TLS identity, so AL's pin
/// check passes and what it sends is what gets judged.
pub struct Forger {
    pub rt: tokio::runtime::Runtime,
    pub transport: Transport,
    pub al_endpoint: String,
    pub al_pin: nfp_node::protocol::keys::SpkiPin,
    pub al_enc: nfp_node::protocol::keys::EncryptionKey,
    pub al_sign: nfp_node::protocol::keys::VerifyingKey,
    pub gr_sign: SigningKey,
    pub agreement: Agreement,
}

impl Forger {
    pub fn new(p: &Pair) -> Forger {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let gr = Home::new(&p.gr.home).load().unwrap();
        let al = Home::new(&p.al.home).load().unwrap();
        let transport = rt
            .block_on(async {
                Transport::bind(
                    "127.0.0.1:0".parse().unwrap(),
                    &gr.tls,
                    Arc::new(Pins::default()),
                )
            })
            .unwrap();
        let al_card = al.card();
        Forger {
            rt,
            transport,
            al_endpoint: al_card.endpoint.clone(),
            al_pin: al_card.tls_spki_sha256,
            al_enc: al_card.encryption_key.clone(),
            al_sign: al_card.signing_key,
            gr_sign: gr.signing,
            agreement: Agreement::from_toml(&std::fs::read_to_string(&p.agreement).unwrap())
                .unwrap(),
        }
    }

    pub fn meta(&self, id: MessageId) -> Meta {
        Meta {
            v: envelope::VERSION,
            id,
            to: "AL".parse().unwrap(),
            case: "GR-FORGE-1".into(),
            from: "GR".parse().unwrap(),
            kind: Kind::SocialInquiryRequest,
            lang: "en".parse().unwrap(),
            created: jiff::Timestamp::now().as_second(),
            minor: 0,
            reply_to: None,
            agreement: (
                self.agreement.id.clone(),
                self.agreement.version,
                serde_bytes::ByteBuf::from(self.agreement.hash().to_vec()),
            ),
        }
    }

    pub fn form(&self) -> Vec<u8> {
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        Form::from_json(Kind::SocialInquiryRequest, FORM.as_bytes(), today)
            .unwrap()
            .to_cbor()
    }

    pub fn frame(&self, bytes: &[u8]) -> Response {
        self.rt.block_on(async {
            let conn = self
                .transport
                .connect(&self.al_endpoint, self.al_pin)
                .await
                .unwrap();
            let answer = transport::exchange(&conn, bytes).await.unwrap();
            Response::decode(&answer).unwrap()
        })
    }

    pub fn deliver(&self, envelope: Vec<u8>) -> Response {
        self.frame(&Request::Deliver(envelope).encode().unwrap())
    }
}

/// Waits up to `secs` seconds for `f` to hold, failing the test with
/// `what` if it never does.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
