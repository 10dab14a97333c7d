"""Domain errors reach clients as problem details carrying the errors' own
``details()``: through the one handler, and across the image workers' process boundary."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from api.imaging import ImageWork
from api.problems import Problem, domain_problem
from api.settings import Settings
from enroll import FaceTooSmall, ImageTooLarge, MultipleFaces
from keys import KeyDestroyed
from vault import CustomerNotFound, FacesDiffer, GalleryFull

pytestmark = pytest.mark.faces

VENUE = "hcm-1"


@pytest.fixture(scope="module")
def svc(edge_service):
    return edge_service


def test_face_too_small_names_its_size_and_the_minimum(
    svc, bad_images, face_bytes, problem
) -> None:
    small = bad_images.small_face(face_bytes("obama_small.jpg"))
    for call in (
        lambda: svc.match(svc.kiosk_key, image=("small.png", small)),
        lambda: svc.enrol_request([("small.png", small)]),
    ):
        body = problem(call(), 422, "face_too_small")
        assert body["minimum"] == svc.settings.min_face_size
        assert isinstance(body["size"], int) and 0 < body["size"] < body["minimum"]


def test_image_too_large_names_the_limit(svc, bad_images, problem) -> None:
    bomb = bad_images.png_declaring(50_000, 50_000)
    for call in (
        lambda: svc.match(svc.kiosk_key, image=("bomb.png", bomb)),
        lambda: svc.enrol_request([("bomb.png", bomb)]),
    ):
        body = problem(call(), 413, "image_too_large")
        assert body["kind"] == "pixels"
        assert body["limit"] == svc.settings.max_image_pixels


def test_vault_errors_carry_their_details(svc, problem) -> None:
    r = svc.client.get("/v1/customers/nobody-here", headers=svc.admin.headers)
    body = problem(r, 404, "customer_not_found")
    assert body["customer_id"] == "nobody-here"


class _Refusing:
    """An embedder that refuses every photo with one error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def embed_probe(self, data: bytes) -> Any:
        raise self.error

    embed_enrolment = embed_probe


@pytest.mark.parametrize("workers", [0, 1], ids=["threads", "processes"])
def test_image_work_hands_on_an_errors_details(workers, bad_images) -> None:
    # In worker processes the real engine refuses the bomb; in threads a stand-in does.
    settings = Settings(image_workers=workers, upload_workers=1)
    error = ImageTooLarge("pixels", 2_500_000_000, settings.max_image_pixels)
    work = ImageWork(settings, _Refusing(error))  # type: ignore[arg-type]
    try:
        with pytest.raises(Problem) as refused:
            asyncio.run(work.probe_vector(bad_images.png_declaring(50_000, 50_000)))
    finally:
        work.close()
    assert refused.value.code == "image_too_large" and refused.value.status == 413
    assert refused.value.extra["limit"] == settings.max_image_pixels
    assert refused.value.extra["kind"] == "pixels"


def test_one_handler_maps_every_tree_with_its_details() -> None:
    cases = [
        (FaceTooSmall(30, 48), 422, {"size": 30, "minimum": 48}),
        (MultipleFaces(3), 422, {"count": 3}),
        (FacesDiffer(((0, 2),)), 422, {"pairs": [[0, 2]]}),
        (FacesDiffer(), 422, {}),
        (GalleryFull("hcm-1", "checkin", 500), 409, {"venue": "hcm-1", "limit": 500}),
        (CustomerNotFound("c1"), 404, {"customer_id": "c1"}),
        (KeyDestroyed("c1", "k1"), 410, {"customer_id": "c1", "key_id": "k1"}),
    ]
    for error, status, expected in cases:
        problem = domain_problem(error)
        assert problem.status == status, error
        assert problem.code == error.code
        assert expected.items() <= problem.extra.items(), (error, problem.extra)
        if not expected:
            assert problem.extra == {}


def test_details_never_carry_bytes_or_vectors() -> None:
    # What the errors' details may hold: ids, names, counts, limits and positions.
    for error in (
        FaceTooSmall(30, 48),
        ImageTooLarge("bytes", 10, 5),
        FacesDiffer(((0, 1),)),
        KeyDestroyed("c1", "k1"),
    ):
        for value in error.details().values():
            assert not isinstance(value, bytes | bytearray | np.ndarray), (error, value)
