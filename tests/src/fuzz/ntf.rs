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
