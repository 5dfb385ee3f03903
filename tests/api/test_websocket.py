"""The /ws/live stream: moving frames, events, and per-client back-pressure."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from hipsense.api.background import BackgroundServer
from hipsense.live import LiveSession
from hipsense.sources.simulated import SimulatedSession, SimulatedSource


def test_frames_move_and_events_arrive(client: TestClient) -> None:
    kinds: set[str] = set()
    t: list[float] = []
    flexion: list[float] = []
    seqs: list[int] = []
    with client.websocket_connect("/ws/live") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["roles"] == [
            "pelvis",
            "thigh_left",
            "thigh_right",
        ]
        assert hello["frame_rate_hz"] >= 50
        deadline = time.monotonic() + 60  # generous: a loaded CI machine may starve the stream
        while time.monotonic() < deadline and len(t) < 600:
            msg = ws.receive_json()
            kinds.add(msg["type"])
            if msg["type"] == "frames":
                seqs.append(msg["seq"])
                t.extend(msg["t"])
                flexion.extend(v for v in msg["c"]["hip_flexion_left_deg"] if v is not None)
                assert "thigh_inclination_right_deg" in msg["c"]
                assert "pelvic_tilt_deg" in msg["c"]
    assert {"calibration", "marker", "frames"} <= kinds
    assert len(t) >= 600
    assert np.all(np.diff(t) > 0), "frame times must increase"
    assert np.median(np.diff(t)) <= 1 / 50 + 1e-6, "at least 50 frames per second"
    assert np.ptp(flexion) > 10, "the simulated exercises move the hip"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def _reader(
    url: str, out: dict[str, Any], stop: threading.Event, resume: threading.Event | None = None
) -> None:
    """Read /ws/live into ``out`` until ``stop``; with ``resume``, read nothing until it is set."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting. The stalled client gets a small receive window, so its stall
    # reaches the server quickly. The other one gets a large window and an unbounded client
    # queue, so that on a loaded machine a late turn of this thread does not stall the server.
    rcvbuf = 4096 if resume is not None else 4 << 20
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    ws_url = url.replace("http", "ws") + "/ws/live"
    out["seqs"] = []
    out["dropped"] = 0
    max_queue = 4 if resume is not None else None
    with connect(ws_url, sock=sock, max_size=None, max_queue=max_queue) as ws:
        while not stop.is_set():
            if resume is not None and not resume.wait(timeout=0.05):
                continue
            try:
                msg = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            if msg["type"] == "frames":
                out["seqs"].append(msg["seq"])
            elif msg["type"] == "client":
                out["dropped"] = msg["dropped"]


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    # Generous: the stream is paced in real time, and a loaded CI machine may starve it.
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_slow_client_drops_its_own_frames(make_app: Callable[..., FastAPI]) -> None:
    queue_len = 20
    app = make_app(speed=10.0, client_queue=queue_len)
    with BackgroundServer(app, send_buffer_bytes=4096) as server:
        live = app.state.service.live
        _wait_for(
            lambda: httpx.get(server.url + "/api/health").json()["calibrated"],
            "the demo did not calibrate",
        )
        stop, resume = threading.Event(), threading.Event()
        fast: dict[str, Any] = {}
        slow: dict[str, Any] = {}
        threads = [
            threading.Thread(target=_reader, args=(server.url, fast, stop)),
            threading.Thread(target=_reader, args=(server.url, slow, stop, resume)),
        ]
        for th in threads:
            th.start()
        try:
            # Stall until the server's socket buffers are full and the slow client's own
            # queue has dropped its oldest messages.
            _wait_for(
                lambda: any(sub.dropped > 0 for sub in list(live.subscriptions)),
                "the stalled client's queue never overflowed",
            )
            assert all(len(sub) <= queue_len for sub in list(live.subscriptions))
            resume.set()
            _wait_for(
                lambda: slow["dropped"] > 0 and len(slow["seqs"]) >= 10,
                "the stalled client resumed but was not told of its drops",
            )
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=5)
    fast_seqs = fast["seqs"]
    assert len(fast_seqs) > 100
    assert fast_seqs == list(range(fast_seqs[0], fast_seqs[0] + len(fast_seqs))), "fast lost frames"
    slow_seqs = slow["seqs"]
    assert np.all(np.diff(slow_seqs) > 0), "the stalled client's frames stay in order"
    missed = slow_seqs[-1] - slow_seqs[0] + 1 - len(slow_seqs)
    assert missed > 0, "the stalled client lost frames (its own, not the fast client's)"


async def test_subscription_drops_oldest_for_that_client_only(
    demo_session: SimulatedSession,
) -> None:
    source = SimulatedSource(demo_session, speed=25.0, loop=False)
    live = LiveSession(source, client_queue=10, auto_calibrate=True)
    stalled = live.subscribe()
    keeping_up = live.subscribe(maxlen=100_000)
    await live.start()
    while live.running:
        await asyncio.sleep(0.01)
    await live.stop()
    assert live.seq > 100
    assert len(stalled) == 10 and stalled.dropped > 100
    assert keeping_up.dropped == 0
    received = [json.loads(await keeping_up.get()) for _ in range(len(keeping_up))]
    seqs = [m["seq"] for m in received if m["type"] == "frames"]
    assert seqs == list(range(1, live.seq + 1))
    newest = [json.loads(await stalled.get()) for _ in range(len(stalled))]
    assert newest[-1]["type"] in ("frames", "sensor", "marker", "calibration")
    frames = [m for m in newest if m["type"] == "frames"]
    assert not frames or frames[-1]["seq"] == live.seq, "the stalled client keeps the newest"


def test_a_message_with_non_finite_numbers_is_sent_with_nulls() -> None:
    import json

    from hipsense.live import encode

    text = encode({"type": "x", "a": float("nan"), "b": [1.0, float("inf")], "c": {"d": 2.5}})
    assert json.loads(text) == {"type": "x", "a": None, "b": [1.0, None], "c": {"d": 2.5}}


async def test_a_failing_analyzer_is_reported_once_and_the_angles_go_on(demo_session) -> None:
    import json

    from hipsense.live import LiveSession
    from hipsense.sources.simulated import SimulatedSource

    class Boom:
        def process(self, angles):  # type: ignore[no-untyped-def]
            raise RuntimeError("kaput")

        def finish(self):  # type: ignore[no-untyped-def]
            return []

    live = LiveSession(
        SimulatedSource(demo_session, speed=10.0, loop=False),
        auto_calibrate=True,
        analyzers=[Boom()],
    )
    sub = live.subscribe(maxlen=1_000_000)
    await live.start()
    for _ in range(1200):  # a condition wait: the 66 s session plays in about 7 s
        await asyncio.sleep(0.05)
        if not live.running:
            break
    messages = [json.loads(await sub.get()) for _ in range(len(sub))]
    await live.stop()
    errors = [e for e in messages if e["type"] == "analysis_error"]
    assert len(errors) == 1 and "kaput" in errors[0]["message"]
    assert live.source_error is None and live.frames_total > 3000
