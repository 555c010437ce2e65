#!/usr/bin/env bash
# Builds a fuzz target with libFuzzer's coverage instrumentation (stable
# Rust: the sanitizer-coverage passes, debug assertions and overflow checks
# on) and runs it, seeded with the committed fixtures.
#
#   fuzz/run.sh model_reader 1000000     # model files (fixtures/models/*.irnn)
#   fuzz/run.sh wav_reader 200000        # WAV files (fixtures/fsdd/*.wav)
#   fuzz/run.sh corpus_reader 200000     # text corpora (the embedded slice)
#
# A finding is written to fuzz/artifacts/<target>/ and the run exits non-zero.
# `cargo fuzz run <target>` (nightly, cargo-fuzz) works on the same layout and
# adds AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET RUNS}
runs=${2:-100000}
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --target "$triple" --target-dir target/cov --bin "$target"
corpus=corpus/$target
mkdir -p "$corpus" "artifacts/$target"
case $target in
    model_reader)
        cp ../fixtures/models/*.irnn "$corpus"/
        # The same models in the in-place layout (format 4).
        for m in ../fixtures/models/*.irnn; do
            cargo run --release -q --manifest-path ../Cargo.toml -p irnn -- \
                pack "$m" -o "$corpus/in-place-$(basename "$m")" >/dev/null
        done ;;
    wav_reader) cp ../fixtures/fsdd/*.wav "$corpus"/ ;;
    corpus_reader) head -c 4000 ../crates/irnn-train/data/tinyshakespeare-slice.txt > "$corpus/slice.txt" ;;
esac
"target/cov/$triple/release/$target" "$corpus" -runs="$runs" -max_len=65536 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="artifacts/$target/"
