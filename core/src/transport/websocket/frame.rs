//! One WebSocket frame (RFC 6455 §5.2): the header, the mask, and their encoding.
//!
//! Decoding is incremental: [`decode_header`] looks at the bytes received so far and says how
//! many it needs, so the caller never buffers more than one frame.

use super::WsError;

/// The longest a frame header can be: 2 bytes, an 8-byte length, a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest payload of a control frame (close, ping, pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of a message begun by a text or binary frame.
    Continuation,
    /// The first (or only) frame of a text message.
    Text,
    /// The first (or only) frame of a binary message.
    Binary,
    /// The close handshake.
    Close,
    /// A ping, answered by a pong with the same payload.
    Ping,
    /// A pong (answer to a ping, or unsolicited heartbeat).
    Pong,
}

impl Opcode {
    /// The 4-bit code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// The opcode with this code; the others are reserved.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes, allowed between fragments.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The masking key (frames from a client are masked, frames from a server are not).
    pub mask: Option<[u8; 4]>,
    /// The payload length that follows the header.
    pub payload_len: usize,
}

/// Decodes a frame header from the start of `bytes`: `Ok(None)` while more bytes are needed,
/// otherwise the header and its length. A payload longer than `max_payload` is refused from the
/// header alone, before any of it is buffered.
pub fn decode_header(
    bytes: &[u8],
    max_payload: usize,
) -> Result<Option<(FrameHeader, usize)>, WsError> {
    let (Some(&b0), Some(&b1)) = (bytes.first(), bytes.get(1)) else {
        return Ok(None);
    };
    // No extension was negotiated, so the reserved bits must be clear.
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let opcode = Opcode::from_code(b0 & 0x0F).ok_or(WsError::UnknownOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => match bytes.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => {
                let mut n = [0u8; 8];
                n.copy_from_slice(b);
                (u64::from_be_bytes(n), 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    // The most significant bit of a 64-bit length must be clear.
    if len > max_payload as u64 || len >> 63 != 0 {
        return Err(WsError::FrameTooLarge);
    }
    if opcode.is_control() {
        if !fin {
            return Err(WsError::FragmentedControl);
        }
        if len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(WsError::ControlTooLong);
        }
    }
    let mask = if masked {
        let Some(key) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        let mut k = [0u8; 4];
        k.copy_from_slice(key);
        Some(k)
    } else {
        None
    };
    // Bounded by `max_payload` above, so it fits.
    let payload_len = usize::try_from(len).map_err(|_| WsError::FrameTooLarge)?;
    Ok(Some((
        FrameHeader {
            fin,
            opcode,
            mask,
            payload_len,
        },
        at,
    )))
}

/// XORs `data` with the mask key (its own inverse).
pub fn apply_mask(mask: [u8; 4], data: &mut [u8]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Appends one frame to `out`, with the shortest length encoding, masking the payload when a
/// key is given.
pub fn encode_frame(
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    out.push(if fin { 0x80 } else { 0 } | opcode.code());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        // Below 126, so it fits in the 7 bits.
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let start = match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.len()
        }
        None => out.len(),
    };
    out.extend_from_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start..)) {
        apply_mask(key, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        let mut out = Vec::new();
        encode_frame(true, Opcode::Text, None, b"Hello", &mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // The same, masked with 37 fa 21 3d.
        let mut out = Vec::new();
        encode_frame(
            true,
            Opcode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
            &mut out,
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // 256 bytes of binary data in one unmasked frame: a 16-bit length.
        let mut out = Vec::new();
        encode_frame(true, Opcode::Binary, None, &[0u8; 256], &mut out);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        // 64 KiB: a 64-bit length.
        let mut out = Vec::new();
        encode_frame(true, Opcode::Binary, None, &[0u8; 65536], &mut out);
        assert_eq!(out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn header_refusals() {
        assert_eq!(decode_header(&[0xC2, 0x00], 10), Err(WsError::ReservedBits));
        assert_eq!(
            decode_header(&[0x83, 0x00], 10),
            Err(WsError::UnknownOpcode(3))
        );
        assert_eq!(
            decode_header(&[0x09, 0x00], 10),
            Err(WsError::FragmentedControl)
        );
        assert_eq!(
            decode_header(&[0x89, 0x7E, 0x00, 0x7E], 1000),
            Err(WsError::ControlTooLong)
        );
        assert_eq!(
            decode_header(&[0x82, 0x0B], 10),
            Err(WsError::FrameTooLarge)
        );
        // A 64-bit length with the top bit set is refused as too large, not wrapped.
        assert_eq!(
            decode_header(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1], usize::MAX),
            Err(WsError::FrameTooLarge)
        );
        // Incomplete headers ask for more.
        assert_eq!(decode_header(&[0x82], 10), Ok(None));
        assert_eq!(decode_header(&[0x82, 0xFE, 0x00], 1000), Ok(None));
        assert_eq!(decode_header(&[0x82, 0x81, 1, 2, 3], 10), Ok(None));
    }
}
