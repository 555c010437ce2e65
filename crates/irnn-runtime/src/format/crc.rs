//! The CRC-32 (IEEE 802.3, as zlib and PNG) over a model's payload. By
//! default `crc32fast` computes it (SIMD where the CPU has it, a 16 KB
//! table otherwise); with the `small-crc` feature a 1 KB table built at
//! compile time does, for microcontrollers where flash counts more than
//! load time. Both give the same value (tested).

/// The CRC-32 of `bytes`.
pub(in crate::format) fn crc32(bytes: &[u8]) -> u32 {
    #[cfg(feature = "small-crc")]
    {
        crc32_small(bytes)
    }
    #[cfg(not(feature = "small-crc"))]
    {
        crc32fast::hash(bytes)
    }
}

/// The reflected polynomial of CRC-32.
const POLY: u32 = 0xEDB8_8320;

/// One byte's CRC update for every byte value.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// CRC-32 with the 256-entry table, a byte at a time.
#[cfg_attr(not(any(feature = "small-crc", test)), allow(dead_code))]
pub(in crate::format) fn crc32_small(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn the_small_table_gives_crc32fasts_values() {
        assert_eq!(crc32_small(b""), 0);
        assert_eq!(crc32_small(b"123456789"), 0xCBF4_3926); // the check value
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in [1usize, 7, 64, 1000, 4097] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(crc32_small(&bytes), crc32fast::hash(&bytes), "length {len}");
            assert_eq!(crc32(&bytes), crc32fast::hash(&bytes));
        }
    }
}
