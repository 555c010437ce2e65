//! Random but valid integer models, built without floats, for tests of the
//! model file and the streaming API. (Accuracy against a float reference is
//! tested in irnn-train, which converts real float models.)

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::{PackedMatrix, RowRequant, WeightBits};
use crate::layers::activation::Activation;
use crate::layers::{
    IntEmbedding, IntGruCell, IntLayerNorm, IntLstmCell, IntOutputLayer, QuantizedAdd, ResetMode,
};
use crate::model::{IntLanguageModel, RecurrentCell, StackedLayer};
use crate::pwl::PwlTable;
use crate::vocabulary::{TokenLevel, Vocabulary};

fn matrix(rng: &mut StdRng, rows: usize, cols: usize) -> PackedMatrix {
    let w: Vec<i8> = (0..rows * cols)
        .map(|_| rng.gen_range(-127..=127))
        .collect();
    PackedMatrix::from_row_major(rows, cols, &w).unwrap()
}

fn requant(rng: &mut StdRng, rows: usize) -> RowRequant {
    requant_for(rng, rows, 8)
}

/// Requantization of products of `input_bits`-bit inputs.
fn requant_for(rng: &mut StdRng, rows: usize, input_bits: u32) -> RowRequant {
    let bias = (0..rows).map(|_| rng.gen_range(-5000..5000)).collect();
    // Gate grids: a product of ~64 int8 terms mapped to a few thousand LSBs
    // (int16 inputs: 2^8 times smaller multipliers).
    let extra = input_bits as i32 - 8;
    let mults: Vec<QuantizedMultiplier> = (0..rows)
        .map(|_| QuantizedMultiplier {
            mantissa: rng.gen_range(1 << 30..i32::MAX),
            shift: rng.gen_range(-4..=-1) - extra,
        })
        .collect();
    RowRequant::new(bias, &mults, 0).unwrap()
}

/// A monotone S-shaped table through random knots: sigmoid-like when
/// `low` is 0, tanh-like when it is −32767.
fn s_curve(rng: &mut StdRng, low: i32) -> PwlTable {
    let mut knots: Vec<i32> = (0..6).map(|_| rng.gen_range(-20000..20000)).collect();
    knots.push(-30000);
    knots.push(30000);
    knots.sort_unstable();
    knots.dedup();
    let n = knots.len() as i32;
    let values = (0..n).map(|i| low + (32767 - low) * i / (n - 1)).collect();
    PwlTable::from_points(knots, values).unwrap()
}

fn norm(rng: &mut StdRng, len: usize) -> IntLayerNorm {
    IntLayerNorm::new(
        rng.gen_range(0..1000),
        (0..len)
            .map(|_| QuantizedMultiplier {
                mantissa: rng.gen_range(1 << 30..i32::MAX),
                shift: rng.gen_range(-10..=-6),
            })
            .collect(),
        (0..len).map(|_| rng.gen_bool(0.1)).collect(),
        (0..len).map(|_| rng.gen_range(-2000..2000)).collect(),
    )
    .unwrap()
}

fn h_multiplier() -> QuantizedMultiplier {
    // 2^−30 / (1/127): o·tanh(c) in [−1, 1] onto ±127.
    QuantizedMultiplier {
        mantissa: 127 << 23,
        shift: -22,
    }
}

pub(crate) fn lstm(
    rng: &mut StdRng,
    input: usize,
    hidden: usize,
    ln: bool,
    capped: bool,
) -> IntLstmCell {
    lstm_of::<i8>(rng, input, hidden, ln, capped)
}

/// [`lstm`] with activations of width `A` (int16: symmetric h grid, ±32767).
pub(crate) fn lstm_of<A: Activation>(
    rng: &mut StdRng,
    input: usize,
    hidden: usize,
    ln: bool,
    capped: bool,
) -> IntLstmCell<A> {
    let wide = A::BITS == 16;
    let cell = IntLstmCell {
        input,
        hidden,
        w_x: matrix(rng, 4 * hidden, input),
        w_h: matrix(rng, 4 * hidden, hidden),
        requant_x: requant_for(rng, 4 * hidden, A::BITS),
        requant_h: requant_for(rng, 4 * hidden, A::BITS),
        gate_norm: ln.then(|| core::array::from_fn(|_| norm(rng, hidden))),
        gate_activation: [
            s_curve(rng, 0),
            s_curve(rng, 0),
            s_curve(rng, -32767),
            s_curve(rng, 0),
        ],
        cell_fraction_bits: rng.gen_range(10..=13),
        capped_input_gate: capped,
        cell_norm: ln.then(|| norm(rng, hidden)),
        cell_tanh: s_curve(rng, -32767),
        // 2^−30 / (1/32767) for int16.
        output_multiplier: if wide {
            QuantizedMultiplier {
                mantissa: 32767 << 16,
                shift: -15,
            }
        } else {
            h_multiplier()
        },
        h_zero_point: if wide { 0 } else { rng.gen_range(-3..=3) },
        activation: core::marker::PhantomData,
    };
    cell.validate().unwrap();
    cell
}

pub(crate) fn gru(rng: &mut StdRng, input: usize, hidden: usize, reset: ResetMode) -> IntGruCell {
    let before = reset == ResetMode::Before;
    let cell = IntGruCell {
        input,
        hidden,
        reset,
        w_x: matrix(rng, 3 * hidden, input),
        w_h: matrix(rng, if before { 2 } else { 3 } * hidden, hidden),
        w_hn: before.then(|| matrix(rng, hidden, hidden)),
        requant_x: requant(rng, 3 * hidden),
        requant_h: requant(rng, 3 * hidden),
        gate_activation: [s_curve(rng, 0), s_curve(rng, 0), s_curve(rng, -32767)],
        h_to_q15: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: 9,
        },
        output_multiplier: h_multiplier(),
        h_zero_point: rng.gen_range(-3..=3),
    };
    cell.validate().unwrap();
    cell
}

/// A 4-layer model: LSTM, LSTM with LN and capped gate (residual), GRU
/// reset-after, GRU reset-before (residual).
pub(crate) fn random_language_model(seed: u64, vocab: usize, width: usize) -> IntLanguageModel {
    let mut rng = StdRng::seed_from_u64(seed);
    let table: Vec<i8> = (0..vocab * width).map(|_| rng.gen()).collect();
    let add = QuantizedAdd {
        multiplier_a: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: 0,
        },
        multiplier_b: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: 0,
        },
        zero_point_a: 1,
        zero_point_b: -1,
        zero_point_out: 0,
    };
    let layers = Vec::from([
        StackedLayer {
            cell: RecurrentCell::Lstm(Box::new(lstm(&mut rng, width, width, false, false))),
            residual: None,
        },
        StackedLayer {
            cell: RecurrentCell::Lstm(Box::new(lstm(&mut rng, width, width, true, true))),
            residual: Some(add),
        },
        StackedLayer {
            cell: RecurrentCell::Gru(Box::new(gru(&mut rng, width, width, ResetMode::After))),
            residual: None,
        },
        StackedLayer {
            cell: RecurrentCell::Gru(Box::new(gru(&mut rng, width, width, ResetMode::Before))),
            residual: Some(add),
        },
    ]);
    let model = IntLanguageModel {
        embedding: IntEmbedding::new(vocab, width, table).unwrap(),
        layers,
        output: IntOutputLayer {
            weights: matrix(&mut rng, vocab, width),
            bias: (0..vocab).map(|_| rng.gen_range(-1000..1000)).collect(),
            row_factors: None,
            logit_scale: QuantizedMultiplier {
                mantissa: 1 << 30,
                shift: -10,
            },
        },
        vocabulary: Vocabulary {
            level: TokenLevel::Word,
            tokens: (0..vocab).map(|i| alloc::format!("t{i}")).collect(),
        },
    };
    model.validate().unwrap();
    model
}

/// A 2-layer bidirectional CTC model (the top layer with LayerNorm) over
/// `mels` features (through a 2-channel convolution if `with_conv`)
/// stacked by `stack`, with three classes and an attention decoder.
/// [`random_language_model`] with every table at 4 bits: the recurrent
/// matrices (the 8-bit weights divided by 18, so −7 to 7), the output
/// layer (with row factors 1 to 3) and the embedding (factors 1 to 9 about
/// a zero point of −3).
pub(crate) fn random_four_bit_language_model(
    seed: u64,
    vocab: usize,
    width: usize,
) -> IntLanguageModel {
    let four = |m: &mut PackedMatrix| {
        let w: Vec<i8> = m.to_row_major().iter().map(|&w| w / 18).collect();
        *m = PackedMatrix::from_row_major_bits(WeightBits::Four, m.rows(), m.cols(), &w).unwrap();
    };
    let mut model = random_language_model(seed, vocab, width);
    let o = &mut model.output;
    four(&mut o.weights);
    o.row_factors = Some(
        (0..o.classes())
            .map(|r| 1 + r as i32 % 3)
            .collect::<Vec<_>>()
            .into(),
    );
    let e = &model.embedding;
    let (v, d) = (e.vocab(), e.dim());
    let codes: Vec<i8> = e.table().iter().map(|&x| x / 18).collect();
    let factors = (0..v).map(|t| 1 + t as i32 % 9).collect();
    model.embedding = IntEmbedding::from_four_bit(v, d, &codes, factors, -3).unwrap();
    model.validate().unwrap();
    for layer in &mut model.layers {
        match &mut layer.cell {
            RecurrentCell::Lstm(c) => {
                four(&mut c.w_x);
                four(&mut c.w_h);
            }
            RecurrentCell::Gru(c) => {
                four(&mut c.w_x);
                four(&mut c.w_h);
                if let Some(m) = &mut c.w_hn {
                    four(m);
                }
            }
        }
    }
    model
}

pub(crate) fn random_speech_model(
    seed: u64,
    stack: usize,
    mels: u32,
    hidden: usize,
    with_conv: bool,
) -> crate::speech::IntSpeechModel {
    speech_model(seed, stack, mels, hidden, with_conv, false, 8)
}

/// [`random_speech_model`] with 16-bit activations (and so no attention
/// decoder), bidirectional or forward-only.
pub(crate) fn random_wide_speech_model(
    seed: u64,
    stack: usize,
    mels: u32,
    hidden: usize,
    with_conv: bool,
    unidirectional: bool,
) -> crate::speech::IntSpeechModel {
    speech_model(seed, stack, mels, hidden, with_conv, unidirectional, 16)
}

/// The streaming shape of [`random_speech_model`]: forward-only layers, no
/// convolution, features normalised with fixed statistics.
pub(crate) fn random_streaming_model(
    seed: u64,
    stack: usize,
    mels: u32,
    hidden: usize,
) -> crate::speech::IntSpeechModel {
    speech_model(seed, stack, mels, hidden, false, true, 8)
}

fn speech_model(
    seed: u64,
    stack: usize,
    mels: u32,
    hidden: usize,
    with_conv: bool,
    unidirectional: bool,
    bits: u32,
) -> crate::speech::IntSpeechModel {
    use crate::speech::{EncoderLayers, FrontEnd, IntSpeechModel};
    let mut rng = StdRng::seed_from_u64(seed);
    let input_zero_point = rng.gen_range(-5..=5);
    let channels = 2;
    let conv = crate::layers::IntMelConv {
        mels: mels as usize,
        weights: (0..channels * 9)
            .map(|_| rng.gen_range(-127..=127))
            .collect(),
        bias: (0..channels).map(|_| rng.gen_range(-2000..2000)).collect(),
        multipliers: (0..channels)
            .map(|_| QuantizedMultiplier {
                mantissa: rng.gen_range(1 << 30..i32::MAX),
                shift: rng.gen_range(-8..=-5),
            })
            .collect(),
        input_zero_point,
        output_zero_point: -128,
    };
    let conv = with_conv.then_some(conv);
    let mut width = conv.as_ref().map_or(mels as usize, |c| c.output_dim()) * stack;
    let layers = match bits {
        16 => EncoderLayers::Int16(encoder_layers(&mut rng, &mut width, hidden, unidirectional)),
        _ => EncoderLayers::Int8(encoder_layers(&mut rng, &mut width, hidden, unidirectional)),
    };
    let classes = 3;
    let model = IntSpeechModel {
        front_end: FrontEnd {
            sample_rate: 8000,
            frame: 200,
            hop: 80,
            fft: 256,
            mels,
            low_hz: 20,
            range_db: 0,
            high_hz: 4000,
            norm: if unidirectional {
                crate::speech::FeatureNorm::Global {
                    mean: (0..mels as i32).map(|m| -300_000 + 9_000 * m).collect(),
                    inv_std: (0..mels as i32).map(|m| 20_000 + 700 * m).collect(),
                }
            } else {
                crate::speech::FeatureNorm::PerUtterance
            },
        },
        stack,
        input_scale: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: -3,
        },
        input_zero_point,
        conv,
        layers,
        output: IntOutputLayer {
            weights: matrix(&mut rng, classes, width),
            bias: (0..classes).map(|_| rng.gen_range(-3000..3000)).collect(),
            row_factors: None,
            logit_scale: QuantizedMultiplier {
                mantissa: 1 << 30,
                shift: -8,
            },
        },
        labels: ["<blank>", "a", "b"]
            .map(alloc::string::String::from)
            .to_vec(),
        separator: " ".into(),
        decoder: (bits == 8).then(|| random_decoder(&mut rng, width, hidden)),
    };
    model.validate().unwrap();
    model
}

/// Two encoder layers (plain, then LayerNorm) of width `A` reading
/// `width` values per step; `width` ends as the top's.
fn encoder_layers<A: Activation>(
    rng: &mut StdRng,
    width: &mut usize,
    hidden: usize,
    unidirectional: bool,
) -> Vec<crate::layers::IntEncoderLayer<A>> {
    let mut layers = Vec::new();
    for ln in [false, true] {
        let forward = lstm_of::<A>(rng, *width, hidden, ln, false);
        let mut backward = lstm_of::<A>(rng, *width, hidden, ln, false);
        backward.h_zero_point = forward.h_zero_point;
        let layer = crate::layers::IntEncoderLayer {
            forward,
            backward: (!unidirectional).then_some(backward),
        };
        *width = layer.output_width();
        layers.push(layer);
    }
    layers
}

/// An attention decoder over `memory`-wide encoder outputs: labels a, b,
/// end (2) and start (3).
fn random_decoder(
    rng: &mut StdRng,
    memory: usize,
    hidden: usize,
) -> crate::speech::IntAttentionDecoder {
    use crate::layers::{AttentionScore, IntAttention};
    let embedding_dim = 4;
    let cell = lstm(rng, embedding_dim, hidden, false, false);
    let a = 5;
    let mut exp_knots: Vec<i32> = (0..6).map(|_| rng.gen_range(-30000..-100)).collect();
    exp_knots.push(-32768);
    exp_knots.push(0);
    exp_knots.sort_unstable();
    exp_knots.dedup();
    let n = exp_knots.len() as i32;
    let exp_values = (0..n).map(|i| 32767 * i / (n - 1)).collect();
    let attention = IntAttention {
        score: AttentionScore::Additive {
            w_key: matrix(rng, a, memory),
            key_requant: requant(rng, a),
            w_query: matrix(rng, a, hidden),
            query_requant: requant(rng, a),
            tanh: s_curve(rng, -32767),
            v: (0..a).map(|_| rng.gen_range(-127..=127)).collect(),
        },
        memory_dim: memory,
        memory_zero_point: rng.gen_range(-3..=3),
        score_to_exp: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: -10,
        },
        exp: PwlTable::from_points(exp_knots, exp_values).unwrap(),
        context_multiplier: QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: -14,
        },
        context_zero_point: cell.h_zero_point,
    };
    let table: Vec<i8> = (0..4 * embedding_dim)
        .map(|_| rng.gen_range(-127..=127))
        .collect();
    crate::speech::IntAttentionDecoder {
        embedding: IntEmbedding::new(4, embedding_dim, table).unwrap(),
        output: IntOutputLayer {
            weights: matrix(rng, 3, hidden + memory),
            bias: (0..3).map(|_| rng.gen_range(-3000..3000)).collect(),
            row_factors: None,
            logit_scale: QuantizedMultiplier {
                mantissa: 1 << 30,
                shift: -8,
            },
        },
        cell,
        attention,
        start: 3,
        end: 2,
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::kernels::Isa;
    use crate::layers::{GruScratch, LstmScratch};

    fn inputs(rng: &mut StdRng, n: usize) -> Vec<i8> {
        (0..n).map(|_| rng.gen()).collect()
    }

    #[test]
    fn batched_steps_equal_single_stream_steps() {
        let mut rng = StdRng::seed_from_u64(41);
        let (input, hidden, batch) = (19, 24, 5);
        for (ln, capped) in [(false, false), (true, true)] {
            let cell = lstm(&mut rng, input, hidden, ln, capped);
            for isa in Isa::available() {
                let mut one: Vec<_> = (0..batch).map(|_| cell.zero_state()).collect();
                let mut many = one.clone();
                let (mut s1, mut s2) = (LstmScratch::default(), LstmScratch::default());
                for _ in 0..6 {
                    let xs = inputs(&mut rng, batch * input);
                    for (b, st) in one.iter_mut().enumerate() {
                        cell.step(isa, &xs[b * input..(b + 1) * input], st, &mut s1)
                            .unwrap();
                    }
                    cell.step_batch(isa, &xs, &mut many, &mut s2).unwrap();
                    assert_eq!(one, many, "LSTM ln={ln} {}", isa.name());
                }
                assert!(cell.step_batch(isa, &[0; 3], &mut many, &mut s2).is_err());
            }
        }
        for reset in [ResetMode::After, ResetMode::Before] {
            let cell = gru(&mut rng, input, hidden, reset);
            for isa in Isa::available() {
                let mut one: Vec<_> = (0..batch).map(|_| cell.zero_state()).collect();
                let mut many = one.clone();
                let (mut s1, mut s2) = (GruScratch::default(), GruScratch::default());
                for _ in 0..6 {
                    let xs = inputs(&mut rng, batch * input);
                    for (b, st) in one.iter_mut().enumerate() {
                        cell.step(isa, &xs[b * input..(b + 1) * input], st, &mut s1)
                            .unwrap();
                    }
                    cell.step_batch(isa, &xs, &mut many, &mut s2).unwrap();
                    assert_eq!(one, many, "GRU {reset:?} {}", isa.name());
                }
                // The state really moves.
                assert_ne!(many[0], cell.zero_state());
            }
        }
    }

    #[test]
    fn sequences_with_the_input_product_hoisted_equal_single_steps() {
        let mut rng = StdRng::seed_from_u64(43);
        // 150 steps: three chunks of the batched input product, the last partial.
        let (input, hidden, steps) = (21, 18, 150);
        let xs = inputs(&mut rng, steps * input);
        let lstms = [
            lstm(&mut rng, input, hidden, false, false),
            lstm(&mut rng, input, hidden, true, true),
        ];
        let grus = [
            gru(&mut rng, input, hidden, ResetMode::After),
            gru(&mut rng, input, hidden, ResetMode::Before),
        ];
        for isa in Isa::available() {
            for reverse in [false, true] {
                let order: Vec<usize> = if reverse {
                    (0..steps).rev().collect()
                } else {
                    (0..steps).collect()
                };
                for cell in &lstms {
                    let (mut one, mut s1) = (cell.zero_state(), LstmScratch::default());
                    let mut want = vec![0i8; steps * hidden];
                    for &t in &order {
                        cell.step(isa, &xs[t * input..(t + 1) * input], &mut one, &mut s1)
                            .unwrap();
                        want[t * hidden..(t + 1) * hidden].copy_from_slice(&one.h);
                    }
                    let (mut seq, mut s2) = (cell.zero_state(), LstmScratch::default());
                    let mut got = vec![0i8; steps * hidden];
                    cell.run_sequence(isa, &xs, reverse, &mut seq, &mut s2, &mut |t, h| {
                        got[t * hidden..(t + 1) * hidden].copy_from_slice(h)
                    })
                    .unwrap();
                    assert_eq!(got, want, "LSTM {} reverse {reverse}", isa.name());
                    // Not degenerate: h moves from step to step.
                    assert_ne!(want[..hidden], want[75 * hidden..76 * hidden]);
                    assert_eq!(seq, one);
                    assert!(cell
                        .run_sequence(isa, &xs[1..], reverse, &mut seq, &mut s2, &mut |_, _| {})
                        .is_err());
                }
                for cell in &grus {
                    let (mut one, mut s1) = (cell.zero_state(), GruScratch::default());
                    let mut want = vec![0i8; steps * hidden];
                    for &t in &order {
                        cell.step(isa, &xs[t * input..(t + 1) * input], &mut one, &mut s1)
                            .unwrap();
                        want[t * hidden..(t + 1) * hidden].copy_from_slice(&one.h);
                    }
                    let (mut seq, mut s2) = (cell.zero_state(), GruScratch::default());
                    let mut got = vec![0i8; steps * hidden];
                    cell.run_sequence(isa, &xs, reverse, &mut seq, &mut s2, &mut |t, h| {
                        got[t * hidden..(t + 1) * hidden].copy_from_slice(h)
                    })
                    .unwrap();
                    assert_eq!(got, want, "GRU {} reverse {reverse}", isa.name());
                    assert_ne!(want[..hidden], want[75 * hidden..76 * hidden]);
                    assert_eq!(seq, one);
                }
            }
        }
    }
}
