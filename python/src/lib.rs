//! irnn from Python (`import irnn`): load `.irnn` models and run them with
//! the integer runtime, score and generate text, transcribe audio held in
//! numpy arrays; import a PyTorch or ONNX model, convert a float checkpoint
//! and evaluate a model, as the CLI does.
//!
//! This file only converts arguments and errors: every computation is a
//! call into `irnn-runtime` or `irnn-train` (the same functions the CLI
//! calls), long ones with the GIL released. Every Rust error becomes an
//! `irnn.IrnnError` carrying the Rust message.

use std::path::PathBuf;
use std::time::Instant;

use irnn_runtime::format::{read_model, write_language_model, Model};
use irnn_runtime::model::{IntLanguageModel, LmState};
use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::{Isa, TokenLevel};
use irnn_train::asr::decode::beam::BeamConfig;
use irnn_train::asr::decode::{Decoding, Transcriber};
use irnn_train::checkpoint::atomic_write;
use irnn_train::lm::data::corpus::{encode, tokenize};
use irnn_train::lm::data::Level;
use irnn_train::lm::data::{eval_tokens, level_of, load_corpus, vocab_of};
use irnn_train::lm::eval::{evaluate as lm_evaluate, NllSum};
use irnn_train::lm::generate::{decode, encode_prompt, generate};
use irnn_train::lm::import::{from_onnx, from_safetensors, read_vocabulary};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::lm::{calibrate, checkpoint, integer_model};
use irnn_train::quant::export::logit_scale;
use irnn_train::quant::pwl_fit::{PwlFitter, DEFAULT_KNOTS};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rand::SeedableRng;

create_exception!(
    _irnn,
    IrnnError,
    PyException,
    "An error from irnn (bad file, unknown token, wrong sample rate, …): the message says which."
);

/// Any displayable Rust error as an `IrnnError`.
fn err(e: impl std::fmt::Display) -> PyErr {
    IrnnError::new_err(e.to_string())
}

/// Bytes from a path (str or os.PathLike) or from a bytes object, and a
/// name for messages.
fn source_bytes(source: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, String)> {
    if let Ok(b) = source.downcast::<PyBytes>() {
        return Ok((b.as_bytes().to_vec(), "<bytes>".into()));
    }
    let path: PathBuf = source
        .extract()
        .map_err(|_| PyTypeError::new_err("expected a path (str or os.PathLike) or bytes"))?;
    let bytes = std::fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    Ok((bytes, path.display().to_string()))
}

/// A language model in the integer runtime, with one stream's state for
/// [`step`](LanguageModel::step).
#[pyclass(module = "irnn")]
struct LanguageModel {
    model: IntLanguageModel,
    isa: Isa,
    state: LmState,
    logits: Vec<i32>,
}

/// Mono audio from a numpy array: int16 PCM, or float32 in [-1, 1).
fn audio_of(samples: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let audio: Vec<f32> = if let Ok(a) = samples.extract::<PyReadonlyArray1<i16>>() {
        a.as_slice()?
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect()
    } else if let Ok(a) = samples.extract::<PyReadonlyArray1<f32>>() {
        a.as_slice()?.to_vec()
    } else {
        return Err(PyTypeError::new_err(
            "samples must be a one-dimensional numpy array of int16 or float32",
        ));
    };
    if audio.iter().any(|v| !v.is_finite()) {
        return Err(err("the samples hold NaN or infinite values"));
    }
    Ok(audio)
}

/// A speech model in the integer runtime.
#[pyclass(module = "irnn")]
struct SpeechModel {
    model: IntSpeechModel,
    isa: Isa,
}

/// `load(source)`: a `.irnn` model from a path or bytes; a
/// `LanguageModel` or a `SpeechModel`, as the file says.
#[pyfunction]
fn load(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<PyObject> {
    let (bytes, name) = source_bytes(source)?;
    let isa = Isa::detect();
    match read_model(&bytes).map_err(|e| err(format!("{name}: {e}")))? {
        Model::Language(model) => {
            let state = model.zero_state();
            let logits = vec![0; model.classes()];
            let lm = LanguageModel {
                model,
                isa,
                state,
                logits,
            };
            Ok(Py::new(py, lm)?.into_any())
        }
        Model::Speech(model) => Ok(Py::new(py, SpeechModel { model: *model, isa })?.into_any()),
    }
}

/// Token ids from an int or a sequence of ints.
fn token_ids(ids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Ok(id) = ids.extract::<u32>() {
        return Ok(vec![id]);
    }
    ids.extract::<Vec<u32>>().map_err(|_| {
        PyTypeError::new_err("expected a token id or a sequence of token ids (ints ≥ 0)")
    })
}

#[pymethods]
impl LanguageModel {
    /// Number of classes: the vocabulary size, the length of the logits.
    #[getter]
    fn classes(&self) -> usize {
        self.model.classes()
    }

    /// `"char"` or `"word"`.
    #[getter]
    fn level(&self) -> &'static str {
        match self.model.vocabulary.level {
            TokenLevel::Char => "char",
            TokenLevel::Word => "word",
        }
    }

    /// The tokens, by id.
    #[getter]
    fn tokens(&self) -> Vec<String> {
        self.model.vocabulary.tokens.clone()
    }

    /// The real value of one step of the int32 logits (natural-log units).
    #[getter]
    fn logit_unit(&self) -> f64 {
        logit_scale(self.model.output.logit_scale)
    }

    /// The kernels in use (`irnn kernels` lists them).
    #[getter]
    fn kernel(&self) -> &'static str {
        self.isa.name()
    }

    /// Token ids of `text`, as `irnn generate` reads a prompt.
    fn encode(&self, text: &str) -> PyResult<Vec<u32>> {
        encode_prompt(&self.model.vocabulary, text).map_err(err)
    }

    /// The text of token ids.
    fn decode(&self, ids: &Bound<'_, PyAny>) -> PyResult<String> {
        let ids = token_ids(ids)?;
        for &id in &ids {
            self.model.vocabulary.token(id).map_err(err)?;
        }
        Ok(decode(&self.model.vocabulary, &ids))
    }

    /// Feeds token ids (an int or a sequence) to the model's stream, one
    /// step each, and returns the int32 logits after the last as a numpy
    /// array. With no ids, the current logits.
    #[pyo3(signature = (ids = None))]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        ids: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let ids = match ids {
            Some(ids) => token_ids(ids)?,
            None => Vec::new(),
        };
        for id in ids {
            self.model
                .step(self.isa, id, &mut self.state, &mut self.logits)
                .map_err(err)?;
        }
        Ok(self.logits.clone().into_pyarray(py))
    }

    /// Starts a new stream (the zero state).
    fn reset(&mut self) {
        self.state = self.model.zero_state();
        self.logits.iter_mut().for_each(|l| *l = 0);
    }

    /// Scores `text` as `irnn eval --whole` scores a file: the text is
    /// tokenized as a corpus is, cut into `streams` parallel streams that
    /// each start from the zero state, and every token predicts the next.
    /// `streams` defaults to the CLI's 10 for texts long enough to give each
    /// stream 64 tokens, fewer for shorter ones. Returns a dict: `tokens`,
    /// `nats_per_token`, `bits_per_token`, `perplexity`,
    /// `tokens_per_second`.
    #[pyo3(signature = (text, streams = None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        streams: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let vocab = vocab_of(&self.model);
        let tokens = tokenize(text, level_of(&self.model));
        let ids = encode(&vocab, &tokens, std::path::Path::new("<text>")).map_err(err)?;
        let streams = streams.unwrap_or((ids.len() / 64).clamp(1, EVAL_BATCH));
        if streams == 0 {
            return Err(err("streams must be at least 1"));
        }
        if ids.len() < 2 * streams {
            return Err(err(format!(
                "the text has {} tokens; scoring in {streams} streams needs at least {}",
                ids.len(),
                2 * streams
            )));
        }
        let (model, isa) = (&self.model, self.isa);
        let start = Instant::now();
        let sum = py
            .allow_threads(|| lm_evaluate(model, isa, &ids, streams))
            .map_err(err)?;
        metrics(py, &sum, start.elapsed().as_secs_f64())
    }

    /// Continues `prompt` by `count` tokens (argmax at `temperature` 0, else
    /// sampled with `seed`) from a fresh stream; returns the continuation.
    #[pyo3(signature = (prompt, count = 100, temperature = 0.0, seed = 0))]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: &str,
        count: usize,
        temperature: f64,
        seed: u64,
    ) -> PyResult<String> {
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(err(format!(
                "temperature {temperature} must be finite and ≥ 0"
            )));
        }
        let ids = encode_prompt(&self.model.vocabulary, prompt).map_err(err)?;
        let (model, isa) = (&self.model, self.isa);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let out = py
            .allow_threads(|| generate(model, isa, &ids, count, temperature, &mut rng))
            .map_err(err)?;
        Ok(decode(&self.model.vocabulary, &out))
    }

    fn __repr__(&self) -> String {
        format!(
            "<irnn.LanguageModel: {} {} tokens, {} layers, {} kernels>",
            self.model.classes(),
            self.level(),
            self.model.layers.len(),
            self.isa.name()
        )
    }
}

#[pymethods]
impl SpeechModel {
    /// The sample rate (Hz) audio must have.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.model.front_end.sample_rate
    }

    /// The output labels (`labels[0]` is the CTC blank).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.model.labels.clone()
    }

    /// Whether the model has an attention decoder.
    #[getter]
    fn has_attention(&self) -> bool {
        self.model.decoder.is_some()
    }

    /// The transcript of mono audio: a numpy int16 array (PCM) or float32
    /// array (in [-1, 1)) recorded at `rate` Hz (resampled to the model's
    /// rate when it is another).
    /// `beam` > 1: CTC prefix beam search; `attention`: the attention
    /// decoder, greedy.
    #[pyo3(signature = (samples, rate, beam = 1, attention = false))]
    fn transcribe(
        &self,
        py: Python<'_>,
        samples: &Bound<'_, PyAny>,
        rate: u32,
        beam: usize,
        attention: bool,
    ) -> PyResult<String> {
        let audio = audio_of(samples)?;
        if beam == 0 {
            return Err(err("beam must be at least 1"));
        }
        let decoding = if attention {
            Decoding::Attention(BeamConfig::attention(beam))
        } else {
            Decoding::Ctc { beam }
        };
        let (model, isa) = (&self.model, self.isa);
        py.allow_threads(|| Transcriber::new(model, isa).text(&audio, rate, decoding))
            .map_err(err)
    }

    /// Whether the model can transcribe audio as it arrives (a
    /// unidirectional encoder with fixed feature statistics).
    #[getter]
    fn streams(&self) -> bool {
        self.model.stream(self.isa).is_ok()
    }

    /// `stream(chunks, rate, on_text=None)`: transcribes audio as it
    /// arrives (a streaming model, [`streams`](Self::streams)): `chunks` is
    /// any iterable of numpy arrays (int16 PCM or float32 in [-1, 1)) at
    /// `rate` Hz — a list, or a generator reading a microphone — each
    /// decoded before the next is taken; `on_text(text)` is called with
    /// the transcript so far whenever it grows. Returns the final
    /// transcript, which equals `transcribe`'s for the same audio.
    #[pyo3(signature = (chunks, rate, on_text = None))]
    fn stream(
        &self,
        chunks: &Bound<'_, PyAny>,
        rate: u32,
        on_text: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let transcriber = Transcriber::new(&self.model, self.isa);
        let mut stream = transcriber.stream(rate).map_err(err)?;
        for chunk in chunks.try_iter()? {
            let audio = audio_of(&chunk?)?;
            if stream.push(&audio).map_err(err)? {
                if let Some(f) = on_text {
                    f.call1((stream.text(),))?;
                }
            }
        }
        if stream.finish().map_err(err)? {
            if let Some(f) = on_text {
                f.call1((stream.text(),))?;
            }
        }
        Ok(stream.text().to_string())
    }

    fn __repr__(&self) -> String {
        format!(
            "<irnn.SpeechModel: {} Hz, {} labels, {} layers{}, {} kernels>",
            self.model.front_end.sample_rate,
            self.model.labels.len(),
            self.model.layers.len(),
            if self.model.decoder.is_some() {
                ", attention decoder"
            } else {
                ""
            },
            self.isa.name()
        )
    }
}

/// `convert(checkpoint, output, data=None, knots=None,
/// calibration_tokens=20000)`: a language-model checkpoint to an `.irnn`
/// file, as `irnn convert` does: with the checkpoint's QAT ranges, or
/// calibrated on the training split of `data` (post-training quantization).
/// Returns a dict: `bytes`, `knots`, `ranges` (where they came from).
#[pyfunction]
#[pyo3(signature = (checkpoint, output, data = None, knots = None, calibration_tokens = 20_000))]
fn convert<'py>(
    py: Python<'py>,
    checkpoint: PathBuf,
    output: PathBuf,
    data: Option<String>,
    knots: Option<usize>,
    calibration_tokens: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if let Some(k) = knots {
        if !(2..=irnn_runtime::pwl::MAX_KNOTS).contains(&k) {
            return Err(err(format!(
                "knots {k}: a table needs 2 to {} knots",
                irnn_runtime::pwl::MAX_KNOTS
            )));
        }
    }
    let outcome = py.allow_threads(|| -> Result<_, String> {
        let ck = checkpoint::load(&checkpoint).map_err(|e| e.to_string())?;
        let (ranges, default_knots, how) = match (&ck.quant, &data) {
            (Some(q), None) => (q.ranges.clone(), q.knots, "QAT ranges from the checkpoint"),
            (_, Some(data)) => {
                let corpus = load_corpus(data, ck.model.config.level)
                    .map_err(|e| format!("loading data {data}: {e}"))?;
                if corpus.vocab.tokens != ck.vocab.tokens {
                    return Err(format!(
                        "data {data} has a different vocabulary from the checkpoint's training data"
                    ));
                }
                let n = calibration_tokens.min(corpus.train.len());
                let ranges = calibrate(&ck.model, &corpus.train[..n]);
                (
                    ranges,
                    DEFAULT_KNOTS,
                    "calibrated on data (post-training quantization)",
                )
            }
            (None, None) => {
                return Err(format!(
                    "{} holds no quantization ranges (it was not saved by `irnn qat`); \
                     pass data= to calibrate them",
                    checkpoint.display()
                ))
            }
        };
        let knots = knots.unwrap_or(default_knots);
        // A QAT checkpoint's weight widths (4-bit QAT makes a 4-bit file).
        let bits = match (&ck.quant, &data) {
            (Some(q), None) => q.table_bits()?,
            _ => irnn_runtime::kernels::WeightBits::Eight.into(),
        };
        let int = integer_model(
            &ck.model,
            &ck.vocab,
            &ranges,
            bits,
            &mut PwlFitter::new(knots),
        )
        .map_err(|e| e.to_string())?;
        let bytes = write_language_model(&int);
        atomic_write(&output, &bytes).map_err(|e| e.to_string())?;
        Ok((bytes.len(), knots, how))
    });
    let (bytes, knots, how) = outcome.map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("bytes", bytes)?;
    d.set_item("knots", knots)?;
    d.set_item("ranges", how)?;
    Ok(d)
}

/// `import_model(model, vocab, output, level="char", prefix="")`: a
/// language model trained elsewhere — a PyTorch `state_dict` in safetensors
/// or an ONNX file — and its vocabulary (a JSON array or one token per line)
/// as an irnn checkpoint, as `irnn import` does. Returns the inferred
/// architecture.
#[pyfunction]
#[pyo3(signature = (model, vocab, output, level = "char", prefix = ""))]
fn import_model(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    vocab: PathBuf,
    output: PathBuf,
    level: &str,
    prefix: &str,
) -> PyResult<String> {
    let (bytes, name) = source_bytes(model)?;
    let level = match level {
        "char" => Level::Char,
        "word" => Level::Word,
        other => return Err(err(format!("level {other:?}: \"char\" or \"word\""))),
    };
    let text =
        std::fs::read_to_string(&vocab).map_err(|e| err(format!("{}: {e}", vocab.display())))?;
    let vocab = read_vocabulary(&text).map_err(|e| err(format!("{}: {e}", vocab.display())))?;
    py.allow_threads(|| {
        let is_safetensors = bytes.len() > 8 && bytes[8] == b'{';
        let imported = if is_safetensors {
            from_safetensors(&bytes, prefix, vocab, level)
        } else {
            from_onnx(&bytes, vocab, level)
        }
        .map_err(|e| format!("{name}: {e}"))?;
        checkpoint::save(
            &output,
            &imported.model,
            &imported.vocab,
            None,
            &Default::default(),
            None,
        )
        .map_err(|e| e.to_string())?;
        Ok::<_, String>(imported.describe())
    })
    .map_err(err)
}

/// `evaluate(model, data, whole=False)`: the integer metric of an `.irnn`
/// language model on the test split of `data` (or every token of one file
/// with `whole`), as `irnn eval` computes it. Returns the dict of
/// [`LanguageModel.score`].
#[pyfunction]
#[pyo3(signature = (model, data, whole = false))]
fn evaluate<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    data: String,
    whole: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (bytes, name) = source_bytes(model)?;
    let (secs, sum) = py
        .allow_threads(|| -> Result<_, String> {
            let model = irnn_runtime::format::read_language_model(&bytes)
                .map_err(|e| format!("{name}: {e}"))?;
            let tokens = eval_tokens(
                &vocab_of(&model),
                level_of(&model),
                &data,
                whole,
                EVAL_BATCH,
            )
            .map_err(|e| e.to_string())?;
            let start = Instant::now();
            let sum = lm_evaluate(&model, Isa::detect(), &tokens, EVAL_BATCH)
                .map_err(|e| e.to_string())?;
            Ok((start.elapsed().as_secs_f64(), sum))
        })
        .map_err(err)?;
    metrics(py, &sum, secs)
}

/// A score as Python sees it: `tokens`, `nats_per_token`,
/// `bits_per_token`, `perplexity`, `tokens_per_second`.
fn metrics<'py>(py: Python<'py>, sum: &NllSum, secs: f64) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let nats = sum.mean();
    d.set_item("tokens", sum.tokens())?;
    d.set_item("nats_per_token", nats)?;
    d.set_item("bits_per_token", nats / std::f64::consts::LN_2)?;
    d.set_item("perplexity", nats.exp())?;
    d.set_item("tokens_per_second", sum.tokens() as f64 / secs)?;
    Ok(d)
}

/// `kernels()`: `(detected, [(name, available), …])` — the integer kernels
/// this CPU can run and the one every model uses.
#[pyfunction]
fn kernels() -> (&'static str, Vec<(&'static str, bool)>) {
    let all = Isa::ALL
        .iter()
        .map(|i| (i.name(), i.is_available()))
        .collect();
    (Isa::detect().name(), all)
}

#[pymodule]
fn _irnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("IrnnError", m.py().get_type::<IrnnError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<LanguageModel>()?;
    m.add_class::<SpeechModel>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(import_model, m)?)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    Ok(())
}
