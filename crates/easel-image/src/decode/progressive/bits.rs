//! Reading a scan's entropy-coded bits: byte unstuffing, marker detection, and Huffman
//! symbols through a 9-bit lookup table with a canonical slow path for longer codes.
//!
//! The reader never reads past a marker. Where a scan asks for bits beyond its data it
//! gets zeros (as libjpeg-turbo does), and [`BitReader::overran`] says so, so the
//! caller can hand the file to libjpeg-turbo, whose handling of short data it must not
//! second-guess.

/// Bits resolved by one table lookup; longer codes take the canonical path.
const LOOKUP_BITS: u32 = 9;

/// A Huffman table (DHT) ready for decoding.
pub(super) struct Huffman {
    /// Indexed by the next [`LOOKUP_BITS`] bits: code length (0 = longer code) and
    /// symbol.
    lookup: Vec<(u8, u8)>,
    /// For each length 1..=16: the largest code of that length (-1: none).
    max_code: [i32; 18],
    /// For each length: index in `symbols` of the first code, minus that code.
    value_offset: [i32; 18],
    symbols: Vec<u8>,
}

impl Huffman {
    /// Builds the table from DHT's 16 counts and its symbols; `None` for a table
    /// libjpeg-turbo refuses (too many symbols, counts that overflow the code space,
    /// a DC symbol above 15).
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8], is_dc: bool) -> Option<Huffman> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > 256 || total != symbols.len() || (is_dc && symbols.iter().any(|&s| s > 15)) {
            return None;
        }
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        let mut max_code = [-1i32; 18];
        let mut value_offset = [0i32; 18];
        let mut code: u32 = 0;
        let mut index = 0usize;
        for length in 1..=16u32 {
            let count = counts[length as usize - 1] as usize;
            // No code may be all ones: the codes must leave room in `length` bits.
            if code as usize + count >= 1 << length {
                return None;
            }
            if count > 0 {
                value_offset[length as usize] = index as i32 - code as i32;
                for _ in 0..count {
                    if length <= LOOKUP_BITS {
                        let first = (code << (LOOKUP_BITS - length)) as usize;
                        let span = 1usize << (LOOKUP_BITS - length);
                        for entry in &mut lookup[first..first + span] {
                            *entry = (length as u8, symbols[index]);
                        }
                    }
                    code += 1;
                    index += 1;
                }
                max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        max_code[17] = i32::MAX;
        Some(Huffman {
            lookup,
            max_code,
            value_offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// A big-endian bit reader over one scan's entropy-coded segment.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Loaded bits, most significant first; the bits below `count` are zero.
    buffer: u64,
    count: u32,
    /// Zero bits appended after a marker was reached (they are at the buffer's end).
    padding: u32,
    /// Set once a marker stops the reader; `pos` is then at its 0xFF.
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            buffer: 0,
            count: 0,
            padding: 0,
            at_marker: false,
        }
    }

    /// Tops the buffer up to at least 57 bits; called with at most 56 loaded.
    #[inline]
    fn refill(&mut self) {
        // Fast path: eight bytes without 0xFF load at once.
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]));
            // A byte of `word` is 0xFF exactly where a byte of `!word` is zero.
            let inverted = !word;
            let has_ff =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if has_ff == 0 && !self.at_marker {
                // `count` ≤ 56 here, so at least one byte fits.
                let bytes = (64 - self.count) / 8;
                let taken = self.count + bytes * 8;
                let keep = u64::MAX.checked_shr(taken).map_or(u64::MAX, |low| !low);
                self.buffer |= (word >> self.count) & keep;
                self.count = taken;
                self.pos += bytes as usize;
                return;
            }
        }
        while self.count <= 56 {
            let byte = self.next_byte();
            self.buffer |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    /// The next data byte, unstuffed; zero (counted as padding) at a marker or the
    /// end of the data.
    #[inline]
    fn next_byte(&mut self) -> u8 {
        if self.at_marker {
            self.padding += 8;
            return 0;
        }
        match self.data.get(self.pos) {
            Some(&0xFF) => {
                // 0xFF fill bytes may precede the byte that decides.
                let mut next = self.pos + 1;
                while self.data.get(next) == Some(&0xFF) {
                    next += 1;
                }
                if self.data.get(next) == Some(&0x00) {
                    self.pos = next + 1;
                    0xFF
                } else {
                    self.at_marker = true;
                    self.padding += 8;
                    0
                }
            }
            Some(&byte) => {
                self.pos += 1;
                byte
            }
            None => {
                self.at_marker = true;
                self.padding += 8;
                0
            }
        }
    }

    /// Ensures at least `n` (≤ 57) bits are loaded.
    #[inline]
    fn need(&mut self, n: u32) {
        if self.count < n {
            self.refill();
        }
    }

    /// Takes `n` (0..=57) bits as a `u64`, loading them as needed.
    #[inline]
    pub(super) fn bits(&mut self, n: u32) -> u64 {
        if n == 0 {
            return 0;
        }
        self.need(n);
        let value = self.buffer >> (64 - n);
        self.buffer <<= n;
        self.count -= n;
        value
    }

    /// Takes `n` (0..=64) bits as a `u64`, the first read highest.
    #[inline]
    pub(super) fn long_bits(&mut self, n: u32) -> u64 {
        if n <= 57 {
            self.bits(n)
        } else {
            let high = self.bits(n - 32);
            (high << 32) | self.bits(32)
        }
    }

    /// One bit.
    #[inline]
    pub(super) fn bit(&mut self) -> bool {
        self.need(1);
        let set = self.buffer >> 63 != 0;
        self.buffer <<= 1;
        self.count -= 1;
        set
    }

    /// Decodes one Huffman symbol; `None` for a code the table does not have.
    #[inline(always)]
    pub(super) fn symbol(&mut self, table: &Huffman) -> Option<u8> {
        self.need(16);
        let (length, symbol) = table.lookup[(self.buffer >> (64 - LOOKUP_BITS)) as usize];
        if length != 0 {
            self.buffer <<= length;
            self.count -= u32::from(length);
            return Some(symbol);
        }
        let mut length = LOOKUP_BITS + 1;
        let mut code = (self.buffer >> (64 - length)) as i32;
        while length <= 16 && code > table.max_code[length as usize] {
            length += 1;
            code = (self.buffer >> (64 - length)) as i32;
        }
        if length > 16 {
            return None;
        }
        self.buffer <<= length;
        self.count -= length;
        let index = code + table.value_offset[length as usize];
        table.symbols.get(usize::try_from(index).ok()?).copied()
    }

    /// Whether bits past the end of the data (zeros after a marker) were used.
    pub(super) fn overran(&self) -> bool {
        self.count < self.padding
    }

    /// Ends the segment: the marker that must follow the data at once (after fill
    /// bytes) and the position after it. `None` where bits beyond the data were used
    /// or where whole bytes are left before the marker, which libjpeg-turbo reports as
    /// "extraneous bytes" (a warning that makes it refuse the file).
    pub(super) fn finish(&mut self) -> Option<(u8, usize)> {
        if self.overran() || self.count - self.padding >= 8 {
            return None;
        }
        let mut pos = self.pos;
        if *self.data.get(pos)? != 0xFF {
            return None;
        }
        while *self.data.get(pos)? == 0xFF {
            pos += 1;
        }
        let code = self.data[pos];
        if code == 0 {
            return None;
        }
        *self = BitReader::new(self.data, pos + 1);
        Some((code, pos + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::{BitReader, Huffman};

    #[test]
    fn unstuffs_and_stops_at_markers() {
        // 0xFF 0x00 is a data byte 0xFF; 0xFF 0xD0 is a marker.
        let data = [0xA5, 0xFF, 0x00, 0x3C, 0xFF, 0xD0, 0x11];
        let mut bits = BitReader::new(&data, 0);
        assert_eq!(bits.bits(8), 0xA5);
        assert_eq!(bits.bits(8), 0xFF);
        assert_eq!(bits.bits(8), 0x3C);
        assert!(!bits.overran());
        assert_eq!(bits.bits(4), 0);
        assert!(bits.overran());
        assert_eq!(bits.finish(), None, "bits past the marker were used");
    }

    #[test]
    fn finishes_only_at_a_marker_right_after_the_data() {
        let data = [0xA5, 0xFF, 0xFF, 0xD0, 0x11];
        let mut bits = BitReader::new(&data, 0);
        assert_eq!(bits.bits(5), 0b10100);
        assert_eq!(bits.finish(), Some((0xD0, 4)));
        assert_eq!(bits.bits(8), 0x11);
        // A whole unread byte before the marker is extraneous data.
        let data = [0xA5, 0x5A, 0xFF, 0xD9];
        let mut bits = BitReader::new(&data, 0);
        assert_eq!(bits.bits(3), 0b101);
        assert_eq!(bits.finish(), None);
    }

    #[test]
    fn decodes_short_and_long_codes() {
        // Lengths: one code of 1 bit ('0' -> 7), then one of each length 2..=12
        // ('10' -> 8, '110' -> 9, ...), the longest beyond the lookup table.
        let mut counts = [0u8; 16];
        counts[..12].fill(1);
        let symbols: Vec<u8> = (7..19).collect();
        let table = Huffman::new(&counts, &symbols, false).expect("a valid table");
        // '0', '10', then the 12-bit code '111111111110', then '110'.
        let stream: u32 = 0b0101_1111_1111_1101_1000_0000_0000_0000;
        let data = stream.to_be_bytes();
        let mut bits = BitReader::new(&data, 0);
        assert_eq!(bits.symbol(&table), Some(7));
        assert_eq!(bits.symbol(&table), Some(8));
        assert_eq!(bits.symbol(&table), Some(18));
        assert_eq!(bits.symbol(&table), Some(9));
    }

    #[test]
    fn refuses_tables_libjpeg_refuses() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(Huffman::new(&counts, &[1, 2, 3], false).is_none());
        counts[0] = 1;
        assert!(
            Huffman::new(&counts, &[16], true).is_none(),
            "DC symbol above 15"
        );
        assert!(
            Huffman::new(&counts, &[16, 17], false).is_none(),
            "count mismatch"
        );
    }
}
