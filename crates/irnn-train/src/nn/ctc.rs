//! Connectionist temporal classification (Graves et al., 2006): the loss of
//! a label sequence given per-frame class scores, summed over every
//! alignment, by the forward–backward recursion in log space; its gradient
//! with respect to the scores; greedy decoding; and the edit distance that
//! word and character error rates are made of.
//!
//! Class 0 is the blank. Computed in f64 whatever the model's float type:
//! the recursion multiplies many probabilities, and T × (2U + 1) is small
//! for digit strings.

/// `ln(e^a + e^b)` without overflow; `-∞` is the identity.
fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// Row-wise log-softmax of `frames × classes` scores.
pub fn log_softmax(scores: &[f64], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(scores.len());
    for row in scores.chunks_exact(classes) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        out.extend(row.iter().map(|v| v - lse));
    }
    out
}

/// CTC negative log-likelihood of `target` (labels in `1..classes`) given
/// `scores` (`frames × classes`, before softmax), and its gradient with
/// respect to the scores. `None` when no alignment exists (too few frames
/// for the labels and the blanks that repeated labels need).
pub fn ctc_loss(scores: &[f64], classes: usize, target: &[usize]) -> Option<(f64, Vec<f64>)> {
    let frames = scores.len() / classes;
    let lp = log_softmax(scores, classes);
    // Extended labels: blank, l1, blank, l2, …, blank.
    let s_len = 2 * target.len() + 1;
    let ext = |s: usize| {
        if s.is_multiple_of(2) {
            0
        } else {
            target[s / 2]
        }
    };
    let repeats = target.windows(2).filter(|w| w[0] == w[1]).count();
    if frames == 0 || frames < target.len() + repeats {
        return None;
    }
    let ninf = f64::NEG_INFINITY;
    let mut alpha = vec![ninf; frames * s_len];
    let mut beta = vec![ninf; frames * s_len];
    alpha[0] = lp[ext(0)];
    if s_len > 1 {
        alpha[1] = lp[ext(1)];
    }
    for t in 1..frames {
        for s in 0..s_len {
            let mut a = alpha[(t - 1) * s_len + s];
            if s >= 1 {
                a = log_add(a, alpha[(t - 1) * s_len + s - 1]);
            }
            if s >= 2 && ext(s) != 0 && ext(s) != ext(s - 2) {
                a = log_add(a, alpha[(t - 1) * s_len + s - 2]);
            }
            alpha[t * s_len + s] = a + lp[t * classes + ext(s)];
        }
    }
    let last = (frames - 1) * s_len;
    beta[last + s_len - 1] = lp[(frames - 1) * classes + ext(s_len - 1)];
    if s_len > 1 {
        beta[last + s_len - 2] = lp[(frames - 1) * classes + ext(s_len - 2)];
    }
    for t in (0..frames - 1).rev() {
        for s in 0..s_len {
            let mut b = beta[(t + 1) * s_len + s];
            if s + 1 < s_len {
                b = log_add(b, beta[(t + 1) * s_len + s + 1]);
            }
            if s + 2 < s_len && ext(s) != 0 && ext(s) != ext(s + 2) {
                b = log_add(b, beta[(t + 1) * s_len + s + 2]);
            }
            beta[t * s_len + s] = b + lp[t * classes + ext(s)];
        }
    }
    let mut log_p = alpha[last + s_len - 1];
    if s_len > 1 {
        log_p = log_add(log_p, alpha[last + s_len - 2]);
    }
    if log_p == ninf {
        return None;
    }
    // d(−log p)/d score[t][k] = y_t(k) − Σ_{s: ext(s)=k} α_t(s) β_t(s) / (p · y_t(k)):
    // the softmax minus the posterior of being in class k at frame t.
    let mut grad: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
    for t in 0..frames {
        let mut occupancy = vec![ninf; classes];
        for s in 0..s_len {
            let k = ext(s);
            // α and β both include y_t(k); remove one copy.
            let ab = alpha[t * s_len + s] + beta[t * s_len + s] - lp[t * classes + k];
            occupancy[k] = log_add(occupancy[k], ab);
        }
        for k in 0..classes {
            if occupancy[k] != ninf {
                grad[t * classes + k] -= (occupancy[k] - log_p).exp();
            }
        }
    }
    Some((-log_p, grad))
}

/// Greedy (best-path) decoding: the most likely class per frame, repeats
/// merged, blanks dropped.
pub fn greedy_decode(scores: &[f64], classes: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev = 0;
    for row in scores.chunks_exact(classes) {
        let best = (0..classes)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        if best != 0 && best != prev {
            out.push(best);
        }
        prev = best;
    }
    out
}

/// CTC prefix beam search (Hannun et al., 2014, without a language model):
/// keeps the `beam` most probable label prefixes, each with the
/// probability of its alignments ending in a blank and in its last label,
/// and returns the most probable labelling found (labels in `1..classes`).
/// With a beam as wide as the number of prefixes it is exact — it finds the
/// labelling of highest total probability, which best-path decoding only
/// approximates.
pub fn prefix_beam_search(scores: &[f64], classes: usize, beam: usize) -> Vec<usize> {
    use std::collections::HashMap;
    let lp = log_softmax(scores, classes);
    let ninf = f64::NEG_INFINITY;
    // prefix → (ln P(ends in blank), ln P(ends in its last label))
    let mut beams: Vec<(Vec<usize>, (f64, f64))> = vec![(Vec::new(), (0.0, ninf))];
    for row in lp.chunks_exact(classes) {
        let mut next: HashMap<Vec<usize>, (f64, f64)> = HashMap::new();
        for (prefix, (pb, pnb)) in &beams {
            let total = log_add(*pb, *pnb);
            let e = next.entry(prefix.clone()).or_insert((ninf, ninf));
            e.0 = log_add(e.0, total + row[0]);
            let last = prefix.last().copied();
            for (k, &p) in row.iter().enumerate().skip(1) {
                let mut extended = prefix.clone();
                extended.push(k);
                let e = next.entry(extended).or_insert((ninf, ninf));
                if last == Some(k) {
                    // A repeat needs a blank in between to count twice;
                    // without one it stays the same prefix.
                    e.1 = log_add(e.1, pb + p);
                    let same = next.entry(prefix.clone()).or_insert((ninf, ninf));
                    same.1 = log_add(same.1, pnb + p);
                } else {
                    e.1 = log_add(e.1, total + p);
                }
            }
        }
        let mut all: Vec<(Vec<usize>, (f64, f64))> = next.into_iter().collect();
        // Most probable first; ties by the prefix itself, so the result does
        // not depend on the hash map's order.
        all.sort_by(|a, b| {
            log_add(b.1 .0, b.1 .1)
                .total_cmp(&log_add(a.1 .0, a.1 .1))
                .then_with(|| a.0.cmp(&b.0))
        });
        all.truncate(beam.max(1));
        beams = all;
    }
    beams.swap_remove(0).0
}

/// One step of an alignment of a hypothesis to its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp<T> {
    /// The same element in both.
    Match(T),
    /// `hypothesis` where the reference has `reference`.
    Substitution {
        /// What was said.
        reference: T,
        /// What was recognised.
        hypothesis: T,
    },
    /// A reference element the hypothesis lacks.
    Deletion(T),
    /// A hypothesis element the reference lacks.
    Insertion(T),
}

/// A minimum-cost alignment of `hypothesis` to `reference` (its errors
/// number [`edit_distance`]); on ties substitutions come first, then
/// deletions.
pub fn align<T: PartialEq + Copy>(hypothesis: &[T], reference: &[T]) -> Vec<EditOp<T>> {
    let (n, m) = (hypothesis.len(), reference.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + (hypothesis[i - 1] != reference[j - 1]) as usize;
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let (mut i, mut j) = (n, m);
    let mut ops = Vec::with_capacity(n.max(m));
    while i > 0 || j > 0 {
        if i > 0 && j > 0 {
            let same = hypothesis[i - 1] == reference[j - 1];
            if d[i][j] == d[i - 1][j - 1] + (!same) as usize {
                ops.push(if same {
                    EditOp::Match(reference[j - 1])
                } else {
                    EditOp::Substitution {
                        reference: reference[j - 1],
                        hypothesis: hypothesis[i - 1],
                    }
                });
                i -= 1;
                j -= 1;
                continue;
            }
        }
        if j > 0 && d[i][j] == d[i][j - 1] + 1 {
            ops.push(EditOp::Deletion(reference[j - 1]));
            j -= 1;
        } else {
            ops.push(EditOp::Insertion(hypothesis[i - 1]));
            i -= 1;
        }
    }
    ops.reverse();
    ops
}

/// Levenshtein distance between two sequences (substitutions, insertions
/// and deletions all cost 1).
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + (x != y) as usize);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every alignment enumerated by brute force: the definition of the loss.
    fn brute_force(scores: &[f64], classes: usize, target: &[usize]) -> f64 {
        let frames = scores.len() / classes;
        let lp = log_softmax(scores, classes);
        let mut total = f64::NEG_INFINITY;
        let mut path = vec![0usize; frames];
        loop {
            let mut collapsed = Vec::new();
            let mut prev = 0;
            for &k in &path {
                if k != 0 && k != prev {
                    collapsed.push(k);
                }
                prev = k;
            }
            if collapsed == target {
                let lp_path: f64 = path
                    .iter()
                    .enumerate()
                    .map(|(t, &k)| lp[t * classes + k])
                    .sum();
                total = log_add(total, lp_path);
            }
            // Next path (odometer).
            let mut t = 0;
            loop {
                if t == frames {
                    return -total;
                }
                path[t] += 1;
                if path[t] < classes {
                    break;
                }
                path[t] = 0;
                t += 1;
            }
        }
    }

    #[test]
    fn alignments_cost_the_edit_distance() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let a: Vec<u8> = (0..rng.gen_range(0..7))
                .map(|_| rng.gen_range(0..3))
                .collect();
            let b: Vec<u8> = (0..rng.gen_range(0..7))
                .map(|_| rng.gen_range(0..3))
                .collect();
            let ops = align(&a, &b);
            let errors = ops
                .iter()
                .filter(|o| !matches!(o, EditOp::Match(_)))
                .count();
            assert_eq!(errors, edit_distance(&a, &b));
            // Replaying the alignment rebuilds both sequences.
            let (mut h, mut r) = (Vec::new(), Vec::new());
            for o in ops {
                match o {
                    EditOp::Match(x) => {
                        h.push(x);
                        r.push(x);
                    }
                    EditOp::Substitution {
                        reference,
                        hypothesis,
                    } => {
                        h.push(hypothesis);
                        r.push(reference);
                    }
                    EditOp::Deletion(x) => r.push(x),
                    EditOp::Insertion(x) => h.push(x),
                }
            }
            assert_eq!((h, r), (a, b));
        }
    }

    #[test]
    fn a_wide_beam_finds_the_most_probable_labelling() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let classes = 3;
        let mut beats_greedy = 0;
        for _ in 0..40 {
            let frames = 5;
            let scores: Vec<f64> = (0..frames * classes)
                .map(|_| rng.gen_range(-2.0..2.0))
                .collect();
            // Every labelling of up to 5 labels from {1, 2}, by brute force.
            let mut best = (f64::INFINITY, Vec::new());
            for len in 0..=frames {
                for code in 0..(1usize << len) {
                    let target: Vec<usize> = (0..len).map(|i| 1 + (code >> i & 1)).collect();
                    let nll = brute_force(&scores, classes, &target);
                    if nll < best.0 {
                        best = (nll, target);
                    }
                }
            }
            let found = prefix_beam_search(&scores, classes, 1000);
            assert_eq!(found, best.1, "scores {scores:?}");
            if greedy_decode(&scores, classes) != best.1 {
                beats_greedy += 1;
            }
        }
        // The cases exist where best path and best labelling differ.
        assert!(beats_greedy > 0);
    }

    #[test]
    fn loss_equals_the_sum_over_all_alignments() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (frames, target) in [
            (4, vec![1]),
            (5, vec![1, 2]),
            (5, vec![2, 2]),
            (6, vec![1, 2, 1]),
        ] {
            let classes = 3;
            let scores: Vec<f64> = (0..frames * classes)
                .map(|_| rng.gen_range(-2.0..2.0))
                .collect();
            let (loss, _) = ctc_loss(&scores, classes, &target).unwrap();
            let want = brute_force(&scores, classes, &target);
            assert!((loss - want).abs() < 1e-10, "{target:?}: {loss} vs {want}");
        }
        // Two identical labels need a blank between them: 2 frames are too few.
        assert!(ctc_loss(&[0.0; 6], 3, &[2, 2]).is_none());
        assert!(ctc_loss(&[0.0; 9], 3, &[2, 2]).is_some());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let (frames, classes, target) = (7, 4, vec![3, 1, 1, 2]);
        let scores: Vec<f64> = (0..frames * classes)
            .map(|_| rng.gen_range(-2.0..2.0))
            .collect();
        let (_, grad) = ctc_loss(&scores, classes, &target).unwrap();
        crate::nn::gradcheck::check_input(
            "CTC scores",
            &scores,
            &grad,
            |s| ctc_loss(s, classes, &target).unwrap().0,
            |analytic, numeric| (numeric - analytic).abs() < 1e-6,
        );
    }

    #[test]
    fn greedy_decoding_and_edit_distance() {
        // Frames: 1 1 _ 1 2 2 _  →  1 1 2
        let mut scores = vec![0.0; 7 * 3];
        for (t, k) in [1, 1, 0, 1, 2, 2, 0].iter().enumerate() {
            scores[t * 3 + k] = 5.0;
        }
        assert_eq!(greedy_decode(&scores, 3), [1, 1, 2]);
        assert_eq!(edit_distance(&[1, 2, 3], &[1, 2, 3]), 0);
        assert_eq!(edit_distance(&[1, 2, 3], &[1, 3]), 1);
        assert_eq!(edit_distance(&[1, 2, 3], &[4, 2, 3, 5]), 2);
        assert_eq!(edit_distance::<u8>(&[], &[1, 2]), 2);
    }
}
