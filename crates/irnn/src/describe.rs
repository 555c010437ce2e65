//! Describing integer layers for `irnn inspect`: shapes, grids, multipliers
//! and PWL tables, the same words for every model kind.

use irnn_train::quant::export::logit_scale;

/// The real value of a fixed-point multiplier.
pub fn multiplier_real(m: irnn_runtime::QuantizedMultiplier) -> f64 {
    logit_scale(m)
}

/// One line describing a PWL table.
pub fn pwl_line(name: &str, t: &irnn_runtime::PwlTable) -> String {
    let k = t.knots();
    format!(
        "      {name:<14} {:>3} knots on [{}, {}]",
        k.len(),
        k[0],
        k[k.len() - 1]
    )
}

/// An LSTM cell's shape, grids and tables, under `label`.
pub fn print_lstm<A: irnn_runtime::layers::Activation>(
    label: &str,
    c: &irnn_runtime::layers::IntLstmCell<A>,
) {
    let mut flags = Vec::new();
    if c.gate_norm.is_some() {
        flags.push("gate LayerNorm");
    }
    if c.cell_norm.is_some() {
        flags.push("cell LayerNorm");
    }
    if c.capped_input_gate {
        flags.push("capped input gate");
    }
    outln!(
        "{label}: LSTM {} → {}{}",
        c.input,
        c.hidden,
        if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        }
    );
    outln!(
        "    weights int{} W_x [{} × {}], W_h [{} × {}] = {} bytes; per-row multipliers and int32 biases",
        c.w_x.weight_bits().bits(),
        c.w_x.rows(),
        c.w_x.cols(),
        c.w_h.rows(),
        c.w_h.cols(),
        (c.w_x.rows() * c.w_x.cols() + c.w_h.rows() * c.w_h.cols())
            * c.w_x.weight_bits().bits() as usize
            / 8
    );
    outln!(
        "    cell int16, scale 2^-{}; h int{} zero point {}, o·tanh(c) → h multiplier {:.6e}",
        c.cell_fraction_bits,
        A::BITS,
        c.h_zero_point,
        multiplier_real(c.output_multiplier)
    );
    outln!("    PWL tables (int16 input → Q0.15):");
    for (name, t) in ["sigmoid i", "sigmoid f", "tanh g", "sigmoid o"]
        .iter()
        .zip(&c.gate_activation)
    {
        outln!("{}", pwl_line(name, t));
    }
    outln!("{}", pwl_line("tanh cell", &c.cell_tanh));
}
