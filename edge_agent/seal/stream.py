"""The body: ChaCha20-Poly1305 in fixed-size chunks, STREAM style.

Chunk ``i`` is sealed with nonce = 11-byte big-endian ``i`` || one flag byte (1 on the last chunk, else 0),
so a dropped, repeated, reordered or truncated chunk fails authentication. Every chunk carries the SHA-256 of
the header bytes as associated data, which ties the body to its header (chunk size, length, recipients).

The content key is never used directly: HKDF-SHA256 derives the body key and a key commitment from it. The
commitment sits in the signed header, so a device cannot wrap different keys to the center and to the archive
that open the same ciphertext to different videos (AEADs like ChaCha20-Poly1305 do not commit to their key).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TAG_LEN = 16
CONTENT_KEY_LEN = 32
BODY_KEY_INFO = b"edge-agent seal v1 body key"
COMMIT_INFO = b"edge-agent seal v1 key commitment"


def _hkdf(content_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(content_key)


def body_key(content_key: bytes) -> bytes:
    return _hkdf(content_key, BODY_KEY_INFO)


def key_commitment(content_key: bytes) -> bytes:
    return _hkdf(content_key, COMMIT_INFO)


def chunk_count(plaintext_len: int, chunk_size: int) -> int:
    """An empty body is still one (empty, final) chunk, so that "no body" cannot be faked by truncation."""
    return max(1, -(-plaintext_len // chunk_size))


def body_len(plaintext_len: int, chunk_size: int) -> int:
    return plaintext_len + TAG_LEN * chunk_count(plaintext_len, chunk_size)


def chunk_nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypt_body(key: bytes, plaintext: bytes, chunk_size: int, aad: bytes) -> bytes:
    aead = ChaCha20Poly1305(key)
    count = chunk_count(len(plaintext), chunk_size)
    view = memoryview(plaintext)
    parts = [
        aead.encrypt(chunk_nonce(i, i == count - 1), view[i * chunk_size : (i + 1) * chunk_size], aad)
        for i in range(count)
    ]
    return b"".join(parts)


def decrypt_body(key: bytes, body: memoryview, plaintext_len: int, chunk_size: int, aad: bytes) -> bytes:
    """Decrypt every chunk. Raises ``cryptography.exceptions.InvalidTag`` on any damage (the caller converts)."""
    aead = ChaCha20Poly1305(key)
    count = chunk_count(plaintext_len, chunk_size)
    step = chunk_size + TAG_LEN
    parts = [aead.decrypt(chunk_nonce(i, i == count - 1), body[i * step : (i + 1) * step], aad) for i in range(count)]
    return b"".join(parts)
