//! Files written by an earlier irnn (fixtures/models, see its README) still
//! read, score the same and convert to the same bytes; and every command
//! that takes a model file decides its kind once, from its bytes.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    p.to_str().unwrap().to_string()
}

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_irnn"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "irnn {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn tmp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("irnn-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn language_models_score_as_they_did() {
    for (name, figure) in [
        (
            "lm.irnn",
            "4.378 bpc over 5130 tokens (3.034413 nats/token)",
        ),
        (
            "lm.safetensors",
            "4.376 bpc over 5146 tokens (3.0329 nats/token)",
        ),
        (
            "lm-qat.irnn",
            "4.377 bpc over 5130 tokens (3.034176 nats/token)",
        ),
        (
            "lm-qat.safetensors",
            "4.375 bpc over 5146 tokens (3.0327 nats/token)",
        ),
        (
            "gru-ln.irnn",
            "3.703 bpc over 5130 tokens (2.566672 nats/token)",
        ),
        (
            "gru-ln.safetensors",
            "3.702 bpc over 5146 tokens (2.5661 nats/token)",
        ),
    ] {
        let text = run_ok(&["eval", &fixture(&format!("models/{name}"))]);
        assert!(text.contains(figure), "{name}: {text}");
    }
}

#[test]
fn checkpoints_convert_to_the_same_bytes() {
    let data = ["--data", "embedded:tinyshakespeare", "--knots", "16"];
    for (checkpoint, model, extra) in [
        ("lm.safetensors", "lm.irnn", &data[..]),
        ("gru-ln.safetensors", "gru-ln.irnn", &data[..]),
        ("lm-qat.safetensors", "lm-qat.irnn", &[][..]),
        ("asr-qat.safetensors", "asr-qat.irnn", &[][..]),
        (
            "../models-v7/asr-stream-qat.safetensors",
            "../models-v7/asr-stream-qat.irnn",
            &[][..],
        ),
    ] {
        let out = tmp(model.rsplit('/').next().unwrap_or(model));
        let mut args = vec!["convert", &*fixture(&format!("models/{checkpoint}"))]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["-o".to_string(), out.clone()]);
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(fixture(&format!("models/{model}"))).unwrap(),
            "{checkpoint} no longer converts to {model}"
        );
    }
}

#[test]
fn speech_model_scores_and_transcribes_as_it_did() {
    let fsdd = fixture("fsdd");
    let sets = [
        "--data",
        &fsdd,
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "6",
    ];
    let model = fixture("models/asr-qat.irnn");
    let mut args = vec!["eval", &model];
    args.extend(sets);
    let text = run_ok(&args);
    assert!(
        text.contains("WER 117.86 % | CER 112.10 % over 6 utterances, 28 digits"),
        "{text}"
    );
    // This barely trained decoder never ends a transcript: it writes the
    // most labels decoding allows, one per encoder step since sentences
    // need more than the 32 once allowed (685.71 % / 708.06 % then).
    assert!(text.contains("WER 1832.14 % | CER 2002.42 %"), "{text}");
    let float = fixture("models/asr.safetensors");
    let mut args = vec!["eval", &float];
    args.extend(sets);
    let text = run_ok(&args);
    assert!(
        text.contains("CTC WER 121.43 % | CER 115.32 %, attention WER 1832.14 % | CER 2002.42 %"),
        "{text}"
    );
    let a = format!("{fsdd}/2_yweweler_0.wav");
    let b = format!("{fsdd}/3_theo_0.wav");
    let text = run_ok(&["transcribe", &model, &a, &b]);
    assert_eq!(text, format!("{a}\t7 7\n{b}\t7 6 7\n"));
    // The decoder's greedy transcript (before the decoder had a beam in
    // `transcribe`, --beam was ignored here and this was all it printed).
    let text = run_ok(&["transcribe", &model, "--attention", &a]);
    assert_eq!(text, format!("{a}\t0 0 0 0 0 0 0 0 0\n"));
    // A beam of 3 finds end of sentence more probable than the nine zeros
    // of this barely trained decoder.
    let text = run_ok(&["transcribe", &model, "--attention", "--beam", "3", &a]);
    assert_eq!(text, format!("{a}\t\n"));
}

#[test]
fn the_streaming_model_scores_transcribes_and_streams_as_it_did() {
    let fsdd = fixture("fsdd");
    let model = fixture("models-v7/asr-stream-qat.irnn");
    assert_eq!(&std::fs::read(&model).unwrap()[8..12], &7u32.to_le_bytes());
    let text = run_ok(&[
        "eval",
        &model,
        "--data",
        &fsdd,
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "6",
    ]);
    assert!(
        text.contains("WER 278.57 % | CER 241.94 % over 6 utterances, 28 digits"),
        "{text}"
    );
    let text = run_ok(&["inspect", &model]);
    assert!(
        text.contains("encoder: unidirectional") && text.contains("fixed statistics"),
        "{text}"
    );
    let wavs: Vec<String> = std::fs::read_dir(&fsdd)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .filter(|p| p.ends_with(".wav"))
        .collect();
    assert_eq!(wavs.len(), 12);
    let mut args = vec!["transcribe", &model];
    args.extend(wavs.iter().map(String::as_str));
    let offline = run_ok(&args);
    let a = format!("{fsdd}/2_yweweler_0.wav");
    let b = format!("{fsdd}/1_george_0.wav");
    assert!(offline.contains(&format!("{a}\t1 5 1\n")), "{offline}");
    assert!(
        offline.contains(&format!("{b}\t8 5 8 5 5 1\n")),
        "{offline}"
    );
    for chunk in ["20", "100", "400"] {
        let mut streamed = args.clone();
        streamed.extend(["--stream", "--chunk-ms", chunk]);
        assert_eq!(run_ok(&streamed), offline, "chunks of {chunk} ms");
    }
}

fn fails_with(args: &[&str], needle: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_irnn"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

/// Each command is told what kind of file it got when it is the wrong one,
/// and an option of the other task is refused by name.
#[test]
fn commands_name_the_kind_of_file_they_need_and_refuse_the_other_tasks_options() {
    let lm = fixture("models/lm.irnn");
    let lm_ck = fixture("models/lm.safetensors");
    let asr = fixture("models/asr-qat.irnn");
    let asr_ck = fixture("models/asr.safetensors");
    let fsdd = fixture("fsdd");
    fails_with(
        &["qat", &lm],
        "is an integer language model; `irnn qat` needs a float checkpoint",
    );
    fails_with(
        &["convert", &asr, "-o", &tmp("x.irnn")],
        "is an integer speech model",
    );
    fails_with(
        &["transcribe", &lm, "x.wav"],
        "needs an integer speech model",
    );
    fails_with(
        &["transcribe", &asr_ck, "x.wav"],
        "is a float acoustic-model checkpoint",
    );
    fails_with(&["generate", &asr], "needs an integer language model");
    fails_with(
        &["eval", &lm, "--beam", "3"],
        "--beam applies to speech models only",
    );
    fails_with(
        &["eval", &asr, "--data", &fsdd, "--whole"],
        "--whole applies to language models only",
    );
    fails_with(
        &[
            "convert",
            &asr_ck,
            "-o",
            &tmp("y.irnn"),
            "--calibration-tokens",
            "9",
        ],
        "--calibration-tokens applies to language models only",
    );
    fails_with(
        &["qat", &lm_ck, "--spec-augment", "2"],
        "--spec-augment applies to speech models only",
    );
    let empty = tmp("empty.irnn");
    std::fs::write(&empty, b"").unwrap();
    fails_with(&["eval", &empty], "is empty");
}

/// A model read through a pipe is read once: its kind is decided from the
/// bytes already read.
#[cfg(unix)]
#[test]
fn a_model_can_come_through_a_pipe() {
    let lm = fixture("models/lm.irnn");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{} eval <(cat {lm})", env!("CARGO_BIN_EXE_irnn")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3.034413 nats/token"), "{text}");
}

#[test]
fn pack_writes_the_in_place_layout_and_back_without_changing_the_model() {
    for (name, check) in [
        ("lm.irnn", vec!["eval"]),
        ("gru-ln.irnn", vec!["eval"]),
        ("asr-qat.irnn", vec!["transcribe"]),
    ] {
        let compact = fixture(&format!("models/{name}"));
        let in_place = tmp(&format!("in-place-{name}"));
        let back = tmp(&format!("back-{name}"));
        assert!(run_ok(&["pack", &compact, "-o", &in_place]).contains("in-place layout"));
        let wav = fixture("fsdd/2_yweweler_0.wav");
        let args = |model: &str| -> Vec<String> {
            let mut a: Vec<String> = check.iter().map(|s| s.to_string()).collect();
            a.push(model.into());
            if check[0] == "transcribe" {
                a.push(wav.clone());
            }
            a
        };
        let strip = |out: String, path: &str| {
            // The figures, without the file name and the speed.
            let out = out.replace(path, "MODEL");
            out.split(", ")
                .filter(|p| !p.contains("tokens/s"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let a = args(&compact);
        let b = args(&in_place);
        let from_compact = strip(
            run_ok(&a.iter().map(String::as_str).collect::<Vec<_>>()),
            &compact,
        );
        let from_in_place = strip(
            run_ok(&b.iter().map(String::as_str).collect::<Vec<_>>()),
            &in_place,
        );
        assert_eq!(from_compact, from_in_place, "{name}");
        run_ok(&["pack", &in_place, "--layout", "compact", "-o", &back]);
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&compact).unwrap(),
            "{name}"
        );
    }
}
