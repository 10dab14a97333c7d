"""The cold-start prefetcher: order kept, errors surfaced, nothing left unwiped."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vault.loading import LoadProgress, prefetched


class Page:
    """Stands for a page holding data keys: ``close`` wipes them."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False
        self.thread = threading.current_thread().name

    def close(self) -> None:
        self.closed = True


def test_items_come_in_order_produced_on_another_thread() -> None:
    pages = list(prefetched(Page(i) for i in range(10)))
    assert [p.n for p in pages] == list(range(10))
    assert {p.thread for p in pages} == {"facekeep-prefetch"}


def test_an_error_of_the_producer_is_raised_to_the_consumer() -> None:
    def pages() -> Iterator[Page]:
        yield Page(0)
        raise RuntimeError("the database went away")

    seen = []
    with pytest.raises(RuntimeError, match="went away"):
        for page in prefetched(pages()):
            seen.append(page.n)
    assert seen == [0]


def test_pages_read_ahead_are_closed_when_the_consumer_stops() -> None:
    made: list[Page] = []

    def pages() -> Iterator[Page]:
        for i in range(20):
            made.append(Page(i))
            yield made[-1]

    stream = prefetched(pages(), depth=2)
    first = next(stream)
    stream.close()  # the consumer gave up (an error while indexing)
    assert first.n == 0 and not first.closed  # the consumer's own page is its to close
    assert len(made) <= 5  # read ahead at most depth + in hand
    assert all(page.closed for page in made[1:])


def test_progress_reports_phase_and_fraction() -> None:
    progress = LoadProgress()
    progress.begin("loading", 200)
    progress.advance(50)
    assert progress.as_dict()["fraction"] == 0.25 and progress.phase == "loading"
    progress.finish()
    assert progress.as_dict()["fraction"] == 1.0 and progress.phase == "ready"
    progress.fail("OperationalError")
    assert progress.as_dict()["error"] == "OperationalError"
