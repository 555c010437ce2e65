//! The speech model (model kind 2): front end, feature grid, optional
//! convolution, encoder LSTM layers, CTC output and labels, transcript
//! separator (version 5 on), features' normalisation (version 7 on),
//! optional attention decoder; the encoder's activation bits (version 11
//! on).

use alloc::vec::Vec;

use super::codec::{invalid, Reader, Writer};
use super::{holds, FormatError, Layout, Needs};
use crate::layers::IntEmbedding;
use crate::layers::{Activation, IntEncoderLayer};
use crate::speech::{EncoderLayers, FeatureNorm, FrontEnd, IntAttentionDecoder, IntSpeechModel};

/// Serialises a speech model to the bytes of a `.irnn` file (the compact
/// layout).
pub fn write_speech_model(model: &IntSpeechModel) -> Vec<u8> {
    write_speech_model_as(model, Layout::Compact)
}

/// Serialises a speech model in `layout`.
pub fn write_speech_model_as(model: &IntSpeechModel, layout: Layout) -> Vec<u8> {
    super::write_for_needs(layout, needs(model), |w, needs| {
        write_payload(w, model, needs)
    })
}

fn write_payload(w: &mut Writer, model: &IntSpeechModel, needs: Needs) {
    w.u8(2); // model kind: CTC speech model
    let f = &model.front_end;
    for v in [
        f.sample_rate,
        f.frame,
        f.hop,
        f.fft,
        f.mels,
        f.low_hz,
        f.high_hz,
        f.range_db,
    ] {
        w.u32(v);
    }
    w.u32(model.stack as u32);
    w.multiplier(model.input_scale);
    w.i32(model.input_zero_point);
    match &model.conv {
        None => w.u8(0),
        Some(c) => {
            w.u8(1);
            w.conv(c);
        }
    }
    if needs >= Needs::ActivationBits {
        w.u8(model.layers.activation_bits() as u8);
    }
    match &model.layers {
        EncoderLayers::Int8(l) => write_layers(w, l, needs),
        EncoderLayers::Int16(l) => write_layers(w, l, needs),
    }
    w.output(&model.output);
    w.strings(&model.labels);
    if needs >= Needs::Separator {
        w.string(&model.separator);
    }
    if needs >= Needs::Streaming {
        match &f.norm {
            FeatureNorm::PerUtterance => w.u8(0),
            FeatureNorm::Global { mean, inv_std } => {
                w.u8(1);
                w.tensor_i32(&[mean.len() as u32], mean);
                w.tensor_i32(&[inv_std.len() as u32], inv_std);
            }
        }
    }
    match &model.decoder {
        None => w.u8(0),
        Some(d) => {
            w.u8(1);
            let e = &d.embedding;
            w.tensor_i8(&[e.vocab() as u32, e.dim() as u32], e.table());
            w.u32(d.start);
            w.u32(d.end);
            w.lstm(&d.cell);
            w.attention(&d.attention);
            w.output(&d.output);
        }
    }
}

fn write_layers<A: Activation>(w: &mut Writer, layers: &[IntEncoderLayer<A>], needs: Needs) {
    w.u32(layers.len() as u32);
    for layer in layers {
        if needs >= Needs::Streaming {
            w.u8(layer.directions() as u8);
        }
        w.lstm(&layer.forward);
        if let Some(backward) = &layer.backward {
            w.lstm(backward);
        }
    }
}

/// What `model` needs of the format: a space between labels is what
/// version 3 means, and every layer bidirectional with per-utterance
/// normalisation and 8-bit activations; anything else needs a later
/// version (so the files of models that need nothing new stay readable by
/// older builds).
fn needs(model: &IntSpeechModel) -> Needs {
    let bidirectional = match &model.layers {
        EncoderLayers::Int8(l) => l.iter().all(|l| l.backward.is_some()),
        EncoderLayers::Int16(l) => l.iter().all(|l| l.backward.is_some()),
    };
    if model.layers.activation_bits() != 8 {
        Needs::ActivationBits
    } else if !bidirectional || model.front_end.norm != FeatureNorm::PerUtterance {
        Needs::Streaming
    } else if model.separator != " " {
        Needs::Separator
    } else {
        Needs::Base
    }
}

impl Reader<'_> {
    fn encoder_layers<A: Activation>(
        &mut self,
        version: u32,
    ) -> Result<Vec<IntEncoderLayer<A>>, FormatError> {
        let count = self.layer_count()?;
        let mut layers = Vec::new();
        for _ in 0..count {
            let directions = if holds(version, Needs::Streaming) {
                self.u8("encoder layer directions")?
            } else {
                2
            };
            let forward = self.lstm()?;
            let backward = match directions {
                1 => None,
                2 => Some(self.lstm()?),
                d => {
                    return Err(invalid(alloc::format!(
                        "encoder layer directions {d} (must be 1 or 2)"
                    )))
                }
            };
            layers.push(IntEncoderLayer { forward, backward });
        }
        Ok(layers)
    }

    pub(in crate::format) fn speech_model(
        &mut self,
        version: u32,
    ) -> Result<IntSpeechModel, FormatError> {
        let mut f = [0u32; 8];
        let fields = if version >= 3 { 8 } else { 7 };
        for v in &mut f[..fields] {
            *v = self.u32("front end")?;
        }
        let mut front_end = FrontEnd {
            sample_rate: f[0],
            frame: f[1],
            hop: f[2],
            fft: f[3],
            mels: self.checked_dim("mel filters", f[4])?,
            low_hz: f[5],
            high_hz: f[6],
            range_db: f[7],
            norm: FeatureNorm::PerUtterance,
        };
        let stack = self.dim("frame stack")?;
        let input_scale = self.multiplier("feature scale")?;
        let input_zero_point = self.i32("feature zero point")?;
        let conv = match self.u8("convolution flag")? {
            0 => None,
            1 => Some(self.conv(input_zero_point)?),
            f => {
                return Err(invalid(alloc::format!(
                    "convolution flag {f} (must be 0 or 1)"
                )))
            }
        };
        let bits = if holds(version, Needs::ActivationBits) {
            self.u8("encoder activation bits")?
        } else {
            8
        };
        let layers = match bits {
            8 => EncoderLayers::Int8(self.encoder_layers(version)?),
            16 => EncoderLayers::Int16(self.encoder_layers(version)?),
            b => {
                return Err(invalid(alloc::format!(
                    "encoder activation bits {b} (must be 8 or 16)"
                )))
            }
        };
        let output = self.output()?;
        let labels = self.strings("class labels", output.classes())?;
        let separator = if holds(version, Needs::Separator) {
            self.string("transcript separator")?
        } else {
            " ".into()
        };
        if holds(version, Needs::Streaming) {
            front_end.norm = match self.u8("feature normalisation")? {
                0 => FeatureNorm::PerUtterance,
                1 => {
                    let mels = front_end.mels;
                    FeatureNorm::Global {
                        mean: self.i32s("normalisation means", &[mels])?,
                        inv_std: self.i32s("normalisation scales", &[mels])?,
                    }
                }
                n => {
                    return Err(invalid(alloc::format!(
                        "feature normalisation {n} (must be 0 or 1)"
                    )))
                }
            };
        }
        let decoder = match self.u8("decoder flag")? {
            0 => None,
            1 => {
                let (dims, table) = self.i8_slab("decoder embedding", &[0, 0])?;
                let embedding = IntEmbedding::new(dims[0] as usize, dims[1] as usize, table)?;
                Some(IntAttentionDecoder {
                    embedding,
                    start: self.u32("decoder start label")?,
                    end: self.u32("decoder end class")?,
                    cell: self.lstm()?,
                    attention: self.attention()?,
                    output: self.output()?,
                })
            }
            f => return Err(invalid(alloc::format!("decoder flag {f} (must be 0 or 1)"))),
        };
        Ok(IntSpeechModel {
            conv,
            decoder,
            front_end,
            stack: stack as usize,
            input_scale,
            input_zero_point,
            layers,
            output,
            labels,
            separator,
        })
    }
}
