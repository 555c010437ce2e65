//! The speech encoder's layers at the model's activation width: int8 (every
//! model's default) or int16 (TFLite's 16×8 mode: 16-bit inputs and h,
//! 8-bit weights), and the buffers that run them.
//!
//! Why the width is chosen once for the whole stack: both directions of a
//! layer share one h grid and each layer reads the one below as it is, so
//! a mixed stack would need a requantization between layers that neither
//! width needs alone. The stacked feature frames (or the convolution's
//! outputs) stay int8 either way: a 16-bit first layer reads them widened
//! exactly, `q − z` on the same scale (int16 grids are symmetric), so the
//! feature API and the front end are the same for both widths.

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::kernels::Isa;
use crate::layers::{Activation, IntEncoderLayer, IntOutputLayer, LstmScratch, LstmState};

/// The encoder's layers, bottom first, all of one activation width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderLayers {
    /// int8 inputs and h.
    Int8(Vec<IntEncoderLayer<i8>>),
    /// int16 inputs and h (symmetric grids); the first layer reads the
    /// int8 frames widened (`q − z`).
    Int16(Vec<IntEncoderLayer<i16>>),
}

impl Default for EncoderLayers {
    fn default() -> Self {
        EncoderLayers::Int8(Vec::new())
    }
}

impl From<Vec<IntEncoderLayer<i8>>> for EncoderLayers {
    fn from(layers: Vec<IntEncoderLayer<i8>>) -> Self {
        EncoderLayers::Int8(layers)
    }
}

impl From<Vec<IntEncoderLayer<i16>>> for EncoderLayers {
    fn from(layers: Vec<IntEncoderLayer<i16>>) -> Self {
        EncoderLayers::Int16(layers)
    }
}

/// The encoder's outputs of one utterance or chunk (`steps × width`), of
/// the model's activation width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded<'a> {
    /// int8 outputs.
    Int8(&'a [i8]),
    /// int16 outputs.
    Int16(&'a [i16]),
}

impl<'a> Encoded<'a> {
    /// The values as width `A`: an error naming both widths if they are
    /// the other.
    pub fn as_width<A: EncoderWidth>(self) -> Result<&'a [A], Error> {
        A::values(self).ok_or(Error::InvalidParameter {
            what: match A::BITS {
                8 => "int8 encoder outputs were asked of a model with 16-bit activations",
                _ => "int16 encoder outputs were asked of a model with 8-bit activations",
            },
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Encoded::Int8(x) => x.len(),
            Encoded::Int16(x) => x.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The output layer's int32 scores of every step into `logits`
    /// (resized to `steps × classes`).
    pub(crate) fn logits_into(
        self,
        output: &IntOutputLayer,
        isa: Isa,
        logits: &mut Vec<i32>,
    ) -> Result<(), Error> {
        match self {
            Encoded::Int8(x) => step_logits(output, isa, x, logits),
            Encoded::Int16(x) => step_logits(output, isa, x, logits),
        }
    }
}

/// `output`'s scores of each `width`-value row of `x`.
fn step_logits<A: Activation>(
    output: &IntOutputLayer,
    isa: Isa,
    x: &[A],
    logits: &mut Vec<i32>,
) -> Result<(), Error> {
    let width = output.weights.cols();
    if width == 0 || x.is_empty() || !x.len().is_multiple_of(width) {
        return Err(Error::ShapeMismatch {
            what: "encoder outputs (a whole, non-zero number of steps)",
            expected: width,
            found: x.len(),
        });
    }
    let classes = output.classes();
    logits.clear();
    logits.resize(x.len() / width * classes, 0);
    for (row, out) in x.chunks_exact(width).zip(logits.chunks_exact_mut(classes)) {
        output.logits(isa, row, out)?;
    }
    Ok(())
}

/// An activation width an encoder can run at.
pub trait EncoderWidth: Activation {
    /// An int8 frame value `q` of a grid with zero point `zero_point`, on
    /// this width's input grid of the same scale: `q` itself for int8,
    /// `q − zero_point` for int16 (exact: |q − z| ≤ 255).
    fn from_frame(q: i8, zero_point: i32) -> Self;

    /// Outputs of this width.
    fn encoded(x: &[Self]) -> Encoded<'_>;

    /// The values of `e` if they are of this width.
    fn values(e: Encoded<'_>) -> Option<&[Self]>;
}

impl EncoderWidth for i8 {
    fn from_frame(q: i8, _zero_point: i32) -> Self {
        q
    }

    fn encoded(x: &[i8]) -> Encoded<'_> {
        Encoded::Int8(x)
    }

    fn values(e: Encoded<'_>) -> Option<&[i8]> {
        match e {
            Encoded::Int8(x) => Some(x),
            Encoded::Int16(_) => None,
        }
    }
}

impl EncoderWidth for i16 {
    fn from_frame(q: i8, zero_point: i32) -> Self {
        (q as i32 - zero_point) as i16
    }

    fn encoded(x: &[i16]) -> Encoded<'_> {
        Encoded::Int16(x)
    }

    fn values(e: Encoded<'_>) -> Option<&[i16]> {
        match e {
            Encoded::Int16(x) => Some(x),
            Encoded::Int8(_) => None,
        }
    }
}

/// The buffers of one width: the values between layers, the cells'
/// scratch, and the state (one per layer when a stream carries them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Buffers<A: Activation> {
    x: Vec<A>,
    y: Vec<A>,
    lstm: LstmScratch<A>,
    state: LstmState<A>,
    carried: Vec<LstmState<A>>,
}

impl<A: EncoderWidth> Buffers<A> {
    fn reset_carried(&mut self, layers: &[IntEncoderLayer<A>]) {
        self.carried.resize_with(layers.len(), LstmState::default);
        for (layer, state) in layers.iter().zip(&mut self.carried) {
            layer.forward.reset_state(state);
        }
    }

    /// Runs `layers` over the stacked int8 `frames` (grid zero point
    /// `zero_point`); the outputs are left in `x`. With `carry`, each
    /// layer's forward direction continues from its carried state (a
    /// stream's chunks, unidirectional layers only; set up by
    /// [`reset_carried`](Self::reset_carried)), otherwise every layer
    /// starts from its zero state.
    fn run(
        &mut self,
        layers: &[IntEncoderLayer<A>],
        isa: Isa,
        frames: &[i8],
        zero_point: i32,
        carry: bool,
    ) -> Result<(), Error> {
        let Buffers {
            x,
            y,
            lstm,
            state,
            carried,
        } = self;
        x.clear();
        x.extend(frames.iter().map(|&q| A::from_frame(q, zero_point)));
        for (l, layer) in layers.iter().enumerate() {
            let steps = x.len() / layer.input().max(1);
            y.clear();
            y.resize(steps * layer.output_width(), A::default());
            if carry {
                let state = carried.get_mut(l).ok_or(Error::InvalidParameter {
                    what: "a stream's carried states do not match its encoder",
                })?;
                layer.run_from(isa, x, y, lstm, state)?;
            } else {
                layer.run_with(isa, x, y, lstm, state)?;
            }
            core::mem::swap(x, y);
        }
        Ok(())
    }
}

/// The encoder's buffers for either width, owned by a scratch or a stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct EncoderScratch {
    int8: Buffers<i8>,
    int16: Buffers<i16>,
}

impl EncoderScratch {
    /// Runs `layers` over the stacked int8 `frames` ([`Buffers::run`]).
    pub(crate) fn run(
        &mut self,
        layers: &EncoderLayers,
        isa: Isa,
        frames: &[i8],
        zero_point: i32,
        carry: bool,
    ) -> Result<(), Error> {
        match layers {
            EncoderLayers::Int8(l) => self.int8.run(l, isa, frames, zero_point, carry),
            EncoderLayers::Int16(l) => self.int16.run(l, isa, frames, zero_point, carry),
        }
    }

    /// The outputs of the last run of `layers`.
    pub(crate) fn output(&self, layers: &EncoderLayers) -> Encoded<'_> {
        match layers {
            EncoderLayers::Int8(_) => Encoded::Int8(&self.int8.x),
            EncoderLayers::Int16(_) => Encoded::Int16(&self.int16.x),
        }
    }

    /// Sets the carried states of `layers` to their zero states, in place
    /// (a stream's next utterance).
    pub(crate) fn reset_carried(&mut self, layers: &EncoderLayers) {
        match layers {
            EncoderLayers::Int8(l) => self.int8.reset_carried(l),
            EncoderLayers::Int16(l) => self.int16.reset_carried(l),
        }
    }
}

impl EncoderLayers {
    /// Number of layers.
    pub fn len(&self) -> usize {
        match self {
            EncoderLayers::Int8(l) => l.len(),
            EncoderLayers::Int16(l) => l.len(),
        }
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bits per activation: 8 or 16.
    pub fn activation_bits(&self) -> u32 {
        match self {
            EncoderLayers::Int8(_) => 8,
            EncoderLayers::Int16(_) => 16,
        }
    }

    /// Whether every layer reads the past only.
    pub fn is_unidirectional(&self) -> bool {
        match self {
            EncoderLayers::Int8(l) => l.iter().all(|l| l.backward.is_none()),
            EncoderLayers::Int16(l) => l.iter().all(|l| l.backward.is_none()),
        }
    }

    /// Checks each layer and that each reads what the one below writes,
    /// starting from `width` values per step; returns the top's width.
    pub fn validate(&self, width: usize) -> Result<usize, Error> {
        match self {
            EncoderLayers::Int8(l) => validate_stack(l, width),
            EncoderLayers::Int16(l) => validate_stack(l, width),
        }
    }
}

fn validate_stack<A: Activation>(
    layers: &[IntEncoderLayer<A>],
    mut width: usize,
) -> Result<usize, Error> {
    for layer in layers {
        layer.validate()?;
        check_len("encoder layer input", width, layer.input())?;
        width = layer.output_width();
    }
    Ok(width)
}
