"""A scripted clinician: presses the assessment's buttons through the API a person uses.

The simulated subject of :mod:`hipsim.assessment` moves by its script; a clinician watching
them starts each trial when the person stands in the start position, accepts a trial the
person has finished, goes on to the next one and starts the hold series when the person kneels.
:func:`next_requests` is that decision, from what the API reports (``GET /api/assessment``,
``GET /api/holds``) and the subject's timeline; :class:`HttpClinician` makes the requests over
HTTP in a thread (the ``hipsense serve`` demo), and tests and benchmarks use the same decision
with any other way of calling the API.

The demo source loops the session: lap ``k`` shifts the timeline by ``k * period_s``, and a
new assessment (and series) starts in each lap.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from hipsim.assessment import AssessmentTimeline

START_EARLY_S = 2.0  # the assessment is created this long before the first still window


@dataclass(frozen=True)
class Request:
    """One API call: ``method``, ``path`` and the JSON ``body`` (None: no body)."""

    method: str
    path: str
    body: dict[str, Any] | None = None


def assessment_request(timeline: AssessmentTimeline) -> Request:
    """``POST /api/assessment`` with the subject's passive method, prone trial and sides."""
    subject = timeline.subject
    return Request(
        "POST",
        "/api/assessment",
        {
            "passive_method": subject.passive_method,
            "include_prone": subject.include_prone,
            "sides": list(subject.side_order),
        },
    )


def next_requests(
    assessment: dict[str, Any],
    holds: dict[str, Any],
    timeline: AssessmentTimeline,
    now_s: float,
    period_s: float | None = None,
) -> list[Request]:
    """What the clinician does now (at most one request per protocol).

    Parameters
    ----------
    assessment, holds : the API's current states.
    timeline : the subject's script.
    now_s : session time (s).
    period_s : the session's loop period (None: no loop).
    """
    lap = int(now_s // period_s) if period_s else 0
    offset = lap * (period_s or 0.0)
    out: list[Request] = []
    trials = timeline.trials()
    state = assessment.get("state", "idle")
    fresh = state == "idle" or (state in ("finished", "aborted") and _lap_over(assessment, offset))
    if fresh and trials and now_s >= offset + trials[0].still_start_s - START_EARLY_S:
        # Late (a slow poll) is still fine until the first trial's person is done.
        if now_s < offset + trials[0].end_s:
            out.append(assessment_request(timeline))
    elif state == "running" and assessment.get("current") is not None:
        trial = assessment["trials"][assessment["current"]]
        tl = timeline.trial(trial["id"])
        allowed = assessment.get("allowed", [])
        if trial["state"] == "instructions" and now_s >= offset + tl.still_start_s:
            out.append(Request("POST", "/api/assessment/start"))
        elif trial["state"] in ("accepted", "rejected", "skipped") and "next" in allowed:
            out.append(Request("POST", "/api/assessment/next"))
        elif trial["state"] == "capturing" and now_s >= offset + tl.end_s:
            action = "accept" if "accept" in allowed else "skip"
            out.append(Request("POST", f"/api/assessment/{action}"))
        elif trial["state"] == "waiting_still" and now_s >= offset + tl.end_s:
            out.append(Request("POST", "/api/assessment/skip"))
    series = timeline.hold_series()
    if series is not None and series.series is not None:
        begin = offset + series.start_s
        idle = holds.get("state", "idle") == "idle" or (
            holds.get("state") in ("finished", "stopped") and _series_before(holds, offset)
        )
        first_end = offset + (series.holds[0].end_s if series.holds else series.start_s + 1.0)
        if idle and begin <= now_s < first_end:
            out.append(Request("POST", "/api/holds", series.series.request()))
    return out


def _lap_over(assessment: dict[str, Any], offset: float) -> bool:
    """Whether a finished assessment belongs to an earlier lap than the one at ``offset``."""
    trials = assessment.get("trials") or []
    started = [t.get("started_s") for t in trials if t.get("started_s") is not None]
    return bool(offset > 0 and (not started or max(started) < offset))


def _series_before(holds: dict[str, Any], offset: float) -> bool:
    starts = [h.get("start_s") for h in holds.get("holds", []) if h.get("start_s") is not None]
    return bool(offset > 0 and starts and max(starts) < offset)


class HttpClinician:
    """The scripted clinician over HTTP, polling the API in a thread (the serve demo).

    Parameters
    ----------
    base_url : e.g. ``http://127.0.0.1:8000``.
    timeline : the subject's script.
    token : the service's token, if it has one.
    period_s : the session's loop period.
    poll_s : wall-clock seconds between polls.
    """

    def __init__(
        self,
        base_url: str,
        timeline: AssessmentTimeline,
        token: str | None = None,
        period_s: float | None = None,
        poll_s: float = 0.1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeline = timeline
        self.token = token
        self.period_s = period_s
        self.poll_s = poll_s
        self.errors: list[str] = []
        self.sent: list[Request] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hipsim-clinician", daemon=True)

    def start(self) -> None:
        """Begin polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for the thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def call(self, req: Request) -> dict[str, Any]:
        """Make one request; the JSON answer (errors: ``{"error": ...}`` with ``status``)."""
        data = None if req.body is None else json.dumps(req.body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        r = urllib.request.Request(
            self.base_url + req.path, data=data, method=req.method, headers=headers
        )
        try:
            with urllib.request.urlopen(r, timeout=10.0) as response:
                body: dict[str, Any] = json.loads(response.read() or b"{}")
                return body
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}")
            except json.JSONDecodeError:
                detail = {}
            return {"error": detail.get("error", str(exc)), "status": exc.code}

    def step(self) -> list[Request]:
        """One poll: read the states, make what the clinician decides."""
        assessment = self.call(Request("GET", "/api/assessment"))
        holds = self.call(Request("GET", "/api/holds"))
        if "error" in assessment or "error" in holds:
            return []
        now_s = float(assessment.get("time_s", 0.0))
        done = next_requests(assessment, holds, self.timeline, now_s, self.period_s)
        for req in done:
            answer = self.call(req)
            self.sent.append(req)
            if "error" in answer:
                self.errors.append(f"{req.method} {req.path}: {answer['error']}")
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.step()
            except (OSError, ValueError) as exc:  # the service is starting or stopping
                self.errors.append(str(exc))


def call_in_process(clinic: Any, req: Request) -> dict[str, Any]:
    """Make ``req`` on a :class:`hipsense.exercises.clinic.ClinicProtocols` directly: the same
    actions the routes apply, for benchmarks that run faster than real time."""
    from hipsense.exercises.assessment import AssessmentError, AssessmentOptions
    from hipsense.exercises.hold_series import HoldSeriesSpec

    body = req.body or {}
    try:
        if req.method == "GET":
            return (
                clinic.assessment_state()
                if req.path == "/api/assessment"
                else clinic.series_state()
            )
        if req.path == "/api/assessment":
            clinic.start_assessment(
                AssessmentOptions(
                    body.get("passive_method", "half_kneeling"),
                    bool(body.get("include_prone", False)),
                    tuple(body.get("sides", ("left", "right"))),
                )
            )
        elif req.path.startswith("/api/assessment/"):
            clinic.act(req.path.rsplit("/", 1)[1])
        elif req.path == "/api/holds":
            clinic.start_series(
                HoldSeriesSpec(
                    body["side"],
                    tuple(body["phases"]),
                    dict(body["hold_s"]),
                    int(body["reps"]),
                    float(body["rest_s"]),
                    body.get("target_deg"),
                    float(body["tolerance_deg"]),
                )
            )
        else:
            return {"error": f"no such request {req.path}"}
    except AssessmentError as exc:
        return {"error": str(exc)}
    return {}


def served_angles(
    samples: dict[str, Any],
    chunk_s: float = 0.1,
    calibration: Any = None,
    rates_hz: dict[str, float] | None = None,
) -> tuple[Any, Any]:
    """The angles a live session shows for ``samples``, and its pipeline.

    Calibrated with ``calibration``, else as ``hipsense process --causal`` calibrates; sensor
    rates ``rates_hz`` (a live source's nominal rates), else estimated from the samples. The
    causal pipeline is fed every sensor's samples in ``chunk_s`` pieces, as a live source
    delivers them, and keeps its whole history, so ``pipeline.refine(start_s, end_s)`` gives
    what the service computes when a trial ends at ``end_s`` (it uses no sample after
    ``end_s``). Returns ``(angles, pipeline)``.
    """
    import numpy as np

    from hipsense.pipeline import HipPipeline, estimate_rate_hz, process_session
    from hipsense.types import AngleBlock

    if calibration is None:
        calibration = process_session(samples, offline=False).calibration
    pipe = HipPipeline(rates_hz or {r: estimate_rate_hz(b) for r, b in samples.items()})
    pipe.keep_history(float("inf"))
    pipe.set_calibration(calibration)
    end = max(float(b.time_s[-1]) for b in samples.values())
    edges = np.arange(0.0, end + chunk_s, chunk_s)
    pieces = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        piece = []
        for block in samples.values():
            i0, i1 = np.searchsorted(block.time_s, (lo, hi), side="left")
            if i1 > i0:
                piece.append(block.slice(int(i0), int(i1)))
        pieces.append(pipe.process(piece))
    return AngleBlock.concat(pieces), pipe


def drive_in_process(
    angles: Any,
    timeline: AssessmentTimeline,
    block_s: float = 0.1,
    config: Any = None,
    refine: Any = None,
) -> tuple[Any, list[Any], list[str]]:
    """Feed calibrated ``angles`` to a fresh ``ClinicProtocols`` in blocks of ``block_s`` with the
    scripted clinician deciding between blocks; ``(clinic, markers, errors)``. ``refine``: the
    pipeline's :meth:`~hipsense.pipeline.HipPipeline.refine` (see :func:`served_angles`), as the
    service passes it."""
    import numpy as np

    from hipsense.exercises.clinic import ClinicProtocols
    from hipsense.types import AngleBlock

    markers: list[Any] = []
    now = [float(angles.time_s[0])]
    clinic = ClinicProtocols(markers.append, lambda: now[0], lambda: True, config, refine=refine)
    errors: list[str] = []
    t = angles.time_s
    edges = np.searchsorted(t, np.arange(t[0], t[-1] + block_s, block_s))
    for i, j in zip(edges[:-1], edges[1:], strict=True):
        if j <= i:
            continue
        state = clinic.assessment_state()
        state["time_s"] = now[0]
        for req in next_requests(state, clinic.series_state(), timeline, now[0]):
            answer = call_in_process(clinic, req)
            if "error" in answer:
                errors.append(f"{req.path}: {answer['error']}")
        clinic.process(AngleBlock(t[i:j], {k: v[i:j] for k, v in angles.columns.items()}))
        now[0] = float(t[j - 1])
    return clinic, markers, errors
