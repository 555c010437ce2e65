//! int8 matrix kernels: `acc = W · x` with int8 weights and activations and
//! exact int32 accumulation, then an epilogue that adds a bias and
//! requantizes each row to int8 or int16.
//!
//! One interface, several implementations (the shape of tract's `linalg`):
//! [`PackedMatrix`] holds the weights in the one layout every kernel reads,
//! [`Isa`] names an implementation, [`Isa::detect`] picks the fastest one
//! the running CPU supports, and [`Isa::kernels`] hands out its
//! [`table::Kernels`] — one slot per operation, filled with the scalar
//! reference ([`table::GENERIC`]) except where the architecture plugs in
//! something better. The scalar reference is the definition: every SIMD
//! kernel is tested bit-exact against it (`tests.rs`, one suite run against
//! every table).
//!
//! Integer accumulation is exact (no saturation anywhere in the product), so
//! "bit-exact" is a property of the algorithm, not a tolerance: any order of
//! summation gives the same int32.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod elementwise;
pub mod packed;
pub mod requant;
pub mod scalar;
pub mod table;
#[cfg(feature = "std")]
pub mod threads;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use packed::{PackedMatrix, WeightBits};
pub use requant::RowRequant;
pub use table::Kernels;

use crate::error::{check_len, Error};

/// The environment variable that forces the kernels every tool uses (a
/// name as [`Isa::name`] spells it, e.g. `IRNN_ISA=avx2`): how one machine
/// measures another tier.
pub const ISA_ENV: &str = "IRNN_ISA";

/// An instruction-set implementation of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust; the reference every other kernel must match.
    Scalar,
    /// x86-64 AVX2: int8 widened to int16, `vpmaddwd` (no saturating
    /// u8×s8 multiply, which can overflow).
    Avx2,
    /// x86-64 AVX-VNNI (VEX-encoded `vpdpbusd` on 256-bit registers).
    AvxVnni,
    /// The same 256-bit VNNI kernel compiled for AVX-512 VNNI + VL, so the
    /// AVX-VNNI code path can be tested on AVX-512 machines too.
    Avx512VnniYmm,
    /// x86-64 AVX-512 VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
    /// AVX-512 VNNI with the batched products (8-bit and 4-bit weights) on
    /// AMX-INT8 tiles (`tdpbssd`).
    Amx,
    /// aarch64 ARMv8.0 NEON (`smull`/`smlal`/`sadalp`, `sqrdmulh`).
    Neon,
    /// aarch64 NEON with the dot-product extension (`sdot`).
    NeonDot,
    /// aarch64 NEON with `sdot` and the int8 matrix multiply (`smmla`).
    NeonI8mm,
}

impl Isa {
    /// Every implementation, slowest first within each architecture (a CPU
    /// runs those of one architecture only).
    pub const ALL: [Isa; 9] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::AvxVnni,
        Isa::Avx512VnniYmm,
        Isa::Avx512Vnni,
        Isa::Amx,
        Isa::Neon,
        Isa::NeonDot,
        Isa::NeonI8mm,
    ];

    /// A short stable name, for benchmarks and logs.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avx-vnni",
            Isa::Avx512VnniYmm => "avx512-vnni-ymm",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Amx => "amx-int8",
            Isa::Neon => "neon",
            Isa::NeonDot => "neon-dot",
            Isa::NeonI8mm => "neon-i8mm",
        }
    }

    /// The implementation called `name` (as [`Isa::name`] spells it).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this implementation can run on the current CPU.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => x86::has_avx_vnni(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512VnniYmm | Isa::Avx512Vnni => x86::has_avx512_vnni(),
            #[cfg(target_arch = "x86_64")]
            Isa::Amx => x86::has_avx512_vnni() && x86::amx::has_amx_int8(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => aarch64::has_neon(),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDot => aarch64::has_dotprod(),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => aarch64::has_i8mm(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The implementation to use: the one [`ISA_ENV`] names if it is set
    /// (and this CPU runs it; `std` only), else [`Isa::fastest`].
    pub fn detect() -> Isa {
        #[cfg(feature = "std")]
        if let Ok(Some(isa)) = Isa::from_env() {
            return isa;
        }
        Isa::fastest()
    }

    /// The fastest implementation available on this CPU: the last of
    /// [`Isa::ALL`] it runs.
    pub fn fastest() -> Isa {
        Isa::available().last().unwrap_or(Isa::Scalar)
    }

    /// The kernel [`ISA_ENV`] asks for: `Ok(None)` when it is unset or
    /// empty, `Err(value)` when it names no kernel this CPU runs (callers
    /// report that; [`Isa::detect`] then ignores the variable).
    #[cfg(feature = "std")]
    pub fn from_env() -> Result<Option<Isa>, std::string::String> {
        match std::env::var(ISA_ENV) {
            Ok(v) if !v.is_empty() => match Isa::from_name(&v) {
                Some(isa) if isa.is_available() => Ok(Some(isa)),
                _ => Err(v),
            },
            _ => Ok(None),
        }
    }

    /// Every implementation available on this CPU.
    pub fn available() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_available())
    }

    /// The kernel table of this implementation, or an error if the CPU
    /// cannot run it. The one place an `Isa` becomes code.
    pub fn kernels(self) -> Result<&'static Kernels, Error> {
        if !self.is_available() {
            return Err(Error::InvalidParameter {
                what: "the requested instruction set is not available on this CPU",
            });
        }
        Ok(match self {
            Isa::Scalar => &table::GENERIC,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => &x86::AVX2,
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => &x86::AVX_VNNI,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512VnniYmm => &x86::AVX512_VNNI_YMM,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => &x86::AVX512_VNNI,
            #[cfg(target_arch = "x86_64")]
            Isa::Amx => &x86::AMX,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => &aarch64::NEON,
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDot => &aarch64::NEON_DOT,
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => &aarch64::NEON_I8MM,
            #[allow(unreachable_patterns)]
            _ => unreachable!("is_available() admits only ISAs of this architecture"),
        })
    }
}

impl PackedMatrix {
    /// `acc[r] = Σ_c W[r][c] · x[c]` for one input vector (batch 1, the
    /// streaming case). `x.len() == cols`, `acc.len() == rows`.
    pub fn matvec(&self, isa: Isa, x: &[i8], acc: &mut [i32]) -> Result<(), Error> {
        self.matmul(isa, x, 1, acc)
    }

    /// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]` for `batch` input
    /// vectors stored one after another.
    pub fn matmul(&self, isa: Isa, x: &[i8], batch: usize, acc: &mut [i32]) -> Result<(), Error> {
        let k = isa.kernels()?;
        check_len("matmul input", batch * self.cols(), x.len())?;
        check_len("matmul output", batch * self.rows(), acc.len())?;
        let kernel = match self.weight_bits() {
            WeightBits::Eight => k.matmul,
            WeightBits::Four => k.matmul_i4,
        };
        // SAFETY: `kernels` admits only tables this CPU runs; lengths checked.
        unsafe { kernel(self, x, batch, acc) };
        Ok(())
    }

    /// The most columns for which [`matmul_i16`](Self::matmul_i16) is exact
    /// in int32: every sum is at most `cols · 32768 · |w|max`, below 2³¹ for
    /// 516 columns of symmetric weights (|w| ≤ 127) and 511 with a −128.
    pub fn max_i16_columns(&self) -> usize {
        if self.has_min_weight() {
            511
        } else {
            516
        }
    }

    /// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]` for `batch` int16
    /// input vectors (16-bit activations, 8-bit weights). The matrix must
    /// have 8-bit weights and at most
    /// [`max_i16_columns`](Self::max_i16_columns) columns.
    pub fn matmul_i16(
        &self,
        isa: Isa,
        x: &[i16],
        batch: usize,
        acc: &mut [i32],
    ) -> Result<(), Error> {
        let k = isa.kernels()?;
        if self.weight_bits() != WeightBits::Eight {
            return Err(Error::InvalidParameter {
                what: "int16 activations need a matrix of 8-bit weights",
            });
        }
        if self.cols() > self.max_i16_columns() {
            return Err(Error::DimensionTooLarge {
                what: "columns of a matrix multiplying int16 activations",
                value: self.cols(),
                max: self.max_i16_columns(),
            });
        }
        check_len("matmul input", batch * self.cols(), x.len())?;
        check_len("matmul output", batch * self.rows(), acc.len())?;
        // SAFETY: `kernels` admits only tables this CPU runs; lengths,
        // width and columns checked.
        unsafe { (k.matmul_i16)(self, x, batch, acc) };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
