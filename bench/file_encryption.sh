#!/usr/bin/env bash
# File encryption throughput and peak memory for a 1 GiB file, against
# `openssl speed -evp aes-256-gcm` measured in the same run.
#
#   bench/file_encryption.sh [SIZE_MIB]      (default 1024)
#
# Needs: cargo, openssl, GNU time (/usr/bin/time). Builds the release
# binary. Each secure-kms figure includes one PBKDF2 run (600,000 rounds,
# ~80 ms) to unlock the key, as a real run does; the script reports it
# separately so that the bulk rate can be read without it.
set -euo pipefail

size_mib=${1:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
kms="$root/target/release/secure-kms"
export KMS_STORE="$work/store"
printf 'benchmark password\n' > "$work/pw"
"$kms" --password-file "$work/pw" keygen bench > /dev/null

head -c "$((size_mib * 1024 * 1024))" /dev/zero > "$work/plain"
sync

# Runs "$@" under GNU time, its standard output to /dev/null (where `-`
# output goes); prints "seconds max_rss_kib".
measure() {
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null
    cat "$work/time"
}

# The unlock alone: a decrypt of an empty file.
: > "$work/empty"
"$kms" --password-file "$work/pw" encrypt bench "$work/empty" "$work/empty.kms" > /dev/null
read -r unlock_s _ < <(measure "$kms" --password-file "$work/pw" decrypt bench "$work/empty.kms" -)

# Each run starts with no dirty pages: a background flush of the last
# run's output would otherwise compete with the next for the two cores.
sync
read -r encnull_s enc_rss < <(measure "$kms" --password-file "$work/pw" encrypt bench "$work/plain" -)
"$kms" --password-file "$work/pw" encrypt bench "$work/plain" "$work/plain.kms" > /dev/null
sync
read -r dec_s dec_rss < <(measure "$kms" --password-file "$work/pw" decrypt bench "$work/plain.kms" -)
sync
# To files as well (written, flushed to disk, renamed): the disk's share.
read -r enc_s _ < <(measure "$kms" --password-file "$work/pw" encrypt bench "$work/plain" "$work/plain2.kms")
sync
read -r decfile_s _ < <(measure "$kms" --password-file "$work/pw" decrypt bench "$work/plain.kms" "$work/back")
cmp -s "$work/plain" "$work/back" || { echo "round trip failed" >&2; exit 1; }
sync
# The disk's ceiling: a plain copy of the file, flushed to disk.
read -r copy_s _ < <(measure dd if="$work/plain" of="$work/copy" bs=1M conv=fsync status=none)

ossl_kbps=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null \
    | awk 'tolower($1) ~ /^aes-256-gcm/ {print $NF}' | sed 's/k$//')

awk -v mib="$size_mib" -v u="$unlock_s" -v e="$enc_s" -v d="$dec_s" -v en="$encnull_s" \
    -v df="$decfile_s" -v er="$enc_rss" -v dr="$dec_rss" -v o="$ossl_kbps" -v c="$copy_s" 'BEGIN {
    mb = mib * 1048576 / 1e6
    omb = o * 1000 / 1e6
    printf "size: %d MiB; openssl speed -evp aes-256-gcm (16 KiB blocks): %.0f MB/s\n", mib, omb
    printf "unlock (PBKDF2 600k, in every figure below): %.2f s\n", u
    printf "%-34s %8s %10s %10s %9s\n", "what", "seconds", "MB/s", "MB/s excl.", "ratio to"
    printf "%-34s %8s %10s %10s %9s\n", "", "", "", "unlock", "openssl"
    row("encrypt, file to file", e); row("encrypt, file to /dev/null", en)
    row("decrypt, file to /dev/null", d); row("decrypt, file to file", df)
    printf "%-34s %8.2f %10.0f   (the disk: dd conv=fsync)\n", "copy, file to file", c, mb / c
    printf "peak RSS: encrypt %.1f MiB, decrypt %.1f MiB\n", er / 1024, dr / 1024
}
function row(name, s) {
    printf "%-34s %8.2f %10.0f %10.0f %8.2fx\n", name, s, mb / s, mb / (s - u), (mb / (s - u)) / omb
}'
