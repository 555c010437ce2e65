//! The speech model (model kind 2): front end, feature grid, optional
//! convolution, bidirectional LSTM layers, CTC output and labels, optional
//! attention decoder.

use alloc::vec::Vec;

use super::codec::{invalid, Reader, Writer};
use super::framing::frame;
use super::{FormatError, Layout};
use crate::layers::{IntBiLstm, IntEmbedding};
use crate::speech::{FrontEnd, IntAttentionDecoder, IntSpeechModel};

/// Serialises a speech model to the bytes of a `.irnn` file (the compact
/// layout).
pub fn write_speech_model(model: &IntSpeechModel) -> Vec<u8> {
    write_speech_model_as(model, Layout::Compact)
}

/// Serialises a speech model in `layout`.
pub fn write_speech_model_as(model: &IntSpeechModel, layout: Layout) -> Vec<u8> {
    let mut w = Writer::new(layout);
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
    w.u32(model.layers.len() as u32);
    for layer in &model.layers {
        w.lstm(&layer.forward);
        w.lstm(&layer.backward);
    }
    w.output(&model.output);
    w.strings(&model.labels);
    // A space between labels is what version 3 means; any other separator
    // needs version 5 (so word models stay readable by older builds).
    let separator = model.separator != " ";
    if separator {
        w.string(&model.separator);
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
    frame(w.bytes, super::version_for(layout, separator))
}

impl Reader<'_> {
    pub(in crate::format) fn speech_model(
        &mut self,
        version: u32,
    ) -> Result<IntSpeechModel, FormatError> {
        let mut f = [0u32; 8];
        let fields = if version >= 3 { 8 } else { 7 };
        for v in &mut f[..fields] {
            *v = self.u32("front end")?;
        }
        let front_end = FrontEnd {
            sample_rate: f[0],
            frame: f[1],
            hop: f[2],
            fft: f[3],
            mels: self.checked_dim("mel filters", f[4])?,
            low_hz: f[5],
            high_hz: f[6],
            range_db: f[7],
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
        let count = self.layer_count()?;
        let mut layers = Vec::new();
        for _ in 0..count {
            layers.push(IntBiLstm {
                forward: self.lstm()?,
                backward: self.lstm()?,
            });
        }
        let output = self.output()?;
        let labels = self.strings("class labels", output.classes())?;
        let separator = if version >= super::SEPARATOR_VERSION {
            self.string("transcript separator")?
        } else {
            " ".into()
        };
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
