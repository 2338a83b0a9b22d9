#!/usr/bin/env bash
# Stress test of the store's locking and crash safety (docs/RELIABILITY.md).
#
#   bench/stress.sh [PROCESSES] [OPERATIONS] [KILLS]    (default 32 500 500)
#
# 1. PROCESSES processes at once, OPERATIONS changes in all: each process
#    makes its own user, then rotates and revokes versions in turn. Checks
#    that every change is in the store, the revocation list and the log.
#    (PROCESSES 0 skips this part.)
# 2. KILLS times: start `rotate`, SIGKILL it at a random moment of its
#    run, then check that the store, the revocation list and the log hold
#    the old state or the new one and agree (`audit --verify`
#    cross-checks them), and that the versions match the log's rotations.
#
# Uses the release binary (built if needed) and python3 for counting.
set -euo pipefail

procs=${1:-32}
ops=${2:-500}
kills=${3:-500}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
kms="$root/target/release/secure-kms"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "a stress-test password" > "$work/pw"
run() { "$kms" --store "$work/kms" --password-file "$work/pw" "$@"; }
count() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

if (( procs > 0 )); then
echo "== $procs processes, $ops operations"
per=$(( (ops + procs - 1) / procs ))
start=$(date +%s.%N)
for p in $(seq 1 "$procs"); do
    (
        run keygen "user$p" > /dev/null
        for i in $(seq 2 "$per"); do
            if (( i % 3 == 0 )); then
                run revoke "user$p" --version $(( i / 3 )) --reason superseded > /dev/null
            else
                run rotate "user$p" > /dev/null
            fi
        done
    ) &
done
wait
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
run audit --verify > /dev/null
events=$(run --json audit | count 'print(len(d))')
versions=$(run --json list | count 'print(sum(1 for u in d))')
revoked=$(run --json revoked | count 'print(len(d))')
expected_revoked=$(( procs * (per / 3) ))
echo "   $events log lines for $(( procs * per )) operations, $versions users, $revoked revocations (expected $expected_revoked), ${elapsed}s"
[[ $events -eq $(( procs * per )) && $versions -eq $procs && $revoked -eq $expected_revoked ]] \
    || { echo "FAILED: a change is missing"; exit 1; }
fi

echo "== $kills kills of rotate at random moments"
rm -rf "$work/kms"
run keygen alice > /dev/null
# The fastest of five runs: the kills must land inside a run, not after it.
typical_ns=0
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    run rotate alice > /dev/null
    t=$(( $(date +%s%N) - t0 ))
    if (( typical_ns == 0 || t < typical_ns )); then typical_ns=$t; fi
done
old=0; new=0; killed=0
for k in $(seq 1 "$kills"); do
    before=$(run --json status alice | count 'print(len(d["versions"]))')
    # The binary itself, not a shell function: a kill must hit it.
    "$kms" --store "$work/kms" --password-file "$work/pw" rotate alice > /dev/null 2>&1 &
    pid=$!
    # Anywhere from the start to just past the end of a fast run.
    sleep "$(python3 -c "import random; print($typical_ns * 1.1 * random.random() / 1e9)")"
    kill -KILL "$pid" 2> /dev/null || true
    status=0; wait "$pid" 2> /dev/null || status=$?
    (( status == 137 )) && killed=$((killed + 1))
    run audit --verify > /dev/null || { echo "FAILED after kill $k: audit --verify"; exit 1; }
    after=$(run --json status alice | count 'print(len(d["versions"]))')
    rotations=$(run --json audit | count 'print(sum(1 for e in d if e["event"] == "rotated"))')
    if (( after == before )); then old=$((old + 1));
    elif (( after == before + 1 )); then new=$((new + 1));
    else echo "FAILED after kill $k: $before -> $after versions"; exit 1; fi
    (( rotations + 1 == after )) || { echo "FAILED after kill $k: log and store disagree"; exit 1; }
done
echo "   $kills kill attempts (fastest run $(( typical_ns / 1000000 )) ms), $killed of them hit a running rotate: $old left the old state, $new the new one; all consistent"
