//! Zaremba-style batching: the token stream is cut into `batch` parallel
//! streams, each read left to right in windows of `bptt` steps, so the
//! hidden state carries over from one window to the next (truncated BPTT).

/// Parallel streams over a token sequence.
#[derive(Debug, Clone)]
pub struct Batches {
    /// `streams[b]` is the b-th contiguous slice of the data.
    data: Vec<u32>,
    batch: usize,
    len: usize,
}

impl Batches {
    /// Cuts `tokens` into `batch` streams of equal length (the remainder is
    /// dropped, as in PyTorch's word_language_model).
    pub fn new(tokens: &[u32], batch: usize) -> Self {
        let batch = batch.max(1);
        let len = tokens.len() / batch;
        Self {
            data: tokens[..len * batch].to_vec(),
            batch,
            len,
        }
    }

    /// Tokens per stream.
    pub fn stream_len(&self) -> usize {
        self.len
    }

    /// Number of streams.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Number of windows of `bptt` steps (the last may be shorter).
    pub fn windows(&self, bptt: usize) -> usize {
        self.len.saturating_sub(1).div_ceil(bptt.max(1))
    }

    /// Window `i`: inputs and targets, time-major (`steps × batch`).
    pub fn window(&self, i: usize, bptt: usize) -> (Vec<u32>, Vec<u32>, usize) {
        let start = i * bptt;
        let steps = bptt.min(self.len - 1 - start);
        let mut x = Vec::with_capacity(steps * self.batch);
        let mut y = Vec::with_capacity(steps * self.batch);
        for t in 0..steps {
            for b in 0..self.batch {
                x.push(self.data[b * self.len + start + t]);
                y.push(self.data[b * self.len + start + t + 1]);
            }
        }
        (x, y, steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_each_stream_in_order() {
        let tokens: Vec<u32> = (0..23).collect();
        let b = Batches::new(&tokens, 2); // streams 0..11 and 11..22
        assert_eq!(b.stream_len(), 11);
        assert_eq!(b.windows(4), 3);
        let (x, y, steps) = b.window(0, 4);
        assert_eq!(steps, 4);
        assert_eq!(x, [0, 11, 1, 12, 2, 13, 3, 14]);
        assert_eq!(y, [1, 12, 2, 13, 3, 14, 4, 15]);
        let (x, y, steps) = b.window(2, 4);
        assert_eq!(steps, 2);
        assert_eq!(x, [8, 19, 9, 20]);
        assert_eq!(y, [9, 20, 10, 21]);
    }
}
