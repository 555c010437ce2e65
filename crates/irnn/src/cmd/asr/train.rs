//! `irnn train asr`: the float CTC acoustic model on a corpus (manifests or
//! data directories per set, or connected digits from FSDD). The
//! recipe (rebuilt and perturbed training sets, schedule, weight averaging)
//! is `irnn_train::asr::train`; this file parses, validates and reports.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};
use indicatif::ProgressBar;
use irnn_train::asr::attention::DecoderConfig;
use irnn_train::asr::data::{Corpus, Split};
use irnn_train::asr::eval::{rates, score, Transcripts};
use irnn_train::asr::train::{train, AsrTrainSettings, EpochReport, SpecAugment, TrainData};
use irnn_train::asr::units::{TextNormalization, UnitKind, Units};
use irnn_train::asr::{checkpoint, AsrConfig, AsrModel};
use irnn_train::audio::perturb::Perturbation;
use irnn_train::audio::MelConfig;
use irnn_train::nn::rng::TrainRng;
use irnn_train::train::Observer;

use super::open_corpus;
use crate::args::{check_memory, refuse_resume_conflicts, SpeechDataArgs};
use crate::progress::batch_bar;

#[derive(Args, Debug)]
pub struct TrainAsr {
    /// Folder of `<digit>_<speaker>_<n>.wav` files (e.g. FSDD's
    /// recordings/): connected digits, split by speaker (instead of
    /// --train/--valid/--test).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    sets: SpeechDataArgs,
    /// Output units of a model trained on manifests: characters (the set
    /// seen in the training transcripts) or words.
    #[arg(long, value_enum, default_value_t = UnitArg::Char)]
    units: UnitArg,
    /// Lower-case every transcript (stored in the model: applied again
    /// when it is scored).
    #[arg(long)]
    lowercase: bool,
    /// Strip punctuation from every transcript (as --lowercase).
    #[arg(long)]
    strip_punctuation: bool,
    /// Epochs.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 10)]
    epochs: usize,
    /// Utterances per update.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 16)]
    batch: usize,
    /// Adam learning rate (cosine-decayed to 0).
    #[arg(value_parser = crate::args::parse::rate, long, default_value_t = 2e-3)]
    lr: f64,
    /// Gradient-norm clip.
    #[arg(value_parser = crate::args::parse::non_negative, long, default_value_t = 5.0)]
    clip: f64,
    /// Bidirectional LSTM layers.
    #[arg(value_parser = crate::args::parse::layers, long, default_value_t = 2)]
    layers: usize,
    /// Hidden size per direction.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 96)]
    hidden: usize,
    /// Feature frames stacked per step (frame-rate reduction).
    #[arg(value_parser = crate::args::parse::stack, long, default_value_t = 3)]
    stack: usize,
    /// LayerNorm in the LSTM cells.
    #[arg(long)]
    layer_norm: bool,
    /// Forward-only LSTM layers: a streaming model, whose every output
    /// reads the past only (`irnn transcribe --stream`). Normalises
    /// features with fixed statistics of the training set; refuses
    /// --conv-channels and --range-db, which need the whole utterance.
    #[arg(long)]
    unidirectional: bool,
    /// How features are normalised: per utterance, or with fixed
    /// statistics of the training set (what streaming needs). Default:
    /// global with --unidirectional, else utterance.
    #[arg(long, value_enum)]
    feature_norm: Option<NormArg>,
    /// Channels of a 3 × 3 convolutional front end over (time, mel), stride
    /// 2 along mel, ReLU (0: none).
    #[arg(value_parser = crate::args::parse::channels, long, default_value_t = 0)]
    conv_channels: usize,
    /// Add an attention decoder (additive attention, LSTM decoder) beside
    /// the CTC head, trained jointly.
    #[arg(long)]
    attention: bool,
    /// Decoder LSTM hidden size.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 128)]
    decoder_hidden: usize,
    /// Attention width.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 64)]
    attention_dim: usize,
    /// Decoder label embedding size.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 32)]
    decoder_embedding: usize,
    /// λ in λ·CTC + (1 − λ)·attention loss.
    #[arg(value_parser = crate::args::parse::fraction, long, default_value_t = 0.3)]
    ctc_weight: f64,
    /// Dropout on the inputs of layers after the first and of the output.
    #[arg(value_parser = crate::args::parse::probability, long, default_value_t = 0.0)]
    dropout: f64,
    /// Build new training utterances (new digit strings, gaps and gains
    /// from the same training recordings) every epoch.
    #[arg(long)]
    fresh_utterances: bool,
    /// Speed perturbation: each epoch, each training utterance is played at
    /// a speed drawn from [1 − S, 1 + S] (tempo and pitch; 0: off).
    #[arg(value_parser = crate::args::parse::speed, long, default_value_t = 0.0)]
    speed_perturb: f64,
    /// Level perturbation: each epoch, each training utterance is scaled by
    /// a gain drawn uniformly from [−D, 0] dB (0: off).
    #[arg(value_parser = crate::args::parse::gain_db, long, default_value_t = 0.0)]
    gain_perturb: f64,
    /// Noise perturbation: each epoch, white noise is added under each
    /// training utterance at a level drawn uniformly from LOW,HIGH dB full
    /// scale (e.g. `--noise-db=-70,-40`; none by default).
    #[arg(long, allow_hyphen_values = true)]
    noise_db: Option<String>,
    /// Vocal tract length perturbation: each epoch, each training utterance
    /// is seen through a mel filterbank warped by a factor drawn from
    /// [1 − W, 1 + W] (in steps of W/10; 0: off).
    #[arg(value_parser = crate::args::parse::vtlp, long, default_value_t = 0.0)]
    vtlp: f64,
    /// Save the mean of the weights after each of the last N epochs
    /// instead of the last weights (1: the last weights).
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 1)]
    average_last: usize,
    /// Front end: keep RANGE dB of dynamic range per mel filter below its
    /// loudest frame (0: only the absolute floor). Makes features blind to
    /// a speaker's level and microphone colouring.
    #[arg(value_parser = crate::args::parse::range_db, long, default_value_t = 0)]
    range_db: u32,
    /// Front end: the model's sample rate in Hz (audio at other rates is
    /// resampled to it).
    #[arg(value_parser = crate::args::parse::sample_rate, long, default_value_t = 8000)]
    sample_rate: u32,
    /// Front end: mel filters (40 for 8 kHz, 80 is usual for 16 kHz).
    #[arg(value_parser = crate::args::parse::mels, long, default_value_t = 40)]
    mels: usize,
    /// SpecAugment masks of each kind per utterance (0: none).
    #[arg(value_parser = crate::args::parse::masks, long, default_value_t = 2)]
    spec_augment: usize,
    /// Widest SpecAugment frequency mask, in mel filters (0: time masks
    /// only).
    #[arg(value_parser = crate::args::parse::mask_size, long, default_value_t = 8)]
    spec_augment_band: usize,
    /// Longest SpecAugment time mask, in frames.
    #[arg(value_parser = crate::args::parse::mask_size, long, default_value_t = 10)]
    spec_augment_span: usize,
    /// Start from this checkpoint's weights (same shape) instead of a fresh
    /// initialisation: fine-tuning.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Where to save the model (and, every epoch, the run's state).
    #[arg(long, short, default_value = "checkpoints/asr.safetensors")]
    out: PathBuf,
    /// Continue the run saved in --out, with the settings saved there (give
    /// only --data, the same recordings folder, and --out).
    #[arg(long)]
    resume: bool,
    /// Stop after this epoch, as an interruption would (`--resume`
    /// continues the run).
    #[arg(value_parser = crate::args::parse::count, long)]
    stop_after: Option<usize>,
}

/// Feature normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum NormArg {
    /// Mean 0, variance 1 over each utterance.
    Utterance,
    /// Fixed statistics of the training set.
    Global,
}

/// Output units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum UnitArg {
    /// Characters.
    Char,
    /// Words.
    Word,
}

/// Draws a bar per epoch and prints one line per epoch.
struct EpochLines {
    bar: Option<ProgressBar>,
}

impl Observer<EpochReport> for EpochLines {
    fn epoch_start(&mut self, epoch: usize, updates: usize, _units: usize) {
        self.bar = Some(batch_bar(updates, epoch));
    }

    fn update_done(&mut self, done: usize, _units: usize, loss: f64, _lr: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("loss {loss:.3}"));
        }
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let att = r
            .valid_attention
            .map(|e| format!(" | attention {}", rates(&e)))
            .unwrap_or_default();
        outln!(
            "epoch {:>3} | lr {:.5} | {:.1} s | train loss {:.3} | valid (CTC) {}{att}",
            r.epoch,
            r.lr,
            r.seconds,
            r.train_loss,
            rates(&r.valid)
        );
    }
}

/// A run's options by name, for the check that a resumed run is not asked
/// to change (`refuse_resume_conflicts`).
fn options(
    c: &AsrConfig,
    s: &AsrTrainSettings,
    mel: &MelConfig,
    units: Option<&Units>,
) -> serde_json::Value {
    let d = c.decoder.as_ref();
    let u = units.map(|u| (u.kind, u.normalization));
    serde_json::json!({
        "units": u.map(|u| match u.0 {
            UnitKind::Character => "char",
            UnitKind::Word => "word",
        }),
        "lowercase": u.map(|u| u.1.lowercase),
        "strip_punctuation": u.map(|u| u.1.strip_punctuation),
        "layers": c.layers,
        "hidden": c.hidden,
        "stack": c.stack,
        "layer_norm": c.layer_norm,
        "unidirectional": c.unidirectional,
        "feature_norm": if s.global_norm { "global" } else { "utterance" },
        "conv_channels": c.conv_channels,
        "attention": d.is_some(),
        "decoder_hidden": d.map(|d| d.hidden),
        "attention_dim": d.map(|d| d.attention),
        "decoder_embedding": d.map(|d| d.embedding),
        "ctc_weight": d.map(|d| d.ctc_weight),
        "range_db": mel.range_db,
        "sample_rate": mel.sample_rate,
        "mels": mel.mels,
        "epochs": s.epochs,
        "batch": s.batch,
        "lr": s.lr,
        "clip": s.clip,
        "dropout": s.dropout,
        "fresh_utterances": s.fresh_utterances,
        "speed_perturb": s.perturbation.speed,
        "gain_perturb": s.perturbation.gain_db,
        "noise_db": s.perturbation.noise_db,
        "vtlp": s.vtlp,
        "average_last": s.average_last,
        "spec_augment": s.spec_augment.masks,
        "spec_augment_band": s.spec_augment.max_band,
        "spec_augment_span": s.spec_augment.max_span,
        "train_utterances": s.sets.train_utterances,
        "valid_utterances": s.sets.valid_utterances,
        "test_utterances": s.sets.test_utterances,
        "seed": s.sets.seed,
    })
}

/// Runs `irnn train asr`.
pub fn run(a: TrainAsr, matches: &ArgMatches) -> Result<()> {
    if a.stop_after == Some(0) {
        bail!("--stop-after must be at least 1");
    }
    // Ranges are checked when the options are parsed; what remains are the
    // rules between options.
    let noise = match a.noise_db.as_deref() {
        None => None,
        Some(text) => {
            let range = text.split_once(',').and_then(|(lo, hi)| {
                Some((
                    lo.trim().parse::<f32>().ok()?,
                    hi.trim().parse::<f32>().ok()?,
                ))
            });
            match range {
                Some((lo, hi)) if -120.0 <= lo && lo <= hi && hi <= 0.0 => Some((lo, hi)),
                _ => bail!("--noise-db wants LOW,HIGH with −120 ≤ LOW ≤ HIGH ≤ 0, got '{text}'"),
            }
        }
    };
    if a.average_last > a.epochs {
        bail!(
            "--average-last must be in 1..=--epochs ({}), got {}",
            a.epochs,
            a.average_last
        );
    }
    let global_norm = match a.feature_norm {
        Some(NormArg::Global) => true,
        Some(NormArg::Utterance) => false,
        None => a.unidirectional,
    };
    if a.unidirectional {
        let whole = if !global_norm {
            Some("--feature-norm utterance")
        } else if a.conv_channels > 0 {
            Some("--conv-channels (the convolution reads the next frame)")
        } else if a.range_db > 0 {
            Some("--range-db (the range is of the whole utterance)")
        } else {
            None
        };
        if let Some(option) = whole {
            bail!("--unidirectional trains a streaming model, which cannot use {option}");
        }
    }
    let mut mel = MelConfig {
        range_db: a.range_db,
        ..MelConfig::for_rate(a.sample_rate, a.mels)
    };
    let mut settings = AsrTrainSettings {
        sets: a.sets.digits.sets(),
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        clip: a.clip,
        dropout: a.dropout,
        fresh_utterances: a.fresh_utterances,
        perturbation: Perturbation {
            speed: a.speed_perturb as f32,
            gain_db: a.gain_perturb as f32,
            noise_db: noise,
        },
        vtlp: a.vtlp,
        average_last: a.average_last,
        spec_augment: SpecAugment {
            masks: a.spec_augment,
            max_band: a.spec_augment_band,
            max_span: a.spec_augment_span,
        },
        global_norm,
    };
    let mut config = AsrConfig {
        features: mel.mels,
        stack: a.stack,
        layers: a.layers,
        hidden: a.hidden,
        unidirectional: a.unidirectional,
        layer_norm: a.layer_norm,
        decoder: a.attention.then_some(DecoderConfig {
            embedding: a.decoder_embedding,
            hidden: a.decoder_hidden,
            attention: a.attention_dim,
            ctc_weight: a.ctc_weight,
        }),
        conv_channels: a.conv_channels,
        units: 0,
    };
    let normalization = TextNormalization {
        lowercase: a.lowercase,
        strip_punctuation: a.strip_punctuation,
    };
    let kind = match a.units {
        UnitArg::Char => UnitKind::Character,
        UnitArg::Word => UnitKind::Word,
    };
    let asked_units = Units {
        kind,
        labels: Vec::new(),
        normalization,
        spellings: None,
    };
    let resumed = if a.resume {
        let ck = checkpoint::load(&a.out)
            .with_context(|| format!("resuming from {}", a.out.display()))?;
        let run = ck
            .run
            .with_context(|| format!("{} holds no training progress to resume", a.out.display()))?;
        let p = &run.progress;
        refuse_resume_conflicts::<TrainAsr>(
            matches,
            &[options(&config, &settings, &mel, Some(&asked_units))],
            &[options(
                &ck.model.config,
                &p.settings,
                &ck.mel,
                Some(&ck.units),
            )],
            &[],
            &[
                "data",
                "train",
                "valid",
                "test",
                "out",
                "resume",
                "stop_after",
            ],
        )?;
        if p.epochs_done >= p.settings.epochs {
            bail!(
                "{}: the run has finished all {} epochs; nothing to resume",
                a.out.display(),
                p.settings.epochs
            );
        }
        outln!(
            "resuming {} after epoch {} of {}",
            a.out.display(),
            p.epochs_done,
            p.settings.epochs
        );
        mel = ck.mel;
        settings = p.settings.clone();
        Some((ck.model, run, ck.units))
    } else {
        None
    };
    let data_arg = a.data.as_ref().map(|p| p.to_string_lossy().into_owned());
    let mut corpus = open_corpus(data_arg.as_deref(), &a.sets, &mel)?;
    if let Corpus::Digits { sets, .. } = &mut corpus {
        *sets = settings.sets;
    } else if !corpus.has(Split::Valid) {
        bail!("a training run needs a validation set: give --valid MANIFEST");
    }
    outln!("{}", corpus.describe());
    let units = match &resumed {
        Some((_, _, units)) => units.clone(),
        None => corpus.units(kind, normalization)?,
    };
    config.units = units.len();
    let init = match (&resumed, &a.init) {
        (None, Some(path)) => {
            let ck =
                checkpoint::load(path).with_context(|| format!("--init {}", path.display()))?;
            // Fine-tuning keeps the features the model was trained on.
            if settings.global_norm && ck.mel.norm.is_causal() {
                mel.norm = ck.mel.norm.clone();
            }
            Some((path, ck))
        }
        _ => None,
    };
    let start = Instant::now();
    let mut data = TrainData::new(&corpus, units, mel, &settings)?;
    let mel = data.mel().clone();
    outln!(
        "features: {} / {} / {} utterances in {:.1} s",
        data.train.features.len(),
        data.valid.features.len(),
        data.test.features.len(),
        start.elapsed().as_secs_f64()
    );
    let mut rng = TrainRng::seed(settings.sets.seed);
    let (model, resume) = match resumed {
        Some((model, run, _)) => (Some(model), Some(run)),
        None => (None, None),
    };
    let mut model = match (model, init) {
        (Some(model), _) => model,
        (None, Some((path, ck))) => {
            if ck.model.config != config {
                bail!(
                    "--init {}: its shape {:?} differs from the one asked for {:?}",
                    path.display(),
                    ck.model.config,
                    config
                );
            }
            if ck.units != data.units {
                bail!(
                    "--init {}: its {} output units differ from the {} of this corpus",
                    path.display(),
                    ck.units.len(),
                    data.units.len()
                );
            }
            if ck.mel != mel {
                bail!(
                    "--init {}: its front end {:?} differs from the one asked for {:?} (check --range-db and --feature-norm)",
                    path.display(),
                    ck.mel,
                    mel
                );
            }
            ck.model
        }
        (None, None) => {
            let frames = data
                .train
                .features
                .iter()
                .map(|f| f.len() / mel.mels.max(1))
                .max()
                .unwrap_or(0);
            let bytes = config.training_bytes(rayon::current_num_threads(), frames);
            check_memory(bytes, "training this model")?;
            AsrModel::<f32>::new(config, &mut rng)
        }
    };
    let params: usize = model.params().iter().map(|p| p.len()).sum();
    let c = &model.config;
    outln!(
        "model: {} × {} {} (stack {}{}), {params} parameters",
        c.layers,
        if c.unidirectional {
            "LSTM (unidirectional)"
        } else {
            "BiLSTM"
        },
        c.hidden,
        c.stack,
        if c.layer_norm { ", LayerNorm" } else { "" }
    );
    let averaged = train(
        &mut model,
        &mut data,
        &mut rng,
        resume,
        a.stop_after,
        &a.out,
        &mel,
        &mut EpochLines { bar: None },
    )?;
    if let Some(n) = a.stop_after.filter(|&n| n < settings.epochs) {
        outln!(
            "stopped after epoch {n} of {}; `irnn train asr --resume` with the same data \
             options and --out {} continues",
            settings.epochs,
            a.out.display()
        );
        return Ok(());
    }
    if let Some(wer) = averaged {
        outln!(
            "mean of the last {} epochs' weights | valid WER {wer:.2} % (CTC)",
            settings.average_last
        );
    }
    if !corpus.has(Split::Test) {
        outln!("saved {} (no test set given)", a.out.display());
        return Ok(());
    }
    let t = Transcripts::float(&model, &data.test);
    let e = score(&data.units, &t.ctc, &data.test.targets);
    let att = t
        .attention
        .as_ref()
        .map(|a| {
            let e = score(&data.units, a, &data.test.targets);
            format!(
                ", attention decoder WER {:.2} % | CER {:.2} %",
                e.wer(),
                e.cer()
            )
        })
        .unwrap_or_default();
    let what = corpus.word_name();
    outln!(
        "{}: WER {:.2} % | CER {:.2} % over {} {what} (float, greedy CTC{att}) | saved {}",
        corpus.test_name(),
        e.wer(),
        e.cer(),
        e.words,
        a.out.display()
    );
    Ok(())
}
