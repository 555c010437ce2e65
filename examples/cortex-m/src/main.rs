//! irnn on a Cortex-M4: a language model used in place from flash.
//!
//! The model (`OUT_DIR/model.irnn`, prepared by build.rs in the in-place
//! layout) is a byte array in flash at a 64-byte-aligned address;
//! `read_language_model_in_place` checks it (checksum, every size and value) and
//! borrows every weight from it, so the heap holds only the model's small
//! structs and vocabulary, then the stream's state and scratch. The program
//! feeds a prompt, generates tokens by integer argmax, checks them against
//! the host runtime's (build.rs), and reports the memory it used: heap
//! after loading and after making the state, the stack's high-water mark.
//!
//! ```sh
//! cd examples/cortex-m && cargo run --release   # under qemu-system-arm
//! ```

#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap as Heap;

#[cfg(not(feature = "baseline"))]
mod generate;
#[cfg(not(feature = "baseline"))]
use generate::run;

#[global_allocator]
pub static HEAP: Heap = Heap::empty();

/// Heap for the model's structs, its state and scratch.
const HEAP_BYTES: usize = 32 * 1024;

/// Stack bytes painted to find the high-water mark.
const STACK_PAINT: usize = 16 * 1024;
const PAINT: u32 = 0xA5A5_A5A5;

/// The model in flash, 64-byte aligned as the in-place reader requires.
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);
pub static MODEL: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.irnn")));
/// The token ids the host runtime generated (little-endian u32s).
pub static EXPECTED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/expected.bin"));
pub static PROMPT: &str = include_str!(concat!(env!("OUT_DIR"), "/prompt.txt"));

#[entry]
fn main() -> ! {
    let stack_top = cortex_m::register::msp::read() as usize;
    paint_stack(stack_top);
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: called once, before any allocation; the static is used
        // by nothing else.
        unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, HEAP_BYTES) }
    }
    match run(stack_top) {
        Ok(()) => debug::exit(debug::EXIT_SUCCESS),
        Err(e) => {
            hprintln!("error: {}", e);
            debug::exit(debug::EXIT_FAILURE)
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// The harness alone: the same output and heap machinery, no runtime.
#[cfg(feature = "baseline")]
fn run(stack_top: usize) -> Result<(), &'static str> {
    let v: alloc::vec::Vec<u32> = (0..4).map(|i| i + EXPECTED.len() as u32).collect();
    cortex_m_semihosting::hprint!("{}", PROMPT);
    hprintln!(
        "baseline: {} {} {} {}",
        v[0],
        HEAP.used(),
        core::hint::black_box(MODEL.0.len()),
        stack_used(stack_top)
    );
    Ok(())
}

/// A panic (a bug: the runtime returns errors, it does not panic) is
/// reported and ends the run with a failure code.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Fills the `STACK_PAINT` bytes below the current stack frame with a
/// pattern (the stack grows down from `top`).
#[inline(never)]
fn paint_stack(top: usize) {
    let sp = cortex_m::register::msp::read() as usize;
    let low = top - STACK_PAINT;
    let mut p = low;
    // Leave 256 bytes under this frame alone.
    while p + 256 < sp {
        // SAFETY: below the live stack, within the RAM the stack owns.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used since painting: from the top down to the lowest
/// word that no longer holds the pattern.
pub fn stack_used(top: usize) -> usize {
    let mut p = top - STACK_PAINT;
    // SAFETY: the painted region, below the live stack.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
