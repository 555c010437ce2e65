//! `irnn transcribe`: the digits of each WAV file, one line per file, from
//! an integer speech model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use irnn_train::asr::decode::{integer_attention_transcribe, integer_transcribe};
use irnn_train::asr::export::mel_config;
use irnn_train::audio::{normalize, read_wav, LogMel};

use crate::model_file::{FileKind, ModelFile};

/// Normalised log-mel features of a WAV file, computed the way `model`'s
/// front end was during training.
fn wav_features(model: &IntSpeechModel, front: &LogMel, path: &Path) -> Result<Vec<f32>> {
    let samples = read_wav(path, model.front_end.sample_rate)?;
    let mut f = front.compute(&samples);
    normalize(&mut f, model.features());
    Ok(f)
}

/// Arguments of `irnn transcribe`.
#[derive(Args, Debug)]
pub struct Transcribe {
    /// The `.irnn` speech model.
    model: PathBuf,
    /// WAV files (16-bit PCM at the model's sample rate).
    #[arg(required = true)]
    wavs: Vec<PathBuf>,
    /// Beam search over the int32 scores with this many hypotheses (CTC
    /// prefixes, or decoder label sequences with --attention); 1: greedy,
    /// an integer argmax per step.
    #[arg(value_parser = crate::args::parse::beam, long, default_value_t = 1)]
    beam: usize,
    /// Decode with the attention decoder instead of the CTC head.
    #[arg(long)]
    attention: bool,
}

/// `irnn transcribe`: the digits of each WAV file, one line per file.
pub fn run(a: Transcribe) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    file.expect(
        &[FileKind::SpeechModel],
        "transcribe",
        "an integer speech model (.irnn)",
    )?;
    let model = file.speech_model()?;
    let front = LogMel::new(mel_config(&model.front_end));
    let isa = Isa::detect();
    for wav in &a.wavs {
        let f = wav_features(&model, &front, wav)?;
        let digits = if a.attention {
            integer_attention_transcribe(&model, isa, &f)?
                .with_context(|| format!("{} has no attention decoder", a.model.display()))?
        } else {
            integer_transcribe(&model, isa, &f, a.beam)?
        };
        let text: Vec<&str> = digits
            .iter()
            .map(|&d| model.labels[d as usize + 1].as_str())
            .collect();
        outln!("{}\t{}", wav.display(), text.join(" "));
    }
    Ok(())
}
