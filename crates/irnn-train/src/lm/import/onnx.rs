//! An ONNX language model as the importer's tensors, in PyTorch's names
//! and gate orders.
//!
//! Accepted: the graph `torch.onnx.export` writes for word_language_model's
//! model, or any graph of that shape — a `Gather` of an embedding
//! initializer, one or more `LSTM` or `GRU` ops in a chain (each reading the
//! previous one's output through shape-only ops such as `Squeeze`), and an
//! output layer `MatMul` + `Add` or `Gemm` with initializer weights. Every
//! attribute of the recurrent ops is handled or refused by name:
//! `direction` (forward only: a language model reads left to right),
//! `layout` (0 only), `hidden_size` (must match the weights), `activations`
//! (the defaults only), `clip` (refused), `input_forget` (0 only),
//! `linear_before_reset` (GRU: 1 is PyTorch's reset after the product, 0
//! the reset before; both become irnn GRUs); the inputs `sequence_lens` and
//! `P` (peepholes) must be absent, and `initial_h` / `initial_c` absent or
//! zeros. ONNX's gate orders (LSTM i, o, f, c; GRU z, r, h) are reordered
//! to PyTorch's (i, f, g, o; r, z, n).

use std::collections::BTreeMap;

use onnx_protobuf::{Message, ModelProto, NodeProto, TensorProto};

use super::{reorder_gates as reorder, ImportError, Tensor, Tensors};

/// What the graph holds: the tensors in PyTorch's names, and the GRU reset
/// convention.
pub(super) struct Graph {
    pub(super) tensors: Tensors,
    pub(super) gru_reset_before: bool,
}

fn err(msg: impl Into<String>) -> ImportError {
    ImportError::Onnx(msg.into())
}

/// Ops that only move or reshape values, or compute constants for them.
const PLUMBING: &[&str] = &[
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Reshape",
    "Identity",
    "Constant",
    "ConstantOfShape",
    "Shape",
    "Slice",
    "Concat",
    "Cast",
    "Expand",
];

/// Parses `bytes` and maps the graph onto the importer's tensors.
pub(super) fn read(bytes: &[u8]) -> Result<Graph, ImportError> {
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| {
        err(format!(
            "neither a safetensors file nor an ONNX model (protobuf: {e})"
        ))
    })?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| err("the model has no graph"))?;
    let inits: BTreeMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let producer: BTreeMap<&str, &NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();

    let mut map = BTreeMap::new();
    let mut embedding: Option<&NodeProto> = None;
    let mut recurrent: Vec<&NodeProto> = Vec::new();
    let mut output: Option<&NodeProto> = None;
    let mut bias_add: Option<&NodeProto> = None;
    for node in &graph.node {
        match node.op_type.as_str() {
            "Gather"
                if node
                    .input
                    .first()
                    .is_some_and(|i| inits.contains_key(i.as_str())) =>
            {
                if embedding.replace(node).is_some() {
                    return Err(err("two embedding lookups (Gather of an initializer)"));
                }
            }
            "LSTM" | "GRU" => recurrent.push(node),
            "MatMul" | "Gemm" => {
                if output.replace(node).is_some() {
                    return Err(err(format!(
                        "a second {} ({}): one output layer is expected",
                        node.op_type, node.name
                    )));
                }
            }
            "Add" if output.is_some() => {
                if bias_add.replace(node).is_some() {
                    return Err(err("more than one Add after the output layer"));
                }
            }
            op if PLUMBING.contains(&op) || op == "Gather" => {}
            op => {
                return Err(err(format!(
                    "op {op} ({}) is not part of an embedding → LSTM/GRU → linear graph",
                    node.name
                )))
            }
        }
    }
    let embedding = embedding.ok_or_else(|| err("no embedding (a Gather of an initializer)"))?;
    let table = tensor(&inits, arg(embedding, 0))?;
    map.insert("encoder.weight".to_string(), table);

    if recurrent.is_empty() {
        return Err(err("no LSTM or GRU op"));
    }
    let kind = recurrent[0].op_type.clone();
    let mut reset_before = None;
    let mut previous = embedding;
    for (k, node) in recurrent.iter().enumerate() {
        if node.op_type != kind {
            return Err(err(format!(
                "{} ({}) after {kind}: every layer must be of one kind",
                node.op_type, node.name
            )));
        }
        if !reads_output_of(&producer, arg(node, 0), previous) {
            return Err(err(format!(
                "{} ({}) does not read the output of {} ({}): not a chain of layers",
                node.op_type, node.name, previous.op_type, previous.name
            )));
        }
        let r = recurrent_layer(node, k, &inits, &producer, &mut map)?;
        if let Some(before) = r {
            if reset_before.replace(before).is_some_and(|b| b != before) {
                return Err(err("GRU layers disagree on linear_before_reset"));
            }
        }
        previous = node;
    }

    let output = output.ok_or_else(|| err("no output layer (MatMul or Gemm)"))?;
    if !reads_output_of(&producer, arg(output, 0), previous) {
        return Err(err(format!(
            "the output layer ({}) does not read the last recurrent layer",
            output.name
        )));
    }
    output_layer(output, bias_add, &inits, &mut map)?;
    Ok(Graph {
        tensors: Tensors::new(map, "", BTreeMap::new()),
        gru_reset_before: reset_before.unwrap_or(false),
    })
}

/// Input `i` of `node`, or "" (absent) for a node with fewer inputs: a
/// hostile graph cannot make the importer index past them.
fn arg(node: &NodeProto, i: usize) -> &str {
    node.input.get(i).map(String::as_str).unwrap_or("")
}

/// Whether `value` is `node`'s first output, directly or through
/// shape-only ops.
fn reads_output_of(producer: &BTreeMap<&str, &NodeProto>, value: &str, node: &NodeProto) -> bool {
    let mut v = value;
    for _ in 0..16 {
        if node.output.first().is_some_and(|o| o == v) {
            return true;
        }
        match producer.get(v) {
            Some(p)
                if ["Squeeze", "Unsqueeze", "Transpose", "Reshape", "Identity"]
                    .contains(&p.op_type.as_str()) =>
            {
                v = arg(p, 0);
            }
            _ => return false,
        }
    }
    false
}

/// Whether `value` is all zeros: absent, or made by `ConstantOfShape` of 0
/// (through slices and shape-only ops), or a zero initializer.
fn is_zero(
    producer: &BTreeMap<&str, &NodeProto>,
    inits: &BTreeMap<&str, &TensorProto>,
    value: &str,
) -> bool {
    let mut v = value;
    for _ in 0..16 {
        if v.is_empty() {
            return true;
        }
        if let Some(t) = inits.get(v) {
            return floats(t).is_ok_and(|f| f.iter().all(|&x| x == 0.0));
        }
        match producer.get(v) {
            Some(p) if p.op_type == "ConstantOfShape" => {
                return p
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
                    .is_none_or(|t| floats(t).is_ok_and(|f| f.iter().all(|&x| x == 0.0)));
            }
            Some(p)
                if [
                    "Slice",
                    "Squeeze",
                    "Unsqueeze",
                    "Transpose",
                    "Reshape",
                    "Identity",
                    "Expand",
                ]
                .contains(&p.op_type.as_str()) =>
            {
                v = arg(p, 0);
            }
            _ => return false,
        }
    }
    false
}

/// A float initializer's values (float_data, double_data or raw_data).
fn floats(t: &TensorProto) -> Result<Vec<f32>, ImportError> {
    const FLOAT: i32 = 1;
    const DOUBLE: i32 = 11;
    match t.data_type {
        FLOAT if !t.raw_data.is_empty() => Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        FLOAT => Ok(t.float_data.clone()),
        DOUBLE if !t.raw_data.is_empty() => Ok(t
            .raw_data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect()),
        DOUBLE => Ok(t.double_data.iter().map(|&v| v as f32).collect()),
        other => Err(err(format!(
            "initializer {} has data type {other}; irnn imports float and double",
            t.name
        ))),
    }
}

/// The initializer `name` as a tensor (shape checked against its values).
fn tensor(inits: &BTreeMap<&str, &TensorProto>, name: &str) -> Result<Tensor, ImportError> {
    let t = inits.get(name).ok_or_else(|| {
        err(format!(
            "{name} is not an initializer (weights must be constants)"
        ))
    })?;
    if !t.external_data.is_empty() {
        return Err(err(format!(
            "{name} is stored in an external file: not supported"
        )));
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(format!("{name} has dimension {d}"))))
        .collect::<Result<_, _>>()?;
    let values = floats(t)?;
    if values.len() != shape.iter().product::<usize>() {
        return Err(err(format!(
            "{name} holds {} values for shape {shape:?}",
            values.len()
        )));
    }
    Ok(Tensor { shape, values })
}

/// One `LSTM` / `GRU` op as `rnn.*_l{k}`; for a GRU, whether its reset is
/// applied before the recurrent product.
fn recurrent_layer(
    node: &NodeProto,
    k: usize,
    inits: &BTreeMap<&str, &TensorProto>,
    producer: &BTreeMap<&str, &NodeProto>,
    map: &mut BTreeMap<String, Tensor>,
) -> Result<Option<bool>, ImportError> {
    let op = node.op_type.as_str();
    let what = |a: &str| format!("{op} ({}) {a}", node.name);
    let lstm = op == "LSTM";
    let mut reset_before = None;
    for a in &node.attribute {
        match a.name.as_str() {
            "hidden_size" => {}
            "direction" if a.s == b"forward" => {}
            "direction" => {
                return Err(err(what(&format!(
                    "direction {:?}: a language model reads forward only",
                    String::from_utf8_lossy(&a.s)
                ))))
            }
            "layout" if a.i == 0 => {}
            "layout" => return Err(err(what("layout 1 (batch first) is not supported"))),
            "activations" => {
                let want: &[&[u8]] = if lstm {
                    &[b"Sigmoid", b"Tanh", b"Tanh"]
                } else {
                    &[b"Sigmoid", b"Tanh"]
                };
                if a.strings.iter().map(Vec::as_slice).ne(want.iter().copied()) {
                    return Err(err(what("activations other than the defaults")));
                }
            }
            "activation_alpha" | "activation_beta" => {
                return Err(err(what(&format!("{}: not supported", a.name))))
            }
            "clip" => return Err(err(what("clip: irnn's cells do not clip"))),
            "input_forget" if a.i == 0 => {}
            "input_forget" => {
                return Err(err(what("input_forget 1 (coupled gates) is not supported")))
            }
            "linear_before_reset" if !lstm => reset_before = Some(a.i == 0),
            other => return Err(err(what(&format!("attribute {other} is not supported")))),
        }
    }
    if !lstm && reset_before.is_none() {
        reset_before = Some(true); // ONNX's default linear_before_reset = 0
    }
    let input = |i: usize| node.input.get(i).map(String::as_str).unwrap_or("");
    if !input(4).is_empty() {
        return Err(err(what(
            "sequence_lens: variable lengths are not supported",
        )));
    }
    if lstm && !input(7).is_empty() {
        return Err(err(what("P (peepholes): irnn's LSTM has none")));
    }
    for (i, name) in [(5, "initial_h"), (6, "initial_c")] {
        if (i == 5 || lstm) && !is_zero(producer, inits, input(i)) {
            return Err(err(what(&format!(
                "{name} must be absent or zeros (a language model starts from the zero state)"
            ))));
        }
    }
    let w = tensor(inits, input(1))?;
    let r = tensor(inits, input(2))?;
    let (gates, order): (usize, &[usize]) = if lstm {
        (4, &[0, 2, 3, 1]) // ONNX i, o, f, c → i, f, g, o
    } else {
        (3, &[1, 0, 2]) // ONNX z, r, h → r, z, n
    };
    let [1, gw, cols] = w.shape[..] else {
        return Err(err(what(&format!(
            "W has shape {:?}; expected [1, gates × hidden, input]",
            w.shape
        ))));
    };
    let [1, gr, h] = r.shape[..] else {
        return Err(err(what(&format!(
            "R has shape {:?}; expected [1, gates × hidden, hidden]",
            r.shape
        ))));
    };
    if gw != gates * h || gr != gates * h {
        return Err(err(what(&format!(
            "W, R have {gw}, {gr} rows; expected {gates} × {h}"
        ))));
    }
    if let Some(a) = node.attribute.iter().find(|a| a.name == "hidden_size") {
        if a.i as usize != h {
            return Err(err(what(&format!("hidden_size {} but R is for {h}", a.i))));
        }
    }
    let b = if input(3).is_empty() {
        return Err(err(what(
            "has no B: a layer without biases is not a model irnn represents",
        )));
    } else {
        tensor(inits, input(3))?
    };
    if b.shape != [1, 2 * gates * h] {
        return Err(err(what(&format!(
            "B has shape {:?}; expected [1, {}]",
            b.shape,
            2 * gates * h
        ))));
    }
    let g = gates * h;
    let entries = [
        (
            "weight_ih",
            vec![g, cols],
            reorder(&w.values, h, cols, order),
        ),
        ("weight_hh", vec![g, h], reorder(&r.values, h, h, order)),
        ("bias_ih", vec![g], reorder(&b.values[..g], h, 1, order)),
        ("bias_hh", vec![g], reorder(&b.values[g..], h, 1, order)),
    ];
    for (name, shape, values) in entries {
        map.insert(format!("rnn.{name}_l{k}"), Tensor { shape, values });
    }
    Ok(reset_before)
}

/// `MatMul(x, Wᵀ) + b` or `Gemm(x, W, b)` as `decoder.weight`, `decoder.bias`.
fn output_layer(
    node: &NodeProto,
    add: Option<&NodeProto>,
    inits: &BTreeMap<&str, &TensorProto>,
    map: &mut BTreeMap<String, Tensor>,
) -> Result<(), ImportError> {
    let w = tensor(inits, arg(node, 1))?;
    let [a, b] = w.shape[..] else {
        return Err(err(format!("output weights of shape {:?}", w.shape)));
    };
    let int = |name: &str, default: i64| {
        node.attribute
            .iter()
            .find(|x| x.name == name)
            .map_or(default, |x| x.i)
    };
    // The decoder in PyTorch's [vocabulary, hidden].
    let transposed = node.op_type == "MatMul" || int("transB", 0) == 0;
    if node.op_type == "Gemm"
        && (int("transA", 0) != 0
            || node
                .attribute
                .iter()
                .any(|x| (x.name == "alpha" || x.name == "beta") && x.f != 1.0))
    {
        return Err(err(
            "Gemm with transA, alpha or beta other than the defaults",
        ));
    }
    let (v, h, weight) = if transposed {
        let mut t = vec![0.0; a * b];
        for i in 0..a {
            for j in 0..b {
                t[j * a + i] = w.values[i * b + j];
            }
        }
        (b, a, t)
    } else {
        (a, b, w.values)
    };
    map.insert(
        "decoder.weight".into(),
        Tensor {
            shape: vec![v, h],
            values: weight,
        },
    );
    let bias_name = match (node.op_type.as_str(), add) {
        ("Gemm", _) => node.input.get(2).cloned().filter(|s| !s.is_empty()),
        (_, Some(add)) => add
            .input
            .iter()
            .find(|i| inits.contains_key(i.as_str()))
            .cloned(),
        _ => None,
    };
    let bias_name = bias_name.ok_or_else(|| err("the output layer has no bias"))?;
    let bias = tensor(inits, &bias_name)?;
    if bias.shape != [v] {
        return Err(err(format!(
            "output bias of shape {:?}; expected [{v}]",
            bias.shape
        )));
    }
    map.insert("decoder.bias".into(), bias);
    Ok(())
}
