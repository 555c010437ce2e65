//! Standard output that never panics. `println!` panics when stdout is
//! closed (`irnn kernels | head -1`) or full (`> /dev/full`); every line the
//! CLI prints goes through `outln!` / `out!` instead. A closed pipe ends
//! the program quietly with success, as ripgrep does (the reader asked for
//! no more); any other write error ends it with a message and status 1.
//! Files already saved are whole either way (they are written atomically,
//! before or after the lines that report them).

use std::io::Write;

/// Writes `args` to stdout, or ends the program as the module says.
pub fn write(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("Error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` that never panics ([`write()`]).
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics ([`write()`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}
