//! Protocol versions and version ranges, with the reference's negotiation rule: two ranges are
//! compatible when they overlap, and the agreed version is the smaller of the two maxima.

use super::binary::{Decode, DecodeError, Encode, Reader};

/// A protocol version number.
pub type Version = u16;

/// An inclusive range of protocol versions; `min <= max` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    min: Version,
    max: Version,
}

impl VersionRange {
    /// The range `min..=max`, or `None` when `min > max`.
    pub const fn new(min: Version, max: Version) -> Option<Self> {
        if min <= max {
            Some(Self { min, max })
        } else {
            None
        }
    }

    /// The range holding only `v`.
    pub const fn single(v: Version) -> Self {
        Self { min: v, max: v }
    }

    /// The lowest version in the range.
    pub const fn min(&self) -> Version {
        self.min
    }

    /// The highest version in the range.
    pub const fn max(&self) -> Version {
        self.max
    }

    /// Whether `v` is in the range.
    pub const fn contains(&self, v: Version) -> bool {
        self.min <= v && v <= self.max
    }

    /// Whether the two ranges share at least one version.
    pub const fn overlaps(&self, other: &VersionRange) -> bool {
        self.min <= other.max && other.min <= self.max
    }

    /// The version two parties with these ranges agree on: the lower of the two maxima, when
    /// the ranges overlap (the reference's `compatibleVersion`).
    pub fn compatible_version(&self, other: &VersionRange) -> Option<Version> {
        self.overlaps(other).then(|| self.max.min(other.max))
    }
}

impl Encode for VersionRange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min.encode(out);
        self.max.encode(out);
    }
}

impl Decode for VersionRange {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let (min, max) = <(u16, u16)>::decode(r)?;
        Self::new(min, max).ok_or(DecodeError::Invalid("version range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negotiation_takes_the_lower_maximum() {
        let server = VersionRange::new(1, 4).unwrap();
        assert_eq!(
            server.compatible_version(&VersionRange::new(2, 3).unwrap()),
            Some(3)
        );
        assert_eq!(
            server.compatible_version(&VersionRange::new(4, 9).unwrap()),
            Some(4)
        );
        assert_eq!(server.compatible_version(&VersionRange::single(5)), None);
        assert!(VersionRange::new(3, 2).is_none());
        assert_eq!(
            VersionRange::decode_slice(&[0, 3, 0, 2]),
            Err(DecodeError::Invalid("version range"))
        );
    }

    proptest! {
        #[test]
        fn agreed_version_is_in_both(a in 0u16..10, b in 0u16..10, c in 0u16..10, d in 0u16..10) {
            let (r1, r2) = (VersionRange::new(a.min(b), a.max(b)).unwrap(), VersionRange::new(c.min(d), c.max(d)).unwrap());
            match r1.compatible_version(&r2) {
                Some(v) => prop_assert!(r1.contains(v) && r2.contains(v)),
                None => prop_assert!(!r1.overlaps(&r2)),
            }
            prop_assert_eq!(VersionRange::decode_slice(&r1.to_bytes()).unwrap(), r1);
        }
    }
}
