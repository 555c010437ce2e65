//! The command-line tool end to end: clear errors for bad input, and
//! checkpoints that survive a kill at any moment.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn irnn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_irnn"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("irnn-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
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

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tmp("errors");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    fails_with(
        &["train", "lm", "--data", "/no/such/corpus.txt"],
        "/no/such/corpus.txt",
    );
    fails_with(&["train", "lm", "--data", empty.to_str().unwrap()], "empty");
    fails_with(&["train", "lm", "--cell", "transformer"], "transformer");
    fails_with(&["train", "lm", "--level", "byte"], "byte");
    fails_with(&["train", "lm", "--dropout", "1.5"], "--dropout");
    fails_with(
        &["eval", "/no/such/model.safetensors"],
        "/no/such/model.safetensors",
    );
    fails_with(&["eval", garbage.to_str().unwrap()], "garbage.safetensors");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn irnn_isa_forces_a_kernel_and_a_bad_value_is_an_error() {
    let out = irnn()
        .arg("kernels")
        .env("IRNN_ISA", "scalar")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("in use: scalar (forced by IRNN_ISA)"),
        "{text}"
    );
    for bad in ["avx9000", "neon-i8mm-x"] {
        let out = irnn().arg("kernels").env("IRNN_ISA", bad).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("IRNN_ISA") && err.contains(bad), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_kill_during_training_never_corrupts_the_checkpoint() {
    let dir = tmp("kill");
    let ckpt = dir.join("ck.safetensors");
    let args = [
        "train",
        "lm",
        "--level",
        "char",
        "--layers",
        "1",
        "--hidden",
        "24",
        "--batch",
        "8",
        "--bptt",
        "20",
        "--epochs",
        "50",
        "--checkpoint-every",
        "1",
        "--out",
        ckpt.to_str().unwrap(),
    ];
    let mut kills = 0;
    for round in 0..6u64 {
        let mut child = irnn()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write at least one checkpoint, then kill it at a varying moment.
        let start = Instant::now();
        while !ckpt.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(37 * round + 11));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let ck = irnn_train::lm::checkpoint::load(&ckpt)
            .unwrap_or_else(|e| panic!("checkpoint unreadable after kill {round}: {e}"));
        assert_eq!(ck.model.config.hidden, 24);
    }
    assert_eq!(kills, 6);
    // And a killed run resumes.
    let out = irnn()
        .args(args)
        .args(["--resume", "--max-windows", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resuming"));
    std::fs::remove_dir_all(&dir).unwrap();
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

/// The text after `key` up to the next " bpc".
fn bpc_after<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        + key.len();
    let rest = text[at..].trim_start();
    &rest[..rest.find(" bpc").expect("a bpc figure")]
}

/// The two errors of the "GPTQ layer 0:" line: nearest rounding's and
/// GPTQ's.
fn gptq_errors(text: &str) -> (f64, f64) {
    let line = text
        .lines()
        .find(|l| l.starts_with("GPTQ layer 0:"))
        .unwrap_or_else(|| panic!("no GPTQ line in:\n{text}"));
    let number = |before: &str| -> f64 {
        let end = line.find(before).expect("figure");
        let start = line[..end].trim_end().rfind(' ').expect("figure start");
        line[start..end].trim().parse().expect("a number")
    };
    (number(" nearest"), number(" GPTQ"))
}

/// A short `irnn qat` of `float` (plus `extra`) into `name`: the
/// figure QAT prints is `irnn eval`'s, and `irnn convert` of its checkpoint
/// writes the same file. Returns QAT's output, the file and `irnn inspect`'s
/// text of it.
fn qat_round_trip(
    p: &dyn Fn(&str) -> String,
    float: &str,
    name: &str,
    extra: &[&str],
) -> (String, Vec<u8>, String) {
    let checkpoint = p(&format!("{name}.safetensors"));
    let mut args = vec![
        "qat",
        float,
        "--max-windows",
        "6",
        "--batch",
        "16",
        "--bptt",
        "32",
        "--calibration-tokens",
        "3000",
        "-o",
        &checkpoint,
    ];
    args.extend(extra);
    let out = run_ok(&args);
    let model = p(&format!("{name}.irnn"));
    let eval = run_ok(&["eval", &model]);
    assert_eq!(
        bpc_after(&out, "QAT → integer"),
        bpc_after(&eval, "kernels):"),
        "{out}\n{eval}"
    );
    let converted = p(&format!("{name}-converted.irnn"));
    run_ok(&["convert", &checkpoint, "-o", &converted]);
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(std::fs::read(&converted).unwrap(), bytes);
    let info = run_ok(&["inspect", &model]);
    (out, bytes, info)
}

#[test]
fn train_qat_convert_eval_generate_inspect() {
    let dir = tmp("pipeline");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let float = p("float.safetensors");
    run_ok(&[
        "train",
        "lm",
        "--level",
        "char",
        "--layers",
        "1",
        "--hidden",
        "16",
        "--embedding",
        "8",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--bptt",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--loss",
        "mean",
        "--clip",
        "1",
        "--out",
        &float,
    ]);
    // The integer figure QAT reports is the one `irnn eval` measures, and
    // converting the QAT checkpoint gives the same file, byte for byte.
    let (_, _, info) = qat_round_trip(&p, &float, "qat", &["--knots", "16"]);
    let model = p("qat.irnn");
    // Post-training quantization needs data for calibration.
    fails_with(&["convert", &float, "-o", &p("ptq.irnn")], "--data");
    run_ok(&[
        "convert",
        &float,
        "--data",
        "embedded:tinyshakespeare",
        "-o",
        &p("ptq.irnn"),
    ]);
    assert!(
        info.contains("LSTM 8 → 16") && info.contains("16 knots"),
        "{info}"
    );
    // 4-bit weight tables: QAT at 4 bits with learned row scales, the same
    // figure from `irnn eval`, a checkpoint that converts back to the same
    // (version 9) file (so it carries the learned scales).
    let (_, bytes4, info4) =
        qat_round_trip(&p, &float, "qat4", &["--weight-bits", "4", "--learn-steps"]);
    assert_eq!(&bytes4[8..12], &9u32.to_le_bytes());
    assert!(
        info4.contains("weights int4")
            && info4.contains("embedding: int4")
            && info4.contains("output: int4"),
        "{info4}"
    );
    // Mixed widths (4-bit recurrent and embedding, 8-bit output layer),
    // GPTQ rounding and distillation from the float model: the widths
    // travel through the checkpoint, GPTQ's rounded weights too.
    let (out_mixed, _, info_mixed) = qat_round_trip(
        &p,
        &float,
        "mixed",
        &[
            "--weight-bits",
            "4",
            "--output-bits",
            "8",
            "--distill",
            "0.5",
            "--gptq",
        ],
    );
    let (nearest, gptq) = gptq_errors(&out_mixed);
    assert!(gptq < nearest, "{out_mixed}");
    // GPTQ in post-training quantization: over --data only.
    fails_with(
        &[
            "convert",
            &float,
            "-o",
            &p("g.irnn"),
            "--weight-bits",
            "4",
            "--gptq",
        ],
        "--data",
    );
    let ptq_gptq = run_ok(&[
        "convert",
        &float,
        "--data",
        "embedded:tinyshakespeare",
        "--weight-bits",
        "4",
        "--gptq",
        "-o",
        &p("g.irnn"),
    ]);
    let (nearest, gptq) = gptq_errors(&ptq_gptq);
    assert!(gptq < nearest, "{ptq_gptq}");
    assert!(
        out_mixed.contains("4-bit recurrent, 8-bit output, 4-bit embedding"),
        "{out_mixed}"
    );
    assert!(
        info_mixed.contains("weights int4")
            && info_mixed.contains("embedding: int4")
            && info_mixed.contains("output: int8"),
        "{info_mixed}"
    );
    let text = run_ok(&["generate", &model, "--prompt", "ROMEO:", "--tokens", "40"]);
    assert!(
        text.starts_with("ROMEO:") && text.chars().count() > 40,
        "{text}"
    );
    // Bad input: unknown prompt character, truncated and missing model files.
    fails_with(&["generate", &model, "--prompt", "€"], "\"€\"");
    let bytes = std::fs::read(&model).unwrap();
    let truncated = p("truncated.irnn");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&["eval", &truncated], "truncated");
    fails_with(&["inspect", &truncated], "truncated");
    fails_with(&["inspect", "/no/such/model.irnn"], "/no/such/model.irnn");
    fails_with(&["generate", "/no/such/model.irnn"], "/no/such/model.irnn");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_asr_runs_and_names_bad_data() {
    let dir = tmp("asr");
    let data = dir.join("recordings");
    std::fs::create_dir_all(&data).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // Three speakers, digits 0–2, a tone per digit.
    for speaker in ["ann", "bob", "cy"] {
        for digit in 0..3u32 {
            let mut w =
                hound::WavWriter::create(data.join(format!("{digit}_{speaker}_0.wav")), spec)
                    .unwrap();
            for i in 0..2400u32 {
                let f = 300.0 + 400.0 * digit as f32;
                let v = (2.0 * std::f32::consts::PI * f * i as f32 / 8000.0).sin();
                w.write_sample((v * 8000.0) as i16).unwrap();
            }
            w.finalize().unwrap();
        }
    }
    let out = dir.join("asr.safetensors");
    let text = run_ok(&[
        "train",
        "asr",
        "--data",
        data.to_str().unwrap(),
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "4",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--batch",
        "8",
        "--gain-perturb",
        "10",
        "--noise-db=-80,-60",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("test speaker cy: WER"), "{text}");
    fails_with(
        &[
            "train",
            "asr",
            "--data",
            data.to_str().unwrap(),
            "--noise-db=-40,-70",
        ],
        "--noise-db wants LOW,HIGH",
    );
    assert!(out.is_file());
    fails_with(
        &["train", "asr", "--data", "/no/such/folder"],
        "/no/such/folder",
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &["train", "asr", "--data", empty.to_str().unwrap()],
        "no files named",
    );
    // A recording that is not a WAV file names the file and the problem.
    std::fs::write(data.join("1_ann_1.wav"), b"RIFF\x04\x00\x00\x00WAVE").unwrap();
    fails_with(
        &[
            "train",
            "asr",
            "--data",
            data.to_str().unwrap(),
            "--train-utterances",
            "200",
            "--epochs",
            "1",
        ],
        "1_ann_1.wav",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn speech_pipeline_on_the_fsdd_fixture() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fsdd");
    let data = data.to_str().unwrap();
    let dir = tmp("speech");
    let float = dir.join("asr.safetensors");
    let qat = dir.join("asr-qat.safetensors");
    let model = dir.join("asr-qat.irnn");
    let sets = [
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "6",
    ];
    let mut args = vec!["train", "asr", "--data", data, "--epochs", "2"];
    args.extend(sets);
    args.extend([
        "--hidden",
        "8",
        "--layers",
        "1",
        "--layer-norm",
        "--conv-channels",
        "2",
        // The front end's dynamic-range floor travels through the
        // checkpoint, QAT and the model file (eval must match QAT).
        "--range-db",
        "50",
        "--vtlp",
        "0.1",
        "--average-last",
        "2",
    ]);
    args.extend([
        "--attention",
        "--decoder-hidden",
        "8",
        "--attention-dim",
        "4",
    ]);
    args.extend(["--out", float.to_str().unwrap()]);
    let text = run_ok(&args);
    assert!(text.contains("test speaker yweweler: WER"), "{text}");

    let qat_base = [
        "qat",
        float.to_str().unwrap(),
        "--data",
        data,
        "--epochs",
        "1",
    ];
    let mut args = qat_base.to_vec();
    // QAT with the training's time masks.
    args.extend(["--spec-augment", "2", "--spec-augment-band", "0"]);
    args.extend(sets);
    args.extend(["--out", qat.to_str().unwrap()]);
    let text = run_ok(&args);
    // Six test utterances, two heads.
    assert!(
        text.contains("the file reproduces all 12 QAT transcripts"),
        "{text}"
    );
    let qat_line = text
        .lines()
        .find(|l| l.contains("QAT → integer"))
        .unwrap_or_else(|| panic!("{text}"));
    // "… QAT → integer CTC WER x % | CER y %, attention WER …"
    let qat_wer = qat_line.split("QAT → integer CTC ").nth(1).unwrap();
    let qat_wer = &qat_wer[..qat_wer.find(" |").unwrap()];

    // `irnn eval` of the file prints the WER QAT printed.
    let mut args = vec!["eval", model.to_str().unwrap(), "--data", data];
    args.extend(sets);
    let text = run_ok(&args);
    assert!(text.contains(qat_wer), "eval: {text}\nQAT: {qat_wer}");
    assert!(text.contains("real-time factor"), "{text}");
    assert!(text.contains("attention decoder (integer"), "{text}");

    // Converting the QAT checkpoint writes the same bytes.
    let converted = dir.join("converted.irnn");
    run_ok(&[
        "convert",
        qat.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&converted).unwrap(),
        std::fs::read(&model).unwrap()
    );

    // QAT keeps the calibrated start unless an epoch beats it on
    // validation: with updates too small to change any integer (and ranges
    // that never move) the epoch only ties, so the start is kept, and its
    // test figures are PTQ's; --keep-last keeps the epoch. (The fixture's
    // float model is too weak for a wrecking rate to do worse: its CTC
    // head inserts, 200 % WER, and a wrecked one writes nothing, 100 %.)
    let wrecked = dir.join("tie.safetensors");
    let mut args = qat_base.to_vec();
    args.extend(["--lr", "1e-12", "--freeze", "1"]);
    args.extend(sets);
    args.extend(["--out", wrecked.to_str().unwrap()]);
    let text = run_ok(&args);
    assert!(text.contains("kept the calibrated start (PTQ)"), "{text}");
    // The epoch's line compares its validation errors with the start's.
    assert!(
        text.contains("vs the calibrated start +0 word errors, 0.0 standard errors"),
        "{text}"
    );
    // "…: float … | PTQ <figures> | QAT → integer <figures>  (…"
    let line = text.lines().find(|l| l.contains("QAT → integer")).unwrap();
    let ptq = line.split(" | PTQ ").nth(1).unwrap();
    let (ptq, qat) = ptq.split_once(" | QAT → integer ").unwrap();
    let qat = &qat[..qat.find("  (").unwrap()];
    assert_eq!(ptq, qat, "{line}");
    args.push("--keep-last");
    let text = run_ok(&args);
    assert!(!text.contains("kept the calibrated start"), "{text}");

    // Inspect names the parts of a speech model.
    let text = run_ok(&["inspect", model.to_str().unwrap()]);
    for part in [
        "speech model",
        "format version 3",
        "50 dB range per filter",
        "convolution",
        "layer 0 backward",
        "attention decoder",
    ] {
        assert!(text.contains(part), "inspect lacks {part}: {text}");
    }

    // Transcribe: one line per file.
    let wav = format!("{data}/2_yweweler_0.wav");
    let text = run_ok(&["transcribe", model.to_str().unwrap(), &wav]);
    assert!(text.starts_with(&wav), "{text}");
    let m = model.to_str().unwrap();
    let text = run_ok(&["transcribe", m, &wav, "--attention", "--beam", "3"]);
    assert!(text.starts_with(&wav), "{text}");

    // Another sample rate is resampled to the model's; bad input names the
    // problem.
    let stereo16k = dir.join("16k.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&stereo16k, spec).unwrap();
    w.write_sample(0i16).unwrap();
    w.finalize().unwrap();
    let text = run_ok(&["transcribe", m, stereo16k.to_str().unwrap()]);
    assert!(text.starts_with(stereo16k.to_str().unwrap()), "{text}");
    fails_with(&["transcribe", m, "/no/such/file.wav"], "/no/such/file.wav");
    let not_wav = dir.join("text.wav");
    std::fs::write(&not_wav, "hello").unwrap();
    fails_with(&["transcribe", m, not_wav.to_str().unwrap()], "text.wav");
    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.join("truncated.irnn");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &["transcribe", truncated.to_str().unwrap(), &wav],
        "truncated",
    );
    fails_with(
        &["eval", m],
        "needs its utterances: --train/--valid/--test MANIFEST",
    );
    // A float checkpoint is not an integer speech model.
    fails_with(
        &["transcribe", float.to_str().unwrap(), &wav],
        "asr.safetensors",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `irnn train asr --resume` continues a stopped run exactly: stopped
/// after epochs 1 and 2 and resumed each time, it ends with the weights of
/// the run that was never stopped, bit for bit (fresh utterances, level
/// perturbation and weight averaging included); options that would change
/// the run are refused, and a finished run is not resumed.
#[test]
fn a_resumed_speech_run_ends_where_an_uninterrupted_one_does() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fsdd");
    let data = data.to_str().unwrap();
    let dir = tmp("asr-resume");
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let recipe = [
        "train",
        "asr",
        "--data",
        data,
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "6",
        "--epochs",
        "3",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--batch",
        "8",
        "--gain-perturb",
        "6",
        "--fresh-utterances",
        "--average-last",
        "2",
    ];
    let with = |extra: &[&str]| {
        let mut args = recipe.to_vec();
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: &[String]| run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(&with(&["--out", a]));
    let text = run(&with(&["--out", b, "--stop-after", "1"]));
    assert!(text.contains("stopped after epoch 1 of 3"), "{text}");
    let resume = ["train", "asr", "--resume", "--data", data, "--out", b];
    let mut args = resume.to_vec();
    args.extend(["--stop-after", "2"]);
    run_ok(&args);
    fails_with(
        &[&resume[..], &["--hidden", "9"]].concat(),
        "--hidden: given 9, saved 8",
    );
    run_ok(&resume);
    let load = |p: &str| irnn_train::asr::checkpoint::load(std::path::Path::new(p)).unwrap();
    let (full, resumed) = (load(a), load(b));
    for (x, y) in full.model.params().iter().zip(resumed.model.params()) {
        assert_eq!(x.value, y.value, "{}", x.name);
    }
    fails_with(&resume, "finished all 3 epochs");
    std::fs::remove_dir_all(&dir).unwrap();
}
