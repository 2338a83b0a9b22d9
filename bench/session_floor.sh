#!/usr/bin/env bash
# The new-user session and `keygen` against their floor and the Python
# model of the original, side by side in one run (docs/BENCHMARKS.md):
#
#   bench/session_floor.sh [RUNS] [BEFORE_BINARY]      (default 40 runs)
#
# - the floor: PBKDF2 (600,000 rounds) alone and RSA-2048 key generation
#   alone, criterion medians through our API (cargo bench -p secure-kms-benches --bench
#   primitives); the session cannot be faster than the slower of the two;
# - ours: the release binary, a fresh store for every run (hyperfine), and
#   the dev-profile binary that `cargo run` runs;
# - the Python model of the original's session (bench/python_model.py, in
#   bench/.venv, made on first use as bench/compare.sh makes it);
# - BEFORE_BINARY, if given: another build of secure-kms on the same input
#   (the one that ran PBKDF2 and the key generation one after the other).
#
# Needs: cargo, hyperfine, python3 with venv.
set -euo pipefail

runs=${1:-40}
before=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v hyperfine > /dev/null || { echo "needs hyperfine" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
cargo build --quiet
kms="$root/target/release/secure-kms"
dev="$root/target/debug/secure-kms"
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet cryptography
fi
py="$venv/bin/python"

echo "== the floor: criterion medians (cargo bench -p secure-kms-benches --bench primitives)"
cargo bench --quiet -p secure-kms-benches --bench primitives -- 'pbkdf2_hmac_sha256/600000|rsa_2048/keygen' \
    > "$work/criterion.txt" 2>&1
for id in pbkdf2_hmac_sha256/600000 rsa_2048/keygen; do
    python3 -c "import json,sys; print(f\"  {sys.argv[2]:<28} {json.load(open(sys.argv[1]))['median']['point_estimate'] / 1e6:7.1f} ms\")" \
        "target/criterion/$id/new/estimates.json" "$id"
done

printf 'alice\nclassroom password\nno\n' > "$work/input"
printf 'classroom password\n' > "$work/pw"
mkdir -p "$work/py"
commands=(
    -n "session (release)" "$kms --store $work/s < $work/input"
    -n "keygen (release)" "$kms --store $work/s --password-file $work/pw keygen alice"
    -n "session (dev)" "$dev --store $work/s < $work/input"
    -n "python model" "cd $work/py && $py $root/bench/python_model.py < $work/input"
)
if [ -n "$before" ]; then
    commands+=(
        -n "session (before)" "$before --store $work/s < $work/input"
        -n "keygen (before)" "$before --store $work/s --password-file $work/pw keygen alice"
    )
fi
echo "== whole runs: hyperfine, $runs runs each, a fresh store each time"
hyperfine --warmup 3 --runs "$runs" --export-json "$work/runs.json" \
    --prepare "rm -rf $work/s $work/py/key_store.json $work/py/revoked_keys.json" \
    "${commands[@]}" > /dev/null
python3 - "$work/runs.json" << 'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
python = results["python model"]["mean"]
for name, r in results.items():
    print(f"  {name:<20} mean {r['mean'] * 1e3:6.1f} ms ± {r['stddev'] * 1e3:5.1f}"
          f"  median {r['median'] * 1e3:6.1f} ms  mean/python {r['mean'] / python:5.2f}x")
EOF
