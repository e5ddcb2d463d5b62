use super::*;
use crate::protocol::forms::Kind;

fn record(id: MessageId, direction: Direction, state: State) -> MessageRecord {
    MessageRecord {
        id,
        direction,
        peer: "AL".parse().unwrap(),
        kind: Kind::SocialInquiryRequest,
        case: "C-1".into(),
        lang: "en".parse().unwrap(),
        reply_to: None,
        state,
        created: 100,
        stored: 100,
        delivered: None,
        received: None,
        due: None,
        attempts: 0,
        last_error: None,
        envelope_sha256: serde_bytes::ByteBuf::from(vec![0; 32]),
        urgent: false,
        receipt: None,
    }
}

#[test]
fn messages_survive_reopen_and_forms_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let id = MessageId::new(1, [1; 10]);
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        s.put_outgoing(
            &record(id, Direction::Out, State::Queued),
            b"env",
            b"secret form",
            false,
            [3; 24],
            (Event::MessageQueued, Record::default(), 5),
        )
        .unwrap();
        s.sync().unwrap();
        assert_eq!(s.outbox().unwrap(), vec![(id, "AL".parse().unwrap())]);
    }
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    assert_eq!(s.form(id).unwrap().unwrap(), b"secret form");
    assert_eq!(s.audit_head().size, 1);
    s.mark_delivered(
        id,
        b"receipt",
        9,
        |_| None,
        (Event::MessageDelivered, Record::default(), 9),
    )
    .unwrap();
    assert_eq!(s.audit_head().size, 2, "the receipt and its entry together");
    assert!(s.outbox().unwrap().is_empty());
    assert_eq!(s.message(id).unwrap().unwrap().state, State::Delivered);
    assert_eq!(s.receipt(id).unwrap().as_deref(), Some(&b"receipt"[..]));
    drop(s);
    // The raw store never holds the form in the clear.
    let raw: Vec<u8> = std::fs::read(dir.path().join("db")).unwrap_or_default();
    assert!(!raw.windows(11).any(|w| w == b"secret form"));
    // Another storage key cannot read it.
    let s = Store::open(dir.path(), &[8; 32]).unwrap();
    assert!(s.form(id).is_err());
}

#[test]
fn a_store_held_open_is_refused_and_a_closed_one_reopens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let held = Store::open(dir.path(), &[7; 32]).unwrap();
    match Store::open(dir.path(), &[7; 32]) {
        Err(StoreError::Open { reason, .. }) => assert!(reason.contains("lock"), "{reason}"),
        other => panic!("expected an open error, got {:?}", other.err()),
    }
    drop(held);
    // Closing and opening again, over and over, never finds the lock
    // still held (sled lets go of it a moment after the close).
    for _ in 0..20 {
        drop(Store::open(dir.path(), &[7; 32]).unwrap());
    }
}

#[test]
fn audit_trail_appends_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    for i in 0..10 {
        s.append_audit(Event::MessageReceived, Record::default(), 100 + i)
            .unwrap();
    }
    let entries: Vec<Vec<u8>> = s.audit_entries().collect::<Result<_, _>>().unwrap();
    let chain = audit::verify(entries.iter().map(|e| e.as_slice())).unwrap();
    assert_eq!(chain, s.audit_head());
}

#[test]
fn a_broken_audit_tail_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        for i in 0..3 {
            s.append_audit(Event::PeerAdded, Record::default(), i)
                .unwrap();
        }
        // Tamper with the last entry directly in sled.
        s.audit.insert(2u64.to_be_bytes(), b"garbage").unwrap();
        s.sync().unwrap();
    }
    match Store::open(dir.path(), &[7; 32]) {
        Err(StoreError::Open { reason, .. }) => assert!(reason.contains("audit"), "{reason}"),
        other => panic!("expected an open error, got {:?}", other.err()),
    }
}

#[test]
fn the_outbox_is_rebuilt_from_the_records_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let committed = MessageId::new(1, [1; 10]);
    let delivered = MessageId::new(3, [3; 10]);
    let orphan = MessageId::new(2, [2; 10]);
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        for id in [committed, delivered] {
            s.put_outgoing(
                &record(id, Direction::Out, State::Queued),
                b"e",
                b"f",
                false,
                [0; 24],
                (Event::MessageQueued, Record::default(), 1),
            )
            .unwrap();
        }
        s.mark_delivered(
            delivered,
            b"r",
            2,
            |_| None,
            (Event::MessageDelivered, Record::default(), 2),
        )
        .unwrap();
        // An `outbox` tree as an older binary left it: an entry for a
        // send that never completed (the operator never got this id).
        s.envelopes.insert(orphan.to_bytes(), b"e").unwrap();
        s.outbox.insert(orphan.to_bytes(), b"AL\x00").unwrap();
        s.sync().unwrap();
    }
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    assert_eq!(
        s.outbox().unwrap(),
        vec![(committed, "AL".parse().unwrap())]
    );
    assert!(s.envelope(orphan).unwrap().is_none());
    assert!(s.outbox.is_empty());
}

#[test]
fn an_older_store_is_backed_up_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let s = Store::open(&path, &[7; 32]).unwrap();
        s.append_audit(Event::NodeInitialised, Record::default(), 1_800_000_000)
            .unwrap();
        let meta = s.db.open_tree("meta").unwrap();
        meta.insert(b"schema", &1u64.to_be_bytes()).unwrap();
        s.sync().unwrap();
    }
    let s = Store::open(&path, &[7; 32]).unwrap();
    let m = s.migrated().expect("migrated").clone();
    assert_eq!((m.from, m.to), (1, SCHEMA_VERSION));
    assert!(m.backup.exists(), "{}", m.backup.display());
    assert_eq!(s.audit_head().size, 1);
    drop(s);
    // The backup restores into a store of the old layout.
    let back = dir.path().join("restored");
    let summary = super::restore(&m.backup, &back, &[7; 32]).unwrap();
    assert_eq!(summary.audit_entries, 1);
    // Opened again, nothing more to do.
    let s = Store::open(&path, &[7; 32]).unwrap();
    assert!(s.migrated().is_none());
}

/// Schema 2 kept receipts in their own tree; schema 3 moves each into its
/// message's record, and reads it from there. It also kept sealed forms in
/// their own tree; schema 3 joins each to its envelope.
#[test]
fn schema_2_receipts_and_forms_move_to_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (a, b, stray) = (
        MessageId::new(1, [1; 10]),
        MessageId::new(2, [2; 10]),
        MessageId::new(3, [3; 10]),
    );
    {
        let s = Store::open(&path, &[7; 32]).unwrap();
        for (id, dir) in [(a, Direction::In), (b, Direction::Out)] {
            let rec = record(id, dir, State::Received);
            s.messages
                .insert(id.to_bytes(), rec.encode().unwrap())
                .unwrap();
        }
        // The schema 2 layout: receipts beside the records, and one whose
        // record is gone.
        s.receipts.insert(a.to_bytes(), &b"receipt a"[..]).unwrap();
        s.receipts.insert(b.to_bytes(), &b"receipt b"[..]).unwrap();
        s.receipts.insert(stray.to_bytes(), &b"stray"[..]).unwrap();
        assert_eq!(s.receipt(a).unwrap(), None);
        // Envelopes and forms, schema 2: `a` has both; `b` had its form
        // erased; `stray` was joined by a migration that then crashed
        // before removing its form.
        let form_a = s.seal_form(a, b"form a", [1; 24]).unwrap();
        let form_stray = s.seal_form(stray, b"form stray", [2; 24]).unwrap();
        s.envelopes.insert(a.to_bytes(), &b"\xd0env a"[..]).unwrap();
        s.forms.insert(a.to_bytes(), &form_a[..]).unwrap();
        s.envelopes.insert(b.to_bytes(), &b"\xd0env b"[..]).unwrap();
        let joined = super::content::join(b"\xd0env stray", &form_stray).unwrap();
        s.envelopes.insert(stray.to_bytes(), joined).unwrap();
        s.forms.insert(stray.to_bytes(), &form_stray[..]).unwrap();
        // The form of an unfinished send whose envelope was dropped.
        let orphan = MessageId::new(4, [4; 10]);
        s.forms.insert(orphan.to_bytes(), &form_a[..]).unwrap();
        assert!(
            s.form(a).is_err(),
            "a bare envelope is not the schema 3 layout"
        );
        let meta = s.db.open_tree("meta").unwrap();
        meta.insert(b"schema", &2u64.to_be_bytes()).unwrap();
        s.sync().unwrap();
    }
    let s = Store::open(&path, &[7; 32]).unwrap();
    let m = s.migrated().expect("migrated");
    assert_eq!((m.from, m.to), (2, 3));
    assert_eq!(s.receipt(a).unwrap().as_deref(), Some(&b"receipt a"[..]));
    assert_eq!(s.receipt(b).unwrap().as_deref(), Some(&b"receipt b"[..]));
    assert_eq!(s.receipt(stray).unwrap(), None);
    assert!(s.receipts.is_empty());
    assert_eq!(s.message(a).unwrap().unwrap().state, State::Received);
    assert!(s.forms.is_empty());
    let content = |id| (s.envelope(id).unwrap().unwrap(), s.form(id).unwrap());
    assert_eq!(
        content(a),
        (b"\xd0env a".to_vec(), Some(b"form a".to_vec()))
    );
    assert_eq!(content(b), (b"\xd0env b".to_vec(), None));
    assert_eq!(
        content(stray),
        (b"\xd0env stray".to_vec(), Some(b"form stray".to_vec()))
    );
    let backup = m.backup.clone();
    drop(s);
    let s = Store::open(&path, &[7; 32]).unwrap();
    assert!(s.migrated().is_none());
    assert_eq!(s.receipt(b).unwrap().as_deref(), Some(&b"receipt b"[..]));
    drop(s);

    // The backup taken before the migration holds the schema 2 layout and
    // no schema version: restored by this binary, it is migrated on the
    // way in, without a second backup.
    let back = dir.path().join("restored");
    super::restore(&backup, &back, &[7; 32]).unwrap();
    let s = Store::open(&back, &[7; 32]).unwrap();
    assert!(s.migrated().is_none(), "migrated during the restore");
    assert_eq!(s.schema().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.envelope(a).unwrap().as_deref(), Some(&b"\xd0env a"[..]));
    assert_eq!(s.form(a).unwrap().as_deref(), Some(&b"form a"[..]));
    assert_eq!(s.receipt(a).unwrap().as_deref(), Some(&b"receipt a"[..]));
    assert!(s.forms.is_empty() && s.receipts.is_empty());
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("restored") && n.ends_with(".backup"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

/// Erasing a message's content: an outgoing message keeps its envelope
/// (sealed to the peer, unreadable here) and loses its form; an incoming
/// one loses both, since this node could open the envelope again.
#[test]
fn erasure_removes_the_form_and_an_incoming_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    let (out, inc) = (MessageId::new(1, [1; 10]), MessageId::new(2, [2; 10]));
    s.put_outgoing(
        &record(out, Direction::Out, State::Queued),
        b"env out",
        b"form out",
        false,
        [3; 24],
        (Event::MessageQueued, Record::default(), 5),
    )
    .unwrap();
    s.put_incoming(
        Incoming {
            record: &record(inc, Direction::In, State::Received),
            envelope: b"env in",
            form_cbor: b"form in",
            receipt: b"receipt in",
            owed: None,
        },
        [4; 24],
        (Event::MessageReceived, Record::default(), 6),
    )
    .unwrap();
    assert_eq!(s.form(inc).unwrap().as_deref(), Some(&b"form in"[..]));
    assert_eq!(s.receipt(inc).unwrap().as_deref(), Some(&b"receipt in"[..]));
    assert!(s.erase_content(out).unwrap());
    assert!(s.erase_content(inc).unwrap());
    assert_eq!(s.envelope(out).unwrap().as_deref(), Some(&b"env out"[..]));
    assert_eq!(s.form(out).unwrap(), None);
    assert_eq!(s.envelope(inc).unwrap(), None);
    assert_eq!(s.form(inc).unwrap(), None);
    assert_eq!(s.receipt(inc).unwrap().as_deref(), Some(&b"receipt in"[..]));
    // Nothing left to erase.
    assert!(!s.erase_content(out).unwrap());
    assert!(!s.erase_content(inc).unwrap());
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        let meta = s.db.open_tree("meta").unwrap();
        meta.insert(b"schema", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        s.sync().unwrap();
    }
    match Store::open(dir.path(), &[7; 32]) {
        Err(StoreError::Open { reason, .. }) => assert!(reason.contains("newer"), "{reason}"),
        other => panic!("expected a refusal, got {:?}", other.err()),
    }
}

#[test]
fn cosigned_sizes_are_remembered_and_kept_current() {
    let dir = tempfile::tempdir().unwrap();
    let gr: Country = "GR".parse().unwrap();
    let it: Country = "IT".parse().unwrap();
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        s.put_cosignature(gr, 10, "— GR x").unwrap();
        s.put_cosignature(it, 4, "— IT y").unwrap();
        assert_eq!(s.cosigned_by(gr).unwrap(), 10);
        s.put_cosignature(gr, 30, "— GR z").unwrap();
        s.put_cosignature(gr, 20, "— GR w").unwrap();
        assert_eq!(s.cosigned_by(gr).unwrap(), 30);
        assert_eq!(s.cosigned_by(it).unwrap(), 4);
        s.sync().unwrap();
    }
    // Read back from the store after a reopen.
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    assert_eq!(s.cosigned_by(gr).unwrap(), 30);
    assert_eq!(s.cosigned_by("FR".parse().unwrap()).unwrap(), 0);
}

#[test]
fn open_deadlines_follow_answers_and_removals() {
    use crate::protocol::deadline::{Deadline, Lane};
    let dir = tempfile::tempdir().unwrap();
    let gr: Country = "GR".parse().unwrap();
    let deadline = |n: u8| DeadlineRecord {
        request: MessageId::new(u64::from(n), [n; 10]),
        peer: gr,
        case: "C-1".into(),
        owed: true,
        deadline: Deadline {
            owed_by: gr,
            kind: Kind::SocialInquiryRequest,
            start: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            due: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            reminders: Vec::new(),
            lane: Lane::Routine,
        },
        answered_by: vec![Kind::SocialInquiryReport],
        reminders_sent: 0,
        escalated: false,
        answer: None,
        answered_at: None,
        schedule: None,
    };
    let ids = |v: Vec<DeadlineRecord>| v.into_iter().map(|d| d.request).collect::<Vec<_>>();
    {
        let s = Store::open(dir.path(), &[7; 32]).unwrap();
        s.put_deadline(&deadline(1)).unwrap();
        let mut answered = deadline(2);
        answered.answer = Some(MessageId::new(9, [9; 10]));
        s.put_deadline(&answered).unwrap();
        // First call: read from the store.
        assert_eq!(ids(s.open_deadlines().unwrap()), ids(vec![deadline(1)]));
        // Later changes are followed.
        s.put_deadline(&deadline(3)).unwrap();
        let mut one_answered = deadline(1);
        one_answered.answer = Some(MessageId::new(8, [8; 10]));
        s.put_deadline(&one_answered).unwrap();
        assert_eq!(ids(s.open_deadlines().unwrap()), ids(vec![deadline(3)]));
        s.remove_deadline(deadline(3).request).unwrap();
        assert!(s.open_deadlines().unwrap().is_empty());
        s.put_deadline(&deadline(4)).unwrap();
        s.sync().unwrap();
    }
    let s = Store::open(dir.path(), &[7; 32]).unwrap();
    assert_eq!(ids(s.open_deadlines().unwrap()), ids(vec![deadline(4)]));
    assert_eq!(s.deadlines().unwrap().len(), 3);
}
