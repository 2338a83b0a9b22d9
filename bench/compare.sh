#!/usr/bin/env bash
# secure-kms against OpenSSL and Python `cryptography`, measured in one run,
# with a ratio for each row (docs/BENCHMARKS.md):
#
#   bench/compare.sh [FILE_MIB]      (default 1024, for the bulk AES-GCM row)
#
# Needs: cargo, openssl, hyperfine (Debian: apt install hyperfine), python3
# with venv. Makes bench/.venv with `cryptography` from PyPI on first use.
# Ours comes from criterion (`cargo bench -p secure-kms-benches --bench primitives`, medians),
# the release binary and the dev-profile binary; OpenSSL from `openssl
# speed` (ops per second) and hyperfine over its CLI; Python from
# bench/python_primitives.py (medians) and bench/python_model.py (the
# original's session, modelled at our parameters).
set -euo pipefail

file_mib=${1:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in hyperfine openssl python3; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.json"
echo '{}' > "$results"
# put NAME SIDE SECONDS: one figure into the results.
put() {
    python3 - "$results" "$1" "$2" "$3" << 'EOF'
import json, sys
path, name, side, value = sys.argv[1:]
d = json.load(open(path))
d.setdefault(name, {})[side] = float(value)
json.dump(d, open(path, "w"))
EOF
}
# mean_of HYPERFINE_JSON: the mean, in seconds.
mean_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$1"; }

echo "== building (release and dev profiles)"
cargo build --release --quiet
cargo build --quiet
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet cryptography
fi
py="$venv/bin/python"
echo "   python: $("$py" -c 'import cryptography, sys; print(sys.version.split()[0], "cryptography", cryptography.__version__)')"
echo "   openssl: $(openssl version)"

echo "== ours: criterion (cargo bench -p secure-kms-benches --bench primitives)"
cargo bench --quiet -p secure-kms-benches --bench primitives > "$work/criterion.txt" 2>&1
for id in rsa_2048/keygen rsa_2048/pss_sign rsa_2048/pss_verify pbkdf2_hmac_sha256/600000 \
    key_agreement/derive/ffdhe2048 key_agreement/derive/x25519 aes_256_gcm/seal/1MiB; do
    ns=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate'])" \
        "target/criterion/$id/new/estimates.json")
    put "$id" ours "$(python3 -c "print($ns / 1e9)")"
done

echo "== python: cryptography"
"$py" bench/python_primitives.py > "$work/python.json"
python3 - "$work/python.json" "$results" << 'EOF'
import json, sys
py, path = json.load(open(sys.argv[1])), sys.argv[2]
d = json.load(open(path))
for name, value in py.items():
    d.setdefault(name, {})["python"] = value
json.dump(d, open(path, "w"))
EOF

echo "== openssl: speed and the CLI"
openssl speed -seconds 5 -mr rsa2048 ffdh2048 ecdhx25519 2> /dev/null > "$work/speed.txt"
put rsa_2048/pss_sign openssl "$(awk -F: '/^\+F2:/ {print 1 / $4}' "$work/speed.txt")"
put rsa_2048/pss_verify openssl "$(awk -F: '/^\+F2:/ {print 1 / $5}' "$work/speed.txt")"
put key_agreement/derive/ffdhe2048 openssl "$(awk -F: '/^\+F8:/ {print 1 / $4}' "$work/speed.txt")"
put key_agreement/derive/x25519 openssl "$(awk -F: '/^\+F5:/ {print 1 / $4}' "$work/speed.txt")"
gcm=$(openssl speed -seconds 5 -mr -bytes 1048576 -evp aes-256-gcm 2> /dev/null | awk -F: '/^\+F:/ {print $4}')
put aes_256_gcm/seal/1MiB openssl "$(python3 -c "print(1048576 / $gcm)")"
hyperfine --warmup 3 --runs 40 --export-json "$work/genpkey.json" \
    'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out /dev/null' > /dev/null
put rsa_2048/keygen openssl "$(mean_of "$work/genpkey.json")"
hyperfine --warmup 2 --runs 15 --export-json "$work/kdf.json" \
    'openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:password -kdfopt hexsalt:01010101010101010101010101010101 -kdfopt iter:600000 PBKDF2' > /dev/null
put pbkdf2_hmac_sha256/600000 openssl "$(mean_of "$work/kdf.json")"

echo "== the session: ours (release, dev) against the Python model"
printf 'alice\nclassroom password\nno\n' > "$work/input"
mkdir -p "$work/py"
hyperfine --warmup 3 --runs 30 --export-json "$work/session_release.json" \
    --prepare "rm -rf $work/s" "$root/target/release/secure-kms --store $work/s < $work/input" > /dev/null
hyperfine --warmup 3 --runs 30 --export-json "$work/session_dev.json" \
    --prepare "rm -rf $work/s" "$root/target/debug/secure-kms --store $work/s < $work/input" > /dev/null
hyperfine --warmup 3 --runs 30 --export-json "$work/session_python.json" \
    --prepare "rm -f $work/py/*.json" "cd $work/py && $py $root/bench/python_model.py < $work/input" > /dev/null
put session ours "$(mean_of "$work/session_release.json")"
put session python "$(mean_of "$work/session_python.json")"
put "session, dev profile (cargo run)" ours "$(mean_of "$work/session_dev.json")"
put "session, dev profile (cargo run)" release "$(mean_of "$work/session_release.json")"

echo "== results (seconds per operation; ratio = ours / theirs, lower is better for us)"
python3 - "$results" << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
fmt = lambda s: "-" if s is None else (f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s")
ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.2f}x"
print(f"| {'what':34} | {'ours':>11} | {'openssl':>11} | {'python':>11} | {'vs openssl':>10} | {'vs python':>9} |")
print(f"|{'-' * 36}|{'-' * 13}|{'-' * 13}|{'-' * 13}|{'-' * 12}|{'-' * 11}|")
for name, v in d.items():
    other = v.get("openssl", v.get("release"))
    print(f"| {name:34} | {fmt(v.get('ours')):>11} | {fmt(other):>11} | {fmt(v.get('python')):>11} | "
          f"{ratio(v.get('ours'), other):>10} | {ratio(v.get('ours'), v.get('python')):>9} |")
print("(for the dev-profile row, the 'openssl' column is the release binary)")
EOF

echo "== bulk AES-256-GCM: a ${file_mib} MiB file (bench/file_encryption.sh)"
bench/file_encryption.sh "$file_mib"
