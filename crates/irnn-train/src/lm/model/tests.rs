//! Central finite differences in f64 against every backward pass: each
//! parameter tensor of every layer kind (embedding, LSTM plain and capped,
//! GRU with both resets, residual connections, dropout with fixed masks,
//! linear decoder with softmax cross-entropy) and, through the embedding
//! gradient, every layer's input gradient.

use super::*;
use crate::nn::gradcheck::check_params;
use crate::nn::rng::TrainRng;

/// A small plain configuration of `cell` (other tests adjust its sizes).
pub(crate) fn config(cell: CellKind) -> LmConfig {
    LmConfig {
        level: Level::Word,
        vocab: 7,
        cell,
        layers: 2,
        hidden: 5,
        embedding: 4,
        dropout: 0.0,
        locked_dropout: false,
        capped_input_gate: false,
        reset_before: false,
        residual: false,
        layer_norm: false,
    }
}

fn check(config: LmConfig) {
    let mut rng = TrainRng::seed(42);
    let mut model = LanguageModel::<f64>::new(config.clone(), &mut rng);
    let (steps, batch) = (4, 3);
    let x: Vec<u32> = (0..steps * batch).map(|i| (i * 5 % 7) as u32).collect();
    let y: Vec<u32> = (0..steps * batch).map(|i| (i * 3 % 7) as u32).collect();
    // A non-zero initial state, so the state path is exercised too.
    let mut start = model.zero_state(batch);
    for v in start.h.iter_mut().chain(start.c.iter_mut()).flatten() {
        *v = 0.3;
    }
    let mask_seed = TrainRng::seed(7);
    let loss = |m: &mut LanguageModel<f64>| {
        let mut r = mask_seed.clone();
        let mut s = start.clone();
        m.window(&x, &y, steps, batch, &mut s, Some(&mut r))
    };
    model.zero_grad();
    loss(&mut model);
    let analytic: Vec<Vec<f64>> = model.params().iter().map(|p| p.grad.clone()).collect();
    let checked = check_params(
        &format!("{:?}", config.cell),
        &mut model,
        LanguageModel::params_mut,
        &analytic,
        40, // every entry of small tensors; a spread sample of large ones
        loss,
        |a, numeric| {
            let err = (a - numeric).abs() / (a.abs() + numeric.abs()).max(1e-7);
            err < 1e-5 || (a - numeric).abs() < 1e-9
        },
    );
    assert!(checked > 100);
}

#[test]
fn lstm_gradients() {
    check(config(CellKind::Lstm));
}

#[test]
fn lstm_capped_input_gate_gradients() {
    let mut c = config(CellKind::Lstm);
    c.capped_input_gate = true;
    check(c);
}

#[test]
fn lstm_layer_norm_gradients() {
    let mut c = config(CellKind::Lstm);
    c.layer_norm = true;
    check(c.clone());
    c.capped_input_gate = true;
    c.dropout = 0.2;
    check(c);
}

#[test]
fn gru_reset_after_gradients() {
    check(config(CellKind::Gru));
}

#[test]
fn gru_reset_before_gradients() {
    let mut c = config(CellKind::Gru);
    c.reset_before = true;
    check(c);
}

#[test]
fn residual_and_dropout_gradients() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        let mut c = config(cell);
        c.embedding = c.hidden;
        c.residual = true;
        c.dropout = 0.3;
        check(c.clone());
        c.locked_dropout = true;
        check(c);
    }
}

#[test]
fn training_reduces_loss_on_a_repeating_sequence() {
    let mut c = config(CellKind::Lstm);
    c.layers = 1;
    c.hidden = 16;
    let mut rng = TrainRng::seed(1);
    let mut model = LanguageModel::<f32>::new(c, &mut rng);
    let tokens: Vec<u32> = (0..400).map(|i| (i % 7) as u32).collect();
    let before = model.evaluate(&tokens, 4, 10);
    let batches = crate::lm::data::Batches::new(&tokens, 4);
    let mut opt = crate::nn::optim::Optimizer::default();
    for _ in 0..30 {
        let mut state = model.zero_state(4);
        for w in 0..batches.windows(10) {
            let (x, y, steps) = batches.window(w, 10);
            model.zero_grad();
            model.window(&x, &y, steps, 4, &mut state, Some(&mut rng));
            opt.step(
                crate::nn::optim::OptimizerKind::Adam,
                &mut model.params_mut(),
                0.01,
            );
        }
    }
    let after = model.evaluate(&tokens, 4, 10);
    assert!(after < 0.2 * before, "loss {before} → {after}");
}
