//! `irnn import` of PyTorch models (fixtures/pytorch, written by
//! tools/pytorch/make_fixtures.sh), then the rest of the pipeline on the
//! imported checkpoint; and the refusals, by name.

use std::path::PathBuf;
use std::process::Command;

fn irnn(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_irnn"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/pytorch")
        .join(name);
    p.to_str().unwrap().to_string()
}

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("irnn-import-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name).to_str().unwrap().to_string()
}

#[test]
fn imported_models_go_through_convert_eval_generate_and_inspect() {
    // A corpus whose characters first appear in the vocabulary's order, so
    // that its training split gives the imported model's vocabulary.
    let corpus = tmp("corpus.txt");
    let mut text = String::from("abcdefghij ,.\n");
    for i in 0..400 {
        text.push_str(["a bad cafe, ", "bead. ", "jig hi\n", "head, dice. "][i % 4]);
    }
    std::fs::write(&corpus, &text).unwrap();
    for (name, prefix) in [
        ("lstm-2x5", ""),
        ("gru-2x5", ""),
        ("lstm-tied", ""),
        ("gru-prefixed", "lm."),
    ] {
        let ck = tmp(&format!("{name}.safetensors"));
        let model = tmp(&format!("{name}.irnn"));
        let mut args = vec![
            "import",
            &fixture(&format!("{name}.safetensors")) as &str,
            "--vocab",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend([
            fixture("vocab.json"),
            "--level".into(),
            "char".into(),
            "-o".into(),
            ck.clone(),
        ]);
        if !prefix.is_empty() {
            args.extend(["--prefix".into(), prefix.into()]);
        }
        let (ok, out, err) = irnn(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "{name}: {err}");
        assert!(out.contains("vocabulary 14 (characters)"), "{name}: {out}");
        let (ok, out, err) = irnn(&["inspect", &ck]);
        assert!(
            ok && out.contains("float language-model checkpoint"),
            "{name}: {out}{err}"
        );
        let (ok, _, err) = irnn(&["convert", &ck, "--data", &corpus, "-o", &model]);
        assert!(ok, "{name}: {err}");
        let (ok, out, err) = irnn(&["eval", &model, "--data", &corpus, "--whole"]);
        assert!(ok && out.contains("bpc"), "{name}: {out}{err}");
        let (ok, out, err) = irnn(&["eval", &ck, "--data", &corpus, "--whole"]);
        assert!(ok && out.contains("bpc"), "{name}: {out}{err}");
        let (ok, out, err) = irnn(&["generate", &model, "--prompt", "bad", "--tokens", "10"]);
        assert!(ok && !out.is_empty(), "{name}: {out}{err}");
    }
}

#[test]
fn refusals_name_the_tensor_and_the_reason() {
    let ck = tmp("refused.safetensors");
    for (name, needle) in [
        ("lstm-proj", "proj_size"),
        ("lstm-bidirectional", "bidirectional"),
        ("lstm-no-bias", "bias=False"),
        ("gru-prefixed", "--prefix lm."),
    ] {
        let (ok, _, err) = irnn(&[
            "import",
            &fixture(&format!("{name}.safetensors")),
            "--vocab",
            &fixture("vocab.json"),
            "-o",
            &ck,
        ]);
        assert!(!ok && err.contains(needle), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    assert!(
        !std::path::Path::new(&ck).exists(),
        "a refused import wrote a checkpoint"
    );
    let (ok, _, err) = irnn(&[
        "import",
        &fixture("lstm-2x5.safetensors"),
        "--vocab",
        "/no/such/vocab.json",
        "-o",
        &ck,
    ]);
    assert!(!ok && err.contains("/no/such/vocab.json"), "{err}");
    let (ok, _, err) = irnn(&[
        "import",
        &fixture("vocab.json"),
        "--vocab",
        &fixture("vocab.json"),
        "-o",
        &ck,
    ]);
    assert!(!ok && err.contains("safetensors"), "{err}");
}

#[test]
fn onnx_graphs_import_and_convert() {
    let ck = tmp("onnx.safetensors");
    let model = tmp("onnx.irnn");
    let corpus = tmp("onnx-corpus.txt");
    let mut text = String::from("abcdefghij ,.\n");
    for i in 0..300 {
        text.push_str(["jade, ", "bead. ", "hi\n"][i % 3]);
    }
    std::fs::write(&corpus, &text).unwrap();
    for (name, kind) in [("lstm-2x5", "LSTM"), ("gru-reset-before", "reset before")] {
        let (ok, out, err) = irnn(&[
            "import",
            &fixture(&format!("{name}.onnx")),
            "--vocab",
            &fixture("vocab.json"),
            "-o",
            &ck,
        ]);
        assert!(ok && out.contains(kind), "{name}: {out}{err}");
        let (ok, _, err) = irnn(&["convert", &ck, "--data", &corpus, "-o", &model]);
        assert!(ok, "{name}: {err}");
        let (ok, out, err) = irnn(&["eval", &model, "--data", &corpus, "--whole"]);
        assert!(ok && out.contains("bpc"), "{name}: {out}{err}");
    }
    for (name, needle) in [
        ("lstm-clip", "clip"),
        ("lstm-bidirectional", "forward only"),
    ] {
        let (ok, _, err) = irnn(&[
            "import",
            &fixture(&format!("{name}.onnx")),
            "--vocab",
            &fixture("vocab.json"),
            "-o",
            &ck,
        ]);
        assert!(!ok && err.contains(needle), "{name}: {err}");
    }
    let (ok, _, err) = irnn(&[
        "import",
        &fixture("lstm-2x5.onnx"),
        "--vocab",
        &fixture("vocab.json"),
        "--prefix",
        "lm.",
        "-o",
        &ck,
    ]);
    assert!(
        !ok && err.contains("--prefix applies to safetensors"),
        "{err}"
    );
}

#[test]
fn exports_import_back_to_the_same_model() {
    let ck = tmp("export-ck.safetensors");
    let (ok, _, err) = irnn(&[
        "import",
        &fixture("gru-2x5.safetensors"),
        "--vocab",
        &fixture("vocab.json"),
        "-o",
        &ck,
    ]);
    assert!(ok, "{err}");
    let corpus = tmp("export-corpus.txt");
    std::fs::write(&corpus, "abcdefghij ,.\n".repeat(40)).unwrap();
    let (_, reference, _) = irnn(&["eval", &ck, "--data", &corpus, "--whole"]);
    for format in ["safetensors", "onnx"] {
        let out = tmp(&format!("exported.{format}"));
        let (ok, text, err) = irnn(&["export", &ck, "--format", format, "-o", &out]);
        assert!(ok && text.contains("wrote"), "{format}: {err}");
        let back = tmp(&format!("back-{format}.safetensors"));
        let (ok, _, err) = irnn(&[
            "import",
            &out,
            "--vocab",
            &fixture("vocab.json"),
            "-o",
            &back,
        ]);
        assert!(ok, "{format}: {err}");
        let (_, again, _) = irnn(&["eval", &back, "--data", &corpus, "--whole"]);
        let figure = |s: &str| s.split(": ").nth(1).unwrap_or_default().to_string();
        assert_eq!(figure(&again), figure(&reference), "{format}");
    }
    let model = tmp("export.irnn");
    irnn(&["convert", &ck, "--data", &corpus, "-o", &model]);
    let (ok, _, err) = irnn(&["export", &model, "--format", "onnx", "-o", &tmp("x.onnx")]);
    assert!(
        !ok && err.contains("float language-model checkpoint"),
        "{err}"
    );
}
