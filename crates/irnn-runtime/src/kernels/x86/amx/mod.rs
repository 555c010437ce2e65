//! AMX-INT8 (Sapphire Rapids and later Xeons): the matrix products (8-bit
//! and 4-bit weights) for batches, on the tile unit. Everything else is
//! AVX-512's.
//!
//! One `tdpbssd` multiplies a 16 × 64-byte tile of inputs (16 streams, 64
//! columns) by a 64 × 16 tile of weights into 16 × 16 int32 sums: 16,384
//! multiply-adds per instruction, 16× a 512-bit `vpdpbusd`. The weights'
//! packed layout is already the tile's: a B tile row (16 outputs × 4 bytes)
//! is one 64-byte line of a row block, and the 16 lines of consecutive
//! column groups sit at a fixed stride inside a tile of blocks, so weights
//! load with no repacking. The product is signed × signed, so there is no
//! `+ 128` and no row-sum correction: exact in int32 for every matrix the
//! layout admits (at most 65,536 columns × 128 × 128 < 2³¹).
//!
//! Linux hands the tile registers to a process only when it asks
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`); [`has_amx_int8`]
//! checks the CPU (CPUID), that the OS saves tile state (XCR0) and makes
//! that request once, remembering the answer. Builds without `std` never
//! use AMX.

pub mod matmul;

#[cfg(all(feature = "std", target_os = "linux"))]
mod detect {
    use core::arch::x86_64::__cpuid_count;
    use core::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const ABSENT: u8 = 1;
    const PRESENT: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// CPUID says AMX-TILE and AMX-INT8, XCR0 says the OS saves tile
    /// config and data, and the kernel granted this process the tile data.
    pub fn has_amx_int8() -> bool {
        match STATE.load(Ordering::Relaxed) {
            PRESENT => true,
            ABSENT => false,
            _ => {
                let present = probe();
                STATE.store(if present { PRESENT } else { ABSENT }, Ordering::Relaxed);
                present
            }
        }
    }

    fn probe() -> bool {
        if !std::is_x86_feature_detected!("avx512vnni")
            || !std::is_x86_feature_detected!("avx512bw")
            || !std::is_x86_feature_detected!("avx512vl")
            || !std::is_x86_feature_detected!("xsave")
        {
            return false;
        }
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 25) != 0);
        // OSXSAVE (leaf 1, ECX bit 27) makes XGETBV legal.
        let osxsave = __cpuid_count(1, 0).ecx & (1 << 27) != 0;
        if !(tile && int8 && osxsave) {
            return false;
        }
        let (lo, _hi): (u32, u32);
        // SAFETY: XGETBV with ECX = 0 is legal once OSXSAVE is set.
        unsafe {
            core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi,
                options(nomem, nostack, preserves_flags));
        }
        // XTILECFG (bit 17) and XTILEDATA (bit 18) enabled by the OS.
        if lo & (0b11 << 17) != 0b11 << 17 {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
        const XFEATURE_XTILEDATA: u64 = 18;
        const SYS_ARCH_PRCTL: u64 = 158;
        let ret: i64;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM) only changes which
        // extended states the kernel lets this process use; the syscall
        // clobbers rcx and r11 and nothing else.
        unsafe {
            core::arch::asm!("syscall",
                inlateout("rax") SYS_ARCH_PRCTL as i64 => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM, in("rsi") XFEATURE_XTILEDATA,
                out("rcx") _, out("r11") _, options(nostack));
        }
        ret == 0
    }
}

/// AMX-INT8 can run here (CPU, OS state and the process's permission; see
/// the module doc). Always false without `std` or off Linux.
pub fn has_amx_int8() -> bool {
    #[cfg(all(feature = "std", target_os = "linux"))]
    {
        detect::has_amx_int8()
    }
    #[cfg(not(all(feature = "std", target_os = "linux")))]
    {
        false
    }
}
