//! Ordinary mistakes get clear errors and never a panic: a matrix of bad
//! inputs (empty, truncated, wrong kind, huge, pipe, directory, missing)
//! for every input of every subcommand, then one test per mistake a new
//! user makes with options and outputs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn irnn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_irnn"));
    c.env("RUST_BACKTRACE", "0");
    c
}

fn repo(p: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p);
    path.to_str().unwrap().to_string()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("irnn-bad-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `args`; requires failure, no panic, and `needle` in the message.
fn fails_with(args: &[&str], needle: &str) -> String {
    let out = irnn().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail:\n{err}");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    err
}

/// The bad inputs of the matrix: (class, path), written into `dir`.
fn bad_inputs(dir: &Path) -> Vec<(&'static str, String)> {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(p("empty.irnn"), b"").unwrap();
    let model = std::fs::read(repo("fixtures/models/lm.irnn")).unwrap();
    std::fs::write(p("truncated.irnn"), &model[..model.len() / 3]).unwrap();
    std::fs::write(p("text.irnn"), "just some words\n").unwrap();
    // For inputs that should be text: bytes that are not.
    std::fs::write(p("binary.txt"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    // Sparse: 10 GB on paper, nothing on disk.
    let huge = std::fs::File::create(p("huge.irnn")).unwrap();
    huge.set_len(10 << 30).unwrap();
    std::fs::create_dir_all(p("folder.irnn")).unwrap();
    vec![
        ("empty", p("empty.irnn")),
        ("truncated", p("truncated.irnn")),
        ("wrong kind", p("text.irnn")),
        ("wrong kind (binary)", p("binary.txt")),
        ("huge", p("huge.irnn")),
        ("directory", p("folder.irnn")),
        ("missing", p("no-such-file.irnn")),
    ]
}

#[test]
fn every_subcommand_refuses_every_kind_of_bad_input_without_panicking() {
    let dir = tmp("matrix");
    let inputs = bad_inputs(&dir);
    let out = dir.join("out.irnn");
    let out = out.to_str().unwrap();
    let lm = repo("fixtures/models/lm.irnn");
    let asr = repo("fixtures/models/asr-qat.irnn");
    let wav = repo("fixtures/fsdd/2_yweweler_0.wav");
    // Each command with `{}` where the bad input goes.
    let commands: Vec<Vec<String>> = [
        "eval {}",
        "inspect {}",
        "generate {}",
        "qat {} -o OUT",
        "convert {} -o OUT",
        "transcribe {} WAV",
        "transcribe ASR {}",
        "eval LM --data {}",
        "generate LM --prompt-file {}",
        "train lm --data {} --epochs 1 --out OUT",
        "train lm --resume --out {}",
        "train asr --data {} --epochs 1 --out OUT",
        "train asr --resume --data FSDD --out {}",
    ]
    .iter()
    .map(|c| {
        c.split(' ')
            .map(|w| match w {
                "OUT" => format!("{out}.safetensors"),
                "WAV" => wav.clone(),
                "ASR" => asr.clone(),
                "LM" => lm.clone(),
                "FSDD" => repo("fixtures/fsdd"),
                w => w.to_string(),
            })
            .collect()
    })
    .collect();
    let mut cases = 0;
    for command in &commands {
        let wants_text = command.iter().any(|w| w == "--prompt-file")
            || (command[0] == "train" && command[1] == "lm" && command[2] == "--data")
            || (command[0] == "eval" && command.iter().any(|w| w == "--data"));
        for (class, input) in &inputs {
            // A text file is the right kind where text is wanted, and a
            // binary file is as wrong as a text file where a model is.
            if (wants_text && *class == "wrong kind")
                || (!wants_text && class.ends_with("(binary)"))
            {
                continue;
            }
            let args: Vec<String> = command
                .iter()
                .map(|w| if w == "{}" { input.clone() } else { w.clone() })
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            // The message names the input (its file name at least).
            let name = Path::new(input).file_name().unwrap().to_str().unwrap();
            let err = fails_with(&args, name);
            assert!(!err.trim().is_empty(), "{class}: {args:?}");
            cases += 1;
        }
        // A pipe whose bytes are of the wrong kind: refused, without a panic.
        let junk = if wants_text {
            r"<(printf '\0\1\2')"
        } else {
            "<(printf 'not a model')"
        };
        let line = command
            .iter()
            .map(|w| {
                if w == "{}" {
                    junk.to_string()
                } else {
                    w.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "RUST_BACKTRACE=0 {} {line}",
                env!("CARGO_BIN_EXE_irnn")
            ))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "pipe: {line} should fail");
        assert!(
            !err.contains("panicked") && !err.trim().is_empty(),
            "pipe: {line}:\n{err}"
        );
        cases += 1;
    }
    println!(
        "bad-input matrix: {cases} cases ({} commands × {} input kinds, pipe included), 0 panics",
        commands.len(),
        inputs.len()
    );
    assert_eq!(cases, commands.len() * inputs.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn options_are_checked_when_parsed() {
    for (args, needle) in [
        (&["train", "lm", "--embedding", "0"][..], "--embedding"),
        (&["train", "lm", "--lr", "nan"], "must be a finite number"),
        (&["train", "lm", "--lr", "inf"], "must be a finite number"),
        (&["train", "lm", "--lr", "-1"], "must be > 0"),
        (&["train", "lm", "--decay", "nan"], "--decay"),
        (&["train", "lm", "--clip", "nan"], "--clip"),
        (&["train", "lm", "--epochs", "0"], "--epochs"),
        (&["train", "lm", "--hidden", "1000000"], "--hidden"),
        (&["train", "asr", "--data", "x", "--lr", "nan"], "--lr"),
        (
            &["train", "asr", "--data", "x", "--train-utterances", "0"],
            "--train-utterances",
        ),
        (
            &["train", "asr", "--data", "x", "--valid-utterances", "0"],
            "--valid-utterances",
        ),
        (
            &["train", "asr", "--data", "x", "--epochs", "0"],
            "--epochs",
        ),
        (&["convert", "x", "-o", "y", "--knots", "0"], "--knots"),
        (
            &["convert", "x", "-o", "y", "--weight-bits", "5"],
            "--weight-bits",
        ),
        (
            &["qat", "x", "--data", "d", "--weight-bits", "2"],
            "--weight-bits",
        ),
        (
            &["qat", "x", "--data", "d", "--output-bits", "16"],
            "--output-bits",
        ),
        (
            &["convert", "x", "-o", "y", "--embedding-bits", "1"],
            "--embedding-bits",
        ),
        (
            &["qat", "x", "--data", "d", "--distill", "1.5"],
            "--distill",
        ),
        (
            &["convert", "x", "-o", "y", "--activation-bits", "12"],
            "--activation-bits",
        ),
        (
            &["qat", "x", "--data", "d", "--activation-bits", "4"],
            "--activation-bits",
        ),
        (&["qat", "x", "--data", "d", "--keep-z", "-1"], "--keep-z"),
        (&["qat", "x", "--data", "d", "--keep-z", "nan"], "--keep-z"),
        (&["bench", "--weight-bits", "8,16"], "--weight-bits"),
        (&["convert", "x", "-o", "y", "--knots", "1"], "--knots"),
        (
            &["convert", "x", "-o", "y", "--knots", "1000000"],
            "--knots",
        ),
        (
            &["convert", "x", "-o", "y", "--calibration-tokens", "0"],
            "--calibration-tokens",
        ),
        (&["transcribe", "m", "w", "--beam", "1000000"], "--beam"),
        (&["generate", "m", "--temperature", "nan"], "--temperature"),
    ] {
        fails_with(args, needle);
    }
    // Sizes that pass the range check but not this machine's memory are
    // refused before anything is allocated.
    fails_with(&["train", "lm", "--hidden", "65536"], "GiB of memory");
    fails_with(&["bench", "--hidden", "65536"], "GiB of memory");
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {bin} kernels | head -1 && {bin} inspect {m} | head -1",
            bin = env!("CARGO_BIN_EXE_irnn"),
            m = repo("fixtures/models/lm.irnn")
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = irnn()
            .args([
                "generate",
                &repo("fixtures/models/lm.irnn"),
                "--tokens",
                "10",
            ])
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("No space left"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn generate_streams_its_tokens_and_reads_prompt_files() {
    let mut child = irnn()
        .args([
            "generate",
            &repo("fixtures/models/lm.irnn"),
            "--tokens",
            "100000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 200];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    // The first tokens arrived while the rest are still being generated.
    assert!(
        child.try_wait().unwrap().is_none(),
        "generate buffered its output"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = tmp("prompt");
    let prompt = dir.join("prompt.txt");
    std::fs::write(&prompt, "ROMEO:").unwrap();
    let out = irnn()
        .args([
            "generate",
            &repo("fixtures/models/lm.irnn"),
            "--tokens",
            "5",
        ])
        .arg("--prompt-file")
        .arg(&prompt)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ROMEO:"));
    let prompt = prompt.to_str().unwrap();
    fails_with(
        &[
            "generate",
            &repo("fixtures/models/lm.irnn"),
            "--prompt-file",
            prompt,
            "--prompt",
            "x",
        ],
        "cannot be used with",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_diverging_run_stops_with_an_error_naming_where() {
    let dir = tmp("diverge");
    let out = dir.join("lm.safetensors");
    let err = fails_with(
        &[
            "train",
            "lm",
            "--level",
            "char",
            "--layers",
            "1",
            "--hidden",
            "16",
            "--lr",
            "1e300",
            "--epochs",
            "2",
            "--checkpoint-every",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        "training diverged",
    );
    assert!(err.contains("epoch 1, update"), "{err}");
    // A checkpoint due before the divergence is written only if the next
    // window's loss was finite: whatever is on disk still scores.
    if out.exists() {
        let eval = irnn().arg("eval").arg(&out).output().unwrap();
        let text = String::from_utf8_lossy(&eval.stdout);
        assert!(eval.status.success() && !text.contains("NaN"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_language_model_run_keeps_its_settings() {
    let dir = tmp("lm-resume");
    let out = dir.join("lm.safetensors");
    let out = out.to_str().unwrap();
    let run = [
        "train", "lm", "--level", "char", "--layers", "1", "--hidden", "12", "--epochs", "1",
        "--batch", "16", "--out", out,
    ];
    let status = irnn().args(run).output().unwrap().status;
    assert!(status.success());
    fails_with(
        &["train", "lm", "--resume", "--out", out, "--hidden", "32"],
        "--hidden: given 32, saved 12",
    );
    fails_with(
        &["train", "lm", "--resume", "--out", out],
        "finished all 1 epochs",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn misleading_messages_now_say_what_is_wrong() {
    let dir = tmp("messages");
    let qat = repo("fixtures/models/lm-qat.safetensors");
    let into_dir = format!("{}/", dir.display());
    fails_with(&["convert", &qat, "-o", &into_dir], "is a directory name");
    let empty = dir.join("empty.irnn");
    std::fs::write(&empty, b"").unwrap();
    fails_with(&["eval", empty.to_str().unwrap()], "is empty");
    // A WAV whose data chunk is longer than the file.
    let wav = std::fs::read(repo("fixtures/fsdd/1_george_0.wav")).unwrap();
    let cut = dir.join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 2]).unwrap();
    fails_with(
        &[
            "transcribe",
            &repo("fixtures/models/asr-qat.irnn"),
            cut.to_str().unwrap(),
        ],
        "truncated: its data chunk declares",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `irnn qat` killed at any moment leaves its two outputs consistent: none,
/// the checkpoint alone, or a checkpoint and the model made from it (what
/// `irnn convert` of that checkpoint writes, byte for byte).
#[test]
fn a_kill_during_qat_never_pairs_a_model_with_the_wrong_checkpoint() {
    let dir = tmp("qat-kill");
    let ck = dir.join("q.safetensors");
    let model = dir.join("q.irnn");
    let source = repo("fixtures/models/lm.safetensors");
    let args = [
        "qat",
        &source,
        "--knots",
        "8",
        "--max-windows",
        "3",
        "--batch",
        "8",
        "--bptt",
        "16",
        "--calibration-tokens",
        "2000",
        "-o",
        ck.to_str().unwrap(),
    ];
    let mut checked = 0;
    // Kills after 0, 20, … 220 ms; the last round runs to the end, so a
    // loaded machine on which no killed run got that far still checks a
    // finished pair.
    for round in 0..13u64 {
        let mut child = irnn()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if round < 12 {
            std::thread::sleep(std::time::Duration::from_millis(20 * round));
            let _ = child.kill();
        }
        child.wait().unwrap();
        if ck.exists() && model.exists() {
            let again = dir.join("again.irnn");
            let out = irnn()
                .args([
                    "convert",
                    ck.to_str().unwrap(),
                    "-o",
                    again.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                std::fs::read(&again).unwrap(),
                std::fs::read(&model).unwrap(),
                "round {round}: the model is not the checkpoint's"
            );
            checked += 1;
        } else {
            assert!(
                !model.exists() || ck.exists(),
                "round {round}: a model without its checkpoint"
            );
        }
    }
    assert!(checked > 0, "no run finished; the check saw nothing");
    // No temporary file outlives the runs.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(left.is_empty(), "stale temporary files: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Identical runs write identical checkpoints, byte for byte.
#[test]
fn identical_runs_write_identical_checkpoints() {
    let dir = tmp("same-bytes");
    let run = |name: &str| {
        let out = dir.join(name);
        let status = irnn()
            .env("RAYON_NUM_THREADS", "1")
            .args([
                "train", "lm", "--level", "char", "--layers", "1", "--hidden", "8", "--epochs",
                "1", "--batch", "16", "--out",
            ])
            .arg(&out)
            .output()
            .unwrap()
            .status;
        assert!(status.success());
        std::fs::read(out).unwrap()
    };
    assert_eq!(run("a.safetensors"), run("b.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `irnn convert` and `irnn train asr` killed at any moment leave either
/// no output or a whole one: the converted model equals an uninterrupted
/// conversion byte for byte, the speech checkpoint loads.
#[test]
fn a_kill_during_convert_or_speech_training_leaves_whole_files() {
    let dir = tmp("kill-others");
    let model = dir.join("m.irnn");
    let reference = dir.join("reference.irnn");
    let source = repo("fixtures/models/lm.safetensors");
    let convert = |out: &Path| {
        let mut c = irnn();
        c.args([
            "convert",
            &source,
            "--data",
            "embedded:tinyshakespeare",
            "-o",
        ])
        .arg(out);
        c
    };
    assert!(convert(&reference).output().unwrap().status.success());
    let ck = dir.join("asr.safetensors");
    let fsdd = repo("fixtures/fsdd");
    let train = [
        "train",
        "asr",
        "--data",
        &fsdd,
        "--train-utterances",
        "24",
        "--valid-utterances",
        "4",
        "--test-utterances",
        "4",
        "--epochs",
        "4",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--batch",
        "8",
        "--out",
        ck.to_str().unwrap(),
    ];
    for round in 0..8u64 {
        let pause = std::time::Duration::from_millis(15 * round);
        let mut child = convert(&model)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(pause);
        let _ = child.kill();
        child.wait().unwrap();
        if model.exists() {
            assert_eq!(
                std::fs::read(&model).unwrap(),
                std::fs::read(&reference).unwrap()
            );
        }
        let mut child = irnn()
            .args(train)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(pause * 4);
        let _ = child.kill();
        child.wait().unwrap();
        if ck.exists() {
            irnn_train::asr::checkpoint::load(&ck)
                .unwrap_or_else(|e| panic!("round {round}: checkpoint unreadable: {e}"));
        }
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    // A kill can leave the temporary file of the run it stopped; the next
    // write removes it, so at most one per target remains.
    assert!(left.len() <= 2, "temporary files pile up: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
