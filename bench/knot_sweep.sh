#!/usr/bin/env bash
# Effect of the PWL knot budget on one trained model's metric: exports the
# checkpoint with 4, 8, 16, 32 and 64 knots per table and evaluates each
# integer model on the test split.
#
#   bench/knot_sweep.sh CHECKPOINT DATA [extra convert args, e.g. --data DATA for PTQ]
set -euo pipefail
ckpt=$1; data=$2; shift 2
irnn=${IRNN:-target/release/irnn}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| knots | test metric | file bytes |"
echo "|---:|---:|---:|"
for k in 4 8 16 32 64; do
    "$irnn" convert "$ckpt" --knots "$k" -o "$out/k$k.irnn" "$@" > /dev/null
    line=$("$irnn" eval "$out/k$k.irnn" --data "$data")
    metric=$(echo "$line" | sed -E 's/.*kernels\): ([^ ]+ [^ ]+|ppl [^ ]+) over.*/\1/')
    echo "| $k | $metric | $(stat -c %s "$out/k$k.irnn") |"
done
