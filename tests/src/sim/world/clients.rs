//! The simulated clients: recipients that create a queue and acknowledge what comes, senders
//! that send numbered messages one at a time, and how each acts on what it receives.

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Decode, Reader, UnixTime};
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, MsgFlags,
    SMP_VERSION_RANGE,
};
use simplex_core::time::Instant;
use simplex_core::tls::{SessionRng, TlsSession};
use simplex_core::transport::{ClientConnection, Framing, Input, Output};
use simplex_server::driver::DriverInput;

use super::{World, HANDSHAKE_TIMEOUT, RECONNECT_DELAY};
use crate::sim::net::{End, StreamId};

pub(super) enum Role {
    Recipient {
        key: Box<SignKey>,
        dh: x25519::PrivateKey,
        /// The queue: recipient id and the body-decryption key.
        queue: Option<(EntityId, CbKey)>,
        new_sent: bool,
    },
    Sender {
        /// Index of the recipient whose queue this sender writes to.
        target: usize,
        /// Attempts so far; each SEND carries a fresh one.
        attempt: u32,
        /// The attempt waiting for its answer, by correlation id.
        in_flight: Option<(Vec<u8>, u32)>,
        /// Messages answered `OK`.
        done: usize,
        /// Waiting after `ERR QUOTA` until this time.
        retry_at: Option<Instant>,
    },
}

pub(super) struct SimClient {
    pub(super) role: Role,
    pub(super) conn: Option<(StreamId, ClientConnection)>,
    pub(super) reconnect_at: Option<Instant>,
    pub(super) next_corr: u64,
    pub(super) side: u32,
}

fn body_for(sender: usize, attempt: u32) -> Bytes {
    Bytes::from(
        format!("s{sender}:a{attempt}:")
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat_n(b'.', 200))
            .collect::<Vec<u8>>(),
    )
}

fn parse_body(body: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.split(":a").nth(1)?;
    rest.split(':').next()?.parse().ok()
}

impl World {
    pub(super) fn connect(&mut self, i: usize) {
        let side = self.clients[i].side;
        let stream = self.net.open(side, 0);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let rng: SessionRng = Box::new(ChaCha20Rng::from_seed(seed));
        let key_hash = self.server.identity.key_hash();
        let Ok(tls) = TlsSession::client("localhost", key_hash, rng, self.now, HANDSHAKE_TIMEOUT)
        else {
            self.oracle
                .violations
                .push("client TLS setup failed".into());
            return;
        };
        let (conn, framing) = if self.config.websockets {
            // Only drawn in WebSocket worlds, so the others replay as before.
            let mut ws_seed = [0u8; 32];
            self.rng.fill_bytes(&mut ws_seed);
            let conn = ClientConnection::client_websocket(
                tls,
                key_hash,
                SMP_VERSION_RANGE,
                self.now,
                HANDSHAKE_TIMEOUT,
                "",
                Box::new(ChaCha20Rng::from_seed(ws_seed)),
            );
            (conn, Framing::WebSocket)
        } else {
            let conn = ClientConnection::client(
                tls,
                key_hash,
                SMP_VERSION_RANGE,
                self.now,
                HANDSHAKE_TIMEOUT,
            );
            (conn, Framing::Raw)
        };
        self.clients[i].conn = Some((stream, conn));
        self.clients[i].reconnect_at = None;
        if self.server.driver.is_some() {
            self.server.streams.insert(stream);
            self.server_input(DriverInput::Accepted {
                conn: stream,
                framing,
            });
        } else {
            let deliveries = self.net.reset(stream);
            self.handle_deliveries(deliveries);
        }
        self.drain_client(i);
    }

    pub(super) fn transmit(
        &mut self,
        i: usize,
        entity: &[u8],
        command: Command,
        sign: bool,
    ) -> Vec<u8> {
        let c = &mut self.clients[i];
        c.next_corr += 1;
        let corr = c.next_corr.to_string().into_bytes();
        let Some((_, conn)) = c.conn.as_mut() else {
            return corr;
        };
        let (Some(session), Some(version)) = (conn.session_id().copied(), conn.version()) else {
            return corr;
        };
        let Ok(signed) = signed_part(
            &session,
            &CorrId::new(corr.clone()).unwrap_or_default(),
            &EntityId::new(entity.to_vec()).unwrap_or_default(),
            &command.to_bytes(version),
        ) else {
            return corr;
        };
        let signature = match (&c.role, sign) {
            (Role::Recipient { key, .. }, true) => Some(key.sign(&signed)),
            _ => None,
        };
        let _ = conn.handle_input(
            self.now,
            Input::Send(vec![encode_transmission(signature.as_ref(), &signed)]),
        );
        corr
    }

    /// Lets a client act on what it knows: create or subscribe, or send its next message.
    pub(super) fn act(&mut self, i: usize) {
        let established = self.clients[i]
            .conn
            .as_ref()
            .is_some_and(|(_, c)| c.is_established());
        if !established {
            return;
        }
        let now = self.now;
        let messages = self.config.messages;
        let next = match &mut self.clients[i].role {
            Role::Recipient {
                key,
                dh,
                queue,
                new_sent,
            } => match queue {
                None if !*new_sent => {
                    *new_sent = true;
                    Some((
                        Vec::new(),
                        Command::New {
                            recipient_key: key.verify_key(),
                            dh_key: dh.public_key(),
                        },
                    ))
                }
                _ => None,
            },
            Role::Sender {
                target,
                in_flight: None,
                done,
                attempt,
                retry_at,
                ..
            } if *done < messages && retry_at.is_none_or(|t| t <= now) => {
                let target = *target;
                let sid = self.sender_ids.get(&target).cloned();
                match sid {
                    Some(sid) => {
                        *attempt += 1;
                        *retry_at = None;
                        let body = body_for(i, *attempt);
                        Some((
                            sid.as_bytes().to_vec(),
                            Command::Send {
                                flags: MsgFlags::default(),
                                body,
                            },
                        ))
                    }
                    None => None,
                }
            }
            Role::Sender { .. } => None,
        };
        if let Some((entity, command)) = next {
            let is_send = matches!(command, Command::Send { .. });
            let corr = self.transmit(i, &entity, command, !is_send);
            if let Role::Sender {
                attempt, in_flight, ..
            } = &mut self.clients[i].role
            {
                if is_send {
                    *in_flight = Some((corr, *attempt));
                }
            }
        }
    }

    /// Moves a client's outputs to the network and acts on what it received.
    pub(super) fn drain_client(&mut self, i: usize) {
        loop {
            let Some((stream, conn)) = self.clients[i].conn.as_mut() else {
                return;
            };
            let stream = *stream;
            match conn.poll_output() {
                Output::Transmit(bytes) => self.net.send(self.now, stream, End::Client, &bytes),
                Output::Established { .. } => self.on_established(i),
                Output::Received(t) => match t.message {
                    Ok(msg) => self.on_message(i, t.corr_id.as_bytes().to_vec(), msg),
                    Err(e) => self
                        .oracle
                        .violations
                        .push(format!("client {i} got a bad transmission: {e}")),
                },
                Output::TooLarge(_) => self
                    .oracle
                    .violations
                    .push(format!("client {i}: a command did not fit a block")),
                Output::Closed(_) => {
                    self.net.close(stream, End::Client);
                    self.disconnected(i);
                    return;
                }
                Output::Timeout(_) => break,
            }
        }
        self.act(i);
        // Acting may have queued more transmissions.
        if let Some((stream, conn)) = self.clients[i].conn.as_mut() {
            let stream = *stream;
            while let Output::Transmit(bytes) = conn.poll_output() {
                self.net.send(self.now, stream, End::Client, &bytes);
            }
        }
    }

    pub(super) fn disconnected(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.conn = None;
        c.reconnect_at = Some(self.now + RECONNECT_DELAY);
        match &mut c.role {
            // The outcome of a SEND whose answer was lost is unknown: the next attempt gets a
            // new number, so the oracle can tell the two apart.
            Role::Sender { in_flight, .. } => *in_flight = None,
            Role::Recipient {
                queue, new_sent, ..
            } => {
                if queue.is_none() {
                    *new_sent = false;
                }
            }
        }
    }

    pub(super) fn on_established(&mut self, i: usize) {
        let resubscribe = match &self.clients[i].role {
            Role::Recipient {
                queue: Some((rid, _)),
                ..
            } => Some(rid.as_bytes().to_vec()),
            _ => None,
        };
        if let Some(rid) = resubscribe {
            self.transmit(i, &rid, Command::Sub, true);
        }
    }

    pub(super) fn on_message(&mut self, i: usize, corr: Vec<u8>, msg: BrokerMsg) {
        match (&mut self.clients[i].role, msg) {
            (
                Role::Recipient { dh, queue, .. },
                BrokerMsg::Ids {
                    recipient_id,
                    sender_id,
                    server_dh_key,
                },
            ) => {
                match dh.diffie_hellman(&server_dh_key) {
                    Ok(secret) => *queue = Some((recipient_id, CbKey::new(&secret))),
                    Err(_) => self.oracle.violations.push("bad server DH key".into()),
                }
                self.sender_ids.insert(i, sender_id);
            }
            (
                Role::Recipient {
                    queue: Some((rid, key)),
                    ..
                },
                BrokerMsg::Msg(m),
            ) => {
                let rid = rid.as_bytes().to_vec();
                let attempt = key
                    .decrypt(
                        &CbNonce::from_slice_padded(m.msg_id.as_bytes()),
                        &m.encrypted_body,
                    )
                    .ok()
                    .and_then(|plain| {
                        let mut r = Reader::new(plain);
                        UnixTime::decode(&mut r).ok()?;
                        MsgFlags::decode(&mut r).ok()?;
                        r.expect_byte(b' ', "space").ok()?;
                        parse_body(r.peek_rest())
                    });
                match attempt {
                    Some(attempt) => self.oracle.delivered(i, attempt, m.msg_id.clone()),
                    None => self
                        .oracle
                        .violations
                        .push(format!("queue {i}: undecryptable message")),
                }
                self.transmit(i, &rid, Command::Ack(m.msg_id), true);
            }
            (
                Role::Sender {
                    target,
                    in_flight,
                    done,
                    retry_at,
                    ..
                },
                answer,
            ) => {
                let target = *target;
                if let Some((c, attempt)) = in_flight.take() {
                    if c != corr {
                        *in_flight = Some((c, attempt));
                        return;
                    }
                    match answer {
                        BrokerMsg::Ok => {
                            *done += 1;
                            self.oracle
                                .accepted
                                .entry(target)
                                .or_default()
                                .push(attempt);
                            self.report.accepted += 1;
                        }
                        // A full queue: try again a little later with a new attempt.
                        BrokerMsg::Err(simplex_core::protocol::ErrorType::Quota) => {
                            *retry_at = Some(self.now + Duration::from_secs(1))
                        }
                        other => self
                            .oracle
                            .violations
                            .push(format!("sender {i}: unexpected answer {other:?}")),
                    }
                }
            }
            (Role::Recipient { .. }, BrokerMsg::Ok) => {}
            (_, BrokerMsg::End) => self
                .oracle
                .violations
                .push(format!("client {i}: unexpected END")),
            (_, other) => self
                .oracle
                .violations
                .push(format!("client {i}: unexpected {other:?}")),
        }
    }
}
