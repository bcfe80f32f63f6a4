//! [`Tail`]: the last bytes of a stream, and its last lines as text.

use std::collections::VecDeque;

/// The last `max` bytes of a stream (the rest passes through, unkept).
#[derive(Debug, Default)]
pub(crate) struct Tail {
    bytes: VecDeque<u8>,
    max: usize,
    cut: bool,
}

impl Tail {
    pub(crate) fn new(max: usize) -> Self {
        Tail {
            bytes: VecDeque::with_capacity(max.min(64 * 1024)),
            max,
            cut: false,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if chunk.len() > self.max {
            self.cut = true;
        }
        let chunk = &chunk[chunk.len().saturating_sub(self.max)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.max);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.cut = true;
        }
        self.bytes.extend(chunk);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// The last `lines` lines, as UTF-8 (invalid bytes replaced; a line cut by the byte limit
    /// starts with `…`), without the final newline.
    pub(crate) fn text(&self, lines: usize) -> String {
        let bytes: Vec<u8> = self.bytes.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches(['\n', '\r']);
        let mut kept: Vec<&str> = text.rsplit('\n').take(lines).collect();
        kept.reverse();
        let starts_whole = !self.cut && kept.len() == text.split('\n').count();
        let mut out = kept.join("\n");
        if !starts_whole {
            // The first kept line may be the end of a longer one (or of a split character).
            out.insert(0, '…');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let mut t = Tail::new(1024);
        t.push(b"a\nb\n");
        t.push(b"c\n");
        assert_eq!(t.text(2), "…b\nc");
        assert_eq!(t.text(5), "a\nb\nc");
    }

    #[test]
    fn bounded_and_utf8_safe() {
        let mut t = Tail::new(8);
        t.push("ééééé\n".as_bytes()); // 11 bytes: cut in the middle of a character
        assert!(t.text(3).starts_with('…'));
        assert!(t.text(3).ends_with("éé") || t.text(3).contains('\u{FFFD}'));
        t.push(&[0xff, 0xfe, b'\n']);
        assert!(t.text(1).contains('\u{FFFD}'));
        let mut long = Tail::new(16);
        long.push(&[b'x'; 100_000]);
        assert_eq!(long.text(1).chars().filter(|&c| c == 'x').count(), 16);
        assert!(Tail::new(4).is_empty());
    }
}
