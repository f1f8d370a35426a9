"""Optional fast path: SM2/SM3 signature verification through the system's OpenSSL 3 libcrypto.

The pure-Python implementation in :mod:`synthlabel.model.sm2` is the reference and the
fallback; this module only speeds up verification (~10x) where ``libcrypto.so.3`` is present.
Set ``SYNTHLABEL_SM2_BACKEND=python`` to disable it. Both paths are tested against each
other and against the GB/T 32918 vectors.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Any

_lib: Any = None
_loaded = False
_lock = threading.Lock()
_keys: dict[bytes, int] = {}  # SPKI DER -> EVP_PKEY* (kept for the life of the process)
_MAX_KEYS = 256


def _load() -> Any:
    global _lib, _loaded
    if _loaded:
        return _lib
    with _lock:
        if _loaded:
            return _lib
        _loaded = True
        if os.environ.get("SYNTHLABEL_SM2_BACKEND", "").lower() == "python":
            return None
        names = ["libcrypto.so.3", ctypes.util.find_library("crypto") or ""]
        for name in names:
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                if not hasattr(lib, "EVP_sm3") or not hasattr(lib, "EVP_PKEY_CTX_set1_id"):
                    continue
            except OSError:
                continue
            vp, ci, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
            lib.d2i_PUBKEY.restype = vp
            lib.d2i_PUBKEY.argtypes = [vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
            lib.EVP_MD_CTX_new.restype = vp
            lib.EVP_MD_CTX_free.argtypes = [vp]
            lib.EVP_PKEY_CTX_new.restype = vp
            lib.EVP_PKEY_CTX_new.argtypes = [vp, vp]
            lib.EVP_PKEY_CTX_free.argtypes = [vp]
            lib.EVP_PKEY_CTX_set1_id.argtypes = [vp, ctypes.c_char_p, ci]
            lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [vp, vp]
            lib.EVP_sm3.restype = vp
            lib.EVP_DigestVerifyInit.argtypes = [vp, vp, vp, vp, vp]
            lib.EVP_DigestVerify.argtypes = [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz]
            lib.EVP_PKEY_is_a.argtypes = [vp, ctypes.c_char_p]
            lib.EVP_PKEY_free.argtypes = [vp]
            lib.ERR_clear_error.argtypes = []
            _lib = lib
            break
        return _lib


def _pkey(lib: Any, spki_der: bytes) -> int | None:
    key = _keys.get(spki_der)
    if key is not None:
        return key
    buf = ctypes.c_char_p(spki_der)
    ptr = lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki_der))
    if not ptr:
        return None
    if lib.EVP_PKEY_is_a(ptr, b"SM2") != 1:
        lib.EVP_PKEY_free(ptr)
        return None
    with _lock:
        if len(_keys) >= _MAX_KEYS:
            _, old = _keys.popitem()
            lib.EVP_PKEY_free(old)
        _keys[spki_der] = ptr
    return int(ptr)


def verify(spki_der: bytes, message: bytes, signature_der: bytes, user_id: bytes) -> bool | None:
    """True/False from OpenSSL, or None when the fast path is unavailable for this input."""
    lib = _load()
    if lib is None:
        return None
    pkey = _pkey(lib, spki_der)
    if pkey is None:
        return None
    mctx = lib.EVP_MD_CTX_new()
    pctx = lib.EVP_PKEY_CTX_new(pkey, None)
    try:
        if not mctx or not pctx:
            return None
        if lib.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) <= 0:
            return None
        lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
        if lib.EVP_DigestVerifyInit(mctx, None, lib.EVP_sm3(), None, pkey) <= 0:
            return None
        rc = lib.EVP_DigestVerify(mctx, signature_der, len(signature_der), message, len(message))
        if rc != 1:
            lib.ERR_clear_error()  # a mismatch leaves an entry on OpenSSL's error queue
        return bool(rc == 1)
    finally:
        if mctx:
            lib.EVP_MD_CTX_free(mctx)
        if pctx:
            lib.EVP_PKEY_CTX_free(pctx)
