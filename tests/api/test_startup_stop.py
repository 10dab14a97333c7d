"""Starting and stopping the app leaves no change follower behind: a server shut down
while its index is still loading must not hand over when the start finishes afterwards
(``on_ready`` starts the follower, which would then run on a closed runtime, retrying
against a database that is gone until the process exits), and an app whose lifespan is
entered twice runs one follower, stopped at the end."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.runtime import init_data_dir, open_runtime
from api.settings import Settings
from api.startup import Startup
from tests.support.faces import FakeEmbedder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Any]:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    runtime = open_runtime(settings, embedder=FakeEmbedder())
    yield runtime
    runtime.close()


def _started(before: set[threading.Thread]) -> threading.Thread:
    [thread] = [t for t in threading.enumerate() if t not in before and t.name == "facekeep-start"]
    return thread


@pytest.mark.parametrize("stopped", [True, False])
def test_on_ready_runs_only_for_a_start_not_given_up(runtime: Any, stopped: bool) -> None:
    release = threading.Event()
    handed_over: list[str] = []
    startup = Startup(
        runtime, start=lambda: release.wait(30), on_ready=lambda: handed_over.append("ready")
    )
    before = set(threading.enumerate())
    startup.begin()
    thread = _started(before)
    if stopped:
        startup.stop()  # the app shuts down mid-start
    release.set()  # ...and the start finishes afterwards
    thread.join(30)
    assert not thread.is_alive()
    assert startup.ready  # the index was built all the same
    assert handed_over == ([] if stopped else ["ready"])


def test_an_app_entered_twice_leaves_no_follower_running(tmp_path: Path) -> None:
    """Two clients of one app (as tests open) enter its lifespan twice: one change
    follower serves both, and none is left running once both have closed."""
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    app = create_app(settings, embedder=FakeEmbedder())
    before = set(threading.enumerate())

    def followers() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t not in before and t.name == "facekeep-changes" and t.is_alive()
        ]

    with TestClient(app) as first:
        assert first.get("/readyz").status_code == 200
        with TestClient(app) as second:
            assert second.get("/readyz").status_code == 200
            assert len(followers()) == 1
    assert followers() == []


def test_a_ready_start_stopped_before_it_begins_does_not_hand_over(runtime: Any) -> None:
    handed_over: list[str] = []
    startup = Startup.already_started(runtime, on_ready=lambda: handed_over.append("ready"))
    startup.stop()
    startup.begin()
    assert handed_over == []
    again = Startup.already_started(runtime, on_ready=lambda: handed_over.append("ready"))
    again.begin()
    assert handed_over == ["ready"]
