#!/usr/bin/env bash
# How single-user commands scale with the store's size (docs/BENCHMARKS.md):
# stores of 10, 1,000 and 10,000 users (examples/make_store.rs), each command
# timed with hyperfine on a fresh copy of the store, and the floor measured
# in the same run: reading both files and writing one atomic copy of them
# (write, fsync, rename). The target: at 10,000 users, a command's extra
# time over 10 users is at most 2x that floor (the PBKDF2 time is the same
# at every size, so it cancels out of the difference).
#
# The floor is measured two ways. `cat` and `cp`: cat reads through a small
# buffer, and cp copies inside the kernel (copy_file_range), so no byte
# passes through the program's memory. `dd bs=64M conv=fsync`: each file is
# read whole into memory and written from there, as any program that
# rewrites the file must (it makes the new text in its own memory).
#
#   bench/store_scale.sh [SIZES...]      (default 10 1000 10000)
set -euo pipefail

sizes=("${@:-10 1000 10000}")
read -r -a sizes <<< "${sizes[*]}"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v hyperfine > /dev/null || { echo "needs hyperfine" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet --example make_store
kms="$root/target/release/secure-kms"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "scale password" > "$work/pw"
printf 'zed\nscale password\nno\n' > "$work/session"

# time NAME PREPARE COMMAND: the mean in seconds, into $work/NAME.json.
time_it() {
    hyperfine --warmup 1 --runs "${RUNS:-10}" --export-json "$work/$1.json" \
        --prepare "$2" "$3" > /dev/null
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$work/$1.json"
}

printf '%-8s %-22s %10s\n' users command seconds > "$work/table"
for n in "${sizes[@]}"; do
    "$root/target/release/examples/make_store" "$work/base$n" "$n" "$work/pw" > /dev/null
    # alice: version 2 active, version 1 revoked, so both files have content.
    "$kms" --store "$work/base$n" --password-file "$work/pw" rotate alice > /dev/null
    "$kms" --store "$work/base$n" --password-file "$work/pw" revoke alice --version 1 --reason superseded > /dev/null
    s="$work/s$n"
    fresh="rm -rf $s && cp -a $work/base$n $s"
    eval "$fresh"
    floor=$(time_it floor$n "$fresh" \
        "cat $s/key_store.json $s/revoked_keys.json > /dev/null && cp $s/key_store.json $s/copy.tmp && cp $s/revoked_keys.json $s/copy2.tmp && sync $s/copy.tmp $s/copy2.tmp && mv $s/copy.tmp $s/copy.json && mv $s/copy2.tmp $s/copy2.json")
    printf '%-8s %-22s %10.4f\n' "$n" "floor (read + write)" "$floor" >> "$work/table"
    floor_mem=$(time_it floormem$n "$fresh" \
        "dd if=$s/key_store.json of=$s/copy.tmp bs=64M conv=fsync status=none && dd if=$s/revoked_keys.json of=$s/copy2.tmp bs=64M conv=fsync status=none && mv $s/copy.tmp $s/copy.json && mv $s/copy2.tmp $s/copy2.json")
    printf '%-8s %-22s %10.4f\n' "$n" "floor in memory" "$floor_mem" >> "$work/table"
    for cmd in "status alice" "list" "keygen newuser" "revoke alice --version 2" "session (new user)"; do
        if [ "$cmd" = "session (new user)" ]; then
            line="$kms --store $s < $work/session"
        else
            line="$kms --store $s --password-file $work/pw $cmd"
        fi
        t=$(time_it "$(echo "$cmd" | tr ' ()' '___')$n" "$fresh" "$line > /dev/null")
        printf '%-8s %-22s %10.4f\n' "$n" "$cmd" "$t" >> "$work/table"
    done
done
cat "$work/table"
python3 - "$work/table" "${sizes[0]}" "${sizes[-1]}" << 'EOF'
import sys
rows = [l.split(None, 1) for l in open(sys.argv[1]).read().splitlines()[1:]]
t = {}
for users, rest in rows:
    name, secs = rest.rsplit(None, 1)
    t[(int(users), name.strip())] = float(secs)
small, big = int(sys.argv[2]), int(sys.argv[3])
floor = t[(big, "floor (read + write)")]
floor_mem = t[(big, "floor in memory")]
print(f"\nat {big} users: extra time over {small} users, against the floor "
      f"(cat + cp: {floor * 1e3:.1f} ms; in memory, dd: {floor_mem * 1e3:.1f} ms); target 2x")
for (users, name), secs in sorted(t.items()):
    if users != big or name.startswith("floor"):
        continue
    extra = secs - t[(small, name)]
    print(f"  {name:24} {extra * 1e3:8.1f} ms  = {extra / floor:5.2f}x cat + cp, {extra / floor_mem:5.2f}x in memory")
EOF
