//! Byte-level codecs shared by the ledger: proto-style varints (as Go's
//! `proto.EncodeVarint`), length-prefixed bytes, v0.6's order-preserving
//! varint (`EncodeOrderPreservingVarUint64`) and a bounds-checked [`Reader`]
//! whose every read checks the remaining input before it slices or allocates.

/// Why a read from a [`Reader`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Fewer bytes remain than the item needs.
    #[error("truncated at offset {offset}: need {needed} bytes, {remaining} remain")]
    Truncated {
        /// Offset of the item.
        offset: usize,
        /// Bytes the item needs.
        needed: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A varint runs past 10 bytes or overflows 64 bits.
    #[error("bad varint at offset {offset}")]
    BadVarint {
        /// Offset of the varint.
        offset: usize,
    },
}

/// Appends `value` as a proto varint.
pub fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Truncation to the low 7 bits is the point of the encoding.
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// `value` as a proto varint.
pub fn varint(value: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(varint_len(value));
    put_varint(&mut buf, value);
    buf
}

/// Number of bytes of `value` as a proto varint.
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `varint(len) ‖ bytes` (Go's `EncodeRawBytes`).
pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// v0.6 `EncodeOrderPreservingVarUint64`: one byte holding the number of
/// significant big-endian bytes, then those bytes (so byte order equals
/// numeric order). Zero encodes as `[0]`.
pub fn ordered_varint(value: u64) -> Vec<u8> {
    let be = value.to_be_bytes();
    let skip = (value.leading_zeros() / 8) as usize;
    let significant = be.get(skip..).unwrap_or_default();
    let mut out = Vec::with_capacity(1 + significant.len());
    out.push(significant.len() as u8);
    out.extend_from_slice(significant);
    out
}

/// Decodes [`ordered_varint`] from the front of `bytes`: the value and the
/// number of bytes consumed, or `None` when the prefix is malformed.
pub fn decode_ordered_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let size = usize::from(*bytes.first()?);
    if size > 8 {
        return None;
    }
    let body = bytes.get(1..1 + size)?;
    let value = body.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Some((value, 1 + size))
}

/// A cursor over untrusted input; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Current offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether the input is fully read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads a proto varint (at most 10 bytes, no overflow).
    ///
    /// # Errors
    /// [`ReadError::Truncated`] or [`ReadError::BadVarint`].
    pub fn varint(&mut self) -> Result<u64, ReadError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ReadError::Truncated {
                    offset: start,
                    needed: u64::from(i) + 1,
                    remaining: i as usize,
                });
            };
            self.pos += 1;
            let low = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(ReadError::BadVarint { offset: start });
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadError::BadVarint { offset: start })
    }

    /// Reads exactly `len` bytes, checking `len` against the remaining input
    /// first.
    ///
    /// # Errors
    /// [`ReadError::Truncated`].
    pub fn take(&mut self, len: u64) -> Result<&'a [u8], ReadError> {
        let truncated = ReadError::Truncated {
            offset: self.pos,
            needed: len,
            remaining: self.remaining(),
        };
        let n = usize::try_from(len).map_err(|_| truncated.clone())?;
        if n > self.remaining() {
            return Err(truncated);
        }
        let end = self.pos + n;
        let out = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads `varint(len) ‖ bytes` (Go's `DecodeRawBytes`).
    ///
    /// # Errors
    /// [`ReadError::Truncated`] or [`ReadError::BadVarint`].
    pub fn bytes(&mut self) -> Result<&'a [u8], ReadError> {
        let len = self.varint()?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_proto() {
        assert_eq!(varint(0), vec![0]);
        assert_eq!(varint(1), vec![1]);
        assert_eq!(varint(127), vec![0x7f]);
        assert_eq!(varint(128), vec![0x80, 0x01]);
        assert_eq!(varint(300), vec![0xac, 0x02]);
        assert_eq!(varint(u64::MAX).len(), 10);
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            assert_eq!(varint(v).len(), varint_len(v));
            assert_eq!(Reader::new(&varint(v)).varint(), Ok(v));
        }
    }

    #[test]
    fn bad_and_truncated_varints_are_refused() {
        assert_eq!(
            Reader::new(&[0x80, 0x80]).varint(),
            Err(ReadError::Truncated {
                offset: 0,
                needed: 3,
                remaining: 2
            })
        );
        let eleven = [0xff; 11];
        assert_eq!(
            Reader::new(&eleven).varint(),
            Err(ReadError::BadVarint { offset: 0 })
        );
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&overflow).varint(),
            Err(ReadError::BadVarint { offset: 0 })
        );
    }

    #[test]
    fn lengths_are_checked_before_reading() {
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert_eq!(
            r.bytes(),
            Err(ReadError::Truncated {
                offset: 1,
                needed: 5,
                remaining: 2
            })
        );
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(r.bytes(), Err(ReadError::Truncated { .. })));
    }

    #[test]
    fn ordered_varint_is_v06() {
        assert_eq!(ordered_varint(0), vec![0]);
        assert_eq!(ordered_varint(1), vec![1, 1]);
        assert_eq!(ordered_varint(255), vec![1, 255]);
        assert_eq!(ordered_varint(256), vec![2, 1, 0]);
        assert_eq!(ordered_varint(1_000_003), vec![3, 0x0f, 0x42, 0x43]);
        for v in [0, 1, 255, 256, 1_000_003, u64::MAX] {
            let e = ordered_varint(v);
            assert_eq!(decode_ordered_varint(&e), Some((v, e.len())));
        }
        assert!(ordered_varint(255) < ordered_varint(256));
        assert_eq!(decode_ordered_varint(&[9, 0, 0]), None);
        assert_eq!(decode_ordered_varint(&[2, 1]), None);
    }
}
