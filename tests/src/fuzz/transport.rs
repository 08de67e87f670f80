//! SMP transport targets: blocks, transmissions, hellos.

use simplex_core::encoding::pad;

/// A received block, as both batched and single-transmission blocks, through the transport's
/// checks for both directions. The input is the block's content (padded here), so the fuzzer
/// explores batch structure instead of padding.
pub fn block(data: &[u8]) {
    use simplex_core::protocol::{BrokerMsg, Command, VerifiedTransmission};
    use simplex_core::transport::{unpack_block, BLOCK_SIZE};
    let Ok(padded) = pad(data, BLOCK_SIZE) else {
        return;
    };
    let block = bytes::Bytes::from(padded);
    for batch in [false, true] {
        if let Ok(transmissions) = unpack_block(batch, &block) {
            for raw in transmissions {
                let session = raw
                    .as_ref()
                    .map(|r| r.session_id.clone())
                    .unwrap_or_default();
                let _ = VerifiedTransmission::<Command>::check(raw.clone(), &session, 4);
                let _ = VerifiedTransmission::<BrokerMsg>::check(raw, &session, 3);
            }
        }
    }
}

/// A transmission's command parsed as a client command and as a broker message for every
/// version; whatever parses re-encodes to something that parses to the same value.
pub fn transmission(data: &[u8]) {
    use simplex_core::protocol::{parse_transmission, BrokerMsg, Command};
    let command = match parse_transmission(bytes::Bytes::copy_from_slice(data)) {
        Ok(raw) => raw.command,
        Err(_) => bytes::Bytes::copy_from_slice(data),
    };
    for version in 1..=4 {
        if let Ok(c) = Command::parse(version, &command) {
            let again = bytes::Bytes::from(c.to_bytes(version));
            assert_eq!(Command::parse(version, &again).as_ref(), Ok(&c));
        }
        if let Ok(m) = BrokerMsg::parse(version, &command) {
            let again = bytes::Bytes::from(m.to_bytes(version));
            assert_eq!(BrokerMsg::parse(version, &again).as_ref(), Ok(&m));
        }
    }
}

/// Both hellos parsed from arbitrary block content.
pub fn handshake(data: &[u8]) {
    use simplex_core::crypto::hash::KeyHash;
    use simplex_core::protocol::SMP_VERSION_RANGE;
    use simplex_core::transport::{client_hello_reply, server_accept_hello, BLOCK_SIZE};
    let Ok(padded) = pad(data, BLOCK_SIZE) else {
        return;
    };
    let block = bytes::Bytes::from(padded);
    let key_hash = KeyHash::from_bytes([7; 32]);
    if let Ok(n) = server_accept_hello(&block, SMP_VERSION_RANGE, &key_hash) {
        assert!(SMP_VERSION_RANGE.contains(n.version));
    }
    if let Ok((reply, n)) = client_hello_reply(
        &block,
        data.get(5..37).unwrap_or_default(),
        SMP_VERSION_RANGE,
        &key_hash,
    ) {
        assert_eq!(
            server_accept_hello(&bytes::Bytes::from(reply), SMP_VERSION_RANGE, &key_hash),
            Ok(n)
        );
    }
}
