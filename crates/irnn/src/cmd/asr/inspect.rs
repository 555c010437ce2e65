//! `irnn inspect` of an integer speech model.

use anyhow::Result;
use irnn_train::quant::export::logit_scale;

use crate::describe::{multiplier_real, print_lstm, pwl_line};
use crate::model_file::ModelFile;

/// `irnn inspect` of a speech model.
pub fn run(file: &ModelFile) -> Result<()> {
    let model = file.speech_model()?;
    let (path, size) = (&file.path, file.bytes.len());
    let f = &model.front_end;
    outln!(
        "{}: {size} bytes, format version {}, speech model",
        path.display(),
        file.format_version()
    );
    outln!(
        "front end (float, before the model): {} Hz, frames of {} every {} samples, FFT {}, {} mels {}–{} Hz{}",
        f.sample_rate,
        f.frame,
        f.hop,
        f.fft,
        f.mels,
        f.low_hz,
        f.high_hz,
        if f.range_db > 0 {
            format!(", {} dB range per filter", f.range_db)
        } else {
            String::new()
        }
    );
    outln!(
        "features: int8, step {:.6e}, zero point {}; {} frames stacked per step",
        multiplier_real(model.input_scale),
        model.input_zero_point,
        model.stack
    );
    if let Some(c) = &model.conv {
        outln!(
            "convolution: 3 × 3 over (time, mel), stride 2 along mel, {} channels → {} values per frame, ReLU (output zero point {})",
            c.channels(),
            c.output_dim(),
            c.output_zero_point
        );
    }
    for (l, layer) in model.layers.iter().enumerate() {
        print_lstm(&format!("layer {l} forward"), &layer.forward);
        print_lstm(&format!("layer {l} backward"), &layer.backward);
    }
    let o = &model.output;
    outln!(
        "CTC output: int8 [{} × {}], int32 scores, unit {:.6e}; labels {}",
        o.weights.rows(),
        o.weights.cols(),
        logit_scale(o.logit_scale),
        model.labels.join(" ")
    );
    if let Some(d) = &model.decoder {
        outln!(
            "attention decoder: embedding int8 [{} × {}], start label {}, end class {}",
            d.embedding.vocab(),
            d.embedding.dim(),
            d.start,
            d.end
        );
        print_lstm("decoder", &d.cell);
        if let irnn_runtime::layers::AttentionScore::Additive { v, tanh, .. } = &d.attention.score {
            outln!(
                "    additive attention: width {}, memory {} values per step",
                v.len(),
                d.attention.memory_dim
            );
            outln!("{}", pwl_line("tanh score", tanh));
        }
        outln!("{}", pwl_line("exp softmax", &d.attention.exp));
        outln!(
            "    output: int8 [{} × {}], int32 scores, unit {:.6e}",
            d.output.weights.rows(),
            d.output.weights.cols(),
            logit_scale(d.output.logit_scale)
        );
    }
    Ok(())
}
