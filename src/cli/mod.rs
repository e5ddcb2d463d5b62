//! The command line: argument definitions and dispatch. Each command group
//! has its own file; commands that need the running node go through the
//! local API ([`crate::api::client`]).
//!
//! Exit codes: 0 success; 1 operational failure (node unreachable, I/O,
//! store); 2 invalid input (bad arguments, config, card, agreement or form).

mod admin;
mod audit;
mod bench;
mod case;
mod deadlines;
mod demo;
mod form;
mod keys;
mod lab;
mod operator;
mod progress;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for an operational failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for invalid input.
pub const EXIT_INVALID: u8 = 2;

/// nfp-node: the secure messaging node of a National Focal Point for child
/// victims of trafficking.
#[derive(Debug, Parser)]
#[command(name = "nfp-node", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr: `text`, or `json` for log collectors.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node home: configuration, keys and TLS certificate.
    Init {
        /// Home directory to create (must not exist or be empty).
        #[arg(long)]
        home: PathBuf,
        /// ISO 3166-1 alpha-2 country code of this NFP, e.g. GR.
        #[arg(long)]
        country: String,
        /// Name of this NFP, as peers will see it.
        #[arg(long)]
        name: String,
        /// QUIC endpoint peers reach, HOST:PORT.
        #[arg(long)]
        endpoint: String,
        /// Loopback address of the local operator API, HOST:PORT.
        #[arg(long)]
        api: String,
        /// UDP address to bind when --endpoint is a host name (e.g. 0.0.0.0:7401).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Print this node's public peer card (TOML) for the other country's admin.
    Card {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Manage peers.
    Peer {
        /// What to do with peers.
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Sign agreements and see where they stand.
    Agreement {
        /// What to do with agreements.
        #[command(subcommand)]
        command: AgreementCommand,
    },
    /// Validate the configuration, peer cards and agreements; exit 2 on any problem.
    Check {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Run the node: QUIC endpoint, local API and delivery, until SIGINT/SIGTERM.
    Serve {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Validate, seal, store and queue a form for a peer; prints the message id.
    Send {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Recipient country code.
        #[arg(long)]
        to: String,
        /// Message kind, e.g. social-inquiry-request.
        #[arg(long)]
        kind: String,
        /// Shared, pseudonymous case reference.
        #[arg(long)]
        case: String,
        /// The form, as a JSON file.
        #[arg(long)]
        form: PathBuf,
        /// Language of the form's text (ISO 639-1); defaults to the agreement's first.
        #[arg(long)]
        lang: Option<String>,
        /// The id of the message this one answers.
        #[arg(long = "reply-to")]
        reply_to: Option<String>,
        /// Print a JSON object instead of the bare id.
        #[arg(long)]
        json: bool,
        /// The message asks the peer to trace the child's family.
        #[arg(long = "family-tracing")]
        family_tracing: bool,
        /// Admins only: lift an overridable safeguard, with this written reason.
        #[arg(long = "override-reason")]
        override_reason: Option<String>,
        /// Attach a file (repeatable); sent encrypted, in chunks.
        #[arg(long = "attach")]
        attach: Vec<PathBuf>,
        /// A translation of free-text fields (repeatable): a JSON file
        /// `{"lang", "by", "date", "fields": {"path": "text"}}`.
        #[arg(long = "translation")]
        translation: Vec<PathBuf>,
    },
    /// Write out an attachment of a message (need-to-know; audited).
    Attachment {
        /// What to do.
        #[command(subcommand)]
        command: AttachmentCommand,
    },
    /// Add a translation to a received message as a local annotation (the
    /// signed original is not changed).
    Translate {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Message id.
        id: String,
        /// The translation, a JSON file `{"lang", "by", "date", "fields"}`.
        #[arg(long)]
        file: PathBuf,
    },
    /// List messages.
    Messages {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Only this case.
        #[arg(long)]
        case: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one message and its form.
    Show {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Message id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rotate, revoke and inspect this node's keys.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Keep the minimal case record the safeguards need.
    Case {
        /// What to do with the case.
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// Manage operator accounts and their personal tokens.
    User {
        /// What to do with accounts.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// What this NFP owes and awaits: overdue first, then due soon, then the rest.
    Deadlines {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Only overdue deadlines.
        #[arg(long)]
        overdue: bool,
        /// Only this peer.
        #[arg(long)]
        peer: Option<String>,
        /// Show times in this IANA time zone (default: this NFP's zone in its agreements).
        #[arg(long)]
        tz: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reports.
    Report {
        /// Which report.
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Put a failed message back in the queue.
    Retry {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Message id.
        id: String,
    },
    /// Write a consistent backup of the store (online, or offline when the node is stopped).
    Backup {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Backup file to create (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a stopped node's home.
    Restore {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Backup file.
        #[arg(long)]
        from: PathBuf,
        /// Move an existing store aside instead of refusing.
        #[arg(long)]
        force: bool,
    },
    /// Read and verify the audit trail.
    Audit {
        /// What to do with the audit trail.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with forms offline: list kinds, print a template or schema, validate a file.
    Form {
        /// What to do with forms.
        #[command(subcommand)]
        command: FormCommand,
    },
    /// Load test: real nodes on loopback, one hub and N peers sending to it.
    Bench {
        /// Peers sending to the hub.
        #[arg(long, default_value_t = 1)]
        peers: usize,
        /// Messages in flight per peer.
        #[arg(long = "in-flight", default_value_t = 32)]
        in_flight: usize,
        /// Messages in all.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run two example nodes (AL and GR) on loopback and exchange a real case message.
    Demo {
        /// Keep the demo homes in this directory instead of a temporary one.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

/// Peer commands.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Register a peer's card under a bilateral agreement.
    Add {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// The peer's card (TOML), as printed by its `nfp-node card`.
        #[arg(long)]
        card: PathBuf,
        /// The agreement file (TOML) both parties use.
        #[arg(long)]
        agreement: PathBuf,
    },
}

/// The facts of a case, as flags (shared by `case open` and `case update`).
#[derive(Debug, clap::Args)]
pub struct CaseFlags {
    /// The child seeks asylum.
    #[arg(long)]
    pub asylum: bool,
    /// The child is a recognised refugee in this country.
    #[arg(long = "refugee-in")]
    pub refugee_in: Option<String>,
    /// Countries the child fears (comma-separated codes).
    #[arg(long, value_delimiter = ',')]
    pub fears: Vec<String>,
    /// Countries the child agrees to have contacted (comma-separated codes).
    #[arg(long = "agrees-contact", value_delimiter = ',')]
    pub agrees_contact: Vec<String>,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long, conflicts_with = "born_year")]
    pub born: Option<String>,
    /// Estimated year of birth, when the date is unknown.
    #[arg(long = "born-year")]
    pub born_year: Option<i16>,
    /// Nationality.
    #[arg(long)]
    pub nationality: Option<String>,
    /// Country of habitual residence.
    #[arg(long)]
    pub resides: Option<String>,
    /// The child is stateless.
    #[arg(long)]
    pub stateless: bool,
    /// The child is presumed to be a child (age not established).
    #[arg(long = "presumed-child")]
    pub presumed_child: bool,
    /// The child is formally identified as a victim (default: presumed).
    #[arg(long)]
    pub identified: bool,
    /// Family complicity in the trafficking is suspected.
    #[arg(long = "complicity-suspected")]
    pub complicity_suspected: bool,
    /// The case manager.
    #[arg(long)]
    pub manager: Option<String>,
    /// User names allowed to see the case (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub access: Vec<String>,
}

/// Attachment commands.
#[derive(Debug, Subcommand)]
pub enum AttachmentCommand {
    /// Write attachment NAME of message ID to a file.
    Get {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Message id.
        id: String,
        /// Attachment name, as `show` lists it.
        name: String,
        /// Where to write it (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make new keys and announce them to every partner (signed by the old
    /// and the new key). With no flag, every key is replaced.
    Rotate {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Replace the TLS certificate and key.
        #[arg(long)]
        tls: bool,
        /// Replace the Ed25519 signing key.
        #[arg(long)]
        signing: bool,
        /// Replace the X25519 encryption key.
        #[arg(long)]
        encryption: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the keys as compromised: rotate at once; partners refuse
    /// anything signed by the old keys from then on.
    Revoke {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Why (audited; no personal data).
        #[arg(long)]
        reason: String,
        /// Compromised since (RFC 3339); default now.
        #[arg(long)]
        from: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show each key's age and expiry and which partners confirmed.
    Status {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Case commands.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Open a case record.
    Open {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference (pseudonymous).
        #[arg(long)]
        case: String,
        /// The case's facts.
        #[command(flatten)]
        flags: CaseFlags,
    },
    /// Change a case record (only the flags given change).
    Update {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference.
        #[arg(long)]
        case: String,
        /// The case's facts.
        #[command(flatten)]
        flags: CaseFlags,
    },
    /// Show a case record with its age facts.
    Show {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference.
        #[arg(long)]
        case: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record (or withdraw) a consent.
    Consent {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference.
        #[arg(long)]
        case: String,
        /// continuity-of-care, family-tracing or information.
        #[arg(long)]
        purpose: String,
        /// child or guardian.
        #[arg(long)]
        by: String,
        /// Record a withdrawal instead.
        #[arg(long)]
        withdraw: bool,
    },
    /// Record the child's return; schedules the agreement's follow-ups.
    Return {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference.
        #[arg(long)]
        case: String,
        /// The day the child arrived back (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// The child returned from this country to CC.
        #[arg(long, conflicts_with = "from", required_unless_present = "from")]
        to: Option<String>,
        /// The child returned to this country from CC.
        #[arg(long)]
        from: Option<String>,
    },
    /// Erase a case's record and content for good (admins; retention ended).
    Erase {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Case reference.
        #[arg(long)]
        case: String,
    },
}

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; prints its personal token once.
    Add {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// User name.
        #[arg(long)]
        name: String,
        /// operator, case-manager, admin or auditor.
        #[arg(long)]
        role: String,
    },
    /// List the accounts.
    List {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Revoke an account.
    Revoke {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// User name.
        #[arg(long)]
        name: String,
    },
}

/// Agreement commands.
#[derive(Debug, Subcommand)]
pub enum AgreementCommand {
    /// Sign an agreement's canonical hash with this node's key; writes the signature file.
    Sign {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// The agreement file (TOML).
        #[arg(long)]
        agreement: PathBuf,
    },
    /// Register the other party's signature file.
    AddSignature {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// The signature file the other party sent.
        #[arg(long)]
        signature: PathBuf,
    },
    /// Each agreement's version, hash, signatures, validity and state.
    Status {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Anonymised counts for the national coordinator (counts below 5 suppressed).
    Stats {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compliance with the agreed response times, per peer and kind.
    Sla {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Only this peer.
        #[arg(long)]
        peer: Option<String>,
        /// From this date (YYYY-MM-DD, by when the clock started).
        #[arg(long)]
        from: Option<String>,
        /// Up to this date (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Form commands.
#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// List the message kinds.
    Kinds {
        /// Language of the labels (ISO 639-1); English is built in.
        #[arg(long)]
        lang: Option<String>,
        /// Node home whose labels/ holds other languages' catalogues.
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Print a fill-in JSON template for a kind.
    Template {
        /// Message kind, e.g. social-inquiry-request.
        kind: String,
        /// Language of the labels (ISO 639-1); English is built in.
        #[arg(long)]
        lang: Option<String>,
        /// Node home whose labels/ holds other languages' catalogues.
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Print the JSON Schema of a kind's form.
    Schema {
        /// Message kind.
        kind: String,
    },
    /// Check a form file; names each bad field, exit 2 when one is bad.
    Validate {
        /// Message kind.
        kind: String,
        /// The form, as a JSON file.
        file: PathBuf,
    },
}

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List the audit entries (ids and hashes only).
    List {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a live node's log (--home) or an exported bundle offline (--bundle with --trust).
    Verify {
        /// Node home (live verification).
        #[arg(long, conflicts_with = "bundle")]
        home: Option<PathBuf>,
        /// Bundle directory written by `audit export` (offline verification).
        #[arg(long, requires = "trust")]
        bundle: Option<PathBuf>,
        /// A trusted peer card: the log's own node's card, and the witnesses' cards.
        #[arg(long)]
        trust: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a self-contained bundle for offline verification.
    Export {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Bundle directory to create.
        #[arg(long)]
        out: PathBuf,
        /// Also include the envelopes (still encrypted).
        #[arg(long)]
        ciphertexts: bool,
    },
    /// Print an inclusion proof for one message's audit entry.
    Proof {
        /// Node home.
        #[arg(long)]
        home: PathBuf,
        /// Message id.
        id: String,
    },
    /// Check an inclusion proof offline against a trusted card.
    CheckProof {
        /// The proof, as printed by `audit proof`.
        #[arg(long)]
        proof: PathBuf,
        /// The card of the node whose log it is.
        #[arg(long)]
        trust: PathBuf,
    },
}

/// A command's failure: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code (1 or 2).
    pub code: u8,
    /// Message.
    pub message: String,
}

impl Failure {
    pub(crate) fn invalid(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_INVALID,
            message: m.into(),
        }
    }
    pub(crate) fn failed(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            message: m.into(),
        }
    }
}

impl From<crate::home::HomeError> for Failure {
    fn from(e: crate::home::HomeError) -> Failure {
        use crate::home::HomeError as H;
        match e {
            H::Io { .. } | H::Keygen(_) => Failure::failed(e.to_string()),
            _ => Failure::invalid(e.to_string()),
        }
    }
}

impl From<crate::api::client::ClientError> for Failure {
    fn from(e: crate::api::client::ClientError) -> Failure {
        let code = if e.is_invalid_input() {
            EXIT_INVALID
        } else {
            EXIT_FAILURE
        };
        let mut message = e.to_string();
        if let crate::api::client::ClientError::Api { body, .. } = &e
            && !body.fields.is_empty()
        {
            let what = if body.code == "invalid-case" {
                "the case record is refused:"
            } else {
                "the form is invalid:"
            };
            message = format!(
                "{}\n{}",
                what,
                body.fields
                    .iter()
                    .map(|f| format!("  {}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        Failure { code, message }
    }
}

/// Runs a parsed command; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let quiet = !matches!(cli.command, Command::Serve { .. });
    init_tracing(quiet, cli.log_format == "json");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(()) => EXIT_OK,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.code
        }
    }
}

async fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Init {
            home,
            country,
            name,
            endpoint,
            api,
            listen,
        } => admin::init(home, &country, name, endpoint, &api, listen.as_deref()),
        Command::Card { home } => admin::card(home),
        Command::Peer {
            command:
                PeerCommand::Add {
                    home,
                    card,
                    agreement,
                },
        } => admin::peer_add(home, card, agreement).await,
        Command::Check { home } => admin::check(home),
        Command::Agreement { command } => match command {
            AgreementCommand::Sign { home, agreement } => {
                admin::agreement_sign(home, agreement).await
            }
            AgreementCommand::AddSignature { home, signature } => {
                admin::agreement_add_signature(home, signature).await
            }
            AgreementCommand::Status { home, json } => admin::agreement_status(home, json).await,
        },
        Command::Serve { home } => admin::serve(home).await,
        Command::Send {
            home,
            to,
            kind,
            case,
            form,
            lang,
            reply_to,
            json,
            family_tracing,
            override_reason,
            attach,
            translation,
        } => {
            operator::send(operator::SendArgs {
                family_tracing,
                override_reason,
                attach,
                translation,
                home,
                to,
                kind,
                case,
                form,
                lang,
                reply_to,
                json,
            })
            .await
        }
        Command::Messages { home, case, json } => operator::messages(home, case, json).await,
        Command::Show { home, id, json } => operator::show(home, &id, json).await,
        Command::Retry { home, id } => operator::retry(home, &id).await,
        Command::Case { command } => case::run(command).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Attachment {
            command:
                AttachmentCommand::Get {
                    home,
                    id,
                    name,
                    out,
                },
        } => operator::attachment_get(home, &id, &name, out).await,
        Command::Translate { home, id, file } => operator::translate(home, &id, file).await,
        Command::Deadlines {
            home,
            overdue,
            peer,
            tz,
            json,
        } => deadlines::list(home, overdue, peer, tz, json).await,
        Command::Report {
            command:
                ReportCommand::Sla {
                    home,
                    peer,
                    from,
                    to,
                    json,
                },
        } => deadlines::sla(home, peer, from, to, json).await,
        Command::Report {
            command: ReportCommand::Stats { home, json },
        } => deadlines::stats(home, json).await,
        Command::User { command } => case::user(command).await,
        Command::Backup { home, out } => admin::backup(home, out).await,
        Command::Restore { home, from, force } => admin::restore(home, from, force).await,
        Command::Audit { command } => match command {
            AuditCommand::List { home, json } => audit::list(home, json).await,
            AuditCommand::Verify {
                home,
                bundle,
                trust,
                json,
            } => match (home, bundle) {
                (Some(home), None) => audit::verify(home, json).await,
                (None, Some(bundle)) => audit::verify_bundle(bundle, trust, json),
                _ => Err(Failure::invalid(
                    "give --home DIR, or --bundle DIR with --trust CARD",
                )),
            },
            AuditCommand::Export {
                home,
                out,
                ciphertexts,
            } => audit::export(home, out, ciphertexts).await,
            AuditCommand::Proof { home, id } => audit::proof(home, &id).await,
            AuditCommand::CheckProof { proof, trust } => audit::check_proof(proof, trust),
        },
        Command::Form { command } => match command {
            FormCommand::Kinds { lang, home } => form::kinds(lang.as_deref(), home),
            FormCommand::Template { kind, lang, home } => {
                form::template_cmd(&kind, lang.as_deref(), home)
            }
            FormCommand::Schema { kind } => form::schema(&kind),
            FormCommand::Validate { kind, file } => form::validate(&kind, file),
        },
        Command::Demo { keep } => demo::run(keep).await,
        Command::Bench {
            peers,
            in_flight,
            messages,
            json,
        } => bench::run(peers, in_flight, messages, json).await,
    }
}

fn init_tracing(quiet: bool, json: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if json {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
