//! `irnn inspect` of an integer speech model.

use anyhow::Result;
use irnn_train::audio::FeatureNorm;
use irnn_train::quant::export::logit_scale;

use crate::describe::{multiplier_real, print_lstm, pwl_line};
use crate::model_file::ModelFile;
use irnn_runtime::layers::{Activation, IntEncoderLayer};
use irnn_runtime::speech::EncoderLayers;

/// How features are normalised, in words.
fn norm_line(norm: &FeatureNorm) -> &'static str {
    match norm {
        FeatureNorm::PerUtterance => "normalised per utterance",
        FeatureNorm::Global { .. } => "normalised with fixed statistics of the training set",
    }
}

/// `irnn inspect` of a float acoustic-model checkpoint: its shape, front
/// end, units and whether it holds ranges or a run's state.
pub fn checkpoint(file: &ModelFile) -> Result<()> {
    let ck = file.asr_checkpoint()?;
    let c = &ck.model.config;
    let params: usize = ck.model.params().iter().map(|p| p.len()).sum();
    outln!(
        "{}: {} bytes, float acoustic-model checkpoint, {params} parameters",
        file.path.display(),
        file.bytes.len()
    );
    outln!(
        "model: {} × {} {} (stack {}{}{}){}",
        c.layers,
        if c.unidirectional { "LSTM" } else { "BiLSTM" },
        c.hidden,
        c.stack,
        if c.layer_norm { ", LayerNorm" } else { "" },
        if c.conv_channels > 0 {
            format!(", convolution of {} channels", c.conv_channels)
        } else {
            String::new()
        },
        c.decoder
            .map(|d| format!(
                ", attention decoder (LSTM {}, attention {}, λ {})",
                d.hidden, d.attention, d.ctc_weight
            ))
            .unwrap_or_default()
    );
    outln!(
        "front end: {} Hz, {} mels{}, {}",
        ck.mel.sample_rate,
        ck.mel.mels,
        if ck.mel.range_db > 0 {
            format!(", {} dB range per filter", ck.mel.range_db)
        } else {
            String::new()
        },
        norm_line(&ck.mel.norm)
    );
    let u = &ck.units;
    let kind = match u.kind {
        irnn_train::asr::units::UnitKind::Character => "character",
        irnn_train::asr::units::UnitKind::Word => "word",
    };
    let shown: Vec<String> = u.labels.iter().take(64).map(|l| format!("{l:?}")).collect();
    outln!(
        "{} {kind} units{}{}: {}{}",
        u.len(),
        if u.normalization.lowercase {
            ", lower-cased"
        } else {
            ""
        },
        if u.normalization.strip_punctuation {
            ", punctuation stripped"
        } else {
            ""
        },
        shown.join(" "),
        if u.len() > 64 { " …" } else { "" }
    );
    outln!(
        "{}{}",
        match &ck.quant {
            Some(q) => format!("quantization ranges saved ({} knots per table)", q.knots),
            None => "no quantization ranges (calibrate with `irnn convert --data …`)".into(),
        },
        match &ck.run {
            Some(r) => format!(
                "; training run state after epoch {} of {}",
                r.progress.epochs_done, r.progress.settings.epochs
            ),
            None => String::new(),
        }
    );
    Ok(())
}

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
    outln!("normalisation: {}", norm_line(&f.norm));
    outln!(
        "encoder: {}",
        if model.is_unidirectional() {
            "unidirectional (streams: irnn transcribe --stream)"
        } else {
            "bidirectional"
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
    outln!(
        "encoder activations: int{} inputs and h{}",
        model.layers.activation_bits(),
        if model.layers.activation_bits() == 16 {
            " (symmetric grids; the frames are widened into the first layer)"
        } else {
            ""
        }
    );
    match &model.layers {
        EncoderLayers::Int8(l) => print_layers(l),
        EncoderLayers::Int16(l) => print_layers(l),
    }
    let o = &model.output;
    // Character labels are quoted (one of them is a space).
    let labels = if model.separator.is_empty() {
        let quoted: Vec<String> = model.labels.iter().map(|l| format!("{l:?}")).collect();
        format!("{} (character units)", quoted.join(" "))
    } else {
        model.labels.join(" ")
    };
    outln!(
        "CTC output: int8 [{} × {}], int32 scores, unit {:.6e}; labels {labels}",
        o.weights.rows(),
        o.weights.cols(),
        logit_scale(o.logit_scale),
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

fn print_layers<A: Activation>(layers: &[IntEncoderLayer<A>]) {
    for (l, layer) in layers.iter().enumerate() {
        print_lstm(&format!("layer {l} forward"), &layer.forward);
        if let Some(backward) = &layer.backward {
            print_lstm(&format!("layer {l} backward"), backward);
        }
    }
}
