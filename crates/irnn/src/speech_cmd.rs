//! Speech commands on integer models and acoustic-model checkpoints:
//! `irnn qat` / `irnn convert` of an acoustic model, `irnn eval` of a
//! speech model (WER, CER, real-time factor) and `irnn transcribe`.
//!
//! Every command that needs utterances builds them the way
//! `irnn train asr` does (same folder, same seed → the same utterances), so
//! the test figures of all of them are on one test set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use irnn_runtime::format::{read_speech_model, write_speech_model};
use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use irnn_train::asr::calibrate::*;
use irnn_train::asr::checkpoint::{self, AsrCheckpoint, AsrQuantInfo};
use irnn_train::asr::data::fsdd::{
    connected_digits, list_recordings, JoinConfig, Recording, SpeakerSplit, Utterance,
};
use irnn_train::asr::decode::beam::attention_beam_search;
use irnn_train::asr::decode::*;
use irnn_train::asr::eval::*;
use irnn_train::asr::export::*;
use irnn_train::asr::qat::qat_epoch;
use irnn_train::asr::train::{featurize, AsrData, SpecAugment};
use irnn_train::asr::AsrModel;
use irnn_train::audio::{normalize, read_wav, LogMel, MelConfig};
use irnn_train::checkpoint::atomic_write;
use irnn_train::nn::optim::Optimizer;
use irnn_train::quant::pwl_fit::PwlFitter;
use rand::seq::SliceRandom;

use crate::quant_cmd::{ConvertArgs, QatArgs};

/// Which connected-digit utterances to build from a recordings folder.
#[derive(Args, Debug, Clone)]
pub struct DigitSets {
    /// Speech: connected-digit utterances built from the training speakers.
    #[arg(long, default_value_t = 3000)]
    pub train_utterances: usize,
    /// Speech: utterances of the validation speaker.
    #[arg(long, default_value_t = 200)]
    pub valid_utterances: usize,
    /// Speech: utterances of the test speaker.
    #[arg(long, default_value_t = 500)]
    pub test_utterances: usize,
    /// Seed of the utterances (training: also of initialisation and order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl DigitSets {
    /// SpecAugment for `epoch` with its seed (seed·1000 + epoch; the masks
    /// of an utterance depend on that and its index only), or `None`
    /// without masks. Float training and QAT share the rule.
    pub fn masks_for_epoch(&self, spec: SpecAugment, epoch: usize) -> Option<(SpecAugment, u64)> {
        (spec.masks > 0).then_some((
            spec,
            self.seed.wrapping_mul(1000).wrapping_add(epoch as u64),
        ))
    }
}

/// A recordings folder split by speaker.
pub struct Speakers {
    recordings: Vec<Recording>,
    /// Who is in which split.
    pub split: SpeakerSplit,
    join: JoinConfig,
}

impl Speakers {
    /// Lists `dir` and splits its speakers (DESIGN: last = test, the one
    /// before = validation).
    pub fn open(dir: &Path, mel: &MelConfig) -> Result<Self> {
        let recordings =
            list_recordings(dir).with_context(|| format!("--data {}", dir.display()))?;
        let split = SpeakerSplit::default_for(dir, &recordings)?;
        Ok(Self {
            recordings,
            split,
            join: JoinConfig {
                sample_rate: mel.sample_rate,
                ..JoinConfig::default()
            },
        })
    }

    /// Number of recordings.
    pub fn len(&self) -> usize {
        self.recordings.len()
    }

    fn build(&self, speakers: &[String], n: usize, seed: u64) -> Result<Vec<Utterance>> {
        Ok(connected_digits(
            &self.recordings,
            speakers,
            n,
            seed,
            &self.join,
        )?)
    }

    /// `sets.train_utterances` of the training speakers.
    pub fn train(&self, sets: &DigitSets) -> Result<Vec<Utterance>> {
        self.build(&self.split.train, sets.train_utterances, sets.seed)
    }

    /// The training utterances `--fresh-utterances` draws for `epoch`
    /// (seed + 1000·epoch; the first epoch of a run normally keeps
    /// [`train`](Self::train)'s set instead).
    pub fn train_for_epoch(&self, sets: &DigitSets, epoch: usize) -> Result<Vec<Utterance>> {
        let seed = sets.seed.wrapping_add(1000 * epoch as u64);
        self.build(&self.split.train, sets.train_utterances, seed)
    }

    /// Features of the validation and test utterances.
    pub fn valid_and_test(&self, sets: &DigitSets, front: &LogMel) -> Result<(AsrData, AsrData)> {
        Ok((
            featurize(&self.valid(sets)?, front),
            featurize(&self.test(sets)?, front),
        ))
    }

    /// `sets.valid_utterances` of the validation speaker.
    pub fn valid(&self, sets: &DigitSets) -> Result<Vec<Utterance>> {
        self.build(
            std::slice::from_ref(&self.split.valid),
            sets.valid_utterances,
            sets.seed + 1,
        )
    }

    /// `sets.test_utterances` of the test speaker.
    pub fn test(&self, sets: &DigitSets) -> Result<Vec<Utterance>> {
        self.build(
            std::slice::from_ref(&self.split.test),
            sets.test_utterances,
            sets.seed + 2,
        )
    }
}

/// The recordings folder `--data` names; the language models' default
/// (the embedded corpus) is not one.
fn speech_data(data: &str) -> Result<&Path> {
    if data == irnn_train::lm::data::EMBEDDED_DATA {
        bail!(
            "a speech model needs --data FOLDER of <digit>_<speaker>_<n>.wav recordings \
             (e.g. ../shared/data/fsdd/recordings)"
        );
    }
    Ok(Path::new(data))
}

fn load_asr(path: &Path) -> Result<AsrCheckpoint> {
    checkpoint::load(path).with_context(|| format!("loading {}", path.display()))
}

/// Reads and validates a `.irnn` speech model.
pub fn load_speech_model(path: &Path) -> Result<IntSpeechModel> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_speech_model(&bytes).with_context(|| format!("loading {}", path.display()))
}

fn float_transcripts(model: &AsrModel<f32>, data: &AsrData) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    data.features
        .par_iter()
        .map(|f| model.transcribe(f))
        .collect()
}

fn rates(e: &ErrorCounts) -> String {
    format!("WER {:.2} % | CER {:.2} %", e.wer(), e.cer())
}

/// Transcripts from the CTC head and, if the model has one, the attention
/// decoder (both greedy).
#[derive(PartialEq)]
struct Transcripts {
    ctc: Vec<Vec<u8>>,
    attention: Option<Vec<Vec<u8>>>,
}

impl Transcripts {
    fn float(model: &AsrModel<f32>, data: &AsrData) -> Self {
        use rayon::prelude::*;
        Self {
            ctc: float_transcripts(model, data),
            attention: model.decoder.as_ref().map(|_| {
                data.features
                    .par_iter()
                    .map(|f| model.transcribe_attention(f).unwrap_or_default())
                    .collect()
            }),
        }
    }

    fn integer(model: &IntSpeechModel, data: &AsrData) -> Result<Self> {
        Ok(Self {
            ctc: integer_transcripts(model, &data.features)?,
            attention: integer_attention_transcripts(model, &data.features)?,
        })
    }

    /// "WER … | CER …" of each head.
    fn rates(&self, references: &[Vec<u8>]) -> String {
        let ctc = rates(&score(&self.ctc, references));
        match &self.attention {
            Some(a) => format!("CTC {ctc}, attention {}", rates(&score(a, references))),
            None => ctc,
        }
    }

    fn len(&self) -> usize {
        self.ctc.len() + self.attention.as_ref().map_or(0, Vec::len)
    }
}

/// Bytes of the float weights-only checkpoint, for size comparisons.
fn float_bytes(model: &AsrModel<f32>) -> usize {
    model.params().iter().map(|p| 4 * p.len()).sum()
}

/// Ranges from the first `n` training utterances.
fn calibrate_on(model: &AsrModel<f32>, train: &AsrData, n: usize) -> AsrRanges {
    let n = n.min(train.features.len());
    calibrate(model, &train.features[..n], &train.digits[..n])
}

/// `irnn qat` of an acoustic-model checkpoint.
pub fn qat(a: QatArgs) -> Result<()> {
    let ck = load_asr(&a.checkpoint)?;
    if a.batch == 0 || a.epochs == 0 {
        bail!("--batch and --epochs must be positive");
    }
    let (out, model_out) = a.outputs();
    let speakers = Speakers::open(speech_data(&a.data)?, &ck.mel)?;
    let front = LogMel::new(ck.mel);
    let mut train = featurize(&speakers.train(&a.digits)?, &front);
    let (valid, test) = speakers.valid_and_test(&a.digits, &front)?;
    println!(
        "{} / {} / {} utterances (train speakers {:?}, validation {}, test {})",
        train.features.len(),
        valid.features.len(),
        test.features.len(),
        speakers.split.train,
        speakers.split.valid,
        speakers.split.test
    );
    let mut model = ck.model;
    let float_test = Transcripts::float(&model, &test).rates(&test.digits);
    let ranges = calibrate_on(&model, &train, a.calibration_utterances);
    let mut pwl = PwlFitter::new(a.knots);
    let ptq = integer_model(&model, &ck.mel, &ranges, &mut pwl)?;
    let ptq_test = Transcripts::integer(&ptq, &test)?.rates(&test.digits);
    println!(
        "test speaker {}: float {float_test} | PTQ (calibration only, integer) {ptq_test}",
        speakers.split.test,
    );
    let mut optimizer = Optimizer::default();
    let mut order: Vec<usize> = (0..train.features.len()).collect();
    let mut rng = irnn_train::nn::rng::TrainRng::seed(a.digits.seed);
    let start = Instant::now();
    for epoch in 1..=a.epochs {
        if a.fresh_utterances && epoch > 1 {
            train = featurize(&speakers.train_for_epoch(&a.digits, epoch)?, &front);
        }
        order.shuffle(&mut rng);
        let lr = cosine_lr(a.lr, epoch, a.epochs);
        let bar = batch_bar(order.len().div_ceil(a.batch), epoch);
        let t = Instant::now();
        let loss = qat_epoch(
            &mut model,
            &ck.mel,
            &ranges,
            &mut pwl,
            &train,
            &order,
            a.batch,
            &mut optimizer,
            lr,
            a.clip,
            a.digits.masks_for_epoch(
                SpecAugment {
                    masks: a.spec_augment,
                    max_band: a.spec_augment_band,
                    max_span: a.spec_augment_span,
                },
                epoch,
            ),
            |b, l| {
                bar.set_position(b as u64);
                bar.set_message(format!("integer CTC loss {l:.3}"));
            },
        )?;
        bar.finish_and_clear();
        let int = integer_model(&model, &ck.mel, &ranges, &mut pwl)?;
        let v = Transcripts::integer(&int, &valid)?.rates(&valid.digits);
        println!(
            "QAT epoch {epoch} | lr {lr:.6} | {:.1} s | integer loss {loss:.3} | valid (integer) {v}",
            t.elapsed().as_secs_f64(),
        );
    }
    let int = integer_model(&model, &ck.mel, &ranges, &mut pwl)?;
    let qat_transcripts = Transcripts::integer(&int, &test)?;
    let qat_test = qat_transcripts.rates(&test.digits);
    let quant = AsrQuantInfo {
        ranges,
        knots: a.knots,
    };
    checkpoint::save(&out, &model, &ck.mel, Some(&quant))?;
    let bytes = write_speech_model(&int);
    atomic_write(&model_out, &bytes)?;
    // The file, read back, must give QAT's transcripts.
    let back = load_speech_model(&model_out)?;
    let file_transcripts = Transcripts::integer(&back, &test)?;
    if file_transcripts != qat_transcripts {
        bail!(
            "{} does not reproduce the QAT model's transcripts",
            model_out.display(),
        );
    }
    let same = qat_transcripts.len();
    println!(
        "test speaker {}: float {float_test} | PTQ {ptq_test} | QAT → integer {qat_test}  ({:.0} s)",
        speakers.split.test,
        start.elapsed().as_secs_f64()
    );
    let fb = float_bytes(&model);
    println!(
        "saved {} (float + ranges) and {} ({} bytes = {:.3} × the {fb} bytes of float weights); \
         the file reproduces all {same} QAT transcripts",
        out.display(),
        model_out.display(),
        bytes.len(),
        bytes.len() as f64 / fb as f64,
    );
    Ok(())
}

/// The cosine schedule: `base` at epoch 1, towards 0 after the last.
pub fn cosine_lr(base: f64, epoch: usize, epochs: usize) -> f64 {
    irnn_train::nn::optim::cosine_lr(base, 0.0, epoch - 1, epochs)
}

/// A progress bar over an epoch's minibatches.
pub fn batch_bar(batches: usize, epoch: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

/// `irnn convert` of an acoustic-model checkpoint.
pub fn convert(a: ConvertArgs) -> Result<()> {
    let ck = load_asr(&a.checkpoint)?;
    let (ranges, knots, how) = match (&ck.quant, &a.data) {
        (Some(q), None) => (
            q.ranges.clone(),
            a.knots.unwrap_or(q.knots),
            "QAT ranges from the checkpoint",
        ),
        (_, Some(data)) => {
            let speakers = Speakers::open(speech_data(data)?, &ck.mel)?;
            let train = featurize(&speakers.train(&a.digits)?, &LogMel::new(ck.mel));
            (
                calibrate_on(&ck.model, &train, a.calibration_utterances),
                a.knots.unwrap_or(crate::quant_cmd::DEFAULT_KNOTS),
                "calibrated on --data (post-training quantization)",
            )
        }
        (None, None) => bail!(
            "{} holds no quantization ranges (it was not saved by `irnn qat`); \
             pass --data FOLDER to calibrate them",
            a.checkpoint.display()
        ),
    };
    let int = integer_model(&ck.model, &ck.mel, &ranges, &mut PwlFitter::new(knots))?;
    let bytes = write_speech_model(&int);
    atomic_write(&a.out, &bytes)?;
    let fb = float_bytes(&ck.model);
    println!(
        "wrote {}: speech model, {} bytes ({:.3} × the {fb} bytes of float weights), \
         {knots}-knot PWL tables, {how}",
        a.out.display(),
        bytes.len(),
        bytes.len() as f64 / fb as f64,
    );
    Ok(())
}

/// Normalised log-mel features of a WAV file, computed the way `model`'s
/// front end was during training.
fn wav_features(model: &IntSpeechModel, front: &LogMel, path: &Path) -> Result<Vec<f32>> {
    let samples = read_wav(path, model.front_end.sample_rate)?;
    let mut f = front.compute(&samples);
    normalize(&mut f, model.features());
    Ok(f)
}

/// `irnn eval` of a `.irnn` speech model: greedy WER and CER on the test
/// speaker's utterances, and the real-time factor on one thread.
pub fn eval_model(
    path: &Path,
    data: &str,
    sets: &DigitSets,
    beam: usize,
    errors: bool,
) -> Result<()> {
    let model = load_speech_model(path)?;
    let mel = mel_config(&model.front_end);
    let speakers = Speakers::open(speech_data(data)?, &mel)?;
    let test = speakers.test(sets)?;
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
    println!(
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
        println!(
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
    println!("CTC errors: {s} substitutions, {d} deletions, {i} insertions");
    println!(
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
    println!("  deleted by digit: {}", per(&b.deleted));
    println!("  inserted by digit: {}", per(&b.inserted));
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
pub fn eval_checkpoint(path: &Path, data: &str, sets: &DigitSets) -> Result<()> {
    let ck = load_asr(path)?;
    let speakers = Speakers::open(speech_data(data)?, &ck.mel)?;
    let test = featurize(&speakers.test(sets)?, &LogMel::new(ck.mel));
    let t = Transcripts::float(&ck.model, &test);
    println!(
        "{} (float) on test speaker {}: {} over {} utterances, {} digits",
        path.display(),
        speakers.split.test,
        t.rates(&test.digits),
        test.features.len(),
        score(&t.ctc, &test.digits).words
    );
    Ok(())
}

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
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Decode with the attention decoder instead of the CTC head.
    #[arg(long)]
    attention: bool,
}

/// `irnn transcribe`: the digits of each WAV file, one line per file.
pub fn transcribe(a: Transcribe) -> Result<()> {
    let model = load_speech_model(&a.model)?;
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
        println!("{}\t{}", wav.display(), text.join(" "));
    }
    Ok(())
}
