"""A small model of the original classroom script's session, written with
`cryptography` at secure-kms's parameters (PBKDF2-HMAC-SHA256 at 600,000
rounds, RSA-2048, the fixed RFC 7919 ffdhe2048 group, AES-256-GCM), for
bench/compare.sh to time against `secure-kms` on the same input:

    printf 'alice\\npassword\\nno\\n' | python3 bench/python_model.py

It does the same work as the session for a new user: one PBKDF2 run, an
AES key and an RSA key pair wrapped under it, both files written whole,
a Diffie-Hellman exchange with both public values signed (RSA-PSS) and
verified, HKDF on both sides, the revoke question, and the final store
printed. It is a benchmark model, not a second implementation to use."""
import base64
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

sys.path.insert(0, os.path.dirname(__file__))
from python_primitives import FFDHE2048_P  # noqa: E402

b64 = lambda b: base64.b64encode(b).decode()


def write_json(path, value):
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(value, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    user = input("Enter the user ID: ").strip()
    password = input("Enter the password: ").encode()
    store = json.load(open("key_store.json")) if os.path.exists("key_store.json") else {}
    salt = os.urandom(16)
    wrap_key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 600_000).derive(password)
    aes = AESGCM(wrap_key)
    sym = AESGCM.generate_key(256)
    n1 = os.urandom(12)
    expiry = time.time() + 3600
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    n2 = os.urandom(12)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    store[user] = {
        "symmetric": {"key": b64(aes.encrypt(n1, sym, user.encode())), "nonce": b64(n1), "expiry": expiry},
        "private": {"salt": b64(salt), "key": b64(aes.encrypt(n2, der, user.encode())), "nonce": b64(n2)},
        "public": public_pem,
    }
    write_json("key_store.json", store)
    print(f"Symmetric key stored for {user}, expires in 3600 seconds")
    print(f"Asymmetric keys stored securely for {user}")
    print("Keys Generated and Stored Securely:")
    print("Symmetric key (hashed):", hashlib.sha256(sym).hexdigest()[:16])
    params = dh.DHParameterNumbers(FFDHE2048_P, 2).parameters()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    a, b = params.generate_private_key(), params.generate_private_key()
    raw = lambda k: k.public_key().public_numbers().y.to_bytes(256, "big")
    sig_a = private.sign(raw(a), pss, hashes.SHA256())
    sig_b = private.sign(raw(b), pss, hashes.SHA256())
    private.public_key().verify(sig_a, raw(a), pss, hashes.SHA256())
    private.public_key().verify(sig_b, raw(b), pss, hashes.SHA256())
    print("Public keys authenticated!")
    hkdf = lambda z: HKDF(hashes.SHA256(), 32, None, b"key exchange").derive(z)
    ka, kb = hkdf(a.exchange(b.public_key())), hkdf(b.exchange(a.public_key()))
    assert ka == kb
    print("Secure symmetric key derived!", hashlib.sha256(ka).hexdigest()[:16])
    answer = input("Do you want to revoke keys? (yes/no): ").strip().lower()
    revoked = json.load(open("revoked_keys.json")) if os.path.exists("revoked_keys.json") else []
    if answer == "yes":
        revoked.append({"user_id": user, "revoked_at": time.time()})
        write_json("revoked_keys.json", revoked)
        print(f"Key revoked for {user}")
    print("Final Key Store State:")
    print(json.dumps(store, indent=2))


if __name__ == "__main__":
    main()
