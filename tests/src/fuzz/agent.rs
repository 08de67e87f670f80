//! Agent wire-format targets: what one agent reads from another (envelopes, ratchet plaintexts,
//! queue addresses) and the connection links users paste in. Each checks that whatever decodes
//! encodes to something that decodes to the same value, so the agent never sends back a form
//! it (or a peer) would read differently.

use simplex_agent::protocol::{
    AgentEnvelope, AgentMessage, ConnectionRequest, EnvelopeError, SmpQueueInfo, SmpQueueUri,
};
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::{Decode, Encode};

/// The longest link an invitation envelope can carry (a `Large` length prefix).
const MAX_LINK: usize = u16::MAX as usize;

/// The body of the per-queue e2e box: a decoded envelope encodes (an invitation whose link
/// prints longer than a `Large` holds being the one refusal) and decodes back to itself.
pub fn agent_envelope(data: &[u8]) {
    let Ok(envelope) = AgentEnvelope::decode_slice(data) else {
        return;
    };
    match envelope.to_bytes() {
        Ok(bytes) => assert_eq!(
            AgentEnvelope::decode_slice(&bytes).ok(),
            Some(envelope),
            "a decoded envelope must survive its own encoding"
        ),
        Err(EnvelopeError::LinkTooLong) => match &envelope {
            AgentEnvelope::Invitation { conn_req, .. } => {
                assert!(conn_req.to_str_bytes().len() > MAX_LINK)
            }
            _ => panic!("only an invitation has a link to be too long"),
        },
        Err(e) => panic!("a decoded envelope does not encode: {e}"),
    }
}

/// The plaintext inside the double ratchet: a decoded message encodes to bytes that decode to
/// the same message, and encoding that again gives the same bytes.
pub fn agent_message(data: &[u8]) {
    if let Ok(message) = AgentMessage::decode_slice(data) {
        round_trips(&message);
    }
}

/// A queue address inside agent messages (both the version 1 single-host form and the later
/// one): as [`agent_message`].
pub fn queue_info(data: &[u8]) {
    if let Ok(info) = SmpQueueInfo::decode_slice(data) {
        round_trips(&info);
    }
}

/// A queue URI (every form the parser reads): the URI printed from a parsed one parses to
/// the same queue, and printing that again gives the same text.
pub fn queue_uri(data: &[u8]) {
    if let Ok(uri) = SmpQueueUri::str_decode(data) {
        str_round_trips(&uri);
    }
}

/// A connection request link: as [`queue_uri`].
pub fn conn_request(data: &[u8]) {
    if let Ok(request) = ConnectionRequest::str_decode(data) {
        str_round_trips(&request);
    }
}

fn round_trips<T: Decode + Encode + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = value.to_bytes();
    let again = T::decode_slice(&bytes).expect("an encoding must decode");
    assert_eq!(
        &again, value,
        "decoding the encoding must give the value back"
    );
    assert_eq!(again.to_bytes(), bytes, "the encoding must be stable");
}

fn str_round_trips<T: StrDecode + StrEncode + PartialEq + std::fmt::Debug>(value: &T) {
    let text = value.to_str_bytes();
    let again = T::str_decode(&text).expect("a printed value must parse");
    assert_eq!(
        &again, value,
        "parsing the printed form must give the value back"
    );
    assert_eq!(
        again.to_str_bytes(),
        text,
        "the printed form must be stable"
    );
}
