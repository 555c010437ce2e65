//! GPTQ rounding of a language model's recurrent matrices
//! ([`crate::quant::gptq`]): the float model runs over calibration tokens,
//! each layer's inputs `[x; h]` give a Gram matrix, and every weight row of
//! W_x and W_h is rounded onto the grid the export will use (its searched
//! scale at the recurrent tables' width), compensating along the inputs.
//! The model's float weights are replaced by the rounded ones, so PTQ
//! exports exactly them and QAT starts from them.
//!
//! An LSTM's gates see `W_x x + W_h h` as one sum, so its two matrices are
//! rounded as one `[W_x | W_h]` over the joint inputs; a GRU's candidate
//! gate scales `W_h h` by the reset gate, so there each matrix is rounded
//! over its own inputs.

use crate::lm::calibrate::{over_streams, run_reference};
use crate::lm::{LanguageModel, Rnn};
use crate::quant::cells::{quantize_rows_at, row_scale};
use crate::quant::gptq::{gptq_round, mean_output_error, GptqError, Gram};
use irnn_runtime::kernels::WeightBits;

/// What rounding one layer did: the mean squared error of its gate
/// pre-activations over the calibration inputs, per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerRounding {
    /// Rounding every weight to its nearest grid point.
    pub nearest: f64,
    /// GPTQ.
    pub gptq: f64,
    /// Rows left at their nearest rounding because GPTQ's would not keep
    /// the row's scale (the export searches it again from the rounded
    /// values; when the compensation pulls the largest weight below the
    /// top level, that search would choose another grid).
    pub reverted: usize,
}

/// Whether the export's scale search ([`row_scale`]) finds `s` again in the
/// rounded row `v`, so the export reproduces `v`.
fn keeps_scale(v: &[f64], s: f64, bits: WeightBits) -> bool {
    (row_scale(v, bits) - s).abs() <= 1e-9 * s
}

/// The Gram matrix of each recurrent layer's inputs `[x; h_before]` over
/// `tokens` (cut into independent streams as calibration cuts them).
pub fn input_grams(model: &LanguageModel<f32>, tokens: &[u32]) -> Vec<Gram> {
    let dims: Vec<usize> = model
        .rnns
        .iter()
        .map(|r| match r {
            Rnn::Lstm(c) => c.input + c.hidden,
            Rnn::Gru(c) => c.input + c.hidden,
        })
        .collect();
    let parts = over_streams(tokens, |part| {
        let mut grams: Vec<Gram> = dims.iter().map(|&d| Gram::new(d)).collect();
        let mut z = Vec::new();
        run_reference(model, part, |l, step| {
            z.clear();
            z.extend_from_slice(step.x);
            z.extend_from_slice(step.h_before);
            grams[l].add(&z);
        });
        grams
    });
    let mut all: Vec<Gram> = dims.iter().map(|&d| Gram::new(d)).collect();
    for part in &parts {
        for (a, p) in all.iter_mut().zip(part) {
            a.merge(p);
        }
    }
    all
}

/// Rounds every recurrent matrix of `model` by GPTQ at `bits`, over the
/// inputs the float model sees on `tokens`, and writes the rounded values
/// into its float weights. Returns each layer's error before and after.
pub fn round_recurrent_weights(
    model: &mut LanguageModel<f32>,
    tokens: &[u32],
    bits: WeightBits,
) -> Result<Vec<LayerRounding>, GptqError> {
    let grams = input_grams(model, tokens);
    let top = bits.max_symmetric() as i32;
    let mut report = Vec::with_capacity(grams.len());
    for (rnn, gram) in model.rnns.iter_mut().zip(&grams) {
        let (joint, w, input, hidden) = match rnn {
            Rnn::Lstm(c) => (true, &mut c.weights, c.input, c.hidden),
            Rnn::Gru(c) => (false, &mut c.weights, c.input, c.hidden),
        };
        let rows = w.w_hh.value.len() / hidden.max(1);
        let wx: Vec<f64> = w.w_ih.value.iter().map(|&v| v as f64).collect();
        let wh: Vec<f64> = w.w_hh.value.iter().map(|&v| v as f64).collect();
        let scales = |m: &[f64], cols: usize| -> Vec<f64> {
            m.chunks(cols.max(1))
                .map(|row| row_scale(row, bits))
                .collect()
        };
        let (sx, sh) = (scales(&wx, input), scales(&wh, hidden));
        // Nearest rounding, as the export does it, back in real values.
        let nearest = |m: &[f64], cols: usize, s: &[f64]| -> Vec<f64> {
            let q = quantize_rows_at(m, cols, bits, s);
            q.iter()
                .enumerate()
                .map(|(i, &q)| q as f64 * s[i / cols.max(1)])
                .collect()
        };
        let (qx, qh, rounding) = if joint {
            let cols = input + hidden;
            let cat = |a: &[f64], b: &[f64]| -> Vec<f64> {
                (0..rows)
                    .flat_map(|r| {
                        a[r * input..(r + 1) * input]
                            .iter()
                            .chain(&b[r * hidden..(r + 1) * hidden])
                            .copied()
                    })
                    .collect()
            };
            let full = cat(&wx, &wh);
            let mut q = gptq_round(&full, rows, cols, gram, top, |r, c| {
                if c < input {
                    sx[r]
                } else {
                    sh[r]
                }
            })?;
            let rtn = cat(&nearest(&wx, input, &sx), &nearest(&wh, hidden, &sh));
            let mut reverted = 0;
            for r in 0..rows {
                let row = &q[r * cols..(r + 1) * cols];
                if !keeps_scale(&row[..input], sx[r], bits)
                    || !keeps_scale(&row[input..], sh[r], bits)
                {
                    q[r * cols..(r + 1) * cols].copy_from_slice(&rtn[r * cols..(r + 1) * cols]);
                    reverted += 1;
                }
            }
            let rounding = LayerRounding {
                nearest: mean_output_error(&full, &rtn, rows, cols, gram),
                gptq: mean_output_error(&full, &q, rows, cols, gram),
                reverted,
            };
            let split = |from: usize, width: usize| -> Vec<f64> {
                q.chunks(cols)
                    .flat_map(|row| row[from..from + width].iter().copied())
                    .collect()
            };
            (split(0, input), split(input, hidden), rounding)
        } else {
            let (gx, gh) = (gram.block(0..input), gram.block(input..input + hidden));
            let mut reverted = 0;
            let mut round = |m: &[f64], cols: usize, g: &Gram, s: &[f64]| {
                let mut q = gptq_round(m, rows, cols, g, top, |r, _| s[r])?;
                let rtn = nearest(m, cols, s);
                for r in 0..rows {
                    if !keeps_scale(&q[r * cols..(r + 1) * cols], s[r], bits) {
                        q[r * cols..(r + 1) * cols].copy_from_slice(&rtn[r * cols..(r + 1) * cols]);
                        reverted += 1;
                    }
                }
                Ok::<_, GptqError>((q, rtn))
            };
            let (qx, rx) = round(&wx, input, &gx, &sx)?;
            let (qh, rh) = round(&wh, hidden, &gh, &sh)?;
            let error = |q: &[f64], h: &[f64]| {
                mean_output_error(&wx, q, rows, input, &gx)
                    + mean_output_error(&wh, h, rows, hidden, &gh)
            };
            let rounding = LayerRounding {
                nearest: error(&rx, &rh),
                gptq: error(&qx, &qh),
                reverted,
            };
            (qx, qh, rounding)
        };
        for (dst, src) in w.w_ih.value.iter_mut().zip(&qx) {
            *dst = *src as f32;
        }
        for (dst, src) in w.w_hh.value.iter_mut().zip(&qh) {
            *dst = *src as f32;
        }
        report.push(rounding);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{CellKind, LmConfig};
    use crate::nn::rng::TrainRng;
    use crate::quant::cells::quantize_rows_bits;

    fn model(cell: CellKind) -> LanguageModel<f32> {
        let config = LmConfig {
            vocab: 12,
            hidden: 16,
            embedding: 8,
            ..crate::lm::model::tests::config(cell)
        };
        LanguageModel::new(config, &mut TrainRng::seed(7))
    }

    fn tokens() -> Vec<u32> {
        (0..600u32).map(|i| (i * 7 + i / 5) % 12).collect()
    }

    #[test]
    fn the_inputs_seen_do_not_depend_on_the_thread_count() {
        // Over two streams' worth of tokens every step's input enters the
        // sums, so a split that followed the thread count would change
        // them (where the second stream starts from a zero state).
        let m = model(CellKind::Lstm);
        let tokens: Vec<u32> = (0..crate::lm::calibrate::TOKENS_PER_STREAM as u32 + 500)
            .map(|i| (i * 7 + i / 5) % 12)
            .collect();
        let with = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| input_grams(&m, &tokens))
        };
        assert_eq!(with(1), with(3));
    }

    #[test]
    fn rounded_weights_stay_on_the_grid_the_export_searches() {
        for cell in [CellKind::Lstm, CellKind::Gru] {
            let mut m = model(cell);
            let report = round_recurrent_weights(&mut m, &tokens(), WeightBits::Four).unwrap();
            assert_eq!(report.len(), 2);
            for r in &report {
                assert!(r.reverted < 16, "{cell:?}: {} rows reverted", r.reverted);
                assert!(
                    r.gptq <= r.nearest * (1.0 + 1e-9),
                    "{cell:?}: GPTQ {} above nearest {}",
                    r.gptq,
                    r.nearest
                );
            }
            for rnn in &m.rnns {
                let (w, input, hidden) = match rnn {
                    Rnn::Lstm(c) => (&c.weights, c.input, c.hidden),
                    Rnn::Gru(c) => (&c.weights, c.input, c.hidden),
                };
                for (p, cols) in [(&w.w_ih, input), (&w.w_hh, hidden)] {
                    let v: Vec<f64> = p.value.iter().map(|&x| x as f64).collect();
                    let rows = v.len() / cols;
                    // The export searches each row's scale again: rounding
                    // the rounded matrix must give back its own values.
                    let (q, s) = quantize_rows_bits(&v, rows, cols, WeightBits::Four);
                    let mut moved = 0;
                    for r in 0..rows {
                        let back: Vec<f64> =
                            (0..cols).map(|c| q[r * cols + c] as f64 * s[r]).collect();
                        if back
                            .iter()
                            .zip(&v[r * cols..(r + 1) * cols])
                            .any(|(a, b)| (a - b).abs() > 1e-6 * b.abs().max(1e-6))
                        {
                            moved += 1;
                        }
                    }
                    assert_eq!(moved, 0, "{cell:?}: {moved} of {rows} rows moved");
                }
            }
        }
    }
}
