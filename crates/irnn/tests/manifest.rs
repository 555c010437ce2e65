//! Speech on the user's own corpus: a synthetic one the test builds from
//! scratch (each letter a tone, a word boundary a pause, speakers differing
//! in pitch, speed and level), a Kaldi data directory for training and NeMo
//! manifests for validation and test. A tiny character model is trained,
//! quantized with QAT and converted; the `.irnn` file's transcripts must be
//! QAT's (`irnn qat` checks every one), `transcribe` must print text in the
//! training alphabet, and every bad input names its problem.

use std::path::{Path, PathBuf};
use std::process::Command;

fn irnn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_irnn"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("irnn-manifest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_ok(args: &[&str]) -> String {
    let out = irnn().args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn fails_with(args: &[&str], needle: &str) {
    let out = irnn().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

/// The sentences: words of the letters a, b, o.
const SENTENCES: [&str; 8] = [
    "ab ba", "boa", "a bob", "oba ab", "ba", "bo ab", "aob", "ab bo a",
];

/// `text` spoken by speaker `voice`: 16-bit mono at 8 kHz.
fn speak(path: &Path, text: &str, voice: u32) {
    let rate = 8000.0f32;
    let pitch = 1.0 + 0.04 * voice as f32;
    let speed = 1.0 + 0.06 * (voice % 3) as f32;
    let level = 0.5 + 0.1 * (voice % 4) as f32;
    let mut samples: Vec<f32> = vec![0.0; 400];
    for c in text.chars() {
        let (freq, seconds) = match c {
            'a' => (400.0, 0.14),
            'b' => (900.0, 0.10),
            'o' => (1700.0, 0.16),
            _ => (0.0, 0.10),
        };
        let n = (seconds * rate / speed) as usize;
        for i in 0..n {
            let t = i as f32 / rate;
            let ramp = (i.min(n - i) as f32 / 80.0).min(1.0);
            let v = if freq > 0.0 {
                level * ramp * (2.0 * std::f32::consts::PI * freq * pitch * t).sin()
            } else {
                0.0
            };
            samples.push(v);
        }
        samples.extend(std::iter::repeat_n(0.0, 160));
    }
    samples.extend(std::iter::repeat_n(0.0, 400));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample((s * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Training: voices 0–3 as a Kaldi directory; validation voice 4 and test
/// voice 5 as NeMo manifests (relative paths).
fn corpus(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let audio = dir.join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let train = dir.join("train");
    std::fs::create_dir_all(&train).unwrap();
    let (mut scp, mut text, mut spk) = (String::new(), String::new(), String::new());
    for voice in 0..4 {
        for (i, s) in SENTENCES.iter().enumerate() {
            let id = format!("v{voice}-{i}");
            let wav = audio.join(format!("{id}.wav"));
            speak(&wav, s, voice);
            scp += &format!("{id} ../audio/{id}.wav\n");
            // Upper case and punctuation, removed by the normalisation.
            text += &format!("{id} {}!\n", s.to_uppercase());
            spk += &format!("{id} v{voice}\n");
        }
    }
    std::fs::write(train.join("wav.scp"), scp).unwrap();
    std::fs::write(train.join("text"), text).unwrap();
    std::fs::write(train.join("utt2spk"), spk).unwrap();
    let nemo = |voice: u32, name: &str| {
        let mut lines = String::new();
        for (i, s) in SENTENCES.iter().enumerate() {
            let file = format!("audio/nemo-v{voice}-{i}.wav");
            speak(&dir.join(&file), s, voice);
            lines += &format!("{{\"audio_filepath\": \"{file}\", \"text\": \"{s}\"}}\n");
        }
        let path = dir.join(name);
        std::fs::write(&path, lines).unwrap();
        path
    };
    (train, nemo(4, "valid.json"), nemo(5, "test.json"))
}

#[test]
fn a_character_model_trains_on_manifests_and_its_file_transcribes_as_qat() {
    let dir = tmp("pipeline");
    let (train, valid, test) = corpus(&dir);
    let (train, valid, test) = (
        train.to_str().unwrap(),
        valid.to_str().unwrap(),
        test.to_str().unwrap(),
    );
    let float = dir.join("asr.safetensors");
    let float = float.to_str().unwrap();
    let text = run_ok(&[
        "train",
        "asr",
        "--train",
        train,
        "--valid",
        valid,
        "--test",
        test,
        "--lowercase",
        "--strip-punctuation",
        "--epochs",
        "30",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--stack",
        "2",
        "--batch",
        "4",
        "--lr",
        "0.01",
        "--attention",
        "--decoder-hidden",
        "8",
        "--attention-dim",
        "4",
        "--decoder-embedding",
        "4",
        "--out",
        float,
    ]);
    assert!(
        text.contains("train ") && text.contains("(32 utterances)"),
        "{text}"
    );
    // It learns: the unseen voice's characters are mostly right.
    let cer: f64 = text
        .lines()
        .find(|l| l.starts_with("test set"))
        .unwrap_or("")
        .split("CER ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(100.0);
    assert!(cer < 50.0, "{text}");
    // The units are stored: inspect lists them.
    let text = run_ok(&["inspect", float]);
    assert!(text.contains("4 character units"), "{text}");

    let qat = dir.join("asr-qat.safetensors");
    let model = dir.join("asr-qat.irnn");
    let text = run_ok(&[
        "qat",
        float,
        "--train",
        train,
        "--valid",
        valid,
        "--test",
        test,
        "--epochs",
        "1",
        "--batch",
        "8",
        "--out",
        qat.to_str().unwrap(),
        "--model-out",
        model.to_str().unwrap(),
    ]);
    assert!(
        text.contains("the file reproduces all 16 QAT transcripts"),
        "{text}"
    );
    let model = model.to_str().unwrap();
    // Version 5: the file stores that characters join with nothing.
    let bytes = std::fs::read(model).unwrap();
    assert_eq!(&bytes[8..12], &5u32.to_le_bytes());
    let text = run_ok(&["eval", model, "--test", test]);
    assert!(text.contains("over 8 utterances"), "{text}");
    let wav = dir.join("audio/nemo-v5-0.wav");
    let text = run_ok(&["transcribe", model, wav.to_str().unwrap()]);
    let transcript = text.trim_end().split('\t').nth(1).unwrap_or("");
    assert!(
        transcript.chars().all(|c| " abo".contains(c)),
        "{transcript:?}"
    );
    // Converting the QAT checkpoint gives the same file.
    let again = dir.join("again.irnn");
    run_ok(&[
        "convert",
        qat.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    // 16-bit activations are for CTC models: this one has a decoder.
    fails_with(
        &[
            "convert",
            qat.to_str().unwrap(),
            "--activation-bits",
            "16",
            "-o",
            again.to_str().unwrap(),
        ],
        "attention decoder",
    );
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // A letter never seen in training, at test time, is named.
    let odd = dir.join("odd.json");
    std::fs::write(
        &odd,
        "{\"audio_filepath\": \"audio/nemo-v5-0.wav\", \"text\": \"abz\"}\n",
    )
    .unwrap();
    fails_with(
        &["eval", model, "--test", odd.to_str().unwrap()],
        "\"z\" is not one of the model's 4 character units",
    );
    // A digit folder is not this model's data, and one source at a time.
    let fsdd = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/fsdd");
    fails_with(
        &["eval", model, "--data", fsdd],
        "writes 4 units, not the digits of a --data folder",
    );
    fails_with(&["eval", model, "--data", fsdd, "--test", test], "not both");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_unidirectional_model_streams_exactly_its_offline_transcripts() {
    let dir = tmp("stream");
    let (train, valid, test) = corpus(&dir);
    let (train, valid, test) = (
        train.to_str().unwrap(),
        valid.to_str().unwrap(),
        test.to_str().unwrap(),
    );
    let float = dir.join("uni.safetensors");
    let float = float.to_str().unwrap();
    let text = run_ok(&[
        "train",
        "asr",
        "--unidirectional",
        "--train",
        train,
        "--valid",
        valid,
        "--test",
        test,
        "--lowercase",
        "--strip-punctuation",
        "--epochs",
        "30",
        "--hidden",
        "24",
        "--layers",
        "1",
        "--stack",
        "2",
        "--batch",
        "4",
        "--lr",
        "0.01",
        "--out",
        float,
    ]);
    assert!(text.contains("LSTM (unidirectional)"), "{text}");
    let text = run_ok(&["inspect", float]);
    assert!(
        text.contains("× LSTM 24") && text.contains("fixed statistics"),
        "{text}"
    );
    let model = dir.join("uni.irnn");
    let text = run_ok(&[
        "qat",
        float,
        "--train",
        train,
        "--valid",
        valid,
        "--test",
        test,
        "--epochs",
        "1",
        "--batch",
        "8",
        "--out",
        dir.join("uni-qat.safetensors").to_str().unwrap(),
        "--model-out",
        model.to_str().unwrap(),
    ]);
    assert!(
        text.contains("the file reproduces all 8 QAT transcripts"),
        "{text}"
    );
    let model = model.to_str().unwrap();
    // Version 7: forward-only layers and fixed statistics.
    assert_eq!(&std::fs::read(model).unwrap()[8..12], &7u32.to_le_bytes());
    // The same with 16-bit activations: QAT at that width, version 11, and
    // the QAT checkpoint converts to the same file (it keeps the width).
    let wide = dir.join("uni16.irnn");
    let wide_qat = dir.join("uni16-qat.safetensors");
    let text = run_ok(&[
        "qat",
        float,
        "--train",
        train,
        "--valid",
        valid,
        "--test",
        test,
        "--epochs",
        "1",
        "--batch",
        "8",
        "--activation-bits",
        "16",
        "--out",
        wide_qat.to_str().unwrap(),
        "--model-out",
        wide.to_str().unwrap(),
    ]);
    assert!(
        text.contains("the file reproduces all 8 QAT transcripts"),
        "{text}"
    );
    let wide_bytes = std::fs::read(&wide).unwrap();
    assert_eq!(&wide_bytes[8..12], &11u32.to_le_bytes());
    let again = dir.join("uni16-again.irnn");
    run_ok(&[
        "convert",
        wide_qat.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&again).unwrap(), wide_bytes);
    let wide = wide.to_str().unwrap();
    let text = run_ok(&["inspect", wide]);
    assert!(text.contains("encoder activations: int16"), "{text}");
    let text = run_ok(&["inspect", model]);
    assert!(text.contains("encoder: unidirectional"), "{text}");
    // Streamed in chunks of any size, every test file gets its offline
    // transcript; the compute per chunk is reported.
    let wavs: Vec<String> = (0..8)
        .map(|i| {
            let p = dir.join(format!("audio/nemo-v5-{i}.wav"));
            p.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["transcribe", model];
    args.extend(wavs.iter().map(String::as_str));
    let offline = run_ok(&args);
    assert_eq!(offline.lines().count(), 8);
    // The 16-bit model streams too, exactly its own offline transcripts.
    let mut wide_args = vec!["transcribe", wide];
    wide_args.extend(wavs.iter().map(String::as_str));
    let wide_offline = run_ok(&wide_args);
    assert_eq!(wide_offline.lines().count(), 8);
    wide_args.extend(["--stream", "--chunk-ms", "30"]);
    assert_eq!(run_ok(&wide_args), wide_offline);
    let letters: usize = offline
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or("").trim().len())
        .sum();
    assert!(letters >= 16, "{offline}");
    for chunk in ["10", "30", "200", "2000"] {
        let mut streamed = args.clone();
        streamed.extend(["--stream", "--chunk-ms", chunk]);
        let out = irnn().args(&streamed).output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            offline,
            "chunks of {chunk} ms"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        // One line per file and one over all of them.
        assert_eq!(err.matches("compute per chunk median").count(), 9, "{err}");
        assert!(err.contains("all 8 files"), "{err}");
    }
    // What cannot stream is named.
    let bidirectional = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/models/asr-qat.irnn"
    );
    fails_with(
        &["transcribe", bidirectional, &wavs[0], "--stream"],
        "streaming needs a unidirectional encoder",
    );
    fails_with(
        &["transcribe", model, &wavs[0], "--stream", "--beam", "4"],
        "takes no --beam",
    );
    fails_with(
        &["transcribe", model, &wavs[0], "--stream", "--attention"],
        "cannot be used with",
    );
    fails_with(
        &["transcribe", model, &wavs[0], "--chunk-ms", "100"],
        "--stream",
    );
    fails_with(
        &["transcribe", model, &wavs[0], "--stream", "--chunk-ms", "5"],
        "--chunk-ms",
    );
    for (extra, needle) in [
        (&["--conv-channels", "2"][..], "cannot use --conv-channels"),
        (&["--range-db", "40"][..], "cannot use --range-db"),
        (
            &["--feature-norm", "utterance"][..],
            "cannot use --feature-norm utterance",
        ),
    ] {
        let mut args = vec![
            "train",
            "asr",
            "--unidirectional",
            "--train",
            train,
            "--valid",
            valid,
        ];
        args.extend(extra);
        args.extend(["--out", "/nonexistent/never-written.safetensors"]);
        fails_with(&args, needle);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_corpora_name_the_problem() {
    let dir = tmp("bad");
    let (train, valid, _) = corpus(&dir);
    let (train, valid) = (train.to_str().unwrap(), valid.to_str().unwrap());
    let train_asr = |extra: &[&str], needle: &str| {
        let mut args = vec!["train", "asr", "--epochs", "1", "--hidden", "4"];
        args.extend(extra);
        args.extend(["--out", "/nonexistent/never-written.safetensors"]);
        fails_with(&args, needle);
    };
    // No validation set.
    train_asr(&["--train", train], "needs a validation set");
    // Both sources.
    train_asr(
        &["--train", train, "--valid", valid, "--data", train],
        "not both",
    );
    // A validation manifest of one line, which training must refuse with
    // `needle`.
    let refused_valid = |name: &str, line: &str, needle: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{line}\n")).unwrap();
        train_asr(
            &["--train", train, "--valid", path.to_str().unwrap()],
            needle,
        );
    };
    // A missing audio file names the utterance and the file.
    refused_valid(
        "missing.json",
        r#"{"audio_filepath": "audio/none.wav", "text": "ab"}"#,
        "none.wav",
    );
    // A line without text.
    refused_valid(
        "no-text.json",
        r#"{"audio_filepath": "audio/v0-0.wav"}"#,
        "no-text.json:1",
    );
    // Not a WAV file.
    std::fs::write(dir.join("audio/bad.wav"), b"RIFF....junk").unwrap();
    refused_valid(
        "bad.json",
        r#"{"audio_filepath": "audio/bad.wav", "text": "ab"}"#,
        "not a readable WAV file",
    );
    // An offset past the end of the audio.
    refused_valid(
        "late.json",
        r#"{"audio_filepath": "audio/v0-0.wav", "text": "ab", "offset": 100}"#,
        "past the end",
    );
    // Transcripts that are empty after normalisation.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("wav.scp"), "u1 ../audio/v0-0.wav\n").unwrap();
    std::fs::write(empty.join("text"), "u1 !!!\n").unwrap();
    train_asr(
        &[
            "--train",
            empty.to_str().unwrap(),
            "--valid",
            valid,
            "--strip-punctuation",
        ],
        "hold no character units",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_16_khz_80_mel_front_end_is_stored_in_the_model() {
    let dir = tmp("wide");
    let (train, valid, test) = corpus(&dir);
    let (train, valid, test) = (
        train.to_str().unwrap(),
        valid.to_str().unwrap(),
        test.to_str().unwrap(),
    );
    let float = dir.join("wide.safetensors");
    let float = float.to_str().unwrap();
    run_ok(&[
        "train",
        "asr",
        "--train",
        train,
        "--valid",
        valid,
        "--sample-rate",
        "16000",
        "--mels",
        "80",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--units",
        "word",
        "--lowercase",
        "--strip-punctuation",
        "--out",
        float,
    ]);
    let text = run_ok(&["inspect", float]);
    assert!(text.contains("16000 Hz, 80 mels"), "{text}");
    assert!(text.contains("word units"), "{text}");
    let model = dir.join("wide.irnn");
    let model = model.to_str().unwrap();
    run_ok(&["convert", float, "--train", train, "-o", model]);
    let text = run_ok(&["inspect", model]);
    assert!(
        text.contains("16000 Hz") && text.contains("80 mels"),
        "{text}"
    );
    // Word units join with spaces: format version 3, as before.
    assert_eq!(&std::fs::read(model).unwrap()[8..12], &3u32.to_le_bytes());
    // The 8 kHz test audio is resampled to the model's rate.
    let text = run_ok(&["eval", model, "--test", test]);
    assert!(text.contains("over 8 utterances"), "{text}");
    fails_with(
        &[
            "train", "asr", "--train", train, "--valid", valid, "--mels", "0",
        ],
        "--mels",
    );
    fails_with(
        &[
            "train",
            "asr",
            "--train",
            train,
            "--valid",
            valid,
            "--sample-rate",
            "100",
        ],
        "--sample-rate",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
