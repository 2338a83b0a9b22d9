#!/usr/bin/env bash
# A large file encrypted and decrypted to a pipe, against the tools a user
# would otherwise reach for, measured side by side in one run:
#   - `openssl enc -aes-256-ctr` (no authentication at all),
#   - `rage` (age in Rust) with an X25519 recipient,
#   - secure-kms on every core, and pinned to one core (`taskset -c 0`,
#     which the worker count follows: the one-thread path).
#
#   bench/file_peers.sh [SIZE_MIB] [RUNS]      (defaults 1024 and 5)
#
# Needs: cargo, openssl, hyperfine, GNU time, taskset, and rage on PATH or
# in RAGE_BIN (`cargo install rage --root DIR`; not a dependency of
# secure-kms). Every secure-kms figure includes its one PBKDF2 unlock
# (600,000 rounds, about 90 ms). The input is random and read from the
# page cache (read once before timing); the output goes through a pipe to
# `cat > /dev/null`, so writing costs what a pipe costs.
set -euo pipefail

size_mib=${1:-1024}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
rage=${RAGE_BIN:-$(command -v rage || true)}
[ -x "$rage" ] || { echo "needs rage: cargo install rage --root DIR, then RAGE_BIN=DIR/bin/rage" >&2; exit 1; }
for tool in hyperfine openssl taskset /usr/bin/time; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
kms="$root/target/release/secure-kms"
export KMS_STORE="$work/store"
printf 'benchmark password\n' > "$work/pw"
"$kms" --password-file "$work/pw" keygen bench > /dev/null
"${rage}-keygen" -o "$work/age.key" 2> /dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.key")
key=$(printf '%064d' 0)
iv=$(printf '%032d' 0)

head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/plain"
"$kms" --password-file "$work/pw" encrypt bench "$work/plain" "$work/plain.kms" > /dev/null
"$rage" -r "$recipient" -o "$work/plain.age" "$work/plain"
openssl enc -aes-256-ctr -K "$key" -iv "$iv" -in "$work/plain" -out "$work/plain.ctr"
"$kms" --password-file "$work/pw" decrypt bench "$work/plain.kms" - | cmp -s - "$work/plain" \
    || { echo "secure-kms round trip failed" >&2; exit 1; }
cat "$work"/plain* > /dev/null

pw="--password-file $work/pw"
hyperfine --warmup 1 --runs "$runs" --export-json "$work/encrypt.json" \
    -n "secure-kms encrypt" "$kms $pw encrypt bench $work/plain - | cat > /dev/null" \
    -n "secure-kms encrypt, one core" "taskset -c 0 $kms $pw encrypt bench $work/plain - | cat > /dev/null" \
    -n "openssl enc -aes-256-ctr" "openssl enc -aes-256-ctr -K $key -iv $iv -in $work/plain | cat > /dev/null" \
    -n "rage -r (X25519)" "$rage -r $recipient $work/plain | cat > /dev/null"
hyperfine --warmup 1 --runs "$runs" --export-json "$work/decrypt.json" \
    -n "secure-kms decrypt" "$kms $pw decrypt bench $work/plain.kms - | cat > /dev/null" \
    -n "secure-kms decrypt, one core" "taskset -c 0 $kms $pw decrypt bench $work/plain.kms - | cat > /dev/null" \
    -n "openssl enc -d -aes-256-ctr" "openssl enc -d -aes-256-ctr -K $key -iv $iv -in $work/plain.ctr | cat > /dev/null" \
    -n "rage -d" "$rage -d -i $work/age.key $work/plain.age | cat > /dev/null"

# Peak memory of the whole process (GNU time's maximum resident set).
rss() {
    /usr/bin/time -f '%M' -o "$work/rss" "$@" > /dev/null
    echo "$(( $(cat "$work/rss") / 1024 )) MiB"
}
echo "peak RSS: encrypt $(rss "$kms" $pw encrypt bench "$work/plain" -)," \
    "decrypt $(rss "$kms" $pw decrypt bench "$work/plain.kms" -)"

python3 - "$work/encrypt.json" "$work/decrypt.json" "$size_mib" << 'EOF'
import json, sys
size = int(sys.argv[3])
for path in sys.argv[1:3]:
    results = json.load(open(path))["results"]
    ours = results[0]["median"]
    print(f"\n{size} MiB to a pipe, medians:")
    for r in results:
        m = r["median"]
        print(f"  {r['command']:<32} {m:6.3f} s  {size * 1.048576 / m:7.0f} MB/s"
              f"  ours/this {ours / m:5.2f}x")
EOF
