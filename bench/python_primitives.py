"""Python `cryptography` timings of the primitives bench/compare.sh compares,
at the parameters secure-kms uses. Prints JSON: name -> median seconds."""
import json
import os
import statistics
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dh, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

FFDHE2048_P = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695"
    "A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617A"
    "D3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935"
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797A"
    "BC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4"
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61"
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005"
    "C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF",
    16,
)


def median(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    out = {}
    out["rsa_2048/keygen"] = median(
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), 30
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    message = b"\x42" * 256
    signature = key.sign(message, pss, hashes.SHA256())
    out["rsa_2048/pss_sign"] = median(lambda: key.sign(message, pss, hashes.SHA256()), 200)
    public = key.public_key()
    out["rsa_2048/pss_verify"] = median(
        lambda: public.verify(signature, message, pss, hashes.SHA256()), 2000
    )
    out["pbkdf2_hmac_sha256/600000"] = median(
        lambda: PBKDF2HMAC(hashes.SHA256(), 32, b"\x01" * 16, 600_000).derive(b"password"), 7
    )
    params = dh.DHParameterNumbers(FFDHE2048_P, 2).parameters()
    a, b = params.generate_private_key(), params.generate_private_key()
    peer = b.public_key()
    out["key_agreement/derive/ffdhe2048"] = median(lambda: a.exchange(peer), 100)
    xa, xb = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    xpeer = xb.public_key()
    out["key_agreement/derive/x25519"] = median(lambda: xa.exchange(xpeer), 2000)
    aes = AESGCM(os.urandom(32))
    mib = os.urandom(1 << 20)
    out["aes_256_gcm/seal/1MiB"] = median(lambda: aes.encrypt(b"\x09" * 12, mib, b"aad"), 200)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
