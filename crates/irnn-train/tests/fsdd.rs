//! The Free Spoken Digit Dataset as the speech front end sees it. FSDD lives
//! in ../shared (CC BY-SA 4.0, "Free Spoken Digit Dataset, Z. Jackson et
//! al."); without it these tests say they skipped and pass.

use std::path::PathBuf;

use irnn_train::asr::data::fsdd::{connected_digits, list_recordings, JoinConfig, SpeakerSplit};
use irnn_train::audio::{normalize, LogMel, MelConfig};

fn fsdd() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fsdd/recordings");
    if dir.join("0_jackson_0.wav").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not present", dir.display());
        None
    }
}

#[test]
fn fsdd_split_and_features() {
    let Some(dir) = fsdd() else { return };
    let recs = list_recordings(&dir).unwrap();
    assert_eq!(recs.len(), 3000);
    let split = SpeakerSplit::default_for(&dir, &recs).unwrap();
    assert_eq!(
        (split.test.as_str(), split.valid.as_str()),
        ("yweweler", "theo")
    );
    assert_eq!(split.train, ["george", "jackson", "lucas", "nicolas"]);
    let utts = connected_digits(&recs, &split.train, 8, 1, &JoinConfig::default()).unwrap();
    let mel = LogMel::new(MelConfig::default());
    for u in &utts {
        let mut f = mel.compute(&u.samples);
        assert_eq!(f.len(), mel.frames(u.samples.len()) * 40);
        normalize(&mut f, 40);
        assert!(f.iter().all(|v| v.is_finite()));
        // 10 ms frames: at least ~0.15 s of audio per digit.
        assert!(
            f.len() / 40 >= 15 * u.text.split(' ').count(),
            "{} frames for {:?}",
            f.len() / 40,
            u.text
        );
    }
}
