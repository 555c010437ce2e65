//! `irnn eval` of a speech model: WER and CER on the test set (the test
//! speaker's digit strings, or `--test MANIFEST`) — of an `.irnn` file with the integer runtime (and its
//! real-time factor on one thread), or of a float checkpoint.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use irnn_runtime::Isa;
use irnn_train::asr::data::{featurize, targets, Split};
use irnn_train::asr::decode::beam::BeamConfig;
use irnn_train::asr::decode::{attention_transcribe, integer_transcribe};
use irnn_train::asr::eval::{rates, score, ErrorBreakdown, ErrorCounts, Transcripts};
use irnn_train::asr::export::mel_config;
use irnn_train::asr::units::{TextNormalization, Units};
use irnn_train::audio::LogMel;

use super::{open_corpus, scoring_units};
use crate::args::{JointArgs, SpeechDataArgs};
use crate::model_file::ModelFile;

/// Options of `irnn eval` for speech models.
#[derive(Args, Debug)]
pub struct AsrEvalArgs {
    #[command(flatten)]
    pub sets: SpeechDataArgs,
    /// Lower-case the test transcripts before scoring an `.irnn` model
    /// (a checkpoint applies the normalisation it was trained with).
    #[arg(long)]
    pub lowercase: bool,
    /// Strip punctuation from the test transcripts before scoring an
    /// `.irnn` model (as --lowercase).
    #[arg(long)]
    pub strip_punctuation: bool,
    /// Beam search with this many hypotheses for both heads (1: greedy).
    #[arg(value_parser = crate::args::parse::beam, long, default_value_t = 1)]
    pub beam: usize,
    #[command(flatten)]
    pub joint: JointArgs,
    /// Also print where the errors are (substitutions by unit, deletions,
    /// insertions).
    #[arg(long)]
    pub errors: bool,
}

/// `irnn eval` of a `.irnn` speech model: greedy WER and CER on the test
/// set, and the real-time factor on one thread.
pub fn model(file: &ModelFile, data: &str, a: &AsrEvalArgs) -> Result<()> {
    let (path, beam, errors) = (&file.path, a.beam, a.errors);
    let model = file.speech_model()?;
    let mel = mel_config(&model.front_end);
    let corpus = open_corpus(Some(data), &a.sets, &mel)?;
    let mut units = Units::of_labels(&model.labels, &model.separator);
    units.normalization = TextNormalization {
        lowercase: a.lowercase,
        strip_punctuation: a.strip_punctuation,
    };
    let units = scoring_units(&corpus, &units, path)?;
    let test = corpus.utterances(Split::Test)?;
    let references = targets(&test, &units)?;
    let front = LogMel::new(mel.clone());
    let isa = Isa::detect();
    // One thread, front end included: the real-time factor of one core.
    let (mut compute, mut audio, mut attention_compute) = (0.0f64, 0.0f64, 0.0f64);
    let mut counts = ErrorCounts::default();
    let mut attention_counts = ErrorCounts::default();
    let mut hypotheses = Vec::with_capacity(test.len());
    for (u, reference) in test.iter().zip(&references) {
        let t = Instant::now();
        let f = front.features(&u.samples);
        let hypothesis = integer_transcribe(&model, isa, &f, beam)?;
        compute += t.elapsed().as_secs_f64();
        audio += u.samples.len() as f64 / mel.sample_rate as f64;
        counts = counts + ErrorCounts::of(&units, &hypothesis, reference);
        hypotheses.push(hypothesis);
        let t = Instant::now();
        if let Some(hypothesis) = attention_transcribe(&model, isa, &f, a.joint.config(beam))? {
            attention_compute += t.elapsed().as_secs_f64();
            attention_counts = attention_counts + ErrorCounts::of(&units, &hypothesis, reference);
        }
    }
    outln!(
        "{} (integer runtime, {} kernels, CTC head, {}) on {}: {} over {} utterances, \
         {} {} | real-time factor {:.5} on one thread ({:.1} s of audio in {:.3} s)",
        path.display(),
        isa.name(),
        decoder_name(beam),
        corpus.test_name(),
        rates(&counts),
        test.len(),
        counts.words,
        corpus.word_name(),
        compute / audio.max(1e-9),
        audio,
        compute
    );
    if errors {
        print_breakdown(&units, &ErrorBreakdown::of(&hypotheses, &references));
    }
    if model.decoder.is_some() {
        outln!(
            "attention decoder (integer, {}): {} | real-time factor {:.5} on one thread \
             (features computed once, counted above)",
            joint_name(a.joint.config(beam)),
            rates(&attention_counts),
            attention_compute / audio.max(1e-9)
        );
    }
    Ok(())
}

/// Substitutions, deletions, insertions and the commonest confusions.
fn print_breakdown(units: &Units, b: &ErrorBreakdown) {
    let (s, d, i) = b.totals();
    // Escaped, so that a space or a control character shows.
    let label = |k: u32| units.text(&[k]).escape_debug().to_string();
    let confusions: Vec<String> = b
        .top_confusions(8)
        .iter()
        .map(|&(r, h, n)| format!("{}→{} ×{n}", label(r), label(h)))
        .collect();
    outln!("CTC errors: {s} substitutions, {d} deletions, {i} insertions");
    outln!(
        "  commonest substitutions (said→recognised): {}",
        confusions.join(", ")
    );
    let per = |v: &std::collections::BTreeMap<u32, usize>| {
        v.iter()
            .map(|(&k, n)| format!("{}:{n}", label(k)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!("  deleted by unit: {}", per(&b.deleted));
    outln!("  inserted by unit: {}", per(&b.inserted));
}

fn joint_name(c: BeamConfig) -> String {
    let mut name = decoder_name(c.beam);
    if c.ctc_weight > 0.0 {
        name += &format!(", joint with CTC λ = {}", c.ctc_weight);
    }
    if c.length_norm {
        name += ", length-normalised";
    }
    name
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
    let corpus = open_corpus(Some(data), &a.sets, &ck.mel)?;
    let units = scoring_units(&corpus, &ck.units, path)?;
    let test = featurize(
        &corpus.utterances(Split::Test)?,
        &LogMel::new(ck.mel.clone()),
        &units,
    )?;
    let t = Transcripts::float(&ck.model, &test);
    outln!(
        "{} (float) on {}: {} over {} utterances, {} {}",
        path.display(),
        corpus.test_name(),
        t.rates(&units, &test.targets),
        test.features.len(),
        score(&units, &t.ctc, &test.targets).words,
        corpus.word_name()
    );
    Ok(())
}
