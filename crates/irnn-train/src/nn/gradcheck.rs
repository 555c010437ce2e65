//! Central finite differences in f64, the check every backward pass is held
//! to: perturb one value by ±ε, evaluate the loss twice, restore it, and
//! compare `(up − down) / 2ε` with the analytic gradient under the caller's
//! closeness rule. One helper for parameters (through a model's
//! `params_mut`) and one for inputs, so each test states only its loss,
//! what it samples and how close is close.

use super::Param;

/// The step of the central differences.
pub const EPS: f64 = 1e-6;

/// Checks the analytic gradients `analytic` (one vector per parameter, in
/// `params(model)` order) of `loss` against central differences, sampling
/// up to `samples` spread entries per tensor (`usize::MAX`: every entry).
/// Panics naming `what`, the parameter and the entry on the first pair
/// `close(analytic, numeric)` rejects; returns the number checked.
pub fn check_params<M>(
    what: &str,
    model: &mut M,
    params: for<'a> fn(&'a mut M) -> Vec<&'a mut Param<f64>>,
    analytic: &[Vec<f64>],
    samples: usize,
    loss: impl Fn(&mut M) -> f64,
    close: impl Fn(f64, f64) -> bool,
) -> usize {
    let mut checked = 0;
    for (pi, grads) in analytic.iter().enumerate() {
        let stride = (grads.len() / samples.max(1)).max(1);
        for e in (0..grads.len()).step_by(stride) {
            let original = params(model)[pi].value[e];
            params(model)[pi].value[e] = original + EPS;
            let up = loss(model);
            params(model)[pi].value[e] = original - EPS;
            let down = loss(model);
            params(model)[pi].value[e] = original;
            let numeric = (up - down) / (2.0 * EPS);
            let a = grads[e];
            assert!(
                close(a, numeric),
                "{what}: {} [{e}]: analytic {a:e} vs numeric {numeric:e}",
                params(model)[pi].name
            );
            checked += 1;
        }
    }
    checked
}

/// Checks `analytic`, the gradient of `loss` with respect to every entry
/// of `x`, against central differences; panics naming `what` and the entry
/// on the first pair `close(analytic, numeric)` rejects.
pub fn check_input(
    what: &str,
    x: &[f64],
    analytic: &[f64],
    loss: impl Fn(&[f64]) -> f64,
    close: impl Fn(f64, f64) -> bool,
) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    let mut probe = x.to_vec();
    for e in 0..x.len() {
        probe[e] = x[e] + EPS;
        let up = loss(&probe);
        probe[e] = x[e] - EPS;
        let down = loss(&probe);
        probe[e] = x[e];
        let numeric = (up - down) / (2.0 * EPS);
        assert!(
            close(analytic[e], numeric),
            "{what} [{e}]: analytic {:e} vs numeric {numeric:e}",
            analytic[e]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quadratic {
        w: Param<f64>,
    }

    fn params(q: &mut Quadratic) -> Vec<&mut Param<f64>> {
        vec![&mut q.w]
    }

    fn loss(q: &mut Quadratic) -> f64 {
        q.w.value.iter().map(|v| v * v * v).sum()
    }

    #[test]
    fn right_gradients_pass_and_wrong_ones_are_named() {
        let mut w = Param::zeros("w", &[3]);
        w.value = vec![0.5, -1.0, 2.0];
        let mut q = Quadratic { w };
        let right: Vec<f64> = q.w.value.iter().map(|v| 3.0 * v * v).collect();
        let close = |a: f64, n: f64| (a - n).abs() < 1e-6;
        let n = check_params(
            "cube",
            &mut q,
            params,
            std::slice::from_ref(&right),
            100,
            loss,
            close,
        );
        assert_eq!(n, 3);
        assert_eq!(q.w.value, [0.5, -1.0, 2.0], "values restored");
        let mut wrong = right.clone();
        wrong[1] += 0.1;
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_params("cube", &mut q, params, &[wrong], 100, loss, close)
        }));
        let message = *panic.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("cube: w [1]"), "{message}");
        let x = [0.5, -1.0, 2.0];
        let cube = |x: &[f64]| x.iter().map(|v| v * v * v).sum::<f64>();
        check_input("x", &x, &right, cube, close);
        let bad = std::panic::catch_unwind(|| check_input("x", &x, &[0.0; 3], cube, close));
        assert!(bad.is_err());
    }
}
