"""The evaluation set: labelled photos read from a folder (a ``manifest.csv``, else one
sub-folder per person), and the fixed split the HTTP acceptance test uses."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class DatasetError(ValueError):
    """The folder is not a usable evaluation set (``code`` is a stable keyword)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Photo:
    """One photo: its path relative to the dataset folder and whose face it shows."""

    file: str
    identity: str


@dataclass(frozen=True)
class Dataset:
    """Labelled photos in a folder, in a stable order (manifest order, else by name)."""

    name: str
    root: Path
    photos: tuple[Photo, ...]
    source: str  # "manifest.csv" or "folders"
    unlabelled: int = 0  # manifest rows without an identity (group photos), skipped

    @property
    def people(self) -> list[str]:
        """Identities in order of first appearance."""
        return list(dict.fromkeys(p.identity for p in self.photos))


def load_dataset(root: Path) -> Dataset:
    """Read ``root/manifest.csv`` (columns ``file`` and ``identity``; rows with an empty
    identity are skipped) if present, else one sub-folder per person.

    Raises :class:`DatasetError` for a missing manifest column, a listed file that is
    missing or outside ``root``, or fewer than two people.
    """
    root = root.resolve()
    manifest = root / "manifest.csv"
    photos: list[Photo] = []
    unlabelled = 0
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"file", "identity"} <= set(reader.fieldnames or ()):
                raise DatasetError(
                    "invalid_dataset", f"{manifest} needs the columns 'file' and 'identity'"
                )
            for row in reader:
                identity = (row.get("identity") or "").strip()
                name = (row.get("file") or "").strip()
                if not identity:
                    unlabelled += 1
                    continue
                path = (root / name).resolve()
                if not path.is_relative_to(root) or not path.is_file():
                    raise DatasetError(
                        "invalid_dataset", f"{manifest.name} lists {name!r}, not a file in {root}"
                    )
                photos.append(Photo(name, identity))
        source = "manifest.csv"
    else:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
                    photos.append(Photo(f"{folder.name}/{path.name}", folder.name))
        source = "folders"
    dataset = Dataset(root.name, root, tuple(photos), source, unlabelled)
    if len(dataset.people) < 2:
        raise DatasetError(
            "invalid_dataset",
            f"{root} holds photos of {len(dataset.people)} people; at least 2 are needed "
            "(one folder per person, or a manifest.csv with file,identity)",
        )
    return dataset


def first_photo_split(dataset: Dataset) -> tuple[list[str], set[str]]:
    """The fixed deployment-like split of the HTTP acceptance test: the people to enrol
    (everyone with several photos, and every other single-photo person: the 1st, 3rd,
    ... in dataset order) and the single-photo people kept out as strangers. Each is
    enrolled with their first photo showing exactly one face (someone with none stays a
    stranger); every other photo is a probe."""
    counts = Counter(p.identity for p in dataset.photos)
    singles = [who for who in dataset.people if counts[who] == 1]
    kept_out = set(singles[1::2])
    return [who for who in dataset.people if who not in kept_out], kept_out
