"""Customer access codes: high-entropy, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed by hand
_GROUPS, _GROUP_LEN = 5, 4  # 20 characters of 31 symbols: about 99 bits


def new_access_code() -> str:
    """A fresh code such as ``K7QM-3XHP-...``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(chars[i : i + _GROUP_LEN] for i in range(0, len(chars), _GROUP_LEN))


def normalise(code: str) -> str:
    """Upper-case and strip separators so typed codes compare equal."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_access_code(code: str) -> str:
    """SHA-256 of the normalised code; with ~99 bits of entropy no salt or stretching is needed."""
    return hashlib.sha256(b"facekeep/access-code/v1:" + normalise(code).encode()).hexdigest()
