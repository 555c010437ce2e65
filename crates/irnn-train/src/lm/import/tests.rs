//! Import against PyTorch's own logits (fixtures/pytorch, written by
//! tools/pytorch/make_fixtures.sh), and every refusal by name.

use std::path::PathBuf;

use super::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pytorch")
}

fn vocab() -> Vocab {
    read_vocabulary(&std::fs::read_to_string(dir().join("vocab.json")).unwrap()).unwrap()
}

fn import(name: &str, prefix: &str) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(dir().join(format!("{name}.safetensors"))).unwrap();
    from_safetensors(&bytes, prefix, vocab(), Level::Char)
}

/// PyTorch's logits for the fixture's tokens, and the tokens.
fn pytorch(name: &str) -> (Vec<u32>, Vec<f32>) {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tokens = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    let logits = v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap() as f32)
        .collect();
    (tokens, logits)
}

#[test]
fn imported_models_give_pytorchs_logits() {
    for (name, prefix, cell, layers, tied) in [
        ("lstm-2x5", "", CellKind::Lstm, 2, false),
        ("gru-2x5", "", CellKind::Gru, 2, false),
        ("lstm-tied", "", CellKind::Lstm, 1, true),
        ("gru-prefixed", "lm.", CellKind::Gru, 1, false),
    ] {
        let imported = import(name, prefix).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imported.model.config.cell, cell, "{name}");
        assert_eq!(imported.model.config.layers, layers, "{name}");
        assert_eq!(imported.tied, tied, "{name}: {}", imported.describe());
        let (tokens, expected) = pytorch(name);
        let mut state = imported.model.zero_state(1);
        let got = imported.model.logits(&tokens, tokens.len(), 1, &mut state);
        assert_eq!(got.len(), expected.len(), "{name}");
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!(
            "{name}: max |irnn − PyTorch| = {worst:e} over {} logits",
            got.len()
        );
        assert!(worst <= 1e-5, "{name}: max |irnn − PyTorch| = {worst:e}");
    }
}

#[test]
fn what_irnn_cannot_represent_is_refused_by_name() {
    let msg = |r: Result<Imported, ImportError>| match r {
        Ok(_) => panic!("imported"),
        Err(e) => e.to_string(),
    };
    let m = msg(import("lstm-proj", ""));
    assert!(
        m.contains("rnn.weight_hr_l0") && m.contains("proj_size"),
        "{m}"
    );
    let m = msg(import("lstm-bidirectional", ""));
    assert!(m.contains("_reverse") && m.contains("bidirectional"), "{m}");
    let m = msg(import("lstm-no-bias", ""));
    assert!(
        m.contains("rnn.bias_ih_l0") && m.contains("bias=False"),
        "{m}"
    );
    // A model under another module: the error says which prefix to pass.
    let m = msg(import("gru-prefixed", ""));
    assert!(m.contains("--prefix lm."), "{m}");
    // A vocabulary of the wrong size.
    let bytes = std::fs::read(dir().join("lstm-2x5.safetensors")).unwrap();
    let mut small = Vocab::from_tokens(vec!["a".into(), "b".into()]);
    small.reindex();
    let m = msg(from_safetensors(&bytes, "", small, Level::Char));
    assert!(m.contains("2 tokens") && m.contains("14 rows"), "{m}");
    // Not a safetensors file at all.
    let m = msg(from_safetensors(
        b"not safetensors",
        "",
        vocab(),
        Level::Char,
    ));
    assert!(m.contains("not a safetensors file"), "{m}");
}

#[test]
fn unknown_tensors_and_element_types_are_named() {
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};
    let bytes = std::fs::read(dir().join("gru-2x5.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let extra = vec![0u8; 8];
    let mut tensors: Vec<(String, TensorView)> = file.tensors();
    tensors.push((
        "rnn.something_else".into(),
        TensorView::new(Dtype::F32, vec![2], &extra).unwrap(),
    ));
    let with_extra = safetensors::serialize(tensors, &None).unwrap();
    let e = from_safetensors(&with_extra, "", vocab(), Level::Char)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("rnn.something_else"), "{e}");
    // The same weights as F64: imported to the same values.
    let mut converted: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    for (name, view) in file.tensors() {
        let data = view
            .data()
            .chunks_exact(4)
            .flat_map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).to_le_bytes())
            .collect();
        converted.push((name, data, view.shape().to_vec()));
    }
    let views: Vec<(String, TensorView)> = converted
        .iter()
        .map(|(n, d, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F64, s.clone(), d).unwrap(),
            )
        })
        .collect();
    let f64_file = safetensors::serialize(views, &None).unwrap();
    let a = from_safetensors(&bytes, "", vocab(), Level::Char).unwrap();
    let b = from_safetensors(&f64_file, "", vocab(), Level::Char).unwrap();
    for (p, q) in a.model.params().iter().zip(b.model.params()) {
        assert_eq!(p.value, q.value, "{}", p.name);
    }
    // Integer tensors are refused by type.
    let ints = vec![0u8; 8];
    let int_file = safetensors::serialize(
        vec![(
            "encoder.weight".to_string(),
            TensorView::new(Dtype::I32, vec![2], &ints).unwrap(),
        )],
        &None,
    )
    .unwrap();
    let e = from_safetensors(&int_file, "", vocab(), Level::Char)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("I32") || e.contains("shape"), "{e}");
}

#[test]
fn half_precision_converts_exactly() {
    for (bits, value) in [
        (0x3c00u16, 1.0f32),
        (0xc000, -2.0),
        (0x3555, 0.333_251_95),
        (0x0001, 5.960_464_5e-8),
        (0x7bff, 65504.0),
        (0x0000, 0.0),
    ] {
        assert_eq!(safetensors_file::f16_to_f32(bits), value, "{bits:#06x}");
    }
    assert!(safetensors_file::f16_to_f32(0x7c00).is_infinite());
    assert!(safetensors_file::f16_to_f32(0x7e00).is_nan());
}

#[test]
fn vocabulary_files_read_as_json_or_lines() {
    let v = read_vocabulary("[\"a\", \"\\n\", \" \"]").unwrap();
    assert_eq!(v.tokens, ["a", "\n", " "]);
    let v = read_vocabulary("the\ncat\n\\n\n\\s\n").unwrap();
    assert_eq!(v.tokens, ["the", "cat", "\n", " "]);
    assert!(read_vocabulary("a\na\n").unwrap_err().contains("twice"));
    assert!(read_vocabulary("").unwrap_err().contains("no tokens"));
    assert!(read_vocabulary("[1, 2]").unwrap_err().contains("JSON"));
}

fn onnx_import(name: &str) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
    from_onnx(&bytes, vocab(), Level::Char)
}

/// A fixture's logits as ONNX Runtime computed them.
fn onnxruntime(name: &str) -> Vec<f32> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["onnxruntime_logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap() as f32)
        .collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn onnx_graphs_import_to_onnx_runtimes_and_pytorchs_logits() {
    for (name, cell, reset_before) in [
        ("lstm-2x5", CellKind::Lstm, false),
        ("gru-2x5", CellKind::Gru, false),
        ("gru-reset-before", CellKind::Gru, true),
    ] {
        let imported = onnx_import(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = &imported.model.config;
        assert_eq!(
            (c.cell, c.layers, c.reset_before),
            (cell, 2, reset_before),
            "{name}"
        );
        let tokens = fixture_tokens(name);
        let mut state = imported.model.zero_state(1);
        let got = imported.model.logits(&tokens, tokens.len(), 1, &mut state);
        let w = worst(&got, &onnxruntime(name));
        println!("{name}.onnx: max |irnn − ONNX Runtime| = {w:e}");
        assert!(w <= 1e-5, "{name}: {w:e}");
    }
    // The ONNX graph and the state_dict of one model import to the same
    // weights.
    for name in ["lstm-2x5", "gru-2x5"] {
        let a = onnx_import(name).unwrap();
        let b = import(name, "").unwrap();
        for (p, q) in a.model.params().iter().zip(b.model.params()) {
            assert_eq!(p.name, q.name);
            assert!(worst(&p.value, &q.value) == 0.0, "{name}: {}", p.name);
        }
    }
}

/// The tokens of a fixture (every fixture JSON has them).
fn fixture_tokens(name: &str) -> Vec<u32> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn onnx_attributes_irnn_cannot_honour_are_refused_by_name() {
    let msg = |r: Result<Imported, ImportError>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let m = msg(onnx_import("lstm-clip"));
    assert!(m.contains("clip"), "{m}");
    let m = msg(onnx_import("lstm-bidirectional"));
    assert!(m.contains("bidirectional"), "{m}");
    let m = msg(from_onnx(b"\x08\x07garbage", vocab(), Level::Char));
    assert!(m.contains("ONNX"), "{m}");
    // Nodes stripped of their inputs: errors, never an index out of range.
    use onnx_protobuf::{Message, ModelProto};
    for op in ["LSTM", "MatMul", "Squeeze"] {
        let bytes = std::fs::read(dir().join("lstm-2x5.onnx")).unwrap();
        let mut model = ModelProto::parse_from_bytes(&bytes).unwrap();
        for node in &mut model.graph.as_mut().unwrap().node {
            if node.op_type == op {
                node.input.clear();
            }
        }
        let hostile = model.write_to_bytes().unwrap();
        assert!(from_onnx(&hostile, vocab(), Level::Char).is_err(), "{op}");
    }
}
