"""A large JSON body is parsed off the event loop: the breach route takes up to 1 MB of
JSON (10,000 customer ids), whose parsing would otherwise stall every other request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import api.forms


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def svc(make_service: Any) -> Any:
    service = make_service()
    service.venue("hoa-sen-1", "Karaoke Hoa Sen 1")
    return service


def test_a_large_breach_body_is_parsed_in_a_worker_thread(
    svc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_the_loop: list[bool] = []
    real_loads = json.loads

    def spy(body: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(body, bytes | str) and len(body) > api.forms.PARSE_INLINE:
            on_the_loop.append(_event_loop_running())
        return real_loads(body, *args, **kwargs)

    monkeypatch.setattr(api.forms.json, "loads", spy)
    ids = [f"c_{i:08d}" for i in range(3000)]  # about 40 KB of JSON, over PARSE_INLINE
    r = svc.client.post(
        "/v1/breaches",
        json={"description": "Máy tính bảng bị mất", "customers": ids},
        headers=svc.admin.headers,
    )
    assert r.status_code == 201, r.text
    # The body, then what the vault stores of it (in the route's worker thread).
    assert on_the_loop, "the large body was not parsed"
    assert not any(on_the_loop), "the large body was parsed on the event loop"


def test_a_small_body_and_bad_json_keep_their_answers(svc: Any, problem: Any) -> None:
    r = svc.client.post(
        "/v1/breaches",
        json={"description": "x", "venues": ["hoa-sen-1"]},
        headers=svc.admin.headers,
    )
    assert r.status_code == 201, r.text
    headers = {**svc.admin.headers, "content-type": "application/json"}
    big_and_broken = b'{"description": "x", "customers": [' + b'"c_1",' * 5000 + b"]"
    for body in (big_and_broken, b'{"description": '):
        r = svc.client.post("/v1/breaches", content=body, headers=headers)
        problem(r, 400, "invalid_json")
