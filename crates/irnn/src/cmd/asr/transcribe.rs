//! `irnn transcribe`: the digits of each WAV file, one line per file, from
//! an integer speech model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use irnn_runtime::Isa;
use irnn_train::asr::decode::{Decoding, Transcriber};
use irnn_train::audio::read_wav;

use crate::args::JointArgs;
use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn transcribe`.
#[derive(Args, Debug)]
pub struct Transcribe {
    /// The `.irnn` speech model.
    model: PathBuf,
    /// WAV files (integer PCM of 8–32 bits or 32-bit float, any channels and
    /// sample rate: down-mixed and resampled to the model's).
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
    #[command(flatten)]
    joint: JointArgs,
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
    let rate = model.front_end.sample_rate;
    let transcriber = Transcriber::new(&model, Isa::detect());
    let decoding = if a.attention {
        Decoding::Attention(a.joint.config(a.beam))
    } else {
        Decoding::Ctc { beam: a.beam }
    };
    for wav in &a.wavs {
        let samples = read_wav(wav, rate)?;
        let text = transcriber
            .text(&samples, rate, decoding)
            .with_context(|| format!("{}: {}", a.model.display(), wav.display()))?;
        outln!("{}\t{}", wav.display(), text);
    }
    Ok(())
}
