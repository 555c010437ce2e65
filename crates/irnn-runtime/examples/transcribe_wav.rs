//! Transcribing a WAV file with an integer speech model. The front end —
//! reading the samples and computing normalised log-mel features — is
//! signal processing before the network and runs in float (here with
//! `irnn-train`'s, the one the model was trained with); from the int8
//! features on, the runtime computes with integers only: encoder, CTC
//! scores, greedy decoding.
//!
//! ```sh
//! cargo run -p irnn-runtime --example transcribe_wav -- fixtures/models/asr-qat.irnn fixtures/fsdd/2_yweweler_0.wav
//! ```

use std::path::Path;

use irnn_runtime::format::read_speech_model;
use irnn_runtime::Isa;
use irnn_train::asr::export::{mel_config, quantize_features};
use irnn_train::audio::{read_wav, LogMel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model_path = args.next().unwrap_or("fixtures/models/asr-qat.irnn".into());
    let wav = args
        .next()
        .unwrap_or("fixtures/fsdd/2_yweweler_0.wav".into());

    let bytes = std::fs::read(&model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = read_speech_model(&bytes).map_err(|e| format!("{model_path}: {e}"))?;

    // Float front end, as in training: samples at the model's rate → log-mel
    // frames → normalisation (as the model says) → its int8 feature grid.
    let samples = read_wav(Path::new(&wav), model.front_end.sample_rate)?;
    let features = LogMel::new(mel_config(&model.front_end)).features(&samples);
    let features = quantize_features(&model, &features);

    // Integers only from here.
    let isa = Isa::detect();
    let logits = model.logits(isa, &features)?;
    let classes = model.greedy_decode(&logits);
    println!("{wav}\t{}", model.transcript(&classes));
    Ok(())
}
