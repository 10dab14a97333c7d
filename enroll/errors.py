"""Errors raised while turning an uploaded image into a face embedding.

Every error has a stable machine-readable ``code`` (safe to return to API clients) and a
short human ``message``. Messages and attributes never contain image bytes or embedding
values; the original Pillow/dlib exception is deliberately not chained, because its text
can quote raw bytes of the upload.
"""

from __future__ import annotations

from typing import ClassVar, Literal


class EnrollError(Exception):
    """Base class for every error of the ``enroll`` package."""

    code: ClassVar[str] = "enroll_error"
    default_message: ClassVar[str] = "The image could not be processed."

    def __init__(self, message: str | None = None) -> None:
        self.message: str = message if message is not None else self.default_message
        super().__init__(self.message)

    def details(self) -> dict[str, object]:
        """Return the error's data attributes (no image or biometric data)."""
        return {}

    def to_dict(self) -> dict[str, object]:
        """Return ``{"code", "message", **details}`` for an API error body."""
        return {"code": self.code, "message": self.message, **self.details()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other __init__ arguments than Exception.args; pickle the state
        # so errors survive a process pool with their data attributes intact.
        return (_restore, (type(self), dict(self.__dict__)))


def _restore(cls: type[EnrollError], state: dict[str, object]) -> EnrollError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", cls.default_message))
    err.__dict__.update(state)
    return err


class NotAnImage(EnrollError):
    """The bytes are not a decodable JPEG, PNG or WebP image (or are truncated/corrupt)."""

    code: ClassVar[str] = "not_an_image"
    default_message: ClassVar[str] = "The upload is not a readable JPEG, PNG or WebP image."

    def __init__(self, reason: str = "undecodable", message: str | None = None) -> None:
        #: short fixed keyword: "empty", "unsupported_format", "undecodable", "truncated"
        self.reason = reason
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """Return ``{"reason": ...}``."""
        return {"reason": self.reason}


class ImageTooLarge(EnrollError):
    """The upload exceeds the byte limit or (judged from its header) the pixel limit."""

    code: ClassVar[str] = "image_too_large"
    default_message: ClassVar[str] = "The image is too large."

    def __init__(
        self,
        kind: Literal["bytes", "pixels"],
        actual: int | None,
        limit: int | None,
        message: str | None = None,
    ) -> None:
        #: which limit was exceeded
        self.kind: Literal["bytes", "pixels"] = kind
        #: measured bytes or pixels (None when only the decoder's own guard knew it)
        self.actual = actual
        #: the limit that was exceeded
        self.limit = limit
        if message is None:
            unit = "bytes" if kind == "bytes" else "pixels"
            message = (
                f"The image is too large (limit {limit} {unit})."
                if limit is not None
                else "The image is too large."
            )
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """Return ``{"kind", "actual", "limit"}``."""
        return {"kind": self.kind, "actual": self.actual, "limit": self.limit}


class ImageTooComplex(EnrollError):
    """The image would take too much work to decode: too many JPEG scans or frames, or
    its decode ran past the CPU-time budget and was abandoned."""

    code: ClassVar[str] = "image_too_complex"
    default_message: ClassVar[str] = "The image is too complex to decode."

    def __init__(
        self,
        kind: Literal["scans", "frames", "cpu"],
        limit: float | None = None,
        message: str | None = None,
    ) -> None:
        #: which bound was reached
        self.kind: Literal["scans", "frames", "cpu"] = kind
        #: the bound (a count, or CPU seconds)
        self.limit = limit
        if message is None:
            what = {"scans": "JPEG scans", "frames": "frames", "cpu": "CPU seconds"}[kind]
            message = f"The image is too complex to decode (more than {limit:g} {what})."
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """Return ``{"kind", "limit"}``."""
        return {"kind": self.kind, "limit": self.limit}


class NoFace(EnrollError):
    """No face was found in the image."""

    code: ClassVar[str] = "no_face"
    default_message: ClassVar[str] = "No face was found in the image."


class MultipleFaces(EnrollError):
    """More than one face was found where exactly one is required."""

    code: ClassVar[str] = "multiple_faces"
    default_message: ClassVar[str] = "More than one face was found in the image."

    def __init__(self, count: int, message: str | None = None) -> None:
        #: number of faces found (>= 2)
        self.count = count
        if message is None:
            message = f"{count} faces were found; the image must show exactly one face."
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """Return ``{"count": ...}``."""
        return {"count": self.count}


class FaceTooSmall(EnrollError):
    """The face is smaller than the minimum size (in original-image pixels)."""

    code: ClassVar[str] = "face_too_small"
    default_message: ClassVar[str] = "The face is too small."

    def __init__(self, size: int, minimum: int, message: str | None = None) -> None:
        #: face size in original-image pixels (min of box width and height)
        self.size = size
        #: required minimum in original-image pixels
        self.minimum = minimum
        if message is None:
            message = (
                f"The face is too small ({size} px); it must be at least {minimum} px "
                "wide and high in the original image."
            )
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """Return ``{"size", "minimum"}``."""
        return {"size": self.size, "minimum": self.minimum}
