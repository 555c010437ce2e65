//! `irnn bench`: one recurrent step, integer runtime vs irnn's own f32 step,
//! one thread, plus the roofline of each shape on this core.

use anyhow::{bail, Result};
use clap::Args;
use irnn_runtime::kernels::WeightBits;
use irnn_runtime::layers::SEQUENCE_CHUNK;
use irnn_runtime::Isa;
use irnn_train::step_bench::{kernel_peak_gmacs, read_bandwidth_gbs, time_calls, Case, Cell};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Hidden sizes (input = hidden).
    #[arg(value_parser = crate::args::parse::dim, long, value_delimiter = ',', default_values_t = [256, 1024])]
    hidden: Vec<usize>,
    /// Streams per call (1 = streaming, one step per call).
    #[arg(value_parser = crate::args::parse::count, long, value_delimiter = ',', default_values_t = [1, 16])]
    batch: Vec<usize>,
    /// Cells.
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("lstm"), String::from("gru")])]
    cell: Vec<String>,
    /// Timed calls per case.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 2000)]
    calls: usize,
    /// Steps per call in the sequence mode (batch 1, the input product
    /// hoisted out of the recurrence); 0 skips it.
    #[arg(long, default_value_t = 200)]
    sequence: usize,
    /// Also time batch 1 on two threads (one stream, each product's rows
    /// split between the cores).
    #[arg(long)]
    two_threads: bool,
    /// Bits per weight of the integer cells, 8 and/or 4 (`--weight-bits 8,4`
    /// times both and compares them).
    #[arg(long, value_parser = crate::args::parse::weight_bits, value_delimiter = ',', default_value = "8")]
    weight_bits: Vec<WeightBits>,
    /// Kernels to use (`irnn kernels` lists them); default: the fastest this CPU runs.
    #[arg(long, value_parser = parse_isa)]
    isa: Option<Isa>,
    /// Machine-readable output (tab-separated, one line per case and runtime).
    #[arg(long)]
    tsv: bool,
}

/// The CPU's model name (Linux), for the table header.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// An `--isa` value: a kernel name this CPU can run.
fn parse_isa(name: &str) -> Result<Isa, String> {
    let names: Vec<_> = Isa::ALL.iter().map(|i| i.name()).collect();
    let isa = Isa::from_name(name).ok_or_else(|| {
        format!(
            "unknown kernel '{name}' (expected one of {})",
            names.join(", ")
        )
    })?;
    if !isa.is_available() {
        return Err(format!(
            "kernel '{name}' cannot run on this CPU (`irnn kernels` lists those that can)"
        ));
    }
    Ok(isa)
}

pub fn run(a: BenchArgs) -> Result<()> {
    let cells: Vec<Cell> = a
        .cell
        .iter()
        .map(|c| match c.as_str() {
            "lstm" => Ok(Cell::Lstm),
            "gru" => Ok(Cell::Gru),
            o => bail!("unknown cell '{o}' (expected lstm or gru)"),
        })
        .collect::<Result<_>>()?;
    if a.hidden.iter().chain(&a.batch).any(|&v| v == 0) || a.batch.iter().any(|&b| b > 64) {
        bail!("--hidden must be positive and --batch in 1..=64");
    }
    // The largest case: int8 and f32 weights of 4H × 2H, batch buffers, and
    // the sequence mode's inputs and outputs.
    let h = a.hidden.iter().copied().max().unwrap_or(0) as u64;
    let b = a.batch.iter().copied().max().unwrap_or(0) as u64;
    let bytes = 8 * h * h * 5 + b * h * 64 + a.sequence as u64 * h * 16;
    crate::args::check_memory(bytes, &format!("benchmarking H = {h}"))?;
    let isa = a.isa.unwrap_or_else(Isa::detect);
    let peak = kernel_peak_gmacs(isa, 1, WeightBits::Eight)?;
    // The kernel's in-cache peak per batch size and width, measured once each.
    let mut peaks = vec![(1, WeightBits::Eight, peak)];
    if a.tsv {
        outln!("runtime\tcell\thidden\tbatch\tmedian_us\tmin_us\tmax_us\tbytes");
    } else {
        outln!(
            "one step, input = hidden, one thread; CPU: {}; integer kernels: {}; in-cache peak of its matrix kernel: {peak:.1} GMAC/s (batch 1)",
            cpu_model(),
            isa.name(),
        );
        outln!("\n| cell | H | batch | weights | integer µs (min–max) | f32 µs (min–max) | f32 / integer | integer bytes | f32 bytes | bytes ratio |");
        outln!("|---|---:|---:|---|---|---|---:|---:|---:|---:|");
    }
    let mut roof = Vec::new();
    let mut sequences = Vec::new();
    let mut threaded = Vec::new();
    let mut widths = Vec::new();
    for &cell in &cells {
        for &h in &a.hidden {
            for (&b, &bits) in a
                .batch
                .iter()
                .flat_map(|b| a.weight_bits.iter().map(move |w| (b, w)))
            {
                let int_name = format!("int{}", bits.bits());
                let mut case = Case::with_weight_bits(cell, h, b, bits);
                let calls = (a.calls * 256 / h.max(1) / b.max(1)).clamp(50, a.calls * 4);
                let x8 = case.x8.clone();
                let mut err = None;
                let int = time_calls(calls, || {
                    if let Err(e) = case.int.step(isa, &x8) {
                        err = Some(e);
                    }
                });
                if let Some(e) = err {
                    return Err(e.into());
                }
                let x32 = case.x32.clone();
                let f = time_calls(calls, || case.f32.step(&x32));
                let (ib, fb) = (case.int.bytes(), case.f32.bytes());
                if a.tsv {
                    let name = format!("irnn-{int_name}");
                    for (name, t, bytes) in [(name.as_str(), int, ib), ("irnn-f32", f, fb)] {
                        outln!(
                            "{name}\t{}\t{h}\t{b}\t{:.3}\t{:.3}\t{:.3}\t{bytes}",
                            cell.name(),
                            t.median_us,
                            t.min_us,
                            t.max_us
                        );
                    }
                } else {
                    outln!(
                        "| {} | {h} | {b} | {int_name} | {:.2} ({:.2}–{:.2}) | {:.2} ({:.2}–{:.2}) | {:.2}× | {ib} | {fb} | {:.3} |",
                        cell.name(),
                        int.median_us,
                        int.min_us,
                        int.max_us,
                        f.median_us,
                        f.min_us,
                        f.max_us,
                        f.median_us / int.median_us,
                        ib as f64 / fb as f64
                    );
                }
                roof.push((cell, h, b, bits, int.median_us));
                widths.push((cell, h, b, bits, int.median_us));
                if b == 1 && a.two_threads {
                    let mut two = case.int.two_threads()?;
                    let mut err = None;
                    let t2 = time_calls(calls, || {
                        if let Err(e) = two.step(isa, &x8) {
                            err = Some(e);
                        }
                    });
                    if let Some(e) = err {
                        return Err(e.into());
                    }
                    if a.tsv {
                        outln!(
                            "irnn-{int_name}-2threads\t{}\t{h}\t1\t{:.3}\t{:.3}\t{:.3}\t{ib}",
                            cell.name(),
                            t2.median_us,
                            t2.min_us,
                            t2.max_us
                        );
                    }
                    threaded.push((cell, h, bits, int.median_us, t2.median_us));
                }
                if b == 1 && a.sequence > 0 {
                    let mut rng = StdRng::seed_from_u64(h as u64);
                    let xs: Vec<i8> = (0..a.sequence * h).map(|_| rng.gen()).collect();
                    let mut err = None;
                    let seq = time_calls((calls / a.sequence).max(20), || {
                        if let Err(e) = case.int.run_sequence(isa, &xs) {
                            err = Some(e);
                        }
                    });
                    if let Some(e) = err {
                        return Err(e.into());
                    }
                    let per_step = seq.median_us / a.sequence as f64;
                    if a.tsv {
                        outln!(
                            "irnn-{int_name}-seq\t{}\t{h}\t1\t{per_step:.3}\t{:.3}\t{:.3}\t{ib}",
                            cell.name(),
                            seq.min_us / a.sequence as f64,
                            seq.max_us / a.sequence as f64
                        );
                    }
                    sequences.push((cell, h, bits, int.median_us, per_step));
                }
            }
        }
    }
    if a.tsv {
        return Ok(());
    }
    if !threaded.is_empty() {
        outln!(
            "\nTwo threads, one stream (batch 1; each product's rows split between the cores):\n"
        );
        outln!("| cell | H | weights | 1 thread µs | 2 threads µs | speed-up |");
        outln!("|---|---:|---|---:|---:|---:|");
        for (cell, h, bits, one, two) in &threaded {
            outln!(
                "| {} | {h} | int{} | {one:.2} | {two:.2} | {:.2}× |",
                cell.name(),
                bits.bits(),
                one / two
            );
        }
    }
    if !sequences.is_empty() {
        outln!(
            "\nSequence mode: {} steps per call, batch 1, W_x · [x_1 … x_T] batched per {SEQUENCE_CHUNK} steps, then W_h · h per step:\n",
            a.sequence
        );
        outln!(
            "| cell | H | weights | streaming µs/step | sequence µs/step | streaming / sequence |"
        );
        outln!("|---|---:|---|---:|---:|---:|");
        for (cell, h, bits, stream_us, seq_us) in &sequences {
            outln!(
                "| {} | {h} | int{} | {stream_us:.2} | {seq_us:.2} | {:.2}× |",
                cell.name(),
                bits.bits(),
                stream_us / seq_us
            );
        }
    }
    if a.weight_bits.contains(&WeightBits::Eight) && a.weight_bits.contains(&WeightBits::Four) {
        outln!("\n4-bit against 8-bit weights, same run (one step per call):\n");
        outln!("| cell | H | batch | int8 µs | int4 µs | int8 / int4 |");
        outln!("|---|---:|---:|---:|---:|---:|");
        for &(cell, h, b, bits, four) in &widths {
            if bits != WeightBits::Four {
                continue;
            }
            let eight = widths
                .iter()
                .find(|w| (w.0, w.1, w.2, w.3) == (cell, h, b, WeightBits::Eight));
            if let Some(&(.., eight)) = eight {
                outln!(
                    "| {} | {h} | {b} | {eight:.2} | {four:.2} | {:.2}× |",
                    cell.name(),
                    eight / four
                );
            }
        }
    }
    outln!("\nRoofline of the integer step (weights streamed once per call):\n");
    outln!("| cell | H | batch | weights | weight bytes | read GB/s at that size | memory bound µs | MACs | compute bound µs | bound µs | measured µs | fraction of bound |");
    outln!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (cell, h, b, bits, measured) in roof {
        let gates = if cell == Cell::Lstm { 4 } else { 3 };
        let macs_per_stream = 2 * gates * h * h;
        let weight_bytes = macs_per_stream * bits.bits() as usize / 8;
        let bw = read_bandwidth_gbs(weight_bytes);
        let mem_us = weight_bytes as f64 / (bw * 1e3);
        let macs = (macs_per_stream * b) as f64;
        let peak_b = match peaks.iter().find(|p| (p.0, p.1) == (b, bits)) {
            Some(&(.., p)) => p,
            None => {
                let p = kernel_peak_gmacs(isa, b, bits)?;
                peaks.push((b, bits, p));
                p
            }
        };
        let comp_us = macs / (peak_b * 1e3);
        let bound = mem_us.max(comp_us);
        outln!(
            "| {} | {h} | {b} | int{} | {weight_bytes} | {bw:.1} | {mem_us:.2} | {macs:.0} | {comp_us:.2} | {bound:.2} | {measured:.2} | {:.0} % |",
            cell.name(),
            bits.bits(),
            100.0 * bound / measured
        );
    }
    Ok(())
}
