//! `irnn transcribe`: the transcript of each WAV file, one line per file,
//! from an integer speech model; long files in segments.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use irnn_runtime::Isa;
use irnn_train::asr::decode::{Decoding, Transcriber};

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
    /// Longer files are read and transcribed in segments of at most this
    /// many seconds, cut in pauses (memory stays at about one segment).
    #[arg(value_parser = crate::args::parse::segment_seconds, long, default_value_t = 30.0)]
    segment_seconds: f64,
}

/// `irnn transcribe`: the transcript of each WAV file, one line per file.
pub fn run(a: Transcribe) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    file.expect(
        &[FileKind::SpeechModel],
        "transcribe",
        "an integer speech model (.irnn)",
    )?;
    let model = file.speech_model()?;
    let transcriber = Transcriber::new(&model, Isa::detect());
    let decoding = if a.attention {
        Decoding::Attention(a.joint.config(a.beam))
    } else {
        Decoding::Ctc { beam: a.beam }
    };
    for wav in &a.wavs {
        let text = transcriber
            .file_text(wav, a.segment_seconds, decoding)
            .with_context(|| format!("{}: {}", a.model.display(), wav.display()))?;
        outln!("{}\t{}", wav.display(), text);
    }
    Ok(())
}
