"""Unwrap your own symmetric key from key_store.json, as secure-kms does it,
with Python's `cryptography` and nothing of secure-kms.

    python3 examples/unwrap_key.py alice            # the store in this folder
    python3 examples/unwrap_key.py alice STORE_DIR  # or another one

The password is asked without echo (or read from standard input when it is
not a terminal). The key is never printed: only its SHA-256, which must be
the "fingerprint" the store holds. docs/formats.md explains each step."""
import base64, getpass, hashlib, json, os, sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

user, folder = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else ".")
sym = json.load(open(os.path.join(folder, "key_store.json")))[user]["symmetric"]
assert sym["binding"] == 2, "keys migrated from store format 1 bind other data"
tty = sys.stdin.isatty()
password = getpass.getpass("Password: ") if tty else sys.stdin.readline().rstrip("\r\n")

# 1. PBKDF2-HMAC-SHA256 stretches the password into a 32-byte master key.
salt = base64.b64decode(sym["salt"])
master = PBKDF2HMAC(hashes.SHA256(), 32, salt, sym["iterations"]).derive(password.encode())
# 2. HKDF-Expand (no extract: the master key is already uniform) makes the
#    key that wraps symmetric keys and nothing else.
info = b"secure-kms v1 symmetric key wrap"
wrapping_key = HKDFExpand(hashes.SHA256(), 32, info).derive(master)
# 3. The associated data binds the ciphertext to its owner, role, version,
#    lifetime and ID; times are written as Rust prints them (1000, not 1000.0).
num = lambda t: str(int(t)) if float(t).is_integer() else repr(float(t))
aad = "secure-kms/v2/{}/symmetric/{}/{}/{}/{}".format(
    user, sym["version"], num(sym["created"]), num(sym["expiry"]), sym["fingerprint"])
# 4. AES-256-GCM checks the 16-byte tag at the end of "key", then decrypts.
nonce, sealed = base64.b64decode(sym["nonce"]), base64.b64decode(sym["key"])
try:
    key = AESGCM(wrapping_key).decrypt(nonce, sealed, aad.encode())
except InvalidTag:  # as opaque as secure-kms: which input was wrong stays unsaid
    sys.exit(f"wrong password for {user}, or the record was edited")

fingerprint = hashlib.sha256(key).hexdigest()
print(f"unwrapped {len(key)}-byte key version {sym['version']} of {user}")
print(f"SHA-256 of the key: {fingerprint}")
print("matches the store's fingerprint" if fingerprint == sym["fingerprint"] else "MISMATCH")
sys.exit(0 if fingerprint == sym["fingerprint"] else 1)
