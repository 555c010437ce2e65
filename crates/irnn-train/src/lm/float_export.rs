//! The float language model written for other tools — the inverse of
//! [`crate::lm::import`]: a safetensors `state_dict` in PyTorch's
//! word_language_model names (load it with
//! `model.load_state_dict(safetensors.torch.load_file(path))`), or an ONNX
//! graph (`Gather` → `LSTM`/`GRU` → `Squeeze` → `MatMul` + `Add`, opset 14)
//! that ONNX Runtime runs. A user who fine-tuned with `irnn qat` continues
//! in their own tooling with the QAT-adjusted weights.
//!
//! Only what those layouts can express is written: LayerNorm, residual adds
//! and the capped input gate are irnn's own and are refused by name; a GRU
//! with the reset before the recurrent product has no PyTorch module but is
//! ONNX's `linear_before_reset = 0`.

use std::collections::HashMap;

use onnx_protobuf::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use safetensors::tensor::{Dtype, TensorView};

use crate::lm::data::Vocab;
use crate::lm::import::reorder_gates as reorder;
use crate::lm::model::CellKind;
use crate::lm::LanguageModel;

/// Why a model cannot be written in a format.
#[derive(Debug, thiserror::Error)]
#[error("{format} cannot express {what}")]
pub struct ExportError {
    /// The target format.
    pub format: &'static str,
    /// The feature it lacks.
    pub what: String,
}

fn refuse_irnn_only(model: &LanguageModel<f32>, format: &'static str) -> Result<(), ExportError> {
    let c = &model.config;
    let what = if c.layer_norm {
        "LayerNorm on the LSTM gates and cell"
    } else if c.residual {
        "residual connections between layers"
    } else if c.capped_input_gate {
        "the capped input gate (min(i, 1 − f))"
    } else {
        return Ok(());
    };
    Err(ExportError {
        format,
        what: what.into(),
    })
}

/// The weights as a safetensors `state_dict` in PyTorch's names, the
/// vocabulary in the metadata (`irnn.vocab`, a JSON array).
pub fn to_safetensors(model: &LanguageModel<f32>, vocab: &Vocab) -> Result<Vec<u8>, ExportError> {
    refuse_irnn_only(model, "a PyTorch word_language_model state_dict")?;
    if model.config.cell == CellKind::Gru && model.config.reset_before {
        return Err(ExportError {
            format: "PyTorch's nn.GRU",
            what: "a reset before the recurrent product (export as ONNX instead)".into(),
        });
    }
    let params = model.params();
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|p| p.value.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = params
        .iter()
        .zip(&bytes)
        .map(|(p, b)| {
            let view = TensorView::new(Dtype::F32, p.shape.clone(), b).expect("shape matches data");
            (p.name.clone(), view)
        })
        .collect::<Vec<_>>();
    let meta = HashMap::from([(
        "irnn.vocab".to_string(),
        serde_json::to_string(&vocab.tokens).expect("strings serialise"),
    )]);
    Ok(safetensors::serialize(views, &Some(meta)).expect("tensors serialise"))
}

fn initializer(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.iter().map(|&d| d as i64).collect();
    t.data_type = 1; // FLOAT
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.i = value;
    a.type_ = onnx_protobuf::attribute_proto::AttributeType::INT.into();
    a
}

/// A tensor input or output of `elem_type` shaped `[steps, 1, …]`.
fn value_info(name: &str, elem_type: i32, trailing: &[i64]) -> ValueInfoProto {
    let dim = |d: tensor_shape_proto::dimension::Value| {
        let mut x = tensor_shape_proto::Dimension::new();
        x.value = Some(d);
        x
    };
    let mut shape = TensorShapeProto::new();
    shape
        .dim
        .push(dim(tensor_shape_proto::dimension::Value::DimParam(
            "steps".into(),
        )));
    for &d in [1].iter().chain(trailing) {
        shape
            .dim
            .push(dim(tensor_shape_proto::dimension::Value::DimValue(d)));
    }
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = elem_type;
    tensor.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tensor));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

/// The model as an ONNX graph: input `tokens` (int64 `[steps, 1]`), output
/// `logits` (float `[steps, 1, vocabulary]`), from the zero state.
pub fn to_onnx(model: &LanguageModel<f32>) -> Result<Vec<u8>, ExportError> {
    refuse_irnn_only(model, "an ONNX LSTM/GRU graph")?;
    let c = &model.config;
    let params: HashMap<&str, &[f32]> = model
        .params()
        .into_iter()
        .map(|p| (p.name.as_str(), p.value.as_slice()))
        .collect();
    let h = c.hidden;
    let (op, gates, order): (&str, usize, &[usize]) = match c.cell {
        CellKind::Lstm => ("LSTM", 4, &[0, 3, 1, 2]), // i, f, g, o → i, o, f, c
        CellKind::Gru => ("GRU", 3, &[1, 0, 2]),      // r, z, n → z, r, h
    };
    let g = gates * h;
    let mut graph = GraphProto::new();
    graph.name = "irnn language model".into();
    graph.initializer.push(initializer(
        "encoder.weight",
        &[c.vocab, c.embedding],
        params["encoder.weight"],
    ));
    let mut axes = TensorProto::new();
    axes.name = "squeeze_axes".into();
    axes.dims = vec![1];
    axes.data_type = 7; // INT64
    axes.raw_data = 1i64.to_le_bytes().to_vec();
    graph.initializer.push(axes);
    graph.node.push(node(
        "Gather",
        "embedding",
        &["encoder.weight", "tokens"],
        &["x0"],
    ));
    let mut x = "x0".to_string();
    for l in 0..c.layers {
        let input = if l == 0 { c.embedding } else { h };
        let w = reorder(
            params[format!("rnn.weight_ih_l{l}").as_str()],
            h,
            input,
            order,
        );
        let r = reorder(params[format!("rnn.weight_hh_l{l}").as_str()], h, h, order);
        let mut b = reorder(params[format!("rnn.bias_ih_l{l}").as_str()], h, 1, order);
        b.extend(reorder(
            params[format!("rnn.bias_hh_l{l}").as_str()],
            h,
            1,
            order,
        ));
        let (wn, rn, bn) = (format!("W_l{l}"), format!("R_l{l}"), format!("B_l{l}"));
        graph.initializer.push(initializer(&wn, &[1, g, input], &w));
        graph.initializer.push(initializer(&rn, &[1, g, h], &r));
        graph.initializer.push(initializer(&bn, &[1, 2 * g], &b));
        let y = format!("y_l{l}");
        let mut n = node(op, &format!("rnn_l{l}"), &[&x, &wn, &rn, &bn], &[&y]);
        n.attribute.push(int_attribute("hidden_size", h as i64));
        if c.cell == CellKind::Gru {
            n.attribute.push(int_attribute(
                "linear_before_reset",
                i64::from(!c.reset_before),
            ));
        }
        graph.node.push(n);
        let next = format!("x{}", l + 1);
        graph.node.push(node(
            "Squeeze",
            &format!("squeeze_l{l}"),
            &[&y, "squeeze_axes"],
            &[&next],
        ));
        x = next;
    }
    // decoder: x · Wᵀ + b.
    let w = params["decoder.weight"];
    let mut wt = vec![0.0; w.len()];
    for i in 0..c.vocab {
        for j in 0..h {
            wt[j * c.vocab + i] = w[i * h + j];
        }
    }
    graph
        .initializer
        .push(initializer("decoder.weight_t", &[h, c.vocab], &wt));
    graph.initializer.push(initializer(
        "decoder.bias",
        &[c.vocab],
        params["decoder.bias"],
    ));
    graph.node.push(node(
        "MatMul",
        "decoder",
        &[&x, "decoder.weight_t"],
        &["scores"],
    ));
    graph.node.push(node(
        "Add",
        "decoder_bias",
        &["scores", "decoder.bias"],
        &["logits"],
    ));
    graph.input.push(value_info("tokens", 7, &[]));
    graph
        .output
        .push(value_info("logits", 1, &[c.vocab as i64]));
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "irnn".into();
    m.producer_version = env!("CARGO_PKG_VERSION").into();
    let mut opset = OperatorSetIdProto::new();
    opset.version = 14;
    m.opset_import.push(opset);
    m.graph = Some(graph).into();
    Ok(m.write_to_bytes().expect("an in-memory model serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::data::Level;
    use crate::lm::import::{from_onnx, from_safetensors, read_vocabulary};

    fn fixture(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/pytorch/");
        std::fs::read(format!("{dir}{name}")).unwrap()
    }

    fn vocab() -> Vocab {
        read_vocabulary(&String::from_utf8(fixture("vocab.json")).unwrap()).unwrap()
    }

    #[test]
    fn exports_import_back_to_the_same_weights() {
        for name in ["lstm-2x5", "gru-2x5"] {
            let original = from_safetensors(
                &fixture(&format!("{name}.safetensors")),
                "",
                vocab(),
                Level::Char,
            )
            .unwrap()
            .model;
            let st = to_safetensors(&original, &vocab()).unwrap();
            let onnx = to_onnx(&original).unwrap();
            for back in [
                from_safetensors(&st, "", vocab(), Level::Char)
                    .unwrap()
                    .model,
                from_onnx(&onnx, vocab(), Level::Char).unwrap().model,
            ] {
                for (p, q) in original.params().iter().zip(back.params()) {
                    assert_eq!(p.value, q.value, "{name}: {}", p.name);
                }
            }
        }
        // The reset-before GRU goes to ONNX and back, not to PyTorch.
        let rb = from_onnx(&fixture("gru-reset-before.onnx"), vocab(), Level::Char)
            .unwrap()
            .model;
        let back = from_onnx(&to_onnx(&rb).unwrap(), vocab(), Level::Char)
            .unwrap()
            .model;
        assert!(back.config.reset_before);
        for (p, q) in rb.params().iter().zip(back.params()) {
            assert_eq!(p.value, q.value, "{}", p.name);
        }
        let e = to_safetensors(&rb, &vocab()).unwrap_err().to_string();
        assert!(e.contains("reset before"), "{e}");
    }

    #[test]
    fn irnn_only_layers_are_refused_by_name() {
        let mut m = from_safetensors(&fixture("lstm-2x5.safetensors"), "", vocab(), Level::Char)
            .unwrap()
            .model;
        m.config.residual = true;
        let e = to_onnx(&m).unwrap_err().to_string();
        assert!(e.contains("residual"), "{e}");
        let e = to_safetensors(&m, &vocab()).unwrap_err().to_string();
        assert!(e.contains("residual"), "{e}");
    }
}
