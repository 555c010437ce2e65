#!/usr/bin/env python3
"""One recurrent step (input = hidden = H), one thread, state carried from
call to call, in PyTorch (fp32 and dynamic int8) and ONNX Runtime (fp32 and
int8 DynamicQuantizeLSTM). Prints tab-separated lines like `irnn bench --tsv`,
with one more column:

runtime  cell  hidden  batch  median_us  min_us  max_us  bytes  max_err

`max_err` is the largest |h − h_fp32| after 20 calls from the zero state, h_fp32
being the same runtime's fp32 model on the same inputs (int8 rows only). It
shows whether an int8 path is exact: without VNNI, ONNX Runtime's default u8s8
product uses `vpmaddubsw`, whose int16 pair sums saturate (its maintainers'
remedy is the session option `session.x64quantprecision`, which widens to
int16 at a cost in speed); that variant is timed too, as
`onnxruntime-int8-precise`.

With SEQUENCE = T > 0 (default 200) each runtime is also timed at batch 1 on
T steps per call (one [T, 1, H] input; the runtimes hoist the input product
out of the recurrence there, as `irnn bench` does in its sequence mode): those
rows are named `<runtime>-seq` and give µs per step (the call's time / T).

Run by bench/peers/run.sh, which pins the packages."""
import io
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper
from onnxruntime.quantization import QuantType, quantize_dynamic

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def timed(calls, step):
    for _ in range(calls // 10 + 1):
        step()
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - t) / 1e3)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def torch_bytes(module):
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


class Wrap(torch.nn.Module):
    """quantize_dynamic swaps child modules only, so the RNN must be one."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, state):
        return self.rnn(x, state)


ERR_CALLS = 20


def max_err(run, reference, h_of):
    """The largest |h − h_ref| after ERR_CALLS calls of `run` and of
    `reference` (callables that take the state, None at first, and return
    the next) from zero; `h_of` takes h out of a state."""
    state, ref = None, None
    for _ in range(ERR_CALLS):
        state, ref = run(state), reference(ref)
    return float(np.abs(np.asarray(h_of(state)) - np.asarray(h_of(ref))).max())


def torch_cases(cell, h, batch, calls, out, steps=1):
    """Times each PyTorch variant on `steps` steps per call (state carried);
    with steps > 1 the rows are named `-seq` and report µs per step."""
    torch.manual_seed(0)
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    fp32 = Wrap(cls(h, h)).eval()
    int8 = torch.ao.quantization.quantize_dynamic(fp32, {cls}, dtype=torch.qint8)
    if isinstance(int8.rnn, cls):
        sys.exit(f"quantize_dynamic left {cell} in fp32")
    x = torch.randn(steps, batch, h)
    suffix = "-seq" if steps > 1 else ""
    # PyTorch's default CPU LSTM goes through oneDNN (mkldnn), which
    # re-prepares the weights on every call: very slow for one step at a
    # time. "-native" turns oneDNN off (ATen's own cell over MKL GEMMs), the
    # better choice for streaming; both are reported.
    variants = [("pytorch-fp32", fp32, True), ("pytorch-fp32-native", fp32, False),
                ("pytorch-dynamic-int8", int8, True)]
    zero = torch.zeros(1, batch, h)

    def caller(m, mkldnn):
        """One call of `m` from `state` (None: zero), returning the new state."""
        def call(state):
            if state is None:
                state = (zero, zero.clone()) if cell == "lstm" else zero
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=mkldnn):
                return m(x, state)[1]
        return call

    for name, m, mkldnn in variants:
        state, call = [None], caller(m, mkldnn)

        def step():
            state[0] = call(state[0])

        med, lo, hi = timed(calls, step)
        err = ""
        if "int8" in name:
            err = max_err(caller(m, mkldnn), caller(fp32, mkldnn),
                          lambda s: s[0] if cell == "lstm" else s)
        out(name + suffix, cell, h, batch, med / steps, lo / steps, hi / steps, torch_bytes(m), err)


def onnx_model(cell, h, batch, path, steps=1):
    g = 4 if cell == "lstm" else 3
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(h)
    w = rng.uniform(-k, k, (1, g * h, h)).astype(np.float32)
    r = rng.uniform(-k, k, (1, g * h, h)).astype(np.float32)
    b = rng.uniform(-k, k, (1, 2 * g * h)).astype(np.float32)
    inits = [
        helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.flatten()),
        helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.flatten()),
        helper.make_tensor("B", TensorProto.FLOAT, b.shape, b.flatten()),
    ]
    inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, [steps, batch, h]),
        helper.make_tensor_value_info("H0", TensorProto.FLOAT, [1, batch, h]),
    ]
    outputs = [helper.make_tensor_value_info("HN", TensorProto.FLOAT, [1, batch, h])]
    if cell == "lstm":
        inputs.append(helper.make_tensor_value_info("C0", TensorProto.FLOAT, [1, batch, h]))
        outputs.append(helper.make_tensor_value_info("CN", TensorProto.FLOAT, [1, batch, h]))
        node = helper.make_node(
            "LSTM", ["X", "W", "R", "B", "", "H0", "C0"], ["", "HN", "CN"], hidden_size=h
        )
    else:
        node = helper.make_node(
            "GRU", ["X", "W", "R", "B", "", "H0"], ["", "HN"], hidden_size=h,
            linear_before_reset=1,
        )
    graph = helper.make_graph([node], f"{cell}_step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def ort_cases(cell, h, batch, calls, out, tmp, steps=1):
    """Times ONNX Runtime fp32 (and int8 for the LSTM) on `steps` steps per
    call, like torch_cases."""
    stem = os.path.join(tmp, f"{cell}{h}b{batch}t{steps}")
    fp32 = stem + ".onnx"
    onnx_model(cell, h, batch, fp32, steps)
    models = [("onnxruntime-fp32", fp32)]
    suffix = "-seq" if steps > 1 else ""
    if cell == "lstm":
        int8 = stem + ".int8.onnx"
        quantize_dynamic(fp32, int8, op_types_to_quantize=["LSTM"], weight_type=QuantType.QInt8)
        models.append(("onnxruntime-int8", int8))
        models.append(("onnxruntime-int8-precise", int8))

    def session(name, path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if name.endswith("-precise"):
            opts.add_session_config_entry("session.x64quantprecision", "1")
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    x = np.random.default_rng(1).standard_normal((steps, batch, h)).astype(np.float32)
    zero = np.zeros((1, batch, h), np.float32)
    names = ["HN", "CN"] if cell == "lstm" else ["HN"]

    def caller(sess):
        """One call from `state` (None: zero), returning the new state."""
        def call(state):
            if state is None:
                state = [zero, zero.copy()] if cell == "lstm" else [zero]
            feeds = {"X": x, "H0": state[0]}
            if cell == "lstm":
                feeds["C0"] = state[1]
            return sess.run(names, feeds)
        return call

    reference = caller(session(*models[0]))
    for name, path in models:
        sess = session(name, path)
        ops = {n.op_type for n in onnx.load(path).graph.node}
        if "int8" in name and "DynamicQuantizeLSTM" not in ops:
            print(f"warning: {path} has no DynamicQuantizeLSTM ({ops})", file=sys.stderr)
        state, call = [None], caller(sess)

        def step():
            state[0] = call(state[0])

        med, lo, hi = timed(calls, step)
        err = max_err(call, reference, lambda s: s[0]) if "int8" in name else ""
        out(name + suffix, cell, h, batch, med / steps, lo / steps, hi / steps,
            os.path.getsize(path), err)


def main():
    hidden = [int(v) for v in os.environ.get("HIDDEN", "256,1024").split(",")]
    batches = [int(v) for v in os.environ.get("BATCH", "1,16").split(",")]
    base_calls = int(os.environ.get("CALLS", "2000"))
    sequence = int(os.environ.get("SEQUENCE", "200"))
    if sequence < 0:
        sys.exit(f"SEQUENCE must be 0 (off) or a number of steps, got {sequence}")

    def out(name, cell, h, b, med, lo, hi, nbytes, err):
        err = f"{err:.4f}" if err != "" else ""
        print(f"{name}\t{cell}\t{h}\t{b}\t{med:.3f}\t{lo:.3f}\t{hi:.3f}\t{nbytes}\t{err}",
              flush=True)

    print("runtime\tcell\thidden\tbatch\tmedian_us\tmin_us\tmax_us\tbytes\tmax_err")
    with tempfile.TemporaryDirectory() as tmp:
        for cell in ("lstm", "gru"):
            for h in hidden:
                for b in batches:
                    calls = max(50, min(base_calls * 4, base_calls * 256 // h // b))
                    torch_cases(cell, h, b, calls, out)
                    ort_cases(cell, h, b, calls, out, tmp)
                if sequence > 1:
                    # The same number of calls as `irnn bench`'s sequence mode.
                    calls = max(20, max(50, min(base_calls * 4, base_calls * 256 // h)) // sequence)
                    torch_cases(cell, h, 1, calls, out, sequence)
                    ort_cases(cell, h, 1, calls, out, tmp, sequence)


if __name__ == "__main__":
    main()
