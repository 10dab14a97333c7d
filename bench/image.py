"""Part ``image``: image to embedding, each engine's embedder against calling
face_recognition directly. It also measures the raw detect-and-encode times that the
service rows (:mod:`bench.service`) take as their baselines."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.faces import ENROL_PHOTOS, PROBE_PHOTO, face_recognition_module, faces_dir, jpeg_at
from bench.plan import Context
from bench.report import Row
from enroll import ImageLimits, decode_image, make_embedder


def _raw_encode(fr: Any, pixels: npt.NDArray[np.uint8]) -> float:
    began = time.perf_counter()
    boxes = fr.face_locations(pixels, number_of_times_to_upsample=1, model="hog")
    fr.face_encodings(pixels, known_face_locations=boxes, num_jitters=1, model="small")
    return time.perf_counter() - began


def image_rows(ctx: Context) -> list[Row]:
    """Each engine's embedder (decode, shrink, detect, encode; dlib at 320, 640 and 1024
    px, SFace at 640 px), against calling face_recognition directly on the same
    working-size pixels."""
    fr = face_recognition_module()
    folder = faces_dir()
    rows = []
    engines: list[tuple[str, int]] = [("dlib", 320), ("dlib", 640), ("dlib", 1024), ("sface", 640)]
    for engine, size in engines:
        limits = ImageLimits(working_size=size)
        embedder = make_embedder(engine, limits)
        embedder.warm_up()
        ours: list[float] = []
        raw: list[float] = []
        for name in ctx.plan.row1_photos:
            data = (folder / name).read_bytes()
            pixels = np.ascontiguousarray(decode_image(data, limits).pixels, dtype=np.uint8)
            embedder.embed_probe(data)  # warm caches
            for _ in range(ctx.plan.image_reps):
                began = time.perf_counter()
                embedder.embed_probe(data)
                ours.append(time.perf_counter() - began)
                raw.append(_raw_encode(fr, pixels))
        rows.append(
            Row(
                f"image_embed_ms_{size}" + ("_sface" if engine == "sface" else ""),
                statistics.median(ours) * 1e3,
                "ms",
                statistics.median(raw) * 1e3,
                "face_recognition, same pixels",
                note=f"{engine} engine; {len(ctx.plan.row1_photos)} photos x "
                f"{ctx.plan.image_reps}, median; ours adds decoding and shrinking",
            )
        )
    # The 640 px JPEG used as the HTTP image probe, and the enrolment photos.
    probe = jpeg_at((folder / PROBE_PHOTO).read_bytes(), 640)
    pixels = np.ascontiguousarray(decode_image(probe).pixels, dtype=np.uint8)
    _raw_encode(fr, pixels)
    ctx.raw_640_ms = (
        statistics.median(_raw_encode(fr, pixels) for _ in range(max(3, ctx.plan.image_reps))) * 1e3
    )
    enrol_times = []
    for name in ENROL_PHOTOS[: 2 if ctx.plan.quick else None]:
        photo = jpeg_at((folder / name).read_bytes(), 640)
        enrol_times.append(
            _raw_encode(fr, np.ascontiguousarray(decode_image(photo).pixels, dtype=np.uint8))
        )
    ctx.raw_enrol_ms = statistics.mean(enrol_times) * 1e3
    naive = []
    for _ in range(max(1, ctx.plan.image_reps // 2)):
        began = time.perf_counter()
        full = fr.load_image_file(str(folder / PROBE_PHOTO))
        boxes = fr.face_locations(full, number_of_times_to_upsample=1, model="hog")
        fr.face_encodings(full, known_face_locations=boxes, num_jitters=1, model="small")
        naive.append(time.perf_counter() - began)
    rows.append(
        Row(
            "image_raw_encode_ms",
            ctx.raw_640_ms,
            "ms",
            statistics.median(naive) * 1e3,
            "face_recognition on the full-size photo",
            note=f"{PROBE_PHOTO} as a 640 px JPEG: face_locations + face_encodings on its "
            "pixels (the baseline of the HTTP image probe)",
        )
    )
    return rows
