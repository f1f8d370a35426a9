"""Pure-Python SM2 digital signatures (GB/T 32918, curve sm2p256v1) with SM3.

What is here:

* :func:`sm3` -- SM3 (GB/T 32905) through ``hashlib`` when OpenSSL provides it, else a
  pure-Python implementation (:func:`sm3_pure`, also used by the tests);
* :class:`SM2PrivateKey` / :class:`SM2PublicKey` -- key generation, signing, verification,
  including the ``Z_A`` user-ID prefix (default user ID ``b"1234567812345678"``);
* DER: signatures (``SEQUENCE {r, s}``), SubjectPublicKeyInfo (``id-ecPublicKey`` with the
  ``sm2p256v1`` curve OID ``1.2.156.10197.1.301``), PKCS#8 private keys that ``openssl pkey``
  reads, and reading OpenSSL-written keys (PKCS#8 ``PRIVATE KEY``, SEC1 ``EC PRIVATE KEY`` /
  ``SM2 PRIVATE KEY``, ``PUBLIC KEY``).

Speed: points are kept in Jacobian coordinates; ``k*G`` uses a precomputed fixed-base table
(8-bit windows, 32 x 255 affine points, built once on first use, about 0.07 s), so a
signature costs about 0.2 ms. Verification adds a width-5 wNAF multiplication of the public
key (about 1 ms); keys verified repeatedly get their own cached 4-bit table (about 0.4 ms).

This module is not hardened against timing side channels (Python integers are not constant
time). It is meant for labelling metadata, where a signing key lives on the labelling host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from synthlabel.errors import KeyStoreError, SigningError
from synthlabel.model import _sm2_ossl

__all__ = [
    "DEFAULT_USER_ID",
    "OID_EC_PUBLIC_KEY",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "SM2PrivateKey",
    "SM2PublicKey",
    "decode_signature",
    "encode_signature",
    "generate_private_key",
    "is_sm2_private_der",
    "is_sm2_spki",
    "load_private_key_der",
    "load_private_key_pem",
    "load_public_key_der",
    "load_public_key_pem",
    "pem_decode",
    "pem_encode",
    "sm3",
    "sm3_pure",
    "spki_algorithm",
]

# ---------------------------------------------------------------------------------------
# Curve sm2p256v1 (GB/T 32918.5-2017)
# ---------------------------------------------------------------------------------------
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC  # = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

DEFAULT_USER_ID = b"1234567812345678"

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"

# A Jacobian point is (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z == 0 is the point at infinity.
Jac = tuple[int, int, int]
Aff = tuple[int, int]
_INF: Jac = (1, 1, 0)


# ---------------------------------------------------------------------------------------
# SM3
# ---------------------------------------------------------------------------------------
_SM3_IV = (
    0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600,
    0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E,
)  # fmt: skip
_M32 = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    n &= 31
    return ((x << n) | (x >> (32 - n))) & _M32


_SM3_T = [_rotl(0x79CC4519 if j < 16 else 0x7A879D8A, j % 32) for j in range(64)]


def _sm3_compress(v: list[int], block: bytes) -> list[int]:
    w = list(struct.unpack(">16I", block))
    for j in range(16, 68):
        x = w[j - 16] ^ w[j - 9] ^ _rotl(w[j - 3], 15)
        x = x ^ _rotl(x, 15) ^ _rotl(x, 23)
        w.append(x ^ _rotl(w[j - 13], 7) ^ w[j - 6])
    a, b, c, d, e, f, g, h = v
    for j in range(64):
        a12 = _rotl(a, 12)
        ss1 = _rotl((a12 + e + _SM3_T[j]) & _M32, 7)
        ss2 = ss1 ^ a12
        if j < 16:
            ff = a ^ b ^ c
            gg = e ^ f ^ g
        else:
            ff = (a & b) | (a & c) | (b & c)
            gg = (e & f) | (~e & g)
        tt1 = (ff + d + ss2 + (w[j] ^ w[j + 4])) & _M32
        tt2 = (gg + h + ss1 + w[j]) & _M32
        d = c
        c = _rotl(b, 9)
        b = a
        a = tt1
        h = g
        g = _rotl(f, 19)
        f = e
        e = tt2 ^ _rotl(tt2, 9) ^ _rotl(tt2, 17)
    return [x ^ y for x, y in zip(v, (a, b, c, d, e, f, g, h), strict=True)]


def sm3_pure(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905-2016) in pure Python; used when ``hashlib`` lacks ``sm3``."""
    bit_len = len(data) * 8
    padded = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack(">Q", bit_len)
    v = list(_SM3_IV)
    for i in range(0, len(padded), 64):
        v = _sm3_compress(v, padded[i : i + 64])
    return struct.pack(">8I", *v)


def _hashlib_sm3() -> Callable[[bytes], bytes] | None:
    try:
        hashlib.new("sm3", b"abc")
    except (ValueError, TypeError):
        return None

    def _sm3(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    return _sm3


_SM3_IMPL = _hashlib_sm3()
#: True when SM3 comes from OpenSSL through hashlib (fast path).
SM3_NATIVE = _SM3_IMPL is not None


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (32 bytes)."""
    if _SM3_IMPL is not None:
        return _SM3_IMPL(data)
    return sm3_pure(data)


# ---------------------------------------------------------------------------------------
# Point arithmetic (a = -3)
# ---------------------------------------------------------------------------------------
def _jdouble(pt: Jac) -> Jac:
    x1, y1, z1 = pt
    if z1 == 0 or y1 == 0:
        return _INF
    p = P
    delta = z1 * z1 % p
    gamma = y1 * y1 % p
    beta = x1 * gamma % p
    alpha = 3 * (x1 - delta) * (x1 + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return (x3, y3, z3)


def _jadd_affine(pt: Jac, x2: int, y2: int) -> Jac:
    """Jacobian + affine (mixed addition)."""
    x1, y1, z1 = pt
    if z1 == 0:
        return (x2, y2, 1)
    p = P
    z1z1 = z1 * z1 % p
    u2 = x2 * z1z1 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - x1) % p
    r = (s2 - y1) % p
    if h == 0:
        if r == 0:
            return _jdouble((x2, y2, 1))
        return _INF
    hh = h * h % p
    hhh = hh * h % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - y1 * hhh) % p
    z3 = z1 * h % p
    return (x3, y3, z3)


def _jadd(p1: Jac, p2: Jac) -> Jac:
    """Jacobian + Jacobian."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    p = P
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        if r == 0:
            return _jdouble(p1)
        return _INF
    hh = h * h % p
    hhh = hh * h % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = z1 * z2 * h % p
    return (x3, y3, z3)


def _to_affine(pt: Jac) -> Aff | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def _batch_affine(points: Sequence[Jac]) -> list[Aff]:
    """Normalise many non-infinite Jacobian points with one inversion (Montgomery's trick)."""
    p = P
    prefix: list[int] = []
    acc = 1
    for _x, _y, z in points:
        prefix.append(acc)
        acc = acc * z % p
    inv = pow(acc, -1, p)
    out: list[Aff] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inv * prefix[i] % p
        inv = inv * z % p
        zi2 = zi * zi % p
        out[i] = (x * zi2 % p, y * zi2 * zi % p)
    return out


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


# Fixed-base tables: table[i][j - 1] = j * 2^(w i) * P (affine), j = 1..2^w - 1.
# G uses 8-bit windows (32 x 255 points, built once on first use); public keys that are
# verified repeatedly get a 4-bit table (64 x 15 points) from the third verification on.
_G_WINDOW = 8
_KEY_WINDOW = 4
_KEY_TABLE_AFTER = 2  # uses before a key gets its own table
_KEY_CACHE_MAX = 32
_G_TABLE: list[list[Aff]] | None = None
_LOCK = threading.Lock()
_KEY_TABLES: dict[tuple[int, int], list[list[Aff]] | int] = {}


def _build_table(x: int, y: int, window: int) -> list[list[Aff]]:
    table: list[list[Aff]] = []
    size = 1 << window
    base: Jac = (x, y, 1)
    for _ in range((256 + window - 1) // window):
        base_aff = _to_affine(base)
        assert base_aff is not None
        row: list[Jac] = [base]
        for _j in range(2, size):
            row.append(_jadd_affine(row[-1], *base_aff))
        aff_row = _batch_affine(row)
        table.append(aff_row)
        # next base = 2^w * base = 2 * (2^(w-1) * base)
        base = _jdouble((*aff_row[(size >> 1) - 1], 1))
    return table


def _g_table() -> list[list[Aff]]:
    global _G_TABLE
    table = _G_TABLE
    if table is None:
        with _LOCK:
            if _G_TABLE is None:
                _G_TABLE = _build_table(GX, GY, _G_WINDOW)
            table = _G_TABLE
    return table


def _mul_table(table: list[list[Aff]], k: int, window: int) -> Jac:
    """k * P from P's fixed-base table, 0 <= k < 2^256."""
    mask = (1 << window) - 1
    acc: Jac = _INF
    i = 0
    while k:
        digit = k & mask
        if digit:
            x, y = table[i][digit - 1]
            acc = _jadd_affine(acc, x, y)
        k >>= window
        i += 1
    return acc


def _mul_g(k: int) -> Jac:
    """k * G in Jacobian coordinates, 0 <= k < 2^256."""
    return _mul_table(_g_table(), k, _G_WINDOW)


def _mul_key(k: int, x: int, y: int) -> Jac:
    """k * (x, y) for a public key: a cached table once the key has been seen a few times."""
    pt = (x, y)
    with _LOCK:
        entry = _KEY_TABLES.get(pt, 0)
        if isinstance(entry, int):
            if entry < _KEY_TABLE_AFTER:
                if len(_KEY_TABLES) >= _KEY_CACHE_MAX:
                    _KEY_TABLES.pop(next(iter(_KEY_TABLES)))
                _KEY_TABLES[pt] = entry + 1
                table = None
            else:
                table = _build_table(x, y, _KEY_WINDOW)
                _KEY_TABLES[pt] = table
        else:
            table = entry
    if table is None:
        return _mul_point(k, x, y)
    return _mul_table(table, k, _KEY_WINDOW)


def _wnaf(k: int, w: int = 5) -> list[int]:
    digits: list[int] = []
    full = 1 << w
    half = full >> 1
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


def _mul_point(k: int, x: int, y: int) -> Jac:
    """k * (x, y) with a width-5 wNAF over precomputed odd multiples."""
    base: Jac = (x, y, 1)
    two = _jdouble(base)
    odd: list[Jac] = [base]
    for _ in range(7):  # 1P, 3P, ..., 15P
        odd.append(_jadd(odd[-1], two))
    if any(pt[2] == 0 for pt in odd):  # cannot happen for a point of prime order N
        raise SigningError("degenerate SM2 public key")
    aff = _batch_affine(odd)
    acc: Jac = _INF
    for d in reversed(_wnaf(k)):
        acc = _jdouble(acc)
        if d > 0:
            ax, ay = aff[d >> 1]
            acc = _jadd_affine(acc, ax, ay)
        elif d < 0:
            ax, ay = aff[(-d) >> 1]
            acc = _jadd_affine(acc, ax, P - ay)
    return acc


# ---------------------------------------------------------------------------------------
# Minimal DER
# ---------------------------------------------------------------------------------------
def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _der_int(v: int) -> bytes:
    raw = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return _tlv(0x02, raw)


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray()
    for v in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _der_seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


class _DerError(ValueError):
    pass


def _der_read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``pos``: (tag, content, next position)."""
    if pos + 2 > len(data):
        raise _DerError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes == 0 or nbytes > 4 or pos + nbytes > len(data):
            raise _DerError("bad DER length")
        length = int.from_bytes(data[pos : pos + nbytes], "big")
        pos += nbytes
    end = pos + length
    if end > len(data):
        raise _DerError("truncated DER")
    return tag, data[pos:end], end


def _der_items(content: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(content):
        tag, value, pos = _der_read(content, pos)
        items.append((tag, value))
    return items


def _der_expect_seq(data: bytes) -> list[tuple[int, bytes]]:
    tag, content, end = _der_read(data)
    if tag != 0x30:
        raise _DerError("expected a DER SEQUENCE")
    if end != len(data):
        raise _DerError("trailing bytes after DER SEQUENCE")
    return _der_items(content)


def _oid_str(content: bytes) -> str:
    if not content:
        raise _DerError("empty OID")
    values: list[int] = []
    v = 0
    for byte in content:
        v = (v << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(v)
            v = 0
    first = values[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(x) for x in [*head, *values[1:]])


def _int_from_der(content: bytes) -> int:
    if not content:
        raise _DerError("empty INTEGER")
    if content[0] & 0x80:
        raise _DerError("negative INTEGER")
    return int.from_bytes(content, "big")


# ---------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------
def encode_signature(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { INTEGER r, INTEGER s }`` (GB/T 35276 / OpenSSL format)."""
    return _der_seq(_der_int(r), _der_int(s))


def decode_signature(sig: bytes) -> tuple[int, int]:
    """Parse a DER signature, or a raw 64-byte ``r || s``. Raises ``ValueError``."""
    if len(sig) == 64 and sig[0] != 0x30:
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    try:
        items = _der_expect_seq(sig)
    except _DerError:
        if len(sig) == 64:
            return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        raise
    if len(items) != 2 or items[0][0] != 0x02 or items[1][0] != 0x02:
        if len(sig) == 64:
            return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        raise _DerError("signature is not SEQUENCE { INTEGER, INTEGER }")
    return _int_from_der(items[0][1]), _int_from_der(items[1][1])


# ---------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------
def _za(user_id: bytes, x: int, y: int) -> bytes:
    entl = len(user_id) * 8
    if entl > 0xFFFF:
        raise SigningError("SM2 user ID too long")
    return sm3(
        entl.to_bytes(2, "big")
        + user_id
        + b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY, x, y))
    )


def _bits2int(data: bytes) -> int:
    return int.from_bytes(data, "big")


@dataclass(frozen=True, slots=True)
class SM2PublicKey:
    """An SM2 public key (affine point on sm2p256v1)."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not _on_curve(self.x, self.y):
            raise KeyStoreError("SM2 public key point is not on curve sm2p256v1")

    # -- encodings ------------------------------------------------------------------
    @property
    def point(self) -> bytes:
        """Uncompressed point ``04 || x || y`` (65 bytes)."""
        return b"\x04" + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")

    @classmethod
    def from_point(cls, data: bytes) -> SM2PublicKey:
        """From an uncompressed (``04``) or compressed (``02``/``03``) point."""
        if len(data) == 65 and data[0] == 4:
            return cls(int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
        if len(data) == 64:
            return cls(int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big"))
        if len(data) == 33 and data[0] in (2, 3):
            x = int.from_bytes(data[1:], "big")
            rhs = (x * x * x + A * x + B) % P
            y = pow(rhs, (P + 1) // 4, P)  # P = 3 mod 4
            if y * y % P != rhs:
                raise KeyStoreError("compressed SM2 point is not on the curve")
            if (y & 1) != (data[0] & 1):
                y = P - y
            return cls(x, y)
        raise KeyStoreError(f"unsupported SM2 public point encoding ({len(data)} bytes)")

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER: id-ecPublicKey, curve 1.2.156.10197.1.301."""
        alg = _der_seq(_der_oid(OID_EC_PUBLIC_KEY), _der_oid(OID_SM2_CURVE))
        return _der_seq(alg, _tlv(0x03, b"\x00" + self.point))

    def to_pem(self) -> str:
        return pem_encode("PUBLIC KEY", self.to_der())

    # -- verification -----------------------------------------------------------------
    def za(self, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        return _za(user_id, self.x, self.y)

    def digest(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> int:
        """``e = SM3(Z_A || M)`` as an integer."""
        return _bits2int(sm3(self.za(user_id) + message))

    def verify(self, message: bytes, signature: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
        """Check a DER (or raw ``r||s``) signature over ``message``. Never raises."""
        try:
            r, s = decode_signature(signature)
        except ValueError:
            return False
        if not (1 <= r < N and 1 <= s < N):
            return False
        fast = _sm2_ossl.verify(self.to_der(), message, encode_signature(r, s), user_id)
        if fast is not None:
            return fast
        return self.verify_rs(self.digest(message, user_id), r, s)

    def verify_rs(self, e: int, r: int, s: int) -> bool:
        if not (1 <= r < N and 1 <= s < N):
            return False
        t = (r + s) % N
        if t == 0:
            return False
        pt = _jadd(_mul_g(s), _mul_key(t, self.x, self.y))
        aff = _to_affine(pt)
        if aff is None:
            return False
        return (e + aff[0]) % N == r


class SM2PrivateKey:
    """An SM2 private key. ``sign`` returns DER; ``Z_A`` is cached per user ID."""

    __slots__ = ("_d", "_inv1d", "_za_cache", "public_key")

    def __init__(self, d: int, public_key: SM2PublicKey | None = None):
        if not 1 <= d <= N - 2:
            raise KeyStoreError("SM2 private key out of range [1, n-2]")
        self._d = d
        self._inv1d = pow(1 + d, -1, N)
        if public_key is None:
            aff = _to_affine(_mul_g(d))
            assert aff is not None
            public_key = SM2PublicKey(*aff)
        self.public_key = public_key
        self._za_cache: dict[bytes, bytes] = {}

    @property
    def d(self) -> int:
        return self._d

    def __repr__(self) -> str:  # never print the secret
        return f"SM2PrivateKey(public={self.public_key.point.hex()[:18]}...)"

    def _za(self, user_id: bytes) -> bytes:
        za = self._za_cache.get(user_id)
        if za is None:
            za = self.public_key.za(user_id)
            if len(self._za_cache) < 16:
                self._za_cache[user_id] = za
        return za

    def sign(
        self,
        message: bytes,
        user_id: bytes = DEFAULT_USER_ID,
        *,
        deterministic: bool = False,
        k: int | None = None,
    ) -> bytes:
        """DER signature over ``message``.

        ``k`` is random (``secrets``) by default; ``deterministic=True`` derives it per
        RFC 6979 with HMAC-SHA256 from the key and ``e``; an explicit ``k`` is for the
        published test vectors only.
        """
        r, s = self.sign_rs(message, user_id, deterministic=deterministic, k=k)
        return encode_signature(r, s)

    def sign_rs(
        self,
        message: bytes,
        user_id: bytes = DEFAULT_USER_ID,
        *,
        deterministic: bool = False,
        k: int | None = None,
    ) -> tuple[int, int]:
        e_bytes = sm3(self._za(user_id) + message)
        e = _bits2int(e_bytes)
        nonces = (
            iter([k]) if k is not None
            else _rfc6979(self._d, e_bytes) if deterministic
            else _random_nonces()
        )  # fmt: skip
        d = self._d
        for kk in nonces:
            if not 1 <= kk < N:
                raise SigningError("SM2 nonce out of range")
            aff = _to_affine(_mul_g(kk))
            assert aff is not None
            r = (e + aff[0]) % N
            if r == 0 or r + kk == N:
                continue
            s = self._inv1d * (kk - r * d) % N
            if s == 0:
                continue
            return r, s
        raise SigningError("SM2 signing failed with the given nonce")

    # -- encodings ------------------------------------------------------------------
    def to_pkcs8_der(self) -> bytes:
        """PKCS#8 ``PrivateKeyInfo`` as OpenSSL 3 writes it for SM2 keys."""
        ec_priv = _der_seq(
            _der_int(1),
            _tlv(0x04, self._d.to_bytes(32, "big")),
            _tlv(0xA1, _tlv(0x03, b"\x00" + self.public_key.point)),
        )
        alg = _der_seq(_der_oid(OID_EC_PUBLIC_KEY), _der_oid(OID_SM2_CURVE))
        return _der_seq(_der_int(0), alg, _tlv(0x04, ec_priv))

    def to_pem(self) -> str:
        """PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``), readable by ``openssl pkey``."""
        return pem_encode("PRIVATE KEY", self.to_pkcs8_der())


def _random_nonces() -> _NonceIter:
    return _NonceIter(lambda: secrets.randbelow(N - 1) + 1)


class _NonceIter:
    def __init__(self, fn: Callable[[], int]):
        self._fn = fn
        self._left = 64

    def __iter__(self) -> _NonceIter:
        return self

    def __next__(self) -> int:
        if self._left <= 0:
            raise StopIteration
        self._left -= 1
        return self._fn()


def _rfc6979(d: int, h1: bytes) -> _NonceIter:
    """RFC 6979 section 3.2 nonce generation with HMAC-SHA256 (qlen = 256)."""
    x = d.to_bytes(32, "big")
    h = (_bits2int(h1) % N).to_bytes(32, "big")
    v = b"\x01" * 32
    key = b"\x00" * 32
    key = hmac.new(key, v + b"\x00" + x + h, hashlib.sha256).digest()
    v = hmac.new(key, v, hashlib.sha256).digest()
    key = hmac.new(key, v + b"\x01" + x + h, hashlib.sha256).digest()
    v = hmac.new(key, v, hashlib.sha256).digest()
    state = [key, v]

    def nxt() -> int:
        k_, v_ = state
        while True:
            v_ = hmac.new(k_, v_, hashlib.sha256).digest()
            cand = _bits2int(v_)
            if 1 <= cand < N:
                # prepare the state for a possible retry (RFC 6979 step h.3)
                k_ = hmac.new(k_, v_ + b"\x00", hashlib.sha256).digest()
                state[0], state[1] = k_, hmac.new(k_, v_, hashlib.sha256).digest()
                return cand
            k_ = hmac.new(k_, v_ + b"\x00", hashlib.sha256).digest()
            v_ = hmac.new(k_, v_, hashlib.sha256).digest()

    return _NonceIter(nxt)


def generate_private_key() -> SM2PrivateKey:
    """A new random SM2 key (``secrets``)."""
    return SM2PrivateKey(secrets.randbelow(N - 2) + 1)


# ---------------------------------------------------------------------------------------
# PEM and key parsing
# ---------------------------------------------------------------------------------------
_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)


def pem_encode(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def pem_decode(data: str | bytes) -> list[tuple[str, bytes]]:
    """All PEM blocks in ``data`` as (label, DER). Headers (``Proc-Type``) are kept out."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    out: list[tuple[str, bytes]] = []
    for m in _PEM_RE.finditer(text):
        body = m.group(2)
        if ":" in body.split("\n", 1)[0]:
            out.append((m.group(1), b""))  # encrypted legacy PEM: caller reports it
            continue
        try:
            out.append((m.group(1), base64.b64decode("".join(body.split()), validate=True)))
        except ValueError as exc:
            raise KeyStoreError(f"PEM block {m.group(1)!r} is not valid base64") from exc
    return out


def _parse_alg(alg_content: bytes) -> tuple[str, str | None]:
    items = _der_items(alg_content)
    if not items or items[0][0] != 0x06:
        raise _DerError("bad AlgorithmIdentifier")
    alg = _oid_str(items[0][1])
    param = _oid_str(items[1][1]) if len(items) > 1 and items[1][0] == 0x06 else None
    return alg, param


def _is_sm2_alg(alg: str, param: str | None) -> bool:
    return (alg == OID_EC_PUBLIC_KEY and param == OID_SM2_CURVE) or alg == OID_SM2_CURVE


def spki_algorithm(der: bytes) -> tuple[str, str | None]:
    """The (algorithm OID, parameter OID or None) of a SubjectPublicKeyInfo. ``ValueError``."""
    items = _der_expect_seq(der)
    if len(items) != 2 or items[0][0] != 0x30 or items[1][0] != 0x03:
        raise _DerError("not a SubjectPublicKeyInfo")
    return _parse_alg(items[0][1])


def is_sm2_spki(der: bytes) -> bool:
    try:
        return _is_sm2_alg(*spki_algorithm(der))
    except ValueError:
        return False


def load_public_key_der(der: bytes) -> SM2PublicKey:
    """Parse an SM2 SubjectPublicKeyInfo. Raises :class:`KeyStoreError`."""
    try:
        items = _der_expect_seq(der)
        if len(items) != 2 or items[0][0] != 0x30 or items[1][0] != 0x03:
            raise _DerError("not a SubjectPublicKeyInfo")
        alg, param = _parse_alg(items[0][1])
    except ValueError as exc:
        raise KeyStoreError(f"cannot parse public key: {exc}") from None
    if not _is_sm2_alg(alg, param):
        raise KeyStoreError(f"not an SM2 public key (algorithm {alg}, parameters {param})")
    bits = items[1][1]
    if not bits or bits[0] != 0:
        raise KeyStoreError("bad BIT STRING in SM2 public key")
    return SM2PublicKey.from_point(bits[1:])


def load_public_key_pem(data: str | bytes) -> SM2PublicKey:
    for label, der in pem_decode(data):
        if label == "PUBLIC KEY":
            return load_public_key_der(der)
    raise KeyStoreError("no '-----BEGIN PUBLIC KEY-----' block found")


def _parse_ec_private(content_der: bytes, curve_hint: str | None) -> SM2PrivateKey:
    items = _der_expect_seq(content_der)
    if len(items) < 2 or items[0][0] != 0x02 or items[1][0] != 0x04:
        raise _DerError("not an ECPrivateKey")
    if _int_from_der(items[0][1]) != 1:
        raise _DerError("unsupported ECPrivateKey version")
    d = int.from_bytes(items[1][1], "big")
    curve = curve_hint
    pub: SM2PublicKey | None = None
    for tag, value in items[2:]:
        if tag == 0xA0:
            inner = _der_items(value)
            if inner and inner[0][0] == 0x06:
                curve = _oid_str(inner[0][1])
            else:
                raise KeyStoreError(
                    "EC private key with explicit curve parameters is not supported"
                )
        elif tag == 0xA1:
            inner = _der_items(value)
            if inner and inner[0][0] == 0x03 and inner[0][1][:1] == b"\x00":
                pub = SM2PublicKey.from_point(inner[0][1][1:])
    if curve is not None and curve != OID_SM2_CURVE:
        raise KeyStoreError(f"EC private key is on curve {curve}, not SM2 (1.2.156.10197.1.301)")
    key = SM2PrivateKey(d)
    if pub is not None and pub != key.public_key:
        raise KeyStoreError("SM2 private key file holds a public key that does not match")
    return key


def is_sm2_private_der(der: bytes) -> bool:
    """True when ``der`` is a PKCS#8 or SEC1 private key on the SM2 curve."""
    try:
        items = _der_expect_seq(der)
        if len(items) >= 3 and items[0][0] == 0x02 and items[1][0] == 0x30:
            return _is_sm2_alg(*_parse_alg(items[1][1]))
        if len(items) >= 3 and items[0][0] == 0x02 and items[1][0] == 0x04:
            for tag, value in items[2:]:
                if tag == 0xA0:
                    inner = _der_items(value)
                    return bool(inner) and inner[0] == (0x06, _der_oid(OID_SM2_CURVE)[2:])
    except ValueError:
        return False
    return False


def load_private_key_der(der: bytes) -> SM2PrivateKey:
    """Parse PKCS#8 or SEC1 (``ECPrivateKey``) DER holding an SM2 key."""
    try:
        items = _der_expect_seq(der)
        if len(items) >= 3 and items[0][0] == 0x02 and items[1][0] == 0x30:
            alg, param = _parse_alg(items[1][1])
            if not _is_sm2_alg(alg, param):
                raise KeyStoreError(f"not an SM2 private key (algorithm {alg}, parameters {param})")
            if items[2][0] != 0x04:
                raise _DerError("bad PKCS#8 privateKey field")
            return _parse_ec_private(items[2][1], OID_SM2_CURVE)
        return _parse_ec_private(der, None)
    except ValueError as exc:
        raise KeyStoreError(f"cannot parse SM2 private key: {exc}") from None


def load_private_key_pem(data: str | bytes) -> SM2PrivateKey:
    """Read an SM2 private key PEM: ``PRIVATE KEY`` (PKCS#8), ``EC PRIVATE KEY`` or
    ``SM2 PRIVATE KEY`` (SEC1), as written by OpenSSL or by :meth:`SM2PrivateKey.to_pem`."""
    blocks = pem_decode(data)
    for label, der in blocks:
        if label == "ENCRYPTED PRIVATE KEY" or (label.endswith("PRIVATE KEY") and not der):
            raise KeyStoreError(
                "encrypted private keys are not supported; decrypt first with "
                "`openssl pkey -in KEY -out PLAIN.pem`"
            )
        if label in ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"):
            return load_private_key_der(der)
    raise KeyStoreError("no private key PEM block found")
