#!/usr/bin/env bash
# Builds the synthetic read-sentence corpus (docs/RESULTS.md, "Sentences"):
# sentences of Tiny Shakespeare (embedded in the repo) spoken by espeak-ng and flite voices
# at many speeds and pitches, NeMo manifests train/valid/test.json, split by
# voice so that no validation or test voice is heard in training.
#
#   tools/speech/make_sentences.sh OUT_DIR [TRAIN VALID TEST] (default 12000 300 500)
#
# Installs espeak-ng and flite (Debian packages) when they are missing.
set -euo pipefail
out=${1:?usage: make_sentences.sh OUT_DIR [TRAIN VALID TEST] (default 12000 300 500)}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q espeak-ng flite >/dev/null
fi
python3 "$here/make_sentences.py" --text "$here/../../crates/irnn-train/data/tinyshakespeare.txt" \
    --out "$out" --train "${2:-12000}" --valid "${3:-300}" --test "${4:-500}"
