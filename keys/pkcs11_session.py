"""The one logged-in PKCS#11 session this process keeps per token, and its failures.

PKCS#11 login belongs to the whole process, not to a session: closing any logged-in
session logs every session of the process out. Providers on one token therefore share a
single logged-in session (reference counted: :func:`attach`, :func:`detach`), used under a
lock since sessions are not thread-safe.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pkcs11
from pkcs11 import exceptions as p11

from keys.errors import KekError

T = TypeVar("T")

# Errors after which the session is stale (token re-plugged, library re-initialised,
# logged out) and one fresh session may be tried.
STALE = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.UserNotLoggedIn,
)
# A cached object handle that no longer names the key (destroyed by another process).
GONE = (p11.KeyHandleInvalid, p11.ObjectHandleInvalid)


@contextlib.contextmanager
def token_errors(what: str) -> Iterator[None]:
    """Raise a failure of the token as ``KekError("{what} ({error})")``, never chained (as
    everywhere in the provider); a stale session passes through so the run can retry."""
    try:
        yield
    except STALE:
        raise
    except p11.PKCS11Error as exc:
        raise KekError(f"{what} ({type(exc).__name__})") from None


class TokenLink:
    """The one logged-in session this process keeps on one token."""

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self.pin = pin
        self.lock = threading.RLock()
        self.refs = 0
        self.pid = os.getpid()
        self._session: pkcs11.Session | None = None
        # Bumped whenever the session is dropped: object handles found in an older
        # session are not trusted again.
        self.generation = 0

    def __repr__(self) -> str:
        return f"<TokenLink module={self.module_path!r} token={self.token_label!r}>"

    def session(self) -> pkcs11.Session:
        """The shared session, opened and logged in on first use."""
        if self.pid != os.getpid():
            raise KekError(
                "a PKCS#11 provider cannot be used across fork(); create it in the child"
            )
        if self._session is None:
            self._session = self._open()
        return self._session

    def _open(self) -> pkcs11.Session:
        try:
            lib = pkcs11.lib(self.module_path)
        except p11.PKCS11Error:
            raise KekError(f"cannot load the PKCS#11 module {self.module_path}") from None
        try:
            token = lib.get_token(token_label=self.token_label)
        except p11.NoSuchToken:
            raise KekError(f"no PKCS#11 token labelled {self.token_label!r}") from None
        except p11.PKCS11Error as exc:
            raise KekError(
                f"PKCS#11 token {self.token_label!r} is unavailable ({type(exc).__name__})"
            ) from None
        try:
            return token.open(rw=True, user_pin=self.pin)
        except p11.UserAlreadyLoggedIn:
            # Something else in this process is logged in; login is process-wide.
            return token.open(rw=True)
        except p11.PKCS11Error as exc:
            # Never chain: nothing about the PIN may reach a traceback.
            raise KekError(
                f"login to PKCS#11 token {self.token_label!r} failed ({type(exc).__name__})"
            ) from None

    def reset(self) -> None:
        """Drop the session (best effort close); the next use opens a new one."""
        session, self._session = self._session, None
        self.generation += 1
        if session is not None and self.pid == os.getpid():
            with contextlib.suppress(p11.PKCS11Error):
                session.close()

    def run(self, op: Callable[[pkcs11.Session], T]) -> T:
        """Run ``op`` on the shared session under its lock, retrying once on a stale one."""
        with self.lock:
            for attempt in range(2):
                session = self.session()
                try:
                    return op(session)
                except STALE as exc:
                    self.reset()
                    if attempt:
                        raise KekError(
                            f"PKCS#11 token {self.token_label!r} is unavailable "
                            f"({type(exc).__name__})"
                        ) from None
        raise AssertionError("unreachable")


_LINKS: dict[tuple[str, str], TokenLink] = {}
_LINKS_LOCK = threading.Lock()


def attach(module_path: str, token_label: str, pin: str) -> TokenLink:
    """Take a share of this process's session on the token (the PIN must match)."""
    with _LINKS_LOCK:
        link = _LINKS.get((module_path, token_label))
        if link is None or link.pid != os.getpid():
            link = TokenLink(module_path, token_label, pin)
            _LINKS[(module_path, token_label)] = link
        elif not hmac.compare_digest(link.pin.encode(), pin.encode()):
            raise KekError(
                f"PKCS#11 token {token_label!r} is already open in this process "
                "with a different PIN"
            )
        link.refs += 1
        return link


def detach(link: TokenLink) -> None:
    """Give back a share; the last one closes the session."""
    with _LINKS_LOCK:
        link.refs -= 1
        if link.refs > 0:
            return
        if _LINKS.get((link.module_path, link.token_label)) is link:
            del _LINKS[(link.module_path, link.token_label)]
    with link.lock:
        link.reset()
