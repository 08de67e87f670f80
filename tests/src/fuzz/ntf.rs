//! NTF protocol target: a 512-byte NTF block's transmission through the transport's checks,
//! then its command parsed as an NTF command and an NTF response; whatever parses re-encodes
//! to bytes that parse to the same value, and text forms of what the store log holds too.

use simplex_core::encoding::pad;

/// The input is the block content (padded here to the NTF block size).
pub fn ntf_command(data: &[u8]) {
    use simplex_core::encoding::string::{StrDecode, StrEncode};
    use simplex_core::ntf::{
        NtfCommand, NtfResponse, NtfSubStatus, PnMessageData, SmpQueueNtf, NTF_BLOCK_SIZE,
    };
    use simplex_core::protocol::VerifiedTransmission;
    use simplex_core::transport::unpack_block_sized;
    if let Ok(padded) = pad(data, NTF_BLOCK_SIZE) {
        let block = bytes::Bytes::from(padded);
        if let Ok(transmissions) = unpack_block_sized(NTF_BLOCK_SIZE, false, &block) {
            for raw in transmissions {
                let session = raw
                    .as_ref()
                    .map(|r| r.session_id.clone())
                    .unwrap_or_default();
                let _ = VerifiedTransmission::<NtfCommand>::check(raw.clone(), &session, 1);
                let _ = VerifiedTransmission::<NtfResponse>::check(raw, &session, 1);
            }
        }
    }
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(c) = NtfCommand::parse(&bytes) {
        let again = bytes::Bytes::from(c.to_bytes());
        assert_eq!(NtfCommand::parse(&again).as_ref(), Ok(&c));
    }
    if let Ok(r) = NtfResponse::parse(&bytes) {
        let again = bytes::Bytes::from(r.to_bytes());
        assert_eq!(NtfResponse::parse(&again).as_ref(), Ok(&r));
    }
    if let Ok(q) = SmpQueueNtf::str_decode(data) {
        assert_eq!(SmpQueueNtf::str_decode(&q.to_str_bytes()).as_ref(), Ok(&q));
    }
    if let Ok(s) = NtfSubStatus::str_decode(data) {
        assert_eq!(NtfSubStatus::str_decode(&s.to_str_bytes()).as_ref(), Ok(&s));
    }
    let _ = PnMessageData::str_decode(data);
}

/// The NTF server machine driven by arbitrary steps after one token is registered: each step
/// is a kind byte, a length byte and that many bytes. Kinds: a command signed by the token's
/// key on the token (0), on the first subscription (1), unsigned with no entity (2); an `NMSG`
/// (3), `END` (4), `NSUB` answered (5) for the queue named by the bytes; a push result (6);
/// time passing by the bytes' count in minutes (7). Every transmission gets exactly one
/// response, and no input is refused once the outputs are drained.
pub fn ntf_machine(data: &[u8]) {
    use bytes::Bytes;
    use rand_chacha::rand_core::SeedableRng;
    use simplex_core::address::ServerAddress;
    use simplex_core::crypto::cbox::{CbKey, CbNonce};
    use simplex_core::crypto::ed25519;
    use simplex_core::crypto::keys::SignKey;
    use simplex_core::crypto::x25519;
    use simplex_core::encoding::string::StrDecode;
    use simplex_core::encoding::ShortBytes;
    use simplex_core::ntf::{
        DeviceToken, NewSubscription, NewToken, NtfCommand, NtfRegCode, NtfResponse, PushProvider,
        SmpQueueNtf,
    };
    use simplex_core::protocol::EntityId;
    use simplex_core::time::Instant;
    use simplex_server::ntf::{NtfInput, NtfServer, NtfServerConfig, PushKind, SmpEvent};

    let server_address = ServerAddress::str_decode(
        b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001",
    )
    .expect("a valid address");
    let queue = |nid: &[u8]| SmpQueueNtf {
        server: server_address.clone(),
        notifier_id: EntityId::from_slice(nid).unwrap_or_default(),
    };
    let key = SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[1; 32]));
    let mut server = NtfServer::new(
        NtfServerConfig::default(),
        rand_chacha::ChaCha20Rng::seed_from_u64(1),
    );
    let mut now = Instant::ZERO;
    let client_dh = x25519::PrivateKey::from_bytes(&[2; 32]);
    ntf_step(
        &mut server,
        now,
        NtfInput::ClientConnected {
            client: 1,
            session_id: Bytes::from_static(SESSION),
        },
    );
    let tnew = NtfCommand::TNew(NewToken {
        token: DeviceToken {
            provider: PushProvider::ApnsTest,
            token: ShortBytes::from_slice(b"abcd").unwrap_or_default(),
        },
        verify_key: key.verify_key(),
        dh_key: client_dh.public_key(),
    });
    let (responses, pushes) = ntf_send_pushes(
        &mut server,
        now,
        Some(&key),
        &EntityId::empty(),
        &tnew.to_bytes(),
    );
    let (token_id, server_dh) = match responses.first().map(NtfResponse::parse) {
        Some(Ok(NtfResponse::TknId { token_id, dh_key })) => (token_id, dh_key),
        other => panic!("TNEW must succeed: {other:?}"),
    };
    // Verify the token with the code from the push, so that subscriptions can be made.
    let box_key = CbKey::new(
        &client_dh
            .diffie_hellman(&server_dh)
            .expect("a valid server DH key"),
    );
    let body = pushes.first().expect("a verification push");
    let nonce = CbNonce::from_slice_padded(&json_field(body, "nonce").expect("nonce"));
    let sealed = json_field(body, "verification").expect("verification");
    let code = NtfRegCode::new(&box_key.decrypt(&nonce, &sealed).expect("opens")).expect("a code");
    let tvfy = NtfCommand::TVfy(code);
    let ok = ntf_send(&mut server, now, Some(&key), &token_id, &tvfy.to_bytes());
    assert_eq!(ok.first().map(|r| &r[..]), Some(&b"OK"[..]));
    let snew = NtfCommand::SNew(NewSubscription {
        token_id: token_id.clone(),
        queue: queue(b"n"),
        notifier_key: key.clone(),
    });
    let sub_id = match ntf_send(
        &mut server,
        now,
        Some(&key),
        &EntityId::empty(),
        &snew.to_bytes(),
    )
    .first()
    .map(NtfResponse::parse)
    {
        Some(Ok(NtfResponse::SubId(id))) => id,
        _ => EntityId::empty(),
    };
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, more) = tail.split_at(n);
        rest = more;
        let transmission = |signer, entity: &EntityId, server: &mut NtfServer| {
            let responses = ntf_send(server, now, signer, entity, bytes);
            assert_eq!(responses.len(), 1, "one response per transmission");
        };
        match kind % 8 {
            0 => transmission(Some(&key), &token_id, &mut server),
            1 => transmission(Some(&key), &sub_id, &mut server),
            2 => transmission(None, &EntityId::empty(), &mut server),
            3 => drop(ntf_step(
                &mut server,
                now,
                NtfInput::Smp(SmpEvent::Message {
                    queue: queue(bytes),
                    nonce: CbNonce::from_slice_padded(bytes),
                    enc_meta: Bytes::copy_from_slice(bytes),
                }),
            )),
            4 => drop(ntf_step(
                &mut server,
                now,
                NtfInput::Smp(SmpEvent::End(queue(bytes))),
            )),
            5 => drop(ntf_step(
                &mut server,
                now,
                NtfInput::Smp(SmpEvent::Subscribed(queue(bytes))),
            )),
            6 => drop(ntf_step(
                &mut server,
                now,
                NtfInput::PushResult {
                    token_id: token_id.clone(),
                    kind: PushKind::Verification,
                    result: Ok(()),
                },
            )),
            _ => {
                now = now.saturating_add(std::time::Duration::from_secs(60 * n as u64));
                drop(ntf_step(&mut server, now, NtfInput::Tick));
            }
        }
    }
}

const SESSION: &[u8] = b"fuzz-session";

/// Feeds one input to a drained machine and drains it; returns the responses' commands,
/// each checked to parse.
fn ntf_step(
    server: &mut simplex_server::ntf::NtfServer,
    now: simplex_core::time::Instant,
    input: simplex_server::ntf::NtfInput,
) -> Vec<bytes::Bytes> {
    ntf_step_pushes(server, now, input).0
}

/// [`ntf_step`], also giving the JSON bodies of the pushes.
fn ntf_step_pushes(
    server: &mut simplex_server::ntf::NtfServer,
    now: simplex_core::time::Instant,
    input: simplex_server::ntf::NtfInput,
) -> (Vec<bytes::Bytes>, Vec<Vec<u8>>) {
    use simplex_core::encoding::UnixTime;
    use simplex_core::ntf::NtfResponse;
    use simplex_core::protocol::parse_transmission;
    use simplex_core::time::Clock;
    use simplex_server::ntf::NtfOutput;
    let clock = Clock {
        now,
        wall_clock: UnixTime::from_seconds(1_700_000_000),
    };
    server
        .handle_input(clock, input)
        .expect("a drained machine takes input");
    let (mut responses, mut pushes) = (Vec::new(), Vec::new());
    loop {
        match server.poll_output() {
            NtfOutput::Timeout(_) => return (responses, pushes),
            NtfOutput::Send { transmission, .. } => {
                let raw = parse_transmission(bytes::Bytes::from(transmission)).expect("splits");
                NtfResponse::parse(&raw.command).expect("a valid response");
                responses.push(raw.command);
            }
            NtfOutput::Push { request, .. } => pushes.push(request.body),
            _ => {}
        }
    }
}

/// The base64url value of `"key":"…"` in a push body.
fn json_field(body: &[u8], key: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = start + text[start..].find('"')?;
    simplex_core::encoding::string::base64url_decode(&text.as_bytes()[start..end]).ok()
}

/// Sends `command` on client 1, signed by `signer` if given, about `entity`.
fn ntf_send(
    server: &mut simplex_server::ntf::NtfServer,
    now: simplex_core::time::Instant,
    signer: Option<&simplex_core::crypto::keys::SignKey>,
    entity: &simplex_core::protocol::EntityId,
    command: &[u8],
) -> Vec<bytes::Bytes> {
    ntf_send_pushes(server, now, signer, entity, command).0
}

/// [`ntf_send`], also giving the pushes' bodies.
fn ntf_send_pushes(
    server: &mut simplex_server::ntf::NtfServer,
    now: simplex_core::time::Instant,
    signer: Option<&simplex_core::crypto::keys::SignKey>,
    entity: &simplex_core::protocol::EntityId,
    command: &[u8],
) -> (Vec<bytes::Bytes>, Vec<Vec<u8>>) {
    use simplex_core::protocol::{
        encode_transmission, parse_transmission, signed_part, CorrId, VerifiedTransmission,
    };
    let corr = CorrId::from_slice(b"c").unwrap_or_default();
    let Ok(signed) = signed_part(SESSION, &corr, entity, command) else {
        return (vec![bytes::Bytes::new()], Vec::new());
    };
    let sig = signer.map(|k| k.sign(&signed));
    let bytes = bytes::Bytes::from(encode_transmission(sig.as_ref(), &signed));
    let t = VerifiedTransmission::check(parse_transmission(bytes), SESSION, 1);
    ntf_step_pushes(
        server,
        now,
        simplex_server::ntf::NtfInput::Transmission {
            client: 1,
            transmission: Box::new(t),
        },
    )
}
