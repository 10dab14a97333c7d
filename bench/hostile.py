"""Part ``hostile``: how fast a real ``facekeep serve`` answers hostile images (a PNG
bomb, a huge EXIF block, a JPEG of 2,000 scans, truncated files, ...; see
:mod:`bench.hostile_images`) on the kiosk's match and the staff's enrolment, against a
normal 640 px JPEG probe's answer in the same run. The target is an answer within a
second, each with its 4xx code; tests/reliability/test_hostile_images.py checks the
codes and the memory, with only a bound on waiting."""

from __future__ import annotations

import statistics

from bench.datadir import empty_datadir
from bench.faces import PROBE_PHOTO, faces_dir, jpeg_at
from bench.hostile_images import STATUS, build_corpus, many_scan_jpeg
from bench.http import Client, Server, multipart_body
from bench.plan import Context
from bench.report import Row
from bench.service import SERVE_SETTINGS, bench_keys, enrol_form

ROUTES = ("match", "enrolment")


def hostile_rows(ctx: Context) -> list[Row]:
    """Every hostile image on the match and the enrolment route, each timed
    ``hostile_reps`` times; baseline: the 640 px probe's match answer."""
    reps = ctx.plan.hostile_reps
    faces = faces_dir()
    face = jpeg_at((faces / "obama_1.jpg").read_bytes(), 640)
    probe = jpeg_at((faces / PROBE_PHOTO).read_bytes(), 640)
    corpus = build_corpus(face)
    corpus["jpeg_2000_scans"] = ("scans.jpg", many_scan_jpeg(2000), "image_too_complex")
    folder = empty_datadir(ctx.work / "hostile")
    admin_token, (kiosk_token,) = bench_keys(folder, 1)
    ctx.say("hostile: starting facekeep serve on an empty vault")
    server = Server(folder, ctx.work / "hostile.log", **SERVE_SETTINGS)
    try:
        server.wait_ready()
        admin = Client(server.port, admin_token)
        kiosk = Client(server.port, kiosk_token)
        status, enrolled, _ = admin.call("POST", "/v1/enrolments", raw=enrol_form("a.jpg", face))
        if status != 201:
            raise RuntimeError(f"enrolment answered {status}: {enrolled}")

        def send(route: str, name: str, data: bytes) -> tuple[int, object, float]:
            if route == "match":
                return kiosk.call(
                    "POST", "/v1/match", raw=multipart_body({}, [("image", name, data)])
                )
            return admin.call("POST", "/v1/enrolments", raw=enrol_form(name, data))

        send("match", "probe.jpg", probe)  # warm: models loaded, workers started
        baseline = []
        for _ in range(max(3, reps)):
            status, answer, seconds = send("match", "probe.jpg", probe)
            if status != 200:
                raise RuntimeError(f"the 640 px probe answered {status}: {answer}")
            baseline.append(seconds)
        ctx.say(f"hostile: {len(corpus)} images x {ROUTES} x {reps}")
        times: dict[str, float] = {}
        expected = 0
        for key, (filename, data, code) in corpus.items():
            for route in ROUTES:
                for _ in range(reps):
                    status, answer, seconds = send(route, filename, data)
                    label = f"{key} {route}"
                    times[label] = max(times.get(label, 0.0), seconds)
                    code_ok = isinstance(answer, dict) and answer.get("code") == code
                    if status == STATUS[code] and code_ok:
                        expected += 1
                    else:
                        ctx.notes.append(f"hostile: {label} answered {status} {answer}")
        admin.close()
        kiosk.close()
    finally:
        server.stop()
    ms = [s * 1e3 for s in times.values()]
    base_ms = statistics.median(baseline) * 1e3
    slowest = max(times, key=lambda k: times[k])
    label = "640 px JPEG probe, POST /v1/match"
    sent = len(corpus) * len(ROUTES) * reps
    return [
        Row(
            "hostile_image_answer_ms_p50",
            statistics.median(ms),
            "ms",
            base_ms,
            label,
            target="<= 1000",
            note=f"{len(corpus)} hostile images x match and enrolment, slowest of {reps}",
        ),
        Row(
            "hostile_image_answer_ms_max",
            max(ms),
            "ms",
            base_ms,
            label,
            target="<= 1000",
            note=f"slowest: {slowest}",
        ),
        Row(
            "hostile_image_expected_4xx",
            expected,
            "answers",
            sent,
            "hostile requests sent",
            target="ratio == 1",
            note="the expected status and problem code (413, 415 or 422)",
        ),
    ]
