//! "QAT trains exactly what is deployed" (docs/ARCHITECTURE.md) for speech: the integer model read back from a `.irnn` file
//! reproduces the QAT model's transcripts — and its int32 scores — exactly.
//! Real speech from the committed FSDD fixture (fixtures/fsdd, CC BY-SA 4.0,
//! "Free Spoken Digit Dataset, Z. Jackson et al."): a small BiLSTM with
//! LayerNorm behind a convolution front end, a CTC head and an attention
//! decoder is trained briefly, calibrated, fine-tuned with QAT, saved with
//! its ranges, reloaded, exported to a file and read back. Both heads are
//! checked. The same for a CTC model with 16-bit activations.

use std::path::PathBuf;

use irnn_runtime::format::{read_speech_model, write_speech_model};
use irnn_runtime::Isa;
use irnn_train::asr::attention::{sos, DecoderConfig};
use irnn_train::asr::calibrate::*;
use irnn_train::asr::checkpoint::{self, AsrQuantInfo};
use irnn_train::asr::data::fsdd::digit_units;
use irnn_train::asr::data::{DigitSets, Speakers};
use irnn_train::asr::decode::*;
use irnn_train::asr::export::*;
use irnn_train::asr::qat::{qat_epoch, MovingRanges};
use irnn_train::asr::train::{featurize, train_epoch, SeededDropout};
use irnn_train::asr::{AsrConfig, AsrModel};
use irnn_train::audio::{LogMel, MelConfig};
use irnn_train::nn::optim::Optimizer;
use irnn_train::nn::rng::TrainRng;
use irnn_train::quant::pwl_fit::PwlFitter;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fsdd")
}

#[test]
fn the_integer_file_reproduces_qat_transcripts_on_real_speech() {
    qat_then_file(8, true);
}

#[test]
fn the_file_reproduces_qat_with_16_bit_activations() {
    qat_then_file(16, false);
}

/// QAT at `bits`-bit activations of a model with (or without) an
/// attention decoder; its file must reproduce QAT's scores and transcripts.
fn qat_then_file(bits: u32, with_decoder: bool) {
    let dir = fixture();
    let mel = MelConfig::default();
    // The split and seeds every command uses (`irnn train asr` and the rest).
    let speakers = Speakers::open(&dir, &mel).unwrap();
    assert_eq!(speakers.split.test, "yweweler");
    let sets = DigitSets {
        train_utterances: 24,
        valid_utterances: 0,
        test_utterances: 12,
        seed: 1,
    };
    let front = LogMel::new(mel.clone());
    let units = digit_units();
    let train = featurize(&speakers.train(&sets).unwrap(), &front, &units).unwrap();
    let test = featurize(&speakers.test(&sets).unwrap(), &front, &units).unwrap();
    let config = AsrConfig {
        features: mel.mels,
        stack: 3,
        layers: 2,
        hidden: 12,
        unidirectional: false,
        layer_norm: true,
        decoder: with_decoder.then_some(DecoderConfig {
            embedding: 8,
            hidden: 12,
            attention: 8,
            ctc_weight: 0.5,
        }),
        conv_channels: 2,
        units: 10,
    };
    let mut model = AsrModel::<f32>::new(config, &mut TrainRng::seed(4));
    let order: Vec<usize> = (0..train.features.len()).collect();
    let mut opt = Optimizer::default();
    for _ in 0..80 {
        train_epoch(
            &mut model,
            &train,
            &order,
            4,
            &mut opt,
            5e-3,
            5.0,
            None,
            SeededDropout::default(),
            |_, _| {},
        );
    }
    let mut ranges = calibrate(&model, &train.features, &train.targets);
    let calibrated = ranges.clone();
    let mut pwl = PwlFitter::new(32);
    // The ranges move for the first two of the three updates: the file
    // must carry where they ended.
    let mut moving = MovingRanges {
        momentum: 0.9,
        freeze_at: 2,
        done: 0,
    };
    qat_epoch(
        &mut model,
        &mel,
        &units,
        &mut ranges,
        &mut moving,
        &mut pwl,
        bits,
        &train,
        &order,
        8,
        &mut opt,
        1e-3,
        5.0,
        None,
        |_, _| {},
    )
    .unwrap();
    assert_ne!(ranges, calibrated, "QAT's ranges did not move");
    // QAT mode: the model QAT ends with, exported in memory.
    let qat_model = integer_model_at(&model, &mel, &units, &ranges, bits, &mut pwl).unwrap();
    assert_eq!(qat_model.layers.activation_bits(), bits);
    let qat_transcripts = integer_transcripts(&qat_model, &test.features).unwrap();
    let qat_attention = integer_attention_transcripts(&qat_model, &test.features).unwrap();
    assert_eq!(qat_attention.is_some(), with_decoder);

    // Checkpoint with ranges → reload → export → file → read back.
    let tmp = std::env::temp_dir().join(format!("irnn-asr-exact-{bits}-{}", std::process::id()));
    let ck_path = tmp.join("qat.safetensors");
    let quant = AsrQuantInfo {
        ranges,
        knots: 32,
        activation_bits: bits,
    };
    checkpoint::save(&ck_path, &model, &mel, &units, Some(&quant)).unwrap();
    let ck = checkpoint::load(&ck_path).unwrap();
    let q = ck.quant.expect("ranges saved");
    let exported = integer_model_at(
        &ck.model,
        &ck.mel,
        &ck.units,
        &q.ranges,
        q.activation_bits,
        &mut PwlFitter::new(q.knots),
    )
    .unwrap();
    let bytes = write_speech_model(&exported);
    assert_eq!(
        bytes,
        write_speech_model(&qat_model),
        "reloaded export differs"
    );
    let file = tmp.join("model.irnn");
    std::fs::write(&file, &bytes).unwrap();
    let runtime = read_speech_model(&std::fs::read(&file).unwrap()).unwrap();

    for f in &test.features {
        let a = integer_logits(&qat_model, Isa::detect(), f).unwrap();
        let b = integer_logits(&runtime, Isa::detect(), f).unwrap();
        assert_eq!(a, b, "int32 scores differ");
        assert_eq!(integer_logits(&runtime, Isa::Scalar, f).unwrap(), a);
        if !with_decoder {
            continue;
        }
        // The decoder's scores along its own greedy path.
        let labels = integer_attention_transcribe(&qat_model, Isa::detect(), f)
            .unwrap()
            .unwrap();
        let mut tokens = vec![sos(units.len())];
        tokens.extend(&labels);
        let forced = |m: &irnn_runtime::speech::IntSpeechModel, isa| {
            let encoded = m.encode(isa, &quantize_features(m, f)).unwrap();
            let d = m.decoder.as_ref().unwrap();
            let memory = d.prepare(isa, &encoded).unwrap();
            d.run_forced(isa, &memory, &tokens).unwrap()
        };
        let a = forced(&qat_model, Isa::detect());
        assert_eq!(forced(&runtime, Isa::detect()), a, "decoder scores differ");
        assert_eq!(forced(&runtime, Isa::Scalar), a);
    }
    assert_eq!(
        integer_transcripts(&runtime, &test.features).unwrap(),
        qat_transcripts
    );
    assert_eq!(
        integer_attention_transcripts(&runtime, &test.features).unwrap(),
        qat_attention
    );
    // The check is not vacuous: the model says something.
    assert!(qat_transcripts.iter().any(|t| !t.is_empty()));
    if let Some(attention) = &qat_attention {
        assert!(attention.iter().any(|t| !t.is_empty()));
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
