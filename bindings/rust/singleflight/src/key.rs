//! [`Key`]: a call's copy of its key, inline when short.
//!
//! A short key is copied in whole machine words, read from the caller's
//! slice with loads that may overlap: no call to `memcpy`, whose narrow
//! stores, read back at once as wider words when the key moves into its
//! `Call` (and the `Call` into a task), stall the processor.

/// Keys up to this long live inside the `Call` (in 32 bytes with the
/// length and the tag, as a boxed key would take).
const INLINE_WORDS: usize = 3;
const INLINE_KEY: usize = INLINE_WORDS * 8;

pub(crate) enum Key {
    /// The key's bytes in order, in memory, as little-endian words.
    Inline {
        len: u8,
        words: [u64; INLINE_WORDS],
    },
    Heap(Box<[u8]>),
}

impl Key {
    pub(crate) fn new(k: &[u8]) -> Key {
        let n = k.len();
        if n > INLINE_KEY {
            return Key::Heap(k.into());
        }
        let mut words = [0u64; INLINE_WORDS];
        for (i, w) in words.iter_mut().enumerate() {
            let at = i * 8;
            if at >= n {
                break;
            }
            *w = word(&k[at..n.min(at + 8)]).to_le();
        }
        Key::Inline { len: n as u8, words }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            // Safety: `words` are 8 * INLINE_WORDS initialized bytes, the
            // key's in order (each word stored little-endian), `len` of
            // them the key's.
            Key::Inline { len, words } => unsafe {
                std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), *len as usize)
            },
            Key::Heap(b) => b,
        }
    }
}

/// Up to 8 bytes as the little-endian value of a word (zero above them).
fn word(b: &[u8]) -> u64 {
    let n = b.len();
    let le4 = |s: &[u8]| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    match n {
        8 => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        // Two loads of four that overlap: the shared bytes agree.
        4..=7 => le4(b) | (le4(&b[n - 4..]) << ((n - 4) * 8)),
        _ => b.iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn every_length_reads_back_as_given() {
        let bytes: Vec<u8> = (1..=40).collect();
        for n in 0..=bytes.len() {
            let k = &bytes[..n];
            assert_eq!(Key::new(k).as_slice(), k, "length {n}");
        }
        assert!(matches!(Key::new(&bytes[..24]), Key::Inline { .. }));
        assert!(matches!(Key::new(&bytes[..25]), Key::Heap(_)));
    }
}
