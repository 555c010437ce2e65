//! Speech corpora the way speech toolkits hold them: a Kaldi / ESPnet data
//! directory (`wav.scp` + `text`, optional `utt2spk`) or a NeMo manifest
//! (JSON lines with `audio_filepath`, `text`, optional `duration` and
//! `offset`). Both read into one list of [`ManifestEntry`]s; relative audio
//! paths resolve against the folder of the file that names them.
//!
//! Every problem is an error that names the file, the line and what is
//! wrong: `wav.scp` entries that are piped commands (`… |`) or archive
//! offsets (`foo.ark:123`) are refused as not supported, not guessed at;
//! utterances without a transcript, transcripts without audio, speakers for
//! utterances that do not exist and repeated ids are named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One utterance of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// Its id (Kaldi's utterance id; a NeMo entry's line number).
    pub id: String,
    /// The audio file.
    pub audio: PathBuf,
    /// The transcript, as written.
    pub text: String,
    /// The speaker, when the corpus says.
    pub speaker: Option<String>,
    /// Where the utterance starts in the file, seconds (NeMo `offset`).
    pub offset: Option<f64>,
    /// Its length, seconds (NeMo `duration`).
    pub duration: Option<f64>,
}

/// Why a corpus description could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line that does not parse.
    #[error("{path}:{line}: {why}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// An utterance in one file and not in the other.
    #[error("{path}: utterance {id:?} {why}")]
    Unmatched {
        /// The file that lacks it.
        path: PathBuf,
        /// The utterance.
        id: String,
        /// How.
        why: &'static str,
    },
    /// No utterances at all.
    #[error("{0}: no utterances")]
    Empty(PathBuf),
    /// A path that is neither a data directory nor a manifest.
    #[error(
        "{0}: not a speech corpus (expected a Kaldi/ESPnet data directory with wav.scp and text, \
         or a NeMo JSON-lines manifest)"
    )]
    Unknown(PathBuf),
}

fn read(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `path` relative to `base` unless absolute.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Reads a corpus: a directory with `wav.scp` (Kaldi/ESPnet) or a NeMo
/// manifest file.
pub fn read_corpus(path: &Path) -> Result<Vec<ManifestEntry>, ManifestError> {
    if path.is_dir() && path.join("wav.scp").is_file() {
        read_kaldi_dir(path)
    } else if path.is_file() {
        read_nemo(path)
    } else if !path.exists() {
        Err(ManifestError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
    } else {
        Err(ManifestError::Unknown(path.to_path_buf()))
    }
}

/// `<id> <rest>` lines of a Kaldi table (blank lines skipped), ids unique.
fn kaldi_table(path: &Path) -> Result<Vec<(usize, String, String)>, ManifestError> {
    let text = read(path)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (id, rest) = line
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((line, ""));
        if !seen.insert(id.to_string()) {
            return Err(ManifestError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                why: format!("utterance {id:?} appears twice"),
            });
        }
        out.push((i + 1, id.to_string(), rest.to_string()));
    }
    Ok(out)
}

/// A Kaldi / ESPnet data directory: `wav.scp`, `text`, optional `utt2spk`.
pub fn read_kaldi_dir(dir: &Path) -> Result<Vec<ManifestEntry>, ManifestError> {
    let scp_path = dir.join("wav.scp");
    let text_path = dir.join("text");
    let spk_path = dir.join("utt2spk");
    let scp = kaldi_table(&scp_path)?;
    let texts: BTreeMap<String, String> = kaldi_table(&text_path)?
        .into_iter()
        .map(|(_, id, t)| (id, t))
        .collect();
    let speakers: Option<BTreeMap<String, String>> = if spk_path.is_file() {
        Some(
            kaldi_table(&spk_path)?
                .into_iter()
                .map(|(_, id, s)| (id, s))
                .collect(),
        )
    } else {
        None
    };
    let mut out = Vec::new();
    for (line, id, rest) in scp {
        let bad = |why: String| ManifestError::Line {
            path: scp_path.clone(),
            line,
            why,
        };
        if rest.is_empty() {
            return Err(bad(format!("utterance {id:?} has no audio path")));
        }
        if rest.ends_with('|') {
            return Err(bad(format!(
                "utterance {id:?} is a piped command ({rest:?}): not supported; \
                 write the audio to WAV files and list their paths"
            )));
        }
        if rest.contains(".ark:") || rest.split_whitespace().count() > 1 {
            return Err(bad(format!(
                "utterance {id:?}: {rest:?} is not a plain path (archives and extended \
                 filenames are not supported)"
            )));
        }
        let text = texts.get(&id).ok_or_else(|| ManifestError::Unmatched {
            path: text_path.clone(),
            id: id.clone(),
            why: "is in wav.scp but has no transcript",
        })?;
        let speaker = match &speakers {
            Some(s) => Some(
                s.get(&id)
                    .ok_or_else(|| ManifestError::Unmatched {
                        path: spk_path.clone(),
                        id: id.clone(),
                        why: "is in wav.scp but has no speaker",
                    })?
                    .clone(),
            ),
            None => None,
        };
        out.push(ManifestEntry {
            audio: resolve(dir, &rest),
            text: text.clone(),
            speaker,
            offset: None,
            duration: None,
            id,
        });
    }
    let ids: BTreeSet<&str> = out.iter().map(|e| e.id.as_str()).collect();
    for (file, path) in [(&texts, &text_path)]
        .into_iter()
        .chain(speakers.as_ref().map(|s| (s, &spk_path)))
    {
        if let Some(id) = file.keys().find(|k| !ids.contains(k.as_str())) {
            return Err(ManifestError::Unmatched {
                path: path.clone(),
                id: id.clone(),
                why: "is not in wav.scp",
            });
        }
    }
    if out.is_empty() {
        return Err(ManifestError::Empty(scp_path));
    }
    Ok(out)
}

/// A NeMo manifest: one JSON object per line with `audio_filepath` and
/// `text`, optional `duration` and `offset` (seconds, ≥ 0); other keys are
/// ignored, as NeMo does.
pub fn read_nemo(path: &Path) -> Result<Vec<ManifestEntry>, ManifestError> {
    let text = read(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| ManifestError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            why,
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let string = |key: &str| -> Result<String, ManifestError> {
            match obj.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(bad(format!("{key:?} is not a string"))),
                None => Err(bad(format!("no {key:?}"))),
            }
        };
        let seconds = |key: &str| -> Result<Option<f64>, ManifestError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => match x.as_f64() {
                    Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(s)),
                    _ => Err(bad(format!("{key:?} must be a number of seconds ≥ 0"))),
                },
            }
        };
        let audio = string("audio_filepath")?;
        if audio.is_empty() {
            return Err(bad("\"audio_filepath\" is empty".into()));
        }
        out.push(ManifestEntry {
            id: format!("{}:{}", path.display(), i + 1),
            audio: resolve(base, &audio),
            text: string("text")?,
            speaker: match obj.get("speaker") {
                None | Some(serde_json::Value::Null) => None,
                Some(_) => Some(string("speaker")?),
            },
            offset: seconds("offset")?,
            duration: seconds("duration")?,
        });
    }
    if out.is_empty() {
        return Err(ManifestError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("irnn-manifest-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(d: &Path, name: &str, text: &str) {
        std::fs::write(d.join(name), text).unwrap();
    }

    #[test]
    fn kaldi_directories_read_with_speakers_and_relative_paths() {
        let d = dir("kaldi");
        write(&d, "wav.scp", "u2 audio/b.wav\nu1 /abs/a.wav\n\n");
        write(&d, "text", "u1 HELLO WORLD\nu2 good  morning\n");
        write(&d, "utt2spk", "u1 s1\nu2 s2\n");
        let c = read_corpus(&d).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].id, "u2");
        assert_eq!(c[0].audio, d.join("audio/b.wav"));
        assert_eq!(c[0].text, "good  morning");
        assert_eq!(c[0].speaker.as_deref(), Some("s2"));
        assert_eq!(c[1].audio, PathBuf::from("/abs/a.wav"));
        // Without utt2spk: no speakers.
        std::fs::remove_file(d.join("utt2spk")).unwrap();
        assert!(read_corpus(&d).unwrap().iter().all(|e| e.speaker.is_none()));
    }

    #[test]
    fn kaldi_problems_name_the_file_line_and_utterance() {
        let d = dir("kaldi-bad");
        let err = |scp: &str, text: &str| {
            write(&d, "wav.scp", scp);
            write(&d, "text", text);
            read_kaldi_dir(&d).unwrap_err().to_string()
        };
        let e = err("u1 sox a.flac -t wav - |\n", "u1 hi\n");
        assert!(
            e.contains("wav.scp:1") && e.contains("piped command"),
            "{e}"
        );
        let e = err("u1 feats.ark:1234\n", "u1 hi\n");
        assert!(e.contains("not a plain path"), "{e}");
        let e = err("u1 a.wav\nu2 b.wav\n", "u1 hi\n");
        assert!(e.contains("\"u2\"") && e.contains("no transcript"), "{e}");
        let e = err("u1 a.wav\n", "u1 hi\nu9 extra\n");
        assert!(e.contains("\"u9\"") && e.contains("not in wav.scp"), "{e}");
        let e = err("u1 a.wav\nu1 b.wav\n", "u1 hi\n");
        assert!(e.contains("wav.scp:2") && e.contains("twice"), "{e}");
        let e = err("u1\n", "u1 hi\n");
        assert!(e.contains("no audio path"), "{e}");
        let e = err("\n", "\n");
        assert!(e.contains("no utterances"), "{e}");
        write(&d, "wav.scp", "u1 a.wav\n");
        write(&d, "text", "u1 hi\n");
        write(&d, "utt2spk", "u2 s\n");
        let e = read_kaldi_dir(&d).unwrap_err().to_string();
        assert!(e.contains("utt2spk") && e.contains("no speaker"), "{e}");
        std::fs::remove_file(d.join("text")).unwrap();
        let e = read_kaldi_dir(&d).unwrap_err().to_string();
        assert!(e.contains("text"), "{e}");
    }

    #[test]
    fn nemo_manifests_read_and_their_problems_are_named() {
        let d = dir("nemo");
        write(
            &d,
            "train.json",
            "{\"audio_filepath\": \"a/1.wav\", \"text\": \"hello\", \"duration\": 1.5, \"lang\": \"en\"}\n\n\
             {\"audio_filepath\": \"/x/2.wav\", \"text\": \"\", \"offset\": 0.25}\n",
        );
        let c = read_corpus(&d.join("train.json")).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].audio, d.join("a/1.wav"));
        assert_eq!((c[0].duration, c[0].offset), (Some(1.5), None));
        assert_eq!((c[1].text.as_str(), c[1].offset), ("", Some(0.25)));
        let err = |line: &str| {
            write(&d, "bad.json", line);
            read_nemo(&d.join("bad.json")).unwrap_err().to_string()
        };
        assert!(err("{\"text\": \"hi\"}\n").contains("audio_filepath"));
        assert!(err("{\"audio_filepath\": \"a.wav\"}\n").contains("\"text\""));
        assert!(err("{\"audio_filepath\": 3, \"text\": \"\"}\n").contains("not a string"));
        assert!(err("[1, 2]\n").contains("not a JSON object"));
        assert!(err("not json\n").contains("bad.json:1"));
        let e = err("{\"audio_filepath\": \"a.wav\", \"text\": \"x\", \"duration\": -1}\n");
        assert!(e.contains("seconds"), "{e}");
        assert!(err("\n\n").contains("no utterances"));
        // Neither a directory with wav.scp nor a file; a missing path.
        let e = read_corpus(&dir("empty")).unwrap_err().to_string();
        assert!(e.contains("not a speech corpus"), "{e}");
        let e = read_corpus(Path::new("/no/such/corpus"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/corpus"), "{e}");
    }
}
