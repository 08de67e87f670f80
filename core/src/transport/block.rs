//! Blocks: every read and write on an SMP connection is exactly [`BLOCK_SIZE`] bytes, the
//! content padded (2-byte length, content, `#` fill).
//!
//! Before v4 a block carries one transmission. From v4 it carries a batch: a count byte, then
//! each transmission with a 2-byte length. The sender packs as many as fit and starts a new
//! block for the rest.

use bytes::Bytes;

use crate::encoding::{pad_into, unpad, Decode, DecodeError, Large, NonEmpty, Reader};
use crate::protocol::{parse_transmission, RawTransmission};

/// The size of every block on the wire.
pub const BLOCK_SIZE: usize = 16384;

/// The most content a block can carry after its 2-byte length.
#[cfg(test)]
const MAX_CONTENT: usize = BLOCK_SIZE - 2;

/// The most transmissions a batch's count byte can describe.
const MAX_BATCH: usize = 255;

/// Why a received block was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Not exactly one block of bytes.
    #[error("a block must be exactly the transport's block size, got {0} bytes")]
    Size(usize),
    /// The padding's length prefix is larger than the block.
    #[error("block length prefix is larger than the block")]
    BadPadding,
    /// A v4 batch whose count or lengths do not match its content.
    #[error("malformed batch: {0}")]
    BadBatch(DecodeError),
}

/// Blocks ready to send, and the transmissions that could not be sent at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// Whole padded blocks, in order.
    pub blocks: Vec<Vec<u8>>,
    /// Indexes (into the input) of transmissions too large for any block.
    pub too_large: Vec<usize>,
}

/// Packs transmissions into blocks: one per block without batching; as many per block as fit
/// with it (`batch`, protocol v4), in order.
///
/// The reference lets a batch grow to one byte past what padding can hold and then fails the
/// whole block; we stop packing where the block is full instead.
pub fn pack_transmissions<T: AsRef<[u8]>>(batch: bool, transmissions: &[T]) -> Packed {
    pack_transmissions_sized(BLOCK_SIZE, batch, transmissions)
}

/// [`pack_transmissions`] for a transport with blocks of `block_size` bytes (the NTF
/// transport's are 512).
pub fn pack_transmissions_sized<T: AsRef<[u8]>>(
    block_size: usize,
    batch: bool,
    transmissions: &[T],
) -> Packed {
    let max_content = block_size.saturating_sub(2);
    let mut packed = Packed::default();
    if !batch {
        for (i, t) in transmissions.iter().enumerate() {
            let mut block = Vec::with_capacity(block_size);
            match pad_into(t.as_ref(), block_size, &mut block) {
                Ok(()) => packed.blocks.push(block),
                Err(_) => packed.too_large.push(i),
            }
        }
        return packed;
    }
    let mut content: Vec<u8> = Vec::with_capacity(max_content);
    let mut count = 0usize;
    let flush = |content: &mut Vec<u8>, count: &mut usize, blocks: &mut Vec<Vec<u8>>| {
        if *count > 0 {
            content[0] = *count as u8;
            let mut block = Vec::with_capacity(block_size);
            // The content never exceeds max_content, so padding cannot fail.
            if pad_into(content, block_size, &mut block).is_ok() {
                blocks.push(block);
            }
        }
        content.clear();
        *count = 0;
    };
    for (i, t) in transmissions.iter().enumerate() {
        let t = t.as_ref();
        let framed = 2 + t.len();
        if 1 + framed > max_content {
            packed.too_large.push(i);
            continue;
        }
        if count == MAX_BATCH || content.len() + framed > max_content {
            flush(&mut content, &mut count, &mut packed.blocks);
        }
        if count == 0 {
            content.push(0); // the count byte, set at flush
        }
        // Length checked above: at most max_content, so it fits in 2 bytes.
        content.extend_from_slice(&(t.len() as u16).to_be_bytes());
        content.extend_from_slice(t);
        count += 1;
    }
    flush(&mut content, &mut count, &mut packed.blocks);
    packed
}

/// Splits a received block into its transmissions. A transmission that does not split into
/// its fields is an `Err` in its place (the reference answers it with `ERR BLOCK` and goes on
/// with the rest of the batch).
pub fn unpack_block(
    batch: bool,
    block: &Bytes,
) -> Result<Vec<Result<RawTransmission, DecodeError>>, BlockError> {
    unpack_block_sized(BLOCK_SIZE, batch, block)
}

/// [`unpack_block`] for a transport with blocks of `block_size` bytes.
pub fn unpack_block_sized(
    block_size: usize,
    batch: bool,
    block: &Bytes,
) -> Result<Vec<Result<RawTransmission, DecodeError>>, BlockError> {
    if block.len() != block_size {
        return Err(BlockError::Size(block.len()));
    }
    let content_len = unpad(block).map_err(|_| BlockError::BadPadding)?.len();
    let content = block.slice(2..2 + content_len);
    if !batch {
        return Ok(vec![parse_transmission(content)]);
    }
    let items = NonEmpty::<Large>::decode_all(content).map_err(BlockError::BadBatch)?;
    Ok(items
        .into_vec()
        .into_iter()
        .map(|t| parse_transmission(t.into_bytes()))
        .collect())
}

/// A reader over exactly one block's content, for callers that parse their own content.
pub(crate) fn block_content(block_size: usize, block: &Bytes) -> Result<Reader, BlockError> {
    if block.len() != block_size {
        return Err(BlockError::Size(block.len()));
    }
    let content_len = unpad(block).map_err(|_| BlockError::BadPadding)?.len();
    Ok(Reader::new(block.slice(2..2 + content_len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn transmission(n: usize) -> Vec<u8> {
        // An unsigned transmission with an empty session id and a body of n bytes.
        let mut t = vec![0, 0, 0, 0];
        t.extend(std::iter::repeat_n(b'x', n));
        t
    }

    #[test]
    fn full_blocks_are_refused_only_when_nothing_fits() {
        let fits_alone = transmission(MAX_CONTENT - 3 - 4);
        let packed = pack_transmissions(true, &[fits_alone.clone(), transmission(MAX_CONTENT)]);
        assert_eq!(packed.blocks.len(), 1);
        assert_eq!(packed.too_large, vec![1]);
        let items = unpack_block(true, &Bytes::from(packed.blocks[0].clone())).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().unwrap().command.len(),
            fits_alone.len() - 4
        );
    }

    #[test]
    fn bad_blocks() {
        assert_eq!(
            unpack_block(true, &Bytes::from(vec![0u8; 10])),
            Err(BlockError::Size(10))
        );
        let mut block = vec![b'#'; BLOCK_SIZE];
        block[0] = 0xff;
        assert_eq!(
            unpack_block(true, &Bytes::from(block)),
            Err(BlockError::BadPadding)
        );
        let empty_batch = crate::encoding::pad(&[0], BLOCK_SIZE).unwrap();
        assert!(matches!(
            unpack_block(true, &Bytes::from(empty_batch)),
            Err(BlockError::BadBatch(_))
        ));
    }

    proptest! {
        #[test]
        fn batches_roundtrip_in_order(sizes in proptest::collection::vec(0usize..9000, 1..40)) {
            let ts: Vec<Vec<u8>> = sizes.iter().map(|&n| transmission(n)).collect();
            let packed = pack_transmissions(true, &ts);
            prop_assert!(packed.too_large.is_empty());
            let mut received = Vec::new();
            for block in &packed.blocks {
                prop_assert_eq!(block.len(), BLOCK_SIZE);
                for t in unpack_block(true, &Bytes::from(block.clone())).unwrap() {
                    received.push(t.unwrap().command.len());
                }
            }
            prop_assert_eq!(received, sizes);
        }

        #[test]
        fn arbitrary_blocks_never_panic(content in proptest::collection::vec(any::<u8>(), 0..2000), batch: bool) {
            let mut block = crate::encoding::pad(&content, BLOCK_SIZE).unwrap();
            let _ = unpack_block(batch, &Bytes::from(block.clone()));
            block[0] = content.first().copied().unwrap_or(0);
            let _ = unpack_block(batch, &Bytes::from(block));
        }
    }
}
