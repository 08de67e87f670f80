//! The NTF protocol codec: exact encodings (hand-derived from the reference's encoders in
//! `Notifications/Protocol.hs` and `Push/APNS.hs`, see `spec/notifications.md`), the
//! credential rules, text forms, push payloads and APNS JSON, and round trips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use simplex_core::address::ServerAddress;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::ed25519;
use simplex_core::crypto::keys::{SignKey, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{base64url_decode, StrDecode, StrEncode};
use simplex_core::encoding::{Encode, ShortBytes, UnixTime};
use simplex_core::ntf::{
    apns_body, apns_request, apns_result, ApnsPushType, DeviceToken, NewSubscription, NewToken,
    NtfCommand, NtfRegCode, NtfResponse, NtfSubStatus, NtfTknStatus, PnMessageData,
    PushNotification, PushProvider, PushProviderError, SmpQueueNtf,
};
use simplex_core::protocol::{
    parse_transmission, CommandError, CorrId, EntityId, ErrorType, VerifiedTransmission,
};

const SERVER: &str = "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001";

fn sign_key(seed: u8) -> SignKey {
    SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[seed; 32]))
}

fn dh_key(seed: u8) -> x25519::PrivateKey {
    x25519::PrivateKey::from_bytes(&[seed; 32])
}

fn token(hex: &str) -> DeviceToken {
    DeviceToken {
        provider: PushProvider::ApnsTest,
        token: ShortBytes::from_slice(hex.as_bytes()).unwrap(),
    }
}

fn queue() -> SmpQueueNtf {
    SmpQueueNtf {
        server: ServerAddress::str_decode(SERVER.as_bytes()).unwrap(),
        notifier_id: EntityId::from_slice(b"notifier-id-24-bytes-xxx").unwrap(),
    }
}

fn short(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn new_token() -> NewToken {
    NewToken {
        token: token("abcd"),
        verify_key: sign_key(1).verify_key(),
        dh_key: dh_key(2).public_key(),
    }
}

fn new_subscription() -> NewSubscription {
    NewSubscription {
        token_id: EntityId::from_slice(b"tkn").unwrap(),
        queue: queue(),
        notifier_key: sign_key(3),
    }
}

#[test]
fn command_encodings_are_the_references() {
    let t = new_token();
    let der_v = VerifyKey::to_der(&t.verify_key);
    let der_dh = simplex_core::crypto::keys::DhPublicKey::X25519(t.dh_key).to_der();
    assert_eq!(
        NtfCommand::TNew(t).to_bytes(),
        cat(&[
            b"TNEW T",
            b"AT",
            &short(b"abcd"),
            &short(&der_v),
            &short(&der_dh)
        ])
    );
    let s = new_subscription();
    let server_bin = s.queue.server.to_bytes();
    // hosts (count 1, "localhost"), port "5001", the 32-byte key hash.
    assert_eq!(
        &server_bin[..16],
        &cat(&[&[1], &short(b"localhost"), &short(b"5001")])[..]
    );
    assert_eq!(server_bin.len(), 16 + 1 + 32);
    let der_n = s.notifier_key.to_der();
    assert_eq!(
        NtfCommand::SNew(s).to_bytes(),
        cat(&[
            b"SNEW S",
            &short(b"tkn"),
            &server_bin,
            &short(b"notifier-id-24-bytes-xxx"),
            &short(&der_n)
        ])
    );
    let code = NtfRegCode::new(b"code").unwrap();
    assert_eq!(NtfCommand::TVfy(code).to_bytes(), b"TVFY \x04code");
    assert_eq!(
        NtfCommand::TRpl(token("ef01")).to_bytes(),
        b"TRPL AT\x04ef01"
    );
    assert_eq!(NtfCommand::TCrn(20).to_bytes(), b"TCRN \x00\x14");
    for (cmd, text) in [
        (NtfCommand::TChk, "TCHK"),
        (NtfCommand::TDel, "TDEL"),
        (NtfCommand::SChk, "SCHK"),
        (NtfCommand::SDel, "SDEL"),
        (NtfCommand::Ping, "PING"),
    ] {
        assert_eq!(cmd.to_bytes(), text.as_bytes());
        assert_eq!(NtfCommand::parse(&Bytes::from(text)), Ok(cmd));
    }
}

#[test]
fn response_encodings_are_the_references() {
    let dh = dh_key(4).public_key();
    let der = simplex_core::crypto::keys::DhPublicKey::X25519(dh).to_der();
    let id = EntityId::from_slice(b"id").unwrap();
    let cases: Vec<(NtfResponse, Vec<u8>)> = vec![
        (
            NtfResponse::TknId {
                token_id: id.clone(),
                dh_key: dh,
            },
            cat(&[b"IDTKN ", &short(b"id"), &short(&der)]),
        ),
        (NtfResponse::SubId(id), b"IDSUB \x02id".to_vec()),
        (NtfResponse::Ok, b"OK".to_vec()),
        (
            NtfResponse::Err(ErrorType::Cmd(CommandError::Syntax)),
            b"ERR CMD SYNTAX".to_vec(),
        ),
        (NtfResponse::Err(ErrorType::Auth), b"ERR AUTH".to_vec()),
        (
            NtfResponse::Tkn(NtfTknStatus::Active),
            b"TKN ACTIVE".to_vec(),
        ),
        (
            NtfResponse::Tkn(NtfTknStatus::Registered),
            b"TKN REGISTERED".to_vec(),
        ),
        (
            NtfResponse::Sub(NtfSubStatus::Pending),
            b"SUB PENDING".to_vec(),
        ),
        (
            NtfResponse::Sub(NtfSubStatus::Err(Bytes::from("SMP error QUOTA"))),
            b"SUB ERR SMP error QUOTA".to_vec(),
        ),
        (NtfResponse::Pong, b"PONG".to_vec()),
    ];
    for (response, bytes) in cases {
        assert_eq!(response.to_bytes(), bytes);
        assert_eq!(NtfResponse::parse(&Bytes::from(bytes)), Ok(response));
    }
}

#[test]
fn bad_commands_are_unknown_or_syntax() {
    let unknown = Err(ErrorType::Cmd(CommandError::Unknown));
    let syntax = Err(ErrorType::Cmd(CommandError::Syntax));
    let parse = |b: &[u8]| NtfCommand::parse(&Bytes::copy_from_slice(b));
    assert_eq!(parse(b"HELLO"), unknown);
    assert_eq!(parse(b"OK"), unknown);
    assert_eq!(parse(b"NEW"), unknown);
    assert_eq!(parse(b"TNEW"), syntax);
    // The reference's "many parameters" case: a stray record before the new token.
    assert_eq!(parse(b"TNEW \x01A"), syntax);
    assert_eq!(parse(b"TCHK "), syntax);
    assert_eq!(parse(b"TCRN \x00"), syntax);
    assert_eq!(parse(b"TCRN \x00\x14\x00"), syntax);
    // A new-entity record of the other kind.
    let mut snew_t = b"SNEW T".to_vec();
    snew_t.extend_from_slice(&NtfCommand::TNew(new_token()).to_bytes()[6..]);
    assert_eq!(parse(&snew_t), syntax);
    let mut tnew = NtfCommand::TNew(new_token()).to_bytes();
    tnew.push(b' ');
    assert_eq!(parse(&tnew), syntax);
}

#[test]
fn credentials_follow_check_credentials() {
    let no_auth = Err(ErrorType::Cmd(CommandError::NoAuth));
    let has_auth = Err(ErrorType::Cmd(CommandError::HasAuth));
    let tnew = NtfCommand::TNew(new_token());
    let snew = NtfCommand::SNew(new_subscription());
    for new in [&tnew, &snew] {
        assert_eq!(new.check_credentials(true, false), Ok(()));
        assert_eq!(new.check_credentials(false, false), no_auth);
        assert_eq!(new.check_credentials(false, true), no_auth);
        assert_eq!(new.check_credentials(true, true), has_auth);
    }
    assert_eq!(NtfCommand::Ping.check_credentials(false, false), Ok(()));
    assert_eq!(NtfCommand::Ping.check_credentials(true, false), has_auth);
    assert_eq!(NtfCommand::Ping.check_credentials(false, true), has_auth);
    for cmd in [
        NtfCommand::TChk,
        NtfCommand::TDel,
        NtfCommand::SChk,
        NtfCommand::TCrn(0),
    ] {
        assert_eq!(cmd.check_credentials(true, true), Ok(()));
        assert_eq!(cmd.check_credentials(false, true), no_auth);
        assert_eq!(cmd.check_credentials(true, false), no_auth);
    }
    let no_entity = Err(ErrorType::Cmd(CommandError::NoEntity));
    assert_eq!(NtfResponse::Ok.check_entity(false), no_entity);
    assert_eq!(NtfResponse::Ok.check_entity(true), Ok(()));
    assert_eq!(NtfResponse::Pong.check_entity(true), has_auth);
    assert_eq!(
        NtfResponse::Err(ErrorType::Auth).check_entity(false),
        Ok(())
    );
}

/// An unsigned transmission's bytes for session `sess`.
fn transmission(signature: &[u8], corr: &[u8], entity: &[u8], command: &[u8]) -> Bytes {
    let mut out = short(signature);
    out.extend(short(b"sess"));
    out.extend(short(corr));
    out.extend(short(entity));
    out.extend_from_slice(command);
    Bytes::from(out)
}

/// The reference's NtfServerTests syntax scenarios, as the transport checks them.
#[test]
fn reference_syntax_scenarios() {
    let check =
        |t: Bytes| VerifiedTransmission::<NtfCommand>::check(parse_transmission(t), b"sess", 1);
    let sig = sign_key(9).sign(b"anything");
    let sig = sig.as_bytes().to_vec();
    let unknown = check(transmission(b"", b"abcd", b"1234", b"HELLO"));
    assert_eq!(unknown.message, Err(ErrorType::Cmd(CommandError::Unknown)));
    assert_eq!(unknown.corr_id, CorrId::from_slice(b"abcd").unwrap());
    assert_eq!(unknown.entity_id, EntityId::from_slice(b"1234").unwrap());
    let no_params = check(transmission(&sig, b"bcda", b"", b"TNEW"));
    assert_eq!(no_params.message, Err(ErrorType::Cmd(CommandError::Syntax)));
    let tnew = NtfCommand::TNew(new_token()).to_bytes();
    let mut many = b"TNEW \x01A".to_vec();
    many.extend_from_slice(&tnew[5..]);
    let many = check(transmission(&sig, b"cdab", b"", &many));
    assert_eq!(many.message, Err(ErrorType::Cmd(CommandError::Syntax)));
    let unsigned = check(transmission(b"", b"dabc", b"", &tnew));
    assert_eq!(unsigned.message, Err(ErrorType::Cmd(CommandError::NoAuth)));
    let with_id = check(transmission(&sig, b"abcd", b"12345678", &tnew));
    assert_eq!(with_id.message, Err(ErrorType::Cmd(CommandError::HasAuth)));
    let ok = check(transmission(&sig, b"abcd", b"", &tnew));
    assert_eq!(ok.message, Ok(NtfCommand::TNew(new_token())));
    let other_session = VerifiedTransmission::<NtfCommand>::check(
        parse_transmission(transmission(&sig, b"abcd", b"", &tnew)),
        b"other",
        1,
    );
    assert_eq!(other_session.message, Err(ErrorType::Session));
}

#[test]
fn text_forms() {
    let t = token("abcd");
    assert_eq!(t.to_str_bytes(), b"apns_test abcd");
    assert_eq!(DeviceToken::str_decode(b"apns_test abcd"), Ok(t));
    assert!(DeviceToken::str_decode(b"apns_test abc").is_err());
    assert!(DeviceToken::str_decode(b"apns_prod ABCD").is_err());
    assert_eq!(
        DeviceToken::str_decode(b"apns_dev 00").unwrap().provider,
        PushProvider::ApnsDev
    );
    let q = queue();
    let text = q.to_str_bytes();
    assert_eq!(
        String::from_utf8(text.clone()).unwrap(),
        format!("{SERVER}/bm90aWZpZXItaWQtMjQtYnl0ZXMteHh4")
    );
    assert_eq!(SmpQueueNtf::str_decode(&text), Ok(q));
    for s in [
        NtfSubStatus::New,
        NtfSubStatus::Pending,
        NtfSubStatus::Active,
        NtfSubStatus::Inactive,
        NtfSubStatus::End,
        NtfSubStatus::Auth,
        NtfSubStatus::Err(Bytes::from("IOError x y")),
    ] {
        assert_eq!(NtfSubStatus::str_decode(&s.to_str_bytes()), Ok(s));
    }
    assert_eq!(
        NtfTknStatus::str_decode(b"EXPIRED"),
        Ok(NtfTknStatus::Expired)
    );
    assert!(NtfTknStatus::str_decode(b"ACTIVE ").is_err());
    let code = NtfRegCode::new(&[0xfb; 4]).unwrap();
    assert_eq!(code.to_str_bytes(), b"-_v7-w==");
}

fn message_data() -> PnMessageData {
    PnMessageData {
        queue: queue(),
        ntf_ts: UnixTime::from_seconds(1_700_000_000),
        nmsg_nonce: CbNonce([7; 24]),
        enc_meta: Bytes::from_static(b"encrypted metadata"),
    }
}

#[test]
fn message_data_text_form() {
    let data = message_data();
    let text = String::from_utf8(data.to_str_bytes()).unwrap();
    assert_eq!(
        text,
        format!(
            "{SERVER}/bm90aWZpZXItaWQtMjQtYnl0ZXMteHh4 1700000000 \
             BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH ZW5jcnlwdGVkIG1ldGFkYXRh"
        )
    );
    assert_eq!(PnMessageData::str_decode(text.as_bytes()), Ok(data));
}

/// The device's side: the box key from its DH private key and the server's public key.
fn keys() -> (CbKey, CbKey) {
    let (client, server) = (dh_key(5), dh_key(6));
    let server_side = CbKey::new(&server.diffie_hellman(&client.public_key()).unwrap());
    let device_side = CbKey::new(&client.diffie_hellman(&server.public_key()).unwrap());
    (server_side, device_side)
}

fn field(json: &serde_json::Value, key: &str) -> Vec<u8> {
    base64url_decode(json["notificationData"][key].as_str().unwrap().as_bytes()).unwrap()
}

#[test]
fn apns_bodies_are_the_references() {
    let (server, device) = keys();
    let nonce = CbNonce([1; 24]);
    let nonce_text = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    let code = NtfRegCode::new(b"registration code").unwrap();
    let (kind, body) = apns_body(
        &server,
        &nonce,
        &PushNotification::Verification(code.clone()),
    )
    .unwrap();
    assert_eq!(kind, ApnsPushType::Background);
    let text = String::from_utf8(body).unwrap();
    let prefix = format!(
        r#"{{"aps":{{"content-available":1}},"notificationData":{{"nonce":"{nonce_text}","verification":""#
    );
    assert!(text.starts_with(&prefix), "{text}");
    assert!(text.ends_with(r#""}}"#));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sealed = field(&json, "verification");
    assert_eq!(sealed.len(), 512 + 16);
    assert_eq!(device.decrypt(&nonce, &sealed).unwrap(), code.expose());

    let data = message_data();
    let request = apns_request(
        &server,
        &nonce,
        b"abcd",
        &PushNotification::Message(data.clone()),
    )
    .unwrap();
    assert_eq!(request.path, "/3/device/abcd");
    assert_eq!(request.push_type, ApnsPushType::Alert);
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(text.starts_with(
        r#"{"aps":{"mutable-content":1,"alert":"Encrypted message or another app event","category":"NTF_CAT_CHECK_MESSAGE"},"notificationData":{"message":""#
    ));
    assert!(text.ends_with(&format!(r#"","nonce":"{nonce_text}"}}}}"#)));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let opened = device.decrypt(&nonce, &field(&json, "message")).unwrap();
    assert_eq!(PnMessageData::str_decode(&opened), Ok(data));
    assert_eq!(
        request.headers("chat.simplex.app"),
        vec![
            ("apns-topic", "chat.simplex.app".to_owned()),
            ("apns-push-type", "alert".to_owned())
        ]
    );

    let (kind, body) = apns_body(&server, &nonce, &PushNotification::CheckMessages).unwrap();
    assert_eq!(kind, ApnsPushType::Background);
    assert_eq!(
        body,
        br#"{"aps":{"content-available":1},"notificationData":{"checkMessages":true}}"#
    );
    let (_, body) = apns_body(&server, &nonce, &PushNotification::Alert("a \"b\"".into())).unwrap();
    assert_eq!(body, br#"{"aps":{"alert":"a \"b\""}}"#);
    let background =
        apns_request(&server, &nonce, b"ab", &PushNotification::CheckMessages).unwrap();
    assert_eq!(
        background.headers("t"),
        vec![
            ("apns-topic", "t".to_owned()),
            ("apns-push-type", "background".to_owned()),
            ("apns-priority", "5".to_owned())
        ]
    );
}

#[test]
fn apns_answers_map_as_the_reference() {
    assert_eq!(apns_result(200, ""), Ok(()));
    assert_eq!(
        apns_result(400, "BadDeviceToken"),
        Err(PushProviderError::TokenInvalid)
    );
    assert_eq!(
        apns_result(400, "DeviceTokenNotForTopic"),
        Err(PushProviderError::TokenInvalid)
    );
    assert_eq!(
        apns_result(400, "TopicDisallowed"),
        Err(PushProviderError::Permanent)
    );
    assert_eq!(
        apns_result(400, "BadTopic"),
        Err(PushProviderError::Response(Some(400), "BadTopic".into()))
    );
    assert_eq!(
        apns_result(403, "ExpiredProviderToken"),
        Err(PushProviderError::Permanent)
    );
    assert_eq!(
        apns_result(410, "Unregistered"),
        Err(PushProviderError::TokenInvalid)
    );
    assert_eq!(apns_result(503, ""), Err(PushProviderError::RetryLater));
    assert!(matches!(
        apns_result(429, "TooManyRequests"),
        Err(PushProviderError::Response(..))
    ));
}

fn arb_token() -> impl Strategy<Value = DeviceToken> {
    (0usize..3, proptest::collection::vec(any::<u8>(), 0..100)).prop_map(|(p, t)| DeviceToken {
        provider: [
            PushProvider::ApnsDev,
            PushProvider::ApnsProd,
            PushProvider::ApnsTest,
        ][p],
        token: ShortBytes::from_slice(hex::encode(t).as_bytes()).unwrap(),
    })
}

fn arb_id() -> impl Strategy<Value = EntityId> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| EntityId::from_slice(&b).unwrap())
}

fn arb_command() -> impl Strategy<Value = NtfCommand> {
    prop_oneof![
        (arb_token(), any::<u8>(), any::<u8>()).prop_map(|(token, a, b)| NtfCommand::TNew(
            NewToken {
                token,
                verify_key: sign_key(a).verify_key(),
                dh_key: dh_key(b).public_key(),
            }
        )),
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|c| NtfCommand::TVfy(NtfRegCode::new(&c).unwrap())),
        Just(NtfCommand::TChk),
        arb_token().prop_map(NtfCommand::TRpl),
        Just(NtfCommand::TDel),
        any::<u16>().prop_map(NtfCommand::TCrn),
        (arb_id(), arb_id(), any::<u8>()).prop_map(|(token_id, nid, k)| {
            NtfCommand::SNew(NewSubscription {
                token_id,
                queue: SmpQueueNtf {
                    notifier_id: nid,
                    ..queue()
                },
                notifier_key: sign_key(k),
            })
        }),
        Just(NtfCommand::SChk),
        Just(NtfCommand::SDel),
        Just(NtfCommand::Ping),
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(cmd in arb_command()) {
        let bytes = Bytes::from(cmd.to_bytes());
        prop_assert_eq!(NtfCommand::parse(&bytes), Ok(cmd));
    }

    #[test]
    fn device_tokens_round_trip_as_text(t in arb_token()) {
        prop_assert_eq!(DeviceToken::str_decode(&t.to_str_bytes()), Ok(t));
    }

    #[test]
    fn arbitrary_bytes_parse_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let bytes = Bytes::from(bytes);
        if let Ok(cmd) = NtfCommand::parse(&bytes) {
            prop_assert_eq!(NtfCommand::parse(&Bytes::from(cmd.to_bytes())), Ok(cmd));
        }
        if let Ok(r) = NtfResponse::parse(&bytes) {
            prop_assert_eq!(NtfResponse::parse(&Bytes::from(r.to_bytes())), Ok(r));
        }
    }
}
