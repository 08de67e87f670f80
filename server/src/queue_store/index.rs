//! Where slots live and how they are found: a chunked slab of slots and the id indexes over
//! it, which store slot numbers, not ids.

use hashbrown::HashTable;

use super::{QueueId, QueueSlot};

/// Slots per chunk: chunks never move or grow, so the slab grows by one chunk at a time
/// (no 2x growth slack, no copies of secrets left behind by a reallocation).
pub(super) const CHUNK: usize = 1024;

#[derive(Default)]
pub(super) struct Slab {
    pub(super) chunks: Vec<Vec<Option<QueueSlot>>>,
    pub(super) free: Vec<u32>,
}

impl Slab {
    pub(super) fn get(&self, i: u32) -> Option<&QueueSlot> {
        let i = i as usize;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, i: u32) -> Option<&mut QueueSlot> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)?.as_mut()
    }

    /// Places a slot (reusing the last freed one first); `None` past `u32::MAX` slots.
    pub(super) fn insert(&mut self, slot: QueueSlot) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            let place = self
                .chunks
                .get_mut(i as usize / CHUNK)?
                .get_mut(i as usize % CHUNK)?;
            *place = Some(slot);
            return Some(i);
        }
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = u32::try_from((self.chunks.len() - 1) * CHUNK).ok()?;
        let chunk = self.chunks.last_mut()?;
        let i = index.checked_add(u32::try_from(chunk.len()).ok()?)?;
        chunk.push(Some(slot));
        Some(i)
    }

    pub(super) fn remove(&mut self, i: u32) -> Option<QueueSlot> {
        let place = self
            .chunks
            .get_mut(i as usize / CHUNK)?
            .get_mut(i as usize % CHUNK)?;
        if let Some(slot) = place.as_mut() {
            slot.wipe();
        }
        let slot = place.take()?;
        self.free.push(i);
        Some(slot)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &QueueSlot> {
        self.chunks.iter().flatten().flatten()
    }
}

/// A fixed, keyless hash of an id. Ids are random bytes chosen by a server (this one, or the
/// one that wrote the store log), never by a client, so nobody can pick ids that collide: no
/// per-process random state is needed, and runs stay reproducible.
pub(super) fn id_hash(id: &QueueId) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for chunk in id.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    // Final mix so that every id byte reaches the low bits (the bucket) and the top 7 bits.
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 29)
}

/// Which id of a slot an index is over.
#[derive(Clone, Copy)]
pub(super) enum Key {
    Recipient,
    Sender,
    Notifier,
}

impl Key {
    pub(super) fn of(self, slot: &QueueSlot) -> Option<&QueueId> {
        match self {
            Self::Recipient => Some(&slot.recipient_id),
            Self::Sender => Some(&slot.sender_id),
            Self::Notifier => slot.notifier_id(),
        }
    }
}

/// An index from one kind of id to slot numbers; the ids themselves stay in the slots.
#[derive(Default)]
pub(super) struct Index(pub(super) HashTable<u32>);

impl Index {
    pub(super) fn find(&self, slab: &Slab, key: Key, id: &QueueId) -> Option<u32> {
        self.0
            .find(id_hash(id), |&i| {
                slab.get(i).and_then(|s| key.of(s)) == Some(id)
            })
            .copied()
    }

    pub(super) fn insert(&mut self, slab: &Slab, key: Key, id: &QueueId, slot: u32) {
        let hasher = |&i: &u32| slab.get(i).and_then(|s| key.of(s)).map_or(0, id_hash);
        self.0.insert_unique(id_hash(id), slot, hasher);
    }

    /// Removes the entry for `id` if it points at `slot`.
    pub(super) fn remove(&mut self, id: &QueueId, slot: u32) {
        if let Ok(entry) = self.0.find_entry(id_hash(id), |&i| i == slot) {
            entry.remove();
        }
    }
}
