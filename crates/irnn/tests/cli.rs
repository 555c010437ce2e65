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
        let ck = irnn_train::checkpoint::load(&ckpt)
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
