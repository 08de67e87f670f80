//! The NTF server machine against the reference's NtfServerTests scenarios (token
//! registration and verification, subscription, message push, token replacement), plus the
//! rules around them: credentials, TCRN, deletion, SMP events, APNS results, the store log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::address::ServerAddress;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::ed25519;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{base64url_decode, StrDecode, StrEncode};
use simplex_core::encoding::{ShortBytes, UnixTime};
use simplex_core::ntf::{
    DeviceToken, NewSubscription, NewToken, NtfCommand, NtfRegCode, NtfResponse, NtfSubStatus,
    NtfTknStatus, PnMessageData, PushProvider, PushProviderError, SmpQueueNtf,
};
use simplex_core::protocol::{
    encode_transmission, parse_transmission, signed_part, CommandError, CorrId, EntityId,
    ErrorType, VerifiedTransmission,
};
use simplex_core::time::{Clock, Instant};
use simplex_server::ntf::{
    NtfInput, NtfOutput, NtfServer, NtfServerConfig, NtfServerError, NtfStats, NtfStoreLogRecord,
    PushKind, SmpEvent, SubscribeError,
};

const SESSION: &[u8] = b"session-id-of-this-tls-connection";
const SERVER: &str = "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001";

struct Harness {
    server: NtfServer,
    now: Instant,
    /// Every store log line the machine asked for, in order.
    log: Vec<u8>,
}

fn clock(now: Instant) -> Clock {
    Clock {
        now,
        wall_clock: UnixTime::from_seconds(1_700_000_000 + (now.as_micros() / 1_000_000) as i64),
    }
}

impl Harness {
    fn new() -> Self {
        let server = NtfServer::new(NtfServerConfig::default(), ChaCha20Rng::seed_from_u64(7));
        let mut h = Self {
            server,
            now: Instant::ZERO,
            log: Vec::new(),
        };
        h.input(NtfInput::ClientConnected {
            client: 1,
            session_id: Bytes::from_static(SESSION),
        });
        h
    }

    /// Feeds an input and drains the outputs (store log records go to `log`).
    fn input(&mut self, input: NtfInput) -> Vec<NtfOutput> {
        self.server.handle_input(clock(self.now), input).unwrap();
        self.drain()
    }

    fn drain(&mut self) -> Vec<NtfOutput> {
        let mut out = Vec::new();
        loop {
            match self.server.poll_output() {
                NtfOutput::Timeout(_) => return out,
                NtfOutput::Persist(record) => {
                    self.log.extend(record.to_str_bytes());
                    self.log.push(b'\n');
                    out.push(NtfOutput::Persist(record));
                }
                other => out.push(other),
            }
        }
    }

    /// Sends a command (signed with `key` if given) and returns the response with the other
    /// outputs.
    fn command(
        &mut self,
        key: Option<&SignKey>,
        corr: &[u8],
        entity: &[u8],
        cmd: &NtfCommand,
    ) -> (CorrId, EntityId, NtfResponse, Vec<NtfOutput>) {
        self.raw(key, corr, entity, &cmd.to_bytes())
    }

    fn raw(
        &mut self,
        key: Option<&SignKey>,
        corr: &[u8],
        entity: &[u8],
        cmd: &[u8],
    ) -> (CorrId, EntityId, NtfResponse, Vec<NtfOutput>) {
        let corr = CorrId::from_slice(corr).unwrap();
        let entity = EntityId::from_slice(entity).unwrap();
        let signed = signed_part(SESSION, &corr, &entity, cmd).unwrap();
        let sig = key.map(|k| k.sign(&signed));
        let bytes = Bytes::from(encode_transmission(sig.as_ref(), &signed));
        let transmission = VerifiedTransmission::check(parse_transmission(bytes), SESSION, 1);
        let outputs = self.input(NtfInput::Transmission {
            client: 1,
            transmission: Box::new(transmission),
        });
        let mut rest = Vec::new();
        let mut response = None;
        for o in outputs {
            match o {
                NtfOutput::Send {
                    client: 1,
                    transmission,
                } => {
                    let raw = parse_transmission(Bytes::from(transmission)).unwrap();
                    assert!(raw.signature.is_empty());
                    assert_eq!(&raw.session_id[..], SESSION);
                    let r = NtfResponse::parse(&raw.command).unwrap();
                    assert!(response.is_none(), "one response per command");
                    response = Some((raw.corr_id, raw.entity_id, r));
                }
                other => rest.push(other),
            }
        }
        let (c, e, r) = response.expect("a response");
        (c, e, r, rest)
    }
}

fn sign_key(seed: u8) -> SignKey {
    SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[seed; 32]))
}

fn device(hex: &str) -> DeviceToken {
    DeviceToken {
        provider: PushProvider::ApnsTest,
        token: ShortBytes::from_slice(hex.as_bytes()).unwrap(),
    }
}

fn queue(nid: &[u8]) -> SmpQueueNtf {
    SmpQueueNtf {
        server: ServerAddress::str_decode(SERVER.as_bytes()).unwrap(),
        notifier_id: EntityId::from_slice(nid).unwrap(),
    }
}

/// The one push among `outputs`: its token, kind, path and JSON body.
fn the_push(outputs: &[NtfOutput]) -> (EntityId, PushKind, String, serde_json::Value) {
    let pushes: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            NtfOutput::Push {
                token_id,
                kind,
                request,
                provider,
            } => {
                assert_eq!(*provider, PushProvider::ApnsTest);
                Some((
                    token_id.clone(),
                    *kind,
                    request.path.clone(),
                    serde_json::from_slice(&request.body).unwrap(),
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(pushes.len(), 1, "exactly one push");
    pushes.into_iter().next().unwrap()
}

fn data_field(json: &serde_json::Value, key: &str) -> Vec<u8> {
    base64url_decode(json["notificationData"][key].as_str().unwrap().as_bytes()).unwrap()
}

fn open(key: &CbKey, json: &serde_json::Value, field: &str) -> Vec<u8> {
    let nonce = CbNonce::from_slice_padded(&data_field(json, "nonce"));
    key.decrypt(&nonce, &data_field(json, field)).unwrap()
}

/// A client with its keys, and an active token.
struct Device {
    key: SignKey,
    dh: x25519::PrivateKey,
    token_id: EntityId,
    box_key: CbKey,
}

fn register(h: &mut Harness, seed: u8, hex: &str) -> Device {
    let key = sign_key(seed);
    let dh = x25519::PrivateKey::from_bytes(&[seed.wrapping_add(100); 32]);
    let tnew = NtfCommand::TNew(NewToken {
        token: device(hex),
        verify_key: key.verify_key(),
        dh_key: dh.public_key(),
    });
    let (corr, entity, response, outputs) = h.command(Some(&key), b"1", b"", &tnew);
    assert_eq!(corr.as_bytes(), b"1");
    assert!(entity.is_empty());
    let NtfResponse::TknId { token_id, dh_key } = response else {
        panic!("expected IDTKN, got {response:?}");
    };
    assert_eq!(token_id.as_bytes().len(), 24);
    let box_key = CbKey::new(&dh.diffie_hellman(&dh_key).unwrap());
    let (pushed_to, kind, path, json) = the_push(&outputs);
    assert_eq!(
        (pushed_to, kind),
        (token_id.clone(), PushKind::Verification)
    );
    assert_eq!(path, format!("/3/device/{hex}"));
    assert_eq!(json["aps"]["content-available"], 1);
    let code = NtfRegCode::new(&open(&box_key, &json, "verification")).unwrap();
    assert_eq!(code.expose().len(), 32);
    h.input(NtfInput::PushResult {
        token_id: token_id.clone(),
        kind,
        result: Ok(()),
    });
    let (_, _, r, _) = h.command(Some(&key), b"1a", token_id.as_bytes(), &NtfCommand::TChk);
    assert_eq!(r, NtfResponse::Tkn(NtfTknStatus::Confirmed));
    let (_, _, r, _) = h.command(
        Some(&key),
        b"2",
        token_id.as_bytes(),
        &NtfCommand::TVfy(code),
    );
    assert_eq!(r, NtfResponse::Ok);
    let (_, _, r, _) = h.command(Some(&key), b"2a", token_id.as_bytes(), &NtfCommand::TChk);
    assert_eq!(r, NtfResponse::Tkn(NtfTknStatus::Active));
    Device {
        key,
        dh,
        token_id,
        box_key,
    }
}

fn subscribe(h: &mut Harness, d: &Device, nid: &[u8]) -> EntityId {
    let snew = NtfCommand::SNew(NewSubscription {
        token_id: d.token_id.clone(),
        queue: queue(nid),
        notifier_key: sign_key(200),
    });
    let (_, entity, r, outputs) = h.command(Some(&d.key), b"4", b"", &snew);
    assert!(entity.is_empty());
    let NtfResponse::SubId(sub_id) = r else {
        panic!("expected IDSUB, got {r:?}");
    };
    assert!(outputs.iter().any(|o| matches!(o,
        NtfOutput::Subscribe { queue: q, notifier_key } if *q == queue(nid) && **notifier_key == sign_key(200))));
    h.input(NtfInput::Smp(SmpEvent::Subscribed(queue(nid))));
    let (_, _, r, _) = h.command(Some(&d.key), b"4a", sub_id.as_bytes(), &NtfCommand::SChk);
    assert_eq!(r, NtfResponse::Sub(NtfSubStatus::Active));
    sub_id
}

fn nmsg(h: &mut Harness, nid: &[u8]) -> Vec<NtfOutput> {
    h.input(NtfInput::Smp(SmpEvent::Message {
        queue: queue(nid),
        nonce: CbNonce([3; 24]),
        enc_meta: Bytes::from_static(b"encrypted NMSG metadata"),
    }))
}

/// The reference's "should create notification subscription and notify when message is
/// received", against the machine.
#[test]
fn notification_subscription_scenario() {
    let mut h = Harness::new();
    let d = register(&mut h, 1, "abcd");
    subscribe(&mut h, &d, b"notifier-1");
    h.now = Instant::from_micros(5_000_000);
    let outputs = nmsg(&mut h, b"notifier-1");
    let (to, kind, path, json) = the_push(&outputs);
    assert_eq!((to, kind), (d.token_id.clone(), PushKind::Message));
    assert_eq!(path, "/3/device/abcd");
    assert_eq!(json["aps"]["mutable-content"], 1);
    let data = PnMessageData::str_decode(&open(&d.box_key, &json, "message")).unwrap();
    assert_eq!(data.queue, queue(b"notifier-1"));
    assert_eq!(data.nmsg_nonce, CbNonce([3; 24]));
    assert_eq!(&data.enc_meta[..], b"encrypted NMSG metadata");
    assert_eq!(data.ntf_ts, UnixTime::from_seconds(1_700_000_005));

    // Replace the token: a new verification push to the new device token, same DH secret.
    let (_, entity, r, outputs) = h.command(
        Some(&d.key),
        b"7",
        d.token_id.as_bytes(),
        &NtfCommand::TRpl(device("efgh")),
    );
    assert_eq!((entity, r), (d.token_id.clone(), NtfResponse::Ok));
    let (_, kind, path, json) = the_push(&outputs);
    assert_eq!(
        (kind, path.as_str()),
        (PushKind::Verification, "/3/device/efgh")
    );
    let code2 = NtfRegCode::new(&open(&d.box_key, &json, "verification")).unwrap();
    let (_, _, r, _) = h.command(
        Some(&d.key),
        b"8",
        d.token_id.as_bytes(),
        &NtfCommand::TVfy(code2),
    );
    assert_eq!(r, NtfResponse::Ok);
    let (_, _, r, _) = h.command(
        Some(&d.key),
        b"8a",
        d.token_id.as_bytes(),
        &NtfCommand::TChk,
    );
    assert_eq!(r, NtfResponse::Tkn(NtfTknStatus::Active));
    let (_, _, path, json) = the_push(&nmsg(&mut h, b"notifier-1"));
    assert_eq!(path, "/3/device/efgh");
    let data = PnMessageData::str_decode(&open(&d.box_key, &json, "message")).unwrap();
    assert_eq!(data.queue, queue(b"notifier-1"));
    let stats = h.server.stats();
    assert_eq!(
        (
            stats.tokens_created,
            stats.tokens_deleted,
            stats.tokens_verified
        ),
        (2, 1, 2)
    );
    assert_eq!(
        (stats.notifications_received, stats.notifications_delivered),
        (2, 2)
    );
    let _ = d.dh;
}

#[test]
fn syntax_errors_echo_ids() {
    let mut h = Harness::new();
    let (c, e, r, _) = h.raw(None, b"abcd", b"1234", b"HELLO");
    assert_eq!((c.as_bytes(), e.as_bytes()), (&b"abcd"[..], &b"1234"[..]));
    assert_eq!(r, NtfResponse::Err(ErrorType::Cmd(CommandError::Unknown)));
    let (_, _, r, _) = h.raw(Some(&sign_key(1)), b"bcda", b"", b"TNEW");
    assert_eq!(r, NtfResponse::Err(ErrorType::Cmd(CommandError::Syntax)));
    let tnew = NtfCommand::TNew(NewToken {
        token: device("abcd"),
        verify_key: sign_key(1).verify_key(),
        dh_key: x25519::PrivateKey::from_bytes(&[9; 32]).public_key(),
    });
    let (_, _, r, out) = h.command(None, b"dabc", b"", &tnew);
    assert_eq!(r, NtfResponse::Err(ErrorType::Cmd(CommandError::NoAuth)));
    assert!(out.is_empty());
    let (_, e, r, _) = h.command(Some(&sign_key(1)), b"abcd", b"12345678", &tnew);
    assert_eq!(e.as_bytes(), b"12345678");
    assert_eq!(r, NtfResponse::Err(ErrorType::Cmd(CommandError::HasAuth)));
    // Signed by another key than the one registered: AUTH, nothing created.
    let (_, _, r, out) = h.command(Some(&sign_key(2)), b"x", b"", &tnew);
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
    assert!(out.is_empty());
    // PING finds no subscription: the reference answers AUTH.
    let (_, _, r, _) = h.command(None, b"p", b"", &NtfCommand::Ping);
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
}

#[test]
fn token_rules() {
    let mut h = Harness::new();
    let d = register(&mut h, 1, "abcd");
    let id = d.token_id.as_bytes().to_vec();
    let wrong = NtfRegCode::new(b"wrong").unwrap();
    let (_, _, r, _) = h.command(Some(&d.key), b"1", &id, &NtfCommand::TVfy(wrong));
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
    let (_, _, r, _) = h.command(Some(&sign_key(9)), b"2", &id, &NtfCommand::TChk);
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
    let (_, _, r, _) = h.command(Some(&d.key), b"3", b"no such token", &NtfCommand::TChk);
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
    // A repeated TNEW with the same keys answers the same id and pushes the code again.
    let tnew = NtfCommand::TNew(NewToken {
        token: device("abcd"),
        verify_key: d.key.verify_key(),
        dh_key: d.dh.public_key(),
    });
    let (_, _, r, out) = h.command(Some(&d.key), b"4", b"", &tnew);
    assert!(matches!(r, NtfResponse::TknId { ref token_id, .. } if *token_id == d.token_id));
    assert_eq!(the_push(&out).1, PushKind::Verification);
    // The same device and key with another DH key: AUTH.
    let tnew_other_dh = NtfCommand::TNew(NewToken {
        token: device("abcd"),
        verify_key: d.key.verify_key(),
        dh_key: x25519::PrivateKey::from_bytes(&[77; 32]).public_key(),
    });
    let (_, _, r, _) = h.command(Some(&d.key), b"5", b"", &tnew_other_dh);
    assert_eq!(r, NtfResponse::Err(ErrorType::Auth));
    // An invalid device token at APNS makes the token INVALID.
    h.input(NtfInput::PushResult {
        token_id: d.token_id.clone(),
        kind: PushKind::Verification,
        result: Err(PushProviderError::TokenInvalid),
    });
    let (_, _, r, _) = h.command(Some(&d.key), b"6", &id, &NtfCommand::TChk);
    assert_eq!(r, NtfResponse::Tkn(NtfTknStatus::Invalid));
}

#[test]
fn periodic_pushes_follow_tcrn() {
    let mut h = Harness::new();
    let d = register(&mut h, 1, "abcd");
    let id = d.token_id.as_bytes().to_vec();
    let (_, _, r, _) = h.command(Some(&d.key), b"1", &id, &NtfCommand::TCrn(19));
    assert_eq!(r, NtfResponse::Err(ErrorType::Quota));
    let (_, _, r, _) = h.command(Some(&d.key), b"2", &id, &NtfCommand::TCrn(20));
    assert_eq!(r, NtfResponse::Ok);
    let due = Instant::ZERO.saturating_add(Duration::from_secs(20 * 60));
    assert!(matches!(h.server.poll_output(), NtfOutput::Timeout(Some(t)) if t == due));
    h.now = Instant::from_micros(due.as_micros() - 1);
    assert!(h.input(NtfInput::Tick).is_empty());
    h.now = due;
    let (_, kind, _, json) = the_push(&h.input(NtfInput::Tick));
    assert_eq!(kind, PushKind::CheckMessages);
    assert_eq!(json["notificationData"]["checkMessages"], true);
    h.now = due.saturating_add(Duration::from_secs(20 * 60));
    assert_eq!(
        the_push(&h.input(NtfInput::Tick)).1,
        PushKind::CheckMessages
    );
    let (_, _, r, _) = h.command(Some(&d.key), b"3", &id, &NtfCommand::TCrn(0));
    assert_eq!(r, NtfResponse::Ok);
    assert!(matches!(h.server.poll_output(), NtfOutput::Timeout(None)));
}

#[test]
fn smp_events_and_deletion() {
    let mut h = Harness::new();
    let d = register(&mut h, 1, "abcd");
    let sub = subscribe(&mut h, &d, b"n1");
    let schk = |h: &mut Harness| {
        h.command(Some(&d.key), b"c", sub.as_bytes(), &NtfCommand::SChk)
            .2
    };
    let server = queue(b"n1").server;
    h.input(NtfInput::Smp(SmpEvent::Disconnected(
        server,
        vec![EntityId::from_slice(b"n1").unwrap()],
    )));
    assert_eq!(schk(&mut h), NtfResponse::Sub(NtfSubStatus::Inactive));
    h.input(NtfInput::Smp(SmpEvent::Resubscribed(queue(b"n1"))));
    assert_eq!(schk(&mut h), NtfResponse::Sub(NtfSubStatus::Active));
    h.input(NtfInput::Smp(SmpEvent::SubscribeFailed(
        queue(b"n1"),
        SubscribeError::Transient,
    )));
    assert_eq!(schk(&mut h), NtfResponse::Sub(NtfSubStatus::Active));
    h.input(NtfInput::Smp(SmpEvent::SubscribeFailed(
        queue(b"n1"),
        SubscribeError::Failed("SMP error QUOTA".into()),
    )));
    assert_eq!(
        schk(&mut h),
        NtfResponse::Sub(NtfSubStatus::Err(Bytes::from("SMP error QUOTA")))
    );
    h.input(NtfInput::Smp(SmpEvent::End(queue(b"n1"))));
    assert_eq!(schk(&mut h), NtfResponse::Sub(NtfSubStatus::End));
    // A repeated SNEW with the same key: IDSUB with the (empty) transmission entity id.
    let snew = NtfCommand::SNew(NewSubscription {
        token_id: d.token_id.clone(),
        queue: queue(b"n1"),
        notifier_key: sign_key(200),
    });
    let (_, _, r, _) = h.command(Some(&d.key), b"s", b"", &snew);
    assert_eq!(r, NtfResponse::SubId(EntityId::empty()));
    // A message for an unknown queue pushes nothing.
    assert!(nmsg(&mut h, b"unknown").is_empty());
    let (_, _, r, out) = h.command(Some(&d.key), b"d", sub.as_bytes(), &NtfCommand::SDel);
    assert_eq!(r, NtfResponse::Ok);
    assert!(out
        .iter()
        .any(|o| matches!(o, NtfOutput::Unsubscribe(q) if *q == queue(b"n1"))));
    assert_eq!(schk(&mut h), NtfResponse::Err(ErrorType::Auth));
    subscribe(&mut h, &d, b"n2");
    let (_, _, r, out) = h.command(Some(&d.key), b"t", d.token_id.as_bytes(), &NtfCommand::TDel);
    assert_eq!(r, NtfResponse::Ok);
    assert!(out
        .iter()
        .any(|o| matches!(o, NtfOutput::Unsubscribe(q) if *q == queue(b"n2"))));
    assert!(nmsg(&mut h, b"n2").is_empty());
    assert_eq!(h.server.store().counts(), (0, 0));
    let stats = h.server.take_stats();
    assert_eq!(
        stats,
        NtfStats {
            tokens_created: 1,
            tokens_verified: 1,
            tokens_deleted: 1,
            subscriptions_created: 2,
            subscriptions_deleted: 1,
            notifications_received: 2,
            notifications_delivered: 0,
        }
    );
    assert_eq!(h.server.stats(), NtfStats::default());
}

#[test]
fn misuse_is_typed() {
    let mut h = Harness::new();
    let e = h.server.handle_input(
        clock(h.now),
        NtfInput::ClientConnected {
            client: 1,
            session_id: Bytes::new(),
        },
    );
    assert_eq!(e, Err(NtfServerError::DuplicateClient));
    assert_eq!(
        h.server
            .handle_input(clock(h.now), NtfInput::ClientClosed(9)),
        Err(NtfServerError::UnknownClient)
    );
    let key = sign_key(1);
    let tnew = NtfCommand::TNew(NewToken {
        token: device("abcd"),
        verify_key: key.verify_key(),
        dh_key: x25519::PrivateKey::from_bytes(&[9; 32]).public_key(),
    });
    let corr = CorrId::from_slice(b"1").unwrap();
    let signed = signed_part(SESSION, &corr, &EntityId::empty(), &tnew.to_bytes()).unwrap();
    let bytes = Bytes::from(encode_transmission(Some(&key.sign(&signed)), &signed));
    let t = VerifiedTransmission::check(parse_transmission(bytes), SESSION, 1);
    h.server
        .handle_input(
            clock(h.now),
            NtfInput::Transmission {
                client: 1,
                transmission: Box::new(t),
            },
        )
        .unwrap();
    assert_eq!(
        h.server.handle_input(clock(h.now), NtfInput::Tick),
        Err(NtfServerError::OutputPending)
    );
}

#[test]
fn store_log_restores_tokens_and_subscriptions() {
    let mut h = Harness::new();
    let d = register(&mut h, 1, "abcd");
    let sub = subscribe(&mut h, &d, b"n1");
    subscribe(&mut h, &d, b"n2");
    h.input(NtfInput::Smp(SmpEvent::End(queue(b"n2"))));
    let (_, _, r, _) = h.command(
        Some(&d.key),
        b"c",
        d.token_id.as_bytes(),
        &NtfCommand::TCrn(30),
    );
    assert_eq!(r, NtfResponse::Ok);
    let text = String::from_utf8(h.log.clone()).unwrap();
    assert!(text.starts_with("TCREATE tknId="), "{text}");
    assert!(text.contains(" token=apns_test abcd tokenStatus=REGISTERED verifyKey="));
    assert!(text.contains("\nSCREATE subId="));
    assert!(text.contains(&format!(" smpQueue={SERVER}/bjE= notifierKey=")));
    assert!(text.contains(" subStatus=NEW\n"));
    assert!(text.contains("TCRON "));
    // Every line parses back to a record that writes the same line.
    for line in text.lines() {
        let record = NtfStoreLogRecord::str_decode(line.as_bytes()).unwrap();
        assert_eq!(record.to_str_bytes(), line.as_bytes());
    }
    // A torn last line is skipped.
    let mut log = h.log.clone();
    log.extend_from_slice(b"SSTATUS torn");
    let now = Instant::from_micros(1_000);
    let (mut restored, skipped) = simplex_server::ntf::NtfServer::restore(
        NtfServerConfig::default(),
        ChaCha20Rng::seed_from_u64(8),
        &log,
        now,
    );
    assert_eq!(skipped, 1);
    let mut compacted = 0;
    let mut resubscribed = Vec::new();
    loop {
        match restored.poll_output() {
            NtfOutput::Persist(NtfStoreLogRecord::CreateToken(_))
            | NtfOutput::Persist(NtfStoreLogRecord::CreateSubscription(_)) => compacted += 1,
            NtfOutput::Persist(_) => {}
            NtfOutput::Subscribe { queue, .. } => resubscribed.push(queue),
            NtfOutput::Timeout(t) => {
                assert_eq!(t, Some(now.saturating_add(Duration::from_secs(30 * 60))));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(compacted, 3);
    // The ended subscription is not resubscribed.
    assert_eq!(resubscribed, vec![queue(b"n1")]);
    let token = restored.store().token(&d.token_id).unwrap();
    assert_eq!(token.status, NtfTknStatus::Active);
    assert_eq!(token.cron_interval, 30);
    let sub = restored.store().subscription(&sub).unwrap();
    assert_eq!(sub.status, NtfSubStatus::Pending);
    // Pushes still open with the device's key after the restart.
    let mut h2 = Harness {
        server: restored,
        now,
        log: Vec::new(),
    };
    h2.input(NtfInput::ClientConnected {
        client: 1,
        session_id: Bytes::from_static(SESSION),
    });
    let (_, _, _, json) = the_push(&nmsg(&mut h2, b"n1"));
    let data = PnMessageData::str_decode(&open(&d.box_key, &json, "message")).unwrap();
    assert_eq!(data.queue, queue(b"n1"));
}

mod store_log_props {
    use super::*;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = EntityId> {
        proptest::collection::vec(any::<u8>(), 1..40)
            .prop_map(|b| EntityId::from_slice(&b).unwrap())
    }

    fn arb_sub_status() -> impl Strategy<Value = NtfSubStatus> {
        prop_oneof![
            Just(NtfSubStatus::New),
            Just(NtfSubStatus::Pending),
            Just(NtfSubStatus::Active),
            Just(NtfSubStatus::Inactive),
            Just(NtfSubStatus::End),
            Just(NtfSubStatus::Auth),
            "[ -~]{0,40}".prop_map(|t| NtfSubStatus::Err(Bytes::from(t))),
        ]
    }

    fn arb_record() -> impl Strategy<Value = NtfStoreLogRecord> {
        prop_oneof![
            (arb_id(), 0usize..6).prop_map(|(id, s)| NtfStoreLogRecord::TokenStatus(
                id,
                [
                    NtfTknStatus::New,
                    NtfTknStatus::Registered,
                    NtfTknStatus::Invalid,
                    NtfTknStatus::Confirmed,
                    NtfTknStatus::Active,
                    NtfTknStatus::Expired
                ][s]
            )),
            (
                arb_id(),
                proptest::collection::vec(any::<u8>(), 0..30),
                proptest::collection::vec(any::<u8>(), 1..40)
            )
                .prop_map(|(id, t, code)| NtfStoreLogRecord::UpdateToken(
                    id,
                    device(&hex::encode(t)),
                    NtfRegCode::new(&code).unwrap()
                )),
            (arb_id(), any::<u16>()).prop_map(|(id, m)| NtfStoreLogRecord::TokenCron(id, m)),
            arb_id().prop_map(NtfStoreLogRecord::DeleteToken),
            (arb_id(), arb_sub_status())
                .prop_map(|(id, s)| NtfStoreLogRecord::SubscriptionStatus(id, s)),
            arb_id().prop_map(NtfStoreLogRecord::DeleteSubscription),
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip_as_text(record in arb_record()) {
            let line = record.to_str_bytes();
            prop_assert!(!line.contains(&b'\n'));
            let again = NtfStoreLogRecord::str_decode(&line).unwrap();
            prop_assert_eq!(again.to_str_bytes(), line);
        }

        #[test]
        fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(record) = NtfStoreLogRecord::str_decode(&line) {
                let again = record.to_str_bytes();
                prop_assert!(NtfStoreLogRecord::str_decode(&again).is_ok());
            }
        }
    }
}
