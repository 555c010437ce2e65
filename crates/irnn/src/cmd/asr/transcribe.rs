//! `irnn transcribe`: the transcript of each WAV file, one line per file,
//! from an integer speech model; long files in segments, or, for a
//! unidirectional model, streamed in chunks as a live source would send
//! them (`--stream`), with the compute time per chunk.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::Isa;
use irnn_train::asr::decode::stream::StreamReport;
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
    /// Stream each file through a unidirectional model (trained with
    /// --unidirectional) in chunks of --chunk-ms, decoding as the audio
    /// arrives (greedy CTC; the transcript equals the offline one). The
    /// compute time per chunk is reported on standard error.
    #[arg(long, conflicts_with_all = ["attention", "segment_seconds"])]
    stream: bool,
    /// Milliseconds of audio per streamed chunk.
    #[arg(value_parser = crate::args::parse::chunk_ms, long, default_value_t = 200, requires = "stream")]
    chunk_ms: usize,
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
    if a.stream {
        if a.beam > 1 {
            bail!("--stream decodes greedily as audio arrives; it takes no --beam");
        }
        return stream(&a, &transcriber);
    }
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

/// `--stream`: each file in chunks; the transcript on standard output as
/// usual, the compute time per chunk on standard error (per file, and over
/// every chunk when there are several files).
fn stream(a: &Transcribe, transcriber: &Transcriber) -> Result<()> {
    let mut all = StreamReport {
        text: String::new(),
        chunk_seconds: a.chunk_ms as f64 / 1000.0,
        audio_seconds: 0.0,
        chunk_compute: Vec::new(),
        tail_compute: 0.0,
    };
    for wav in &a.wavs {
        let report = transcriber
            .stream_file(wav, a.chunk_ms as f64 / 1000.0, &mut |_| {})
            .with_context(|| format!("{}: {}", a.model.display(), wav.display()))?;
        outln!("{}\t{}", wav.display(), report.text);
        report_latency(&wav.display().to_string(), &report);
        all.audio_seconds += report.audio_seconds;
        all.chunk_compute.extend(&report.chunk_compute);
        all.tail_compute += report.tail_compute;
    }
    if a.wavs.len() > 1 {
        report_latency(&format!("all {} files", a.wavs.len()), &all);
    }
    Ok(())
}

/// One line on standard error: the compute time per chunk.
fn report_latency(what: &str, r: &StreamReport) {
    let ms = |s: f64| s * 1000.0;
    let total = r.chunk_compute.iter().sum::<f64>() + r.tail_compute;
    // A closed standard error only loses the report.
    let _ = writeln!(
        std::io::stderr(),
        "{what}: {:.2} s streamed, {} whole chunks of {:.0} ms: compute per chunk median {:.3} ms, \
         max {:.3} ms ({:.2} ms per 200 ms of audio at the median); end of audio {:.3} ms; \
         real-time factor {:.5}",
        r.audio_seconds,
        r.chunk_compute.len(),
        ms(r.chunk_seconds),
        ms(r.median()),
        ms(r.max()),
        ms(r.median()) * 0.2 / r.chunk_seconds,
        ms(r.tail_compute),
        total / r.audio_seconds.max(1e-9),
    );
}
