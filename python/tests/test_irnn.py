"""Tests of the Python package against the Rust runtime's committed fixtures.

Run by .ci/python after building the wheel; from the repository root:
    python -m pytest python/tests
"""

import math
import os
import wave
from pathlib import Path

import numpy as np
import pytest

import irnn

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "fixtures" / "models"
WAV = ROOT / "fixtures" / "fsdd" / "2_yweweler_0.wav"


def pcm(path):
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


@pytest.fixture
def lm():
    return irnn.load(MODELS / "lm.irnn")


def test_load_from_a_path_or_bytes_gives_the_same_model(lm):
    same = irnn.load((MODELS / "lm.irnn").read_bytes())
    ids = lm.encode("ROMEO:")
    assert np.array_equal(lm.step(ids), same.step(ids))
    assert isinstance(lm, irnn.LanguageModel)
    assert lm.level == "char" and lm.classes == len(lm.tokens)
    assert "LanguageModel" in repr(lm)


def test_step_returns_int32_logits_and_reset_starts_over(lm):
    first = lm.step(lm.encode("R"))
    assert first.dtype == np.int32 and first.shape == (lm.classes,)
    lm.step(lm.encode("OMEO"))
    lm.reset()
    assert np.array_equal(lm.step(lm.encode("R")), first)
    # Stepping a sequence at once equals stepping one id at a time.
    lm.reset()
    whole = lm.step(lm.encode("ROMEO"))
    lm.reset()
    for i in lm.encode("ROMEO"):
        one = lm.step(i)
    assert np.array_equal(whole, one)
    assert np.array_equal(lm.step(), one)  # no ids: the current logits


def test_score_is_the_mean_nll_of_the_stepped_logits(lm):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    got = lm.score(text, streams=1)
    ids = lm.encode(text)
    lm.reset()
    nll = []
    for cur, nxt in zip(ids, ids[1:]):
        z = lm.step(cur).astype(np.float64) * lm.logit_unit
        z -= z.max()
        nll.append(math.log(np.exp(z).sum()) - z[nxt])
    assert got["tokens"] == len(ids) - 1
    assert got["nats_per_token"] == pytest.approx(np.mean(nll), abs=1e-9)
    assert got["bits_per_token"] == pytest.approx(got["nats_per_token"] / math.log(2))
    assert got["tokens_per_second"] > 0


def test_evaluate_gives_the_clis_figure():
    # The same figure `irnn eval fixtures/models/lm.irnn` prints
    # (crates/irnn/tests/fixtures.rs pins it).
    r = irnn.evaluate(MODELS / "lm.irnn", "embedded:tinyshakespeare")
    assert r["tokens"] == 5130
    assert f"{r['nats_per_token']:.6f}" == "3.034413"


def test_generate_is_deterministic_and_decodes(lm):
    a = lm.generate("ROMEO:", 30)
    assert a == lm.generate("ROMEO:", 30)
    assert isinstance(a, str) and len(a) == 30
    sampled = lm.generate("ROMEO:", 30, temperature=1.0, seed=7)
    assert sampled == lm.generate("ROMEO:", 30, temperature=1.0, seed=7)
    assert lm.decode(lm.encode("ROMEO")) == "ROMEO"


def test_convert_writes_the_bytes_the_cli_writes(tmp_path):
    out = tmp_path / "lm.irnn"
    r = irnn.convert(MODELS / "lm.safetensors", out, data="embedded:tinyshakespeare", knots=16)
    assert out.read_bytes() == (MODELS / "lm.irnn").read_bytes()
    assert r["bytes"] == out.stat().st_size and r["knots"] == 16
    # A QAT checkpoint needs no data: its ranges are inside.
    qat = tmp_path / "lm-qat.irnn"
    irnn.convert(MODELS / "lm-qat.safetensors", qat)
    assert qat.read_bytes() == (MODELS / "lm-qat.irnn").read_bytes()


def test_speech_model_transcribes_int16_and_float32():
    asr = irnn.load(MODELS / "asr-qat.irnn")
    assert isinstance(asr, irnn.SpeechModel)
    samples, rate = pcm(WAV)
    assert rate == asr.sample_rate
    text = asr.transcribe(samples, rate)
    assert text == asr.transcribe(samples.astype(np.float32) / 32768.0, rate)
    assert all(t in asr.labels for t in text.split())
    assert isinstance(asr.transcribe(samples, rate, attention=True), str)
    assert isinstance(asr.transcribe(samples, rate, beam=4), str)
    # Audio at another rate is resampled to the model's.
    doubled = np.repeat(samples, 2)
    assert isinstance(asr.transcribe(doubled, 2 * rate), str)


def test_a_streaming_model_transcribes_chunks_as_they_arrive():
    asr = irnn.load(ROOT / "fixtures" / "models-v7" / "asr-stream-qat.irnn")
    assert asr.streams and not irnn.load(MODELS / "asr-qat.irnn").streams
    samples, rate = pcm(ROOT / "fixtures" / "fsdd" / "1_george_0.wav")
    offline = asr.transcribe(samples, rate)
    assert offline == "8 5 8 5 5 1"
    for size in (1, 333, 1600, 10**6):
        seen = []
        chunks = (samples[i : i + size] for i in range(0, len(samples), size))
        assert asr.stream(chunks, rate, on_text=seen.append) == offline
        # The transcript grew as the audio came, ending with the whole.
        assert seen and seen[-1] == offline
        assert all(offline.startswith(t) for t in seen)
    with pytest.raises(irnn.IrnnError, match="unidirectional"):
        irnn.load(MODELS / "asr-qat.irnn").stream([samples], rate)
    with pytest.raises(irnn.IrnnError, match="no samples"):
        asr.stream([], rate)
    with pytest.raises(TypeError, match="int16 or float32"):
        asr.stream([samples.astype(np.int64)], rate)


def test_errors_are_irnn_errors_with_the_rust_message(lm, tmp_path):
    with pytest.raises(irnn.IrnnError, match="/no/such/model.irnn"):
        irnn.load("/no/such/model.irnn")
    with pytest.raises(irnn.IrnnError, match="<bytes>"):
        irnn.load(b"not a model")
    truncated = (MODELS / "lm.irnn").read_bytes()[:100]
    with pytest.raises(irnn.IrnnError, match="truncated"):
        irnn.load(truncated)
    with pytest.raises(TypeError):
        irnn.load(42)
    with pytest.raises(irnn.IrnnError, match="not in the model's vocabulary"):
        lm.encode("€")
    with pytest.raises(irnn.IrnnError):
        lm.step(10**6)
    with pytest.raises(TypeError):
        lm.step("R")
    with pytest.raises(irnn.IrnnError, match="temperature"):
        lm.generate("R", 3, temperature=float("nan"))
    with pytest.raises(irnn.IrnnError, match="tokens"):
        lm.score("RO", streams=4)
    asr = irnn.load(MODELS / "asr-qat.irnn")
    samples, rate = pcm(WAV)
    with pytest.raises(irnn.IrnnError, match="0 Hz"):
        asr.transcribe(samples, 0)
    with pytest.raises(irnn.IrnnError, match="no samples"):
        asr.transcribe(np.zeros(0, dtype=np.int16), rate)
    with pytest.raises(TypeError, match="int16 or float32"):
        asr.transcribe(samples.astype(np.int32), rate)
    with pytest.raises(irnn.IrnnError, match="NaN"):
        asr.transcribe(np.full(800, np.nan, dtype=np.float32), rate)
    with pytest.raises(irnn.IrnnError, match="no quantization ranges"):
        irnn.convert(MODELS / "lm.safetensors", tmp_path / "x.irnn")
    assert not (tmp_path / "x.irnn").exists()
    with pytest.raises(irnn.IrnnError, match="knots"):
        irnn.convert(MODELS / "lm.safetensors", tmp_path / "x.irnn", knots=1)


def test_kernels_names_the_detected_one():
    detected, table = irnn.kernels()
    assert (detected, True) in table
    assert ("scalar", True) in table


def test_speed_of_score_matches_the_runtime():
    # Not a timing assertion: the figure is reported by .ci/python beside
    # the CLI's (see docs/RESULTS.md); here only that it is measured.
    lm = irnn.load(MODELS / "lm.irnn")
    assert lm.score("ROMEO: " * 200)["tokens_per_second"] > 0


def test_the_readme_example_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and float(lines[0].split()[0]) > 0


def test_import_model_then_convert_and_score(tmp_path):
    pt = ROOT / "fixtures" / "pytorch"
    ck = tmp_path / "imported.safetensors"
    arch = irnn.import_model(pt / "lstm-2x5.safetensors", pt / "vocab.json", ck)
    assert "LSTM 5 × 2" in arch
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcdefghij ,.\n" + "a bad cafe, jig hi.\n" * 50)
    model = tmp_path / "imported.irnn"
    irnn.convert(ck, model, data=str(corpus), knots=16)
    lm = irnn.load(model)
    assert lm.score("a bad cafe, jig hi.\n" * 5)["bits_per_token"] > 0
    assert "GRU" in irnn.import_model(pt / "gru-2x5.onnx", pt / "vocab.json", tmp_path / "g.safetensors")
    with pytest.raises(irnn.IrnnError, match="proj_size"):
        irnn.import_model(pt / "lstm-proj.safetensors", pt / "vocab.json", tmp_path / "x.safetensors")
    with pytest.raises(irnn.IrnnError, match="level"):
        irnn.import_model(pt / "lstm-2x5.safetensors", pt / "vocab.json", tmp_path / "x.safetensors", level="byte")
