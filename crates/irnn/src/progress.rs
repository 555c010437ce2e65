//! Progress bars for training (indicatif): tokens/s, loss and ETA per epoch,
//! and one validation line per epoch; bars over minibatches; spinners.

use indicatif::{ProgressBar, ProgressStyle};
use irnn_train::lm::train::{EpochReport, Observer};

/// Draws a bar per epoch.
pub struct Bars {
    bar: Option<ProgressBar>,
    /// Perplexity (word) or bits per token (char).
    pub char_level: bool,
    loss_ema: Option<f64>,
}

impl Bars {
    /// New bars; `char_level` picks bits per character over perplexity.
    pub fn new(char_level: bool) -> Self {
        Self {
            bar: None,
            char_level,
            loss_ema: None,
        }
    }
}

/// Human form of a loss in nats: perplexity or bits per character.
pub fn metric(char_level: bool, nats: f64) -> String {
    if char_level {
        format!("{:.3} bpc", nats / std::f64::consts::LN_2)
    } else {
        format!("ppl {:.2}", nats.exp())
    }
}

impl Observer<EpochReport> for Bars {
    fn epoch_start(&mut self, epoch: usize, _windows: usize, tokens: usize) {
        let bar = ProgressBar::new(tokens as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} tok  {per_sec}  {msg}  ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
        self.loss_ema = None;
    }

    fn update_done(&mut self, _done: usize, tokens: usize, loss: f64, lr: f64) {
        let ema = match self.loss_ema {
            Some(e) => 0.95 * e + 0.05 * loss,
            None => loss,
        };
        self.loss_ema = Some(ema);
        if let Some(bar) = &self.bar {
            bar.set_position(tokens as u64);
            bar.set_message(format!(
                "loss {ema:.3} ({})  lr {lr:.4}",
                metric(self.char_level, ema)
            ));
        }
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let valid = if r.valid_loss.is_finite() {
            metric(self.char_level, r.valid_loss)
        } else {
            "-".into()
        };
        outln!(
            "epoch {:>3} | lr {} | {:.0} tok/s | {:.1} s | train {} | valid {}",
            r.epoch,
            rate(r.lr),
            r.tokens_per_second,
            r.seconds,
            metric(self.char_level, r.train_loss),
            valid
        );
    }
}

/// A learning rate for an epoch's line: four decimals, or two significant
/// digits below 0.001 (QAT's 3e-5 is not "0.0000").
pub fn rate(lr: f64) -> String {
    if lr == 0.0 || lr.abs() >= 1e-3 {
        format!("{lr:.4}")
    } else {
        format!("{lr:.1e}")
    }
}

/// A progress bar over an epoch's minibatches.
pub fn batch_bar(batches: usize, epoch: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

/// Runs `work` under a spinner showing `message`.
pub fn with_spinner<T>(message: String, work: impl FnOnce() -> T) -> T {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = work();
    bar.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_rates_keep_their_digits() {
        assert_eq!(super::rate(0.002), "0.0020");
        assert_eq!(super::rate(3e-5), "3.0e-5");
        assert_eq!(super::rate(0.0), "0.0000");
    }
}
