//! `irnn eval` of a speech model: WER and CER on the test speaker's
//! utterances — of an `.irnn` file with the integer runtime (and its
//! real-time factor on one thread), or of a float checkpoint.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use irnn_train::asr::data::featurize;
use irnn_train::asr::decode::beam::attention_beam_search;
use irnn_train::asr::decode::{integer_attention_transcribe, integer_transcribe};
use irnn_train::asr::eval::{rates, score, ErrorBreakdown, ErrorCounts, Transcripts};
use irnn_train::asr::export::mel_config;
use irnn_train::audio::{normalize, LogMel};

use super::open_speakers;
use crate::args::DigitSetArgs;
use crate::model_file::ModelFile;

/// Options of `irnn eval` for speech models.
#[derive(Args, Debug)]
pub struct AsrEvalArgs {
    #[command(flatten)]
    pub digits: DigitSetArgs,
    /// Beam search with this many hypotheses for both heads (1: greedy).
    #[arg(value_parser = crate::args::parse::beam, long, default_value_t = 1)]
    pub beam: usize,
    /// Also print where the errors are (substitutions by digit, deletions,
    /// insertions).
    #[arg(long)]
    pub errors: bool,
}

/// `irnn eval` of a `.irnn` speech model: greedy WER and CER on the test
/// speaker's utterances, and the real-time factor on one thread.
pub fn model(file: &ModelFile, data: &str, a: &AsrEvalArgs) -> Result<()> {
    let (path, beam, errors) = (&file.path, a.beam, a.errors);
    let model = file.speech_model()?;
    let mel = mel_config(&model.front_end);
    let speakers = open_speakers(data, &mel)?;
    let test = speakers.test(&a.digits.sets())?;
    let front = LogMel::new(mel);
    let isa = Isa::detect();
    // One thread, front end included: the real-time factor of one core.
    let (mut compute, mut audio, mut attention_compute) = (0.0f64, 0.0f64, 0.0f64);
    let mut counts = ErrorCounts::default();
    let mut attention_counts = ErrorCounts::default();
    let mut hypotheses = Vec::with_capacity(test.len());
    for u in &test {
        let t = Instant::now();
        let mut f = front.compute(&u.samples);
        normalize(&mut f, model.features());
        let digits = integer_transcribe(&model, isa, &f, beam)?;
        compute += t.elapsed().as_secs_f64();
        audio += u.samples.len() as f64 / mel.sample_rate as f64;
        counts = counts + ErrorCounts::of(&digits, &u.digits);
        hypotheses.push(digits);
        let t = Instant::now();
        if let Some(digits) = attention_decode(&model, isa, &f, beam)? {
            attention_compute += t.elapsed().as_secs_f64();
            attention_counts = attention_counts + ErrorCounts::of(&digits, &u.digits);
        }
    }
    outln!(
        "{} (integer runtime, {} kernels, CTC head, {}) on test speaker {}: {} over {} utterances, \
         {} digits | real-time factor {:.5} on one thread ({:.1} s of audio in {:.3} s)",
        path.display(),
        isa.name(),
        decoder_name(beam),
        speakers.split.test,
        rates(&counts),
        test.len(),
        counts.words,
        compute / audio.max(1e-9),
        audio,
        compute
    );
    if errors {
        let references: Vec<Vec<u8>> = test.iter().map(|u| u.digits.clone()).collect();
        print_breakdown(&ErrorBreakdown::of(&hypotheses, &references));
    }
    if model.decoder.is_some() {
        outln!(
            "attention decoder (integer, {}): {} | real-time factor {:.5} on one thread \
             (features computed once, counted above)",
            decoder_name(beam),
            rates(&attention_counts),
            attention_compute / audio.max(1e-9)
        );
    }
    Ok(())
}

/// Substitutions, deletions, insertions and the commonest confusions.
fn print_breakdown(b: &ErrorBreakdown) {
    let (s, d, i) = b.totals();
    let confusions: Vec<String> = b
        .top_confusions(8)
        .iter()
        .map(|(r, h, n)| format!("{r}→{h} ×{n}"))
        .collect();
    outln!("CTC errors: {s} substitutions, {d} deletions, {i} insertions");
    outln!(
        "  commonest substitutions (said→recognised): {}",
        confusions.join(", ")
    );
    let per = |v: &[usize; 10]| {
        v.iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!("  deleted by digit: {}", per(&b.deleted));
    outln!("  inserted by digit: {}", per(&b.inserted));
}

/// The attention decoder's transcript: greedy (`beam` ≤ 1) or beam search.
fn attention_decode(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    beam: usize,
) -> Result<Option<Vec<u8>>> {
    Ok(if beam <= 1 {
        integer_attention_transcribe(model, isa, features)?
    } else {
        attention_beam_search(model, isa, features, beam)?.map(|(d, _)| d)
    })
}

fn decoder_name(beam: usize) -> String {
    if beam <= 1 {
        "greedy decoding".into()
    } else {
        format!("beam search, {beam} prefixes")
    }
}

/// `irnn eval` of a float acoustic-model checkpoint.
pub fn checkpoint(file: &ModelFile, data: &str, a: &AsrEvalArgs) -> Result<()> {
    let path = &file.path;
    let ck = file.asr_checkpoint()?;
    let speakers = open_speakers(data, &ck.mel)?;
    let test = featurize(&speakers.test(&a.digits.sets())?, &LogMel::new(ck.mel));
    let t = Transcripts::float(&ck.model, &test);
    outln!(
        "{} (float) on test speaker {}: {} over {} utterances, {} digits",
        path.display(),
        speakers.split.test,
        t.rates(&test.digits),
        test.features.len(),
        score(&t.ctc, &test.digits).words
    );
    Ok(())
}
