//! `irnn inspect` of an integer language model.

use anyhow::Result;
use irnn_runtime::model::RecurrentCell;
use irnn_runtime::TokenLevel;
use irnn_train::quant::export::logit_scale;

use crate::describe::{multiplier_real, print_lstm, pwl_line};
use crate::model_file::ModelFile;

/// `irnn inspect` of a language model.
pub fn run(file: &ModelFile) -> Result<()> {
    let model = file.language_model()?;
    let size = file.bytes.len();
    let v = &model.vocabulary;
    outln!(
        "{}: {size} bytes, format version {}",
        file.path.display(),
        file.format_version()
    );
    outln!(
        "vocabulary: {} {} tokens",
        v.len(),
        if v.level == TokenLevel::Char {
            "character"
        } else {
            "word"
        }
    );
    let e = &model.embedding;
    match e.four_bit() {
        None => outln!(
            "embedding: int8 [{} × {}] = {} bytes",
            e.vocab(),
            e.dim(),
            e.vocab() * e.dim()
        ),
        Some(_) => outln!(
            "embedding: int4 codes [{} × {}] = {} bytes in the file, a factor per row; int8 in memory",
            e.vocab(),
            e.dim(),
            e.vocab() * e.dim().div_ceil(2)
        ),
    }
    for (l, layer) in model.layers.iter().enumerate() {
        match &layer.cell {
            RecurrentCell::Lstm(c) => print_lstm(&format!("layer {l}"), c),
            RecurrentCell::Gru(c) => {
                outln!(
                    "layer {l}: GRU {} → {} (reset {:?})",
                    c.input,
                    c.hidden,
                    c.reset
                );
                outln!(
                    "    weights int{} W_x [{} × {}], W_h [{} × {}]; h int8 zero point {}",
                    c.w_x.weight_bits().bits(),
                    c.w_x.rows(),
                    c.w_x.cols(),
                    c.w_h.rows(),
                    c.w_h.cols(),
                    c.h_zero_point
                );
                outln!("    PWL tables (int16 input → Q0.15):");
                for (name, t) in ["sigmoid r", "sigmoid z", "tanh n"]
                    .iter()
                    .zip(&c.gate_activation)
                {
                    outln!("{}", pwl_line(name, t));
                }
            }
        }
        if let Some(add) = &layer.residual {
            outln!(
                "    residual add: multipliers {:.4} (h), {:.4} (input); zero points {}, {} → {}",
                multiplier_real(add.multiplier_a),
                multiplier_real(add.multiplier_b),
                add.zero_point_a,
                add.zero_point_b,
                add.zero_point_out
            );
        }
    }
    let o = &model.output;
    outln!(
        "output: int{} [{} × {}], {}; int32 logits, unit {:.6e}",
        o.weights.weight_bits().bits(),
        o.weights.rows(),
        o.weights.cols(),
        if o.row_factors.is_some() {
            "one weight unit times an integer factor per row"
        } else {
            "one weight scale"
        },
        logit_scale(o.logit_scale)
    );
    Ok(())
}

/// `irnn inspect` of a float language-model checkpoint: its architecture,
/// its tensors (PyTorch's names and shapes), whether it holds QAT ranges.
pub fn checkpoint(file: &ModelFile) -> Result<()> {
    let ck = file.lm_checkpoint()?;
    let c = &ck.model.config;
    outln!(
        "{}: {} bytes, float language-model checkpoint",
        file.path.display(),
        file.bytes.len()
    );
    outln!(
        "{:?}, {} layer(s) of {}, embedding {}, vocabulary {} {:?} tokens{}{}{}{}",
        c.cell,
        c.layers,
        c.hidden,
        c.embedding,
        c.vocab,
        c.level,
        if c.layer_norm { ", LayerNorm" } else { "" },
        if c.residual { ", residual" } else { "" },
        if c.capped_input_gate {
            ", capped input gate"
        } else {
            ""
        },
        if c.reset_before {
            ", GRU reset before"
        } else {
            ""
        },
    );
    let mut total = 0;
    for p in ck.model.params() {
        outln!("    {} {:?}", p.name, p.shape);
        total += p.value.len();
    }
    outln!("{total} parameters");
    match &ck.quant {
        Some(q) => outln!(
            "quantization ranges from QAT or calibration, PWL tables of up to {} knots",
            q.knots
        ),
        None => outln!("no quantization ranges (`irnn convert --data` calibrates them)"),
    }
    if let Some(p) = &ck.progress {
        outln!("training position: epoch {}, window {}", p.epoch, p.window);
    }
    Ok(())
}
