"""The check-in hand-off against real ``facekeep serve`` processes and a real receiver:
signatures checked by the README's own receiver code and the Standard Webhooks reference
library, retries after failures, withdrawn guests never handed off, secrets never shown
twice nor stored in clear, and exactly one check-in id per check-in across a SIGKILL of
the server in the middle of a delivery.

Runs on SQLite and on PostgreSQL. Matches are sent as embeddings (a trusted edge device's
kiosk key), so the tests spend their time on the hand-off, not on face detection.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.operations import enroll_vectors
from tests.storage import query, rows_containing
from tests.support.consents import consent_request
from tests.webhook_receiver import Receiver, readme_example
from vault import SYSTEM, ConsentRequest
from vault.checkins import new_secret

VENUE = "hcm-1"  # the reliability deployments' venue
PEOPLE = {"alice": "obama", "bob": "biden"}
METRICS_TOKEN = "metrics-token-for-the-webhook-tests"


def _consent() -> ConsentRequest:
    return consent_request(VENUE, "checkin", "marketing")


class Site:
    """A deployment with alice and bob enrolled, a kiosk key and an admin key."""

    def __init__(
        self, make_deployment: Callable[..., Any], served_embedding: Callable[[str], Any], name: str
    ) -> None:
        self.deployment = make_deployment(name)
        self.keys = self.deployment.keys(purposes=("checkin", "marketing"))
        with self.deployment.runtime() as runtime:
            for customer, photo in PEOPLE.items():
                enroll_vectors(
                    runtime,
                    [served_embedding(f"{photo}_1")],
                    _consent(),
                    actor=SYSTEM,
                    customer_id=customer,
                )
        self.probe = {
            "alice": [float(x) for x in served_embedding("obama_2")],
            "bob": [float(x) for x in served_embedding("biden_2")],
            "stranger": [float(x) for x in served_embedding("kit_harington_1")],
        }
        self.server: Any = None

    def secret_file(self, secret: str) -> Path:
        path: Path = self.deployment.root / "checkin.secret"
        path.write_text(secret + "\n")
        path.chmod(0o600)
        return path

    def serve(self, name: str, receiver_url: str | None, secret_file: Path | None) -> Any:
        env = {
            "FACEKEEP_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "FACEKEEP_WEBHOOK_POLL_SECONDS": "0.2",
            "FACEKEEP_WEBHOOK_TIMEOUT_SECONDS": "2",
            "FACEKEEP_METRICS_TOKEN": METRICS_TOKEN,
        }
        if receiver_url is not None:
            env["FACEKEEP_CHECKIN_WEBHOOK_URL"] = receiver_url
        if secret_file is not None:
            env["FACEKEEP_CHECKIN_WEBHOOK_SECRET_FILE"] = str(secret_file)
        self.server = self.deployment.serve(name, **env)
        return self.server

    def match(self, who: str, purpose: str = "checkin") -> dict[str, Any]:
        response = httpx.post(
            f"{self.server.url}/v1/match",
            json={"embedding": self.probe[who], "purpose": purpose},
            headers={"Authorization": f"Bearer {self.keys.kiosk}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.server.url}{path}",
            headers={"Authorization": f"Bearer {self.keys.admin}"},
            timeout=30,
            **kwargs,
        )

    def outbox(self) -> dict[str, Any]:
        response = self.admin("GET", "/v1/checkins/outbox", params={"limit": 500})
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def wait_outbox(self, test: Callable[[dict[str, Any]], bool], timeout: float = 60) -> None:
        event = threading.Event()
        for _ in range(int(timeout / 0.2)):
            if test(self.outbox()):
                return
            event.wait(0.2)
        raise AssertionError(f"the outbox did not settle: {self.outbox()}")

    def checkin_events(self) -> list[tuple[int, str]]:
        """(seq, customer) of every audited match for check-in, from the database."""
        rows = query(
            self.deployment.vault_url,
            "SELECT seq, leaf FROM audit_events WHERE action = 'match' ORDER BY seq",
        )
        out = []
        for seq, leaf in rows:
            body = json.loads(leaf)
            if body["outcome"] == "match" and body["details"]["purpose"] == "checkin":
                out.append((int(seq), body["customer"]))
        return out

    def outbox_rows(self) -> list[tuple[str, int, str]]:
        """(check-in id, audit seq, customer) of every outbox row, from the database."""
        rows = query(
            self.deployment.vault_url,
            "SELECT checkin_id, audit_seq, customer_id FROM checkin_outbox ORDER BY audit_seq",
        )
        return [(str(c), int(s), str(u)) for c, s, u in rows]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(secret=new_secret()).start()
    yield made
    made.stop()


def test_checkins_are_signed_retried_until_accepted_and_never_sent_after_withdrawal(
    make_deployment: Callable[..., Any], served_embedding: Callable[[str], Any], receiver: Receiver
) -> None:
    site = Site(make_deployment, served_embedding, "webhook-retries")
    server = site.serve("retries", receiver.url, site.secret_file(receiver.secret))

    receiver.fail_next = 2  # the venue's system is down for the first two attempts
    assert site.match("alice")["match"] is True
    assert site.match("stranger") == {"match": False}  # a stranger is never handed off
    assert site.match("bob", purpose="marketing")["match"] is True  # not a check-in
    site.wait_outbox(lambda o: o["counts"]["delivered"] == 1)
    first = [d for d in receiver.deliveries]
    assert len(first) == 3, first  # two failures, then accepted
    assert {d.webhook_id for d in first} == {first[0].webhook_id}  # one id on every attempt
    assert [d.answered for d in first] == [503, 503, 204]
    assert all(d.readme_ok and d.library_ok for d in first)
    assert [d.timestamp for d in first] == sorted(d.timestamp for d in first)
    body = first[-1].body
    assert body["type"] == "checkin"
    assert body["checkin_id"] == first[0].webhook_id
    assert body["customer_id"] == "alice"
    assert body["venue"] == VENUE
    assert body["kiosk"] == site.keys.kiosk_id
    assert body["time"].endswith("Z")
    assert set(body) == {"type", "checkin_id", "customer_id", "venue", "kiosk", "time"}

    # Bob checks in while the venue's system is down, then withdraws check-in: his
    # check-in is dropped, never delivered, even once the system is back.
    receiver.fail_next = 1_000
    assert site.match("bob")["match"] is True
    receiver.wait_for(lambda ds: any(d.body.get("customer_id") == "bob" for d in ds))
    revoked = site.admin("POST", "/v1/customers/bob/revoke", json={"purpose": "checkin"})
    assert revoked.status_code == 200, revoked.text
    receiver.fail_next = 0
    site.wait_outbox(lambda o: o["counts"]["cancelled"] == 1 and o["counts"]["pending"] == 0)
    bob_rows = [r for r in site.outbox()["rows"] if r["status"] == "cancelled"]
    assert bob_rows[0]["last_error"] == "consent_withdrawn"
    assert all(d.answered != 204 for d in receiver.deliveries if d.body["customer_id"] == "bob")
    assert site.match("bob") == {"match": False}

    metrics = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ).text
    assert "facekeep_webhook_queue_depth 0.0" in metrics
    assert 'facekeep_webhook_outbox{status="delivered"} 1.0' in metrics
    assert 'facekeep_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics
    assert 'facekeep_webhook_deliveries_total{outcome="cancelled"} 1.0' in metrics
    failed = [
        line
        for line in metrics.splitlines()
        if line.startswith('facekeep_webhook_failed_attempts_total{reason="http_5xx"}')
    ]
    assert failed and float(failed[0].split()[-1]) >= 3.0, failed
    assert receiver.secret not in server.log_text()


def test_a_venue_gets_its_own_endpoint_and_secret_shown_once_and_sealed(
    make_deployment: Callable[..., Any],
    served_embedding: Callable[[str], Any],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    site = Site(make_deployment, served_embedding, "webhook-venue")
    server = site.serve("venue", None, None)
    assert site.match("alice")["match"] is True  # no webhook anywhere: nothing queued
    assert site.outbox()["counts"] == {"pending": 0, "delivered": 0, "failed": 0, "cancelled": 0}

    bad = site.admin("PUT", f"/v1/venues/{VENUE}/webhook", json={"url": "ftp://x.example/"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_webhook_url"
    weak = site.admin(
        "PUT", f"/v1/venues/{VENUE}/webhook", json={"url": receiver.url, "secret": "whsec_abcd"}
    )
    assert weak.status_code == 422 and weak.json()["code"] == "invalid_webhook_secret"
    made = site.admin("PUT", f"/v1/venues/{VENUE}/webhook", json={"url": receiver.url})
    assert made.status_code == 200, made.text
    secret = made.json()["secret"]
    assert secret.startswith("whsec_")
    shown = site.admin("GET", f"/v1/venues/{VENUE}/webhook").json()
    assert shown["url"] == receiver.url and shown["source"] == "venue" and "secret" not in shown
    receiver.secret = secret

    assert site.match("alice")["match"] is True
    site.wait_outbox(lambda o: o["counts"]["delivered"] == 1)
    (delivery,) = receiver.deliveries
    assert delivery.readme_ok and delivery.library_ok and delivery.body["customer_id"] == "alice"

    # The secret is sealed: neither database holds it, nor does the log or the audit log.
    import base64

    raw = base64.b64decode(secret.removeprefix("whsec_"))
    for url in (site.deployment.vault_url, site.deployment.keys_url):
        assert rows_containing(url, raw) == []
        assert rows_containing(url, secret.encode()) == []
    assert secret not in server.log_text()

    # `facekeep webhooks test` sends a signed sample, here to the README's own receiver.
    example = readme_example()
    example["SECRET"] = secret
    readme_server = ThreadingHTTPServer(("127.0.0.1", 0), example["Receiver"])
    threading.Thread(target=readme_server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{readme_server.server_address[1]}/hook"
        assert (
            site.admin(
                "PUT",
                f"/v1/venues/{VENUE}/webhook",
                json={
                    "url": url,
                    "secret": secret,
                },
            ).status_code
            == 200
        )
        sent = site.deployment.cli("webhooks", "test", "--venue", VENUE)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        answer = sent.json()
        assert answer["delivered"] is True and answer["webhook_id"].startswith("ci_test_")
        assert answer["webhook_id"] in example["seen"]
        assert secret not in sent.stdout + sent.stderr
        # A receiver holding another secret refuses it, and the command says so.
        example["SECRET"] = new_secret()
        refused = site.deployment.cli("webhooks", "test", "--venue", VENUE)
        assert refused.returncode != 0
        assert json.loads(refused.stdout.splitlines()[-1])["error"] == "webhook_failed"
    finally:
        readme_server.shutdown()
        readme_server.server_close()
    removed = site.admin("DELETE", f"/v1/venues/{VENUE}/webhook")
    assert removed.status_code == 200
    assert site.admin("GET", f"/v1/venues/{VENUE}/webhook").json()["source"] is None


def test_exactly_one_checkin_id_per_checkin_across_a_kill_mid_delivery(
    make_deployment: Callable[..., Any], served_embedding: Callable[[str], Any], receiver: Receiver
) -> None:
    site = Site(make_deployment, served_embedding, "webhook-kill")
    secret_file = site.secret_file(receiver.secret)
    receiver.hold = threading.Event()  # the venue's system takes its time answering
    first = site.serve("before-kill", receiver.url, secret_file)
    for who in ("alice", "bob", "alice"):
        assert site.match(who)["match"] is True
    receiver.wait_for(lambda ds: len(ds) >= 1)  # a delivery is in flight, unanswered

    # More check-ins arrive while the server is killed: whatever it confirmed is queued.
    stop = threading.Event()
    answered: list[dict[str, Any]] = []

    def keep_matching() -> None:
        while not stop.is_set():
            try:
                answered.append(site.match("alice"))
            except (httpx.HTTPError, AssertionError):
                return

    client = threading.Thread(target=keep_matching)
    client.start()
    receiver.wait_for(lambda ds: len(ds) >= 1)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait_exit() == -signal.SIGKILL
    stop.set()
    client.join(30)
    held = {d.webhook_id for d in receiver.deliveries}
    receiver.hold.set()  # the held requests are answered to a dead server
    receiver.hold = None

    site.serve("after-kill", receiver.url, secret_file)
    events = site.checkin_events()
    site.wait_outbox(lambda o: o["counts"]["delivered"] == len(events), timeout=90)

    rows = site.outbox_rows()
    # Every confirmed check-in has exactly one outbox row and so one id, committed with
    # its audit event: none lost, none doubled, by the kill.
    assert [(seq, who) for _, seq, who in rows] == events
    assert len(events) >= 3 + sum(1 for a in answered if a.get("match"))
    ids = {checkin_id for checkin_id, _, _ in rows}
    assert len(ids) == len(rows)
    # The receiver saw only those ids, accepted each, and each id always with one body.
    received = receiver.deliveries
    assert {d.webhook_id for d in received} == ids
    assert set(receiver.accepted()) == ids
    bodies: dict[str, set[str]] = {}
    for d in received:
        bodies.setdefault(d.webhook_id, set()).add(json.dumps(d.body, sort_keys=True))
        assert d.readme_ok and d.library_ok
    assert all(len(b) == 1 for b in bodies.values())
    # What was in flight at the kill was sent again, under the same id.
    assert held and all(sum(d.webhook_id == h for d in received) >= 2 for h in held)
