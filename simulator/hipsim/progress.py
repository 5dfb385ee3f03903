"""Recorded hip extension assessments: repeat sessions and a client's weekly progress.

A clinic follows a client over weeks: each visit is one hip extension assessment
(``docs/assessment.md``), recorded as a ``.hsr`` file and analysed afterwards with
whole-session smoothing (``hipsense analyze``). This module makes such recordings from the
scripted assessments of :mod:`hipsim.assessment`, through the path a live session takes:

1. :func:`hipsim.assessment.assessment_session` simulates the session (calibration routine,
   then the trials; three sensors with the issue error model);
2. :func:`hipsim.clinician.served_angles` streams the samples through the causal pipeline in
   0.1 s pieces, as the service does, and :func:`hipsim.clinician.drive_in_process` runs the
   assessment on those angles with the scripted clinician pressing the buttons, each accepted
   trial refined as it ends;
3. a :class:`~hipsense.recording.sessions.SessionRecorder` (the service's recorder) writes the
   samples of the three sensors, the live angles (counted for the summary), the calibration
   the live pipeline used (when the live pipeline would have found it: at the end of the
   calibration routine) and the markers the assessment wrote (each when it was written: when
   its rep ended), in the order the service queues them.

:func:`hipsense.exercises.load.load_session` and
:func:`hipsense.exercises.session.analyze_session` on such a file give the assessment's
numbers, which can be compared with the truth (:func:`hipsim.assessment.truth_results`)
returned by :func:`write_assessment_recording`.

:func:`weekly_client` and :func:`write_weekly_client` make a client whose active extension on
the side(s) of concern grows by a fixed amount per week while the passive range stays put,
recorded once a week (``client-w1.hsr``, ``client-w2.hsr``, ... dated one week apart).
Subjects are lean (no hold series, no prone trial, 100 Hz): on a 2-core machine a session of
about 110-125 s simulates in 0.1 s, runs through the causal pipeline and the assessment in
0.75 s, is written in 0.1 s and is loaded with smoothing and analysed in under 0.1 s
(``benchmarks/repeatability.py`` prints these timings).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.recording.format import SensorInfo, SessionMetadata
from hipsense.recording.sessions import RecordItem, SessionRecorder
from hipsense.types import AngleBlock, Marker
from hipsim.assessment import SIDES, AssessmentSubject, assessment_session, truth_results
from hipsim.clinician import START_EARLY_S, assessment_request, drive_in_process, served_angles
from hipsim.imu import ImuErrors

CHUNK_S = 0.1
"""Samples and angles reach the recorder in pieces of this length (s), as from a live source."""
BATCH_S = 0.5
"""The recorder writes a batch of queued items this often (s of session time)."""
WEEK = timedelta(days=7)
DEFAULT_WEEKLY_SEED = 1


def _utc_text(created_utc: datetime | str | None) -> str:
    """ISO 8601 UTC text as :class:`~hipsense.recording.writer.RecordingWriter` writes it
    (``""``: the writer fills in the time of writing)."""
    if created_utc is None:
        return ""
    if isinstance(created_utc, str):
        return created_utc
    when = created_utc if created_utc.tzinfo is not None else created_utc.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _side_values(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = ("active_deg", "passive_deg", "gap_deg", "classification")
    return {side: {k: values.get(k) for k in keys} for side, values in state["sides"].items()}


def _emitted_s(marker: Marker) -> float:
    """When the live assessment wrote ``marker``: a rep's marker is written as the rep ends."""
    return float(marker.start_s if marker.end_s is None else marker.end_s)


def write_assessment_recording(
    subject: AssessmentSubject,
    seed: int,
    path: str | Path,
    subject_name: str = "",
    created_utc: datetime | str | None = None,
    overwrite: bool = False,
    errors: ImuErrors | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate one assessment, run it as the service does and record it as a ``.hsr`` file.

    Parameters
    ----------
    subject : the scripted person (:class:`~hipsim.assessment.AssessmentSubject`).
    seed : seeds the script's timing and rep spread, the sensor mounting and the sensor
        errors (:func:`~hipsim.assessment.assessment_session`).
    path : the recording to write (refused if it exists, unless ``overwrite``).
    subject_name : the metadata's ``subject`` (pseudonym).
    created_utc : when the session took place (a timezone-aware ``datetime``, a naive one
        taken as UTC, or ISO 8601 text); None: now.
    overwrite : replace an existing file.
    errors : the sensor error model; None: :func:`hipsim.accuracy.issue_error_model`
        (``ImuErrors.realistic()`` adds accelerometer bias, scale and misalignment).
    extra : more JSON-ready metadata ``extra`` entries (e.g. a ``client`` the session belongs
        to); they override the defaults (note, recorded_by, scenario, seed).

    Returns
    -------
    dict
        ``truth``: per side ``active_deg``, ``passive_deg``, ``gap_deg`` and
        ``classification`` on the exact angles (:func:`~hipsim.assessment.truth_results`);
        ``live``: the same keys as the live assessment showed them; ``path``, ``seed``,
        ``created_utc`` (as stored), ``duration_s`` (session length), ``markers`` (how many
        were written), ``errors`` (requests the assessment refused; normally empty) and
        ``timing_s`` (``simulate`` (with the truth), ``drive`` (causal pipeline and
        assessment) and ``write`` wall-clock seconds).

    Examples
    --------
    >>> subject = AssessmentSubject({"left": 8.0, "right": 16.0}, {"left": 20.0, "right": 19.0})
    >>> out = write_assessment_recording(subject, 1, "visit.hsr")  # doctest: +SKIP
    >>> out["truth"]["left"]["active_deg"]  # doctest: +SKIP
    8.0
    """
    path = Path(path)
    t0 = time.perf_counter()
    session, timeline = assessment_session(subject, seed, errors)
    truth = truth_results(session, timeline)
    t1 = time.perf_counter()
    angles, pipe = served_angles(session.samples)
    clinic, markers, refused = drive_in_process(angles, timeline, refine=pipe.refine)
    t2 = time.perf_counter()

    metadata = SessionMetadata(
        subject=subject_name,
        created_utc=_utc_text(created_utc),
        source="simulator",
        sensors=[
            SensorInfo(role, "simulator", f"hipsim:{role}", float(session.rate_hz[role]))
            for role in session.samples
        ],
        extra={
            "note": "",
            "live_time_offset_s": 0.0,
            "recorded_by": "hipsim.progress",
            "scenario": session.scenario,
            "seed": int(seed),
            **(extra or {}),
        },
    )
    recorder = SessionRecorder(path, metadata, overwrite=overwrite)
    trials = timeline.trials()
    protocol_s = max(0.0, trials[0].still_start_s - START_EARLY_S) if trials else 0.0
    body = assessment_request(timeline).body or {}
    recorder.add_protocol(
        {"kind": "hip extension assessment", **body, "start_s": round(protocol_s, 3)}
    )
    # What the live session queues for the recorder, with the session time it is queued at.
    calibration = pipe.calibration_
    queued: list[tuple[float, int, RecordItem]] = []
    if calibration is not None:
        queued.append((float(calibration.functional_window_s[1]), 0, calibration))
    end_s = max(float(b.time_s[-1]) for b in session.samples.values())
    edges = np.arange(0.0, end_s + CHUNK_S, CHUNK_S)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        for block in session.samples.values():
            i0, i1 = np.searchsorted(block.time_s, (lo, hi), side="left")
            if i1 > i0:
                queued.append((float(hi), 1, block.slice(int(i0), int(i1))))
        j0, j1 = np.searchsorted(angles.time_s, (lo, hi), side="left")
        if j1 > j0:
            piece = {c: v[int(j0) : int(j1)] for c, v in angles.columns.items()}
            queued.append((float(hi), 2, AngleBlock(angles.time_s[int(j0) : int(j1)], piece)))
    for marker in markers:
        queued.append((_emitted_s(marker) + CHUNK_S, 3, marker))
    queued.sort(key=lambda q: (q[0], q[1]))  # stable: the live order within a kind
    try:
        batch: list[RecordItem] = []
        due = BATCH_S
        for when, _, item in queued:
            if when > due and batch:
                recorder.write_batch(batch)
                batch = []
                due = float(np.floor(when / BATCH_S) + 1) * BATCH_S
            batch.append(item)
        if batch:
            recorder.write_batch(batch)
    finally:
        recorder.finish()
    t3 = time.perf_counter()
    return {
        "path": str(path),
        "seed": int(seed),
        "created_utc": recorder.writer.metadata.created_utc,
        "duration_s": float(session.duration_s),
        "truth": truth,
        "live": _side_values(clinic.assessment_state()),
        "markers": len(markers),
        "errors": list(refused),
        "timing_s": {"simulate": t1 - t0, "drive": t2 - t1, "write": t3 - t2},
    }


def lean_subject(
    active_deg: dict[str, float],
    passive_deg: dict[str, float],
    passive_method: str = "half_kneeling",
    rate_hz: float = 100.0,
    speed: float = 1.0,
) -> AssessmentSubject:
    """A subject whose session is quick to simulate: no hold series, no prone trial, no
    compensated reps, every sensor at ``rate_hz`` (100 Hz).

    Parameters
    ----------
    active_deg, passive_deg : per side (``left``, ``right``) the true active and passive hip
        extension (deg).
    passive_method : ``half_kneeling``, ``partner`` or ``thomas``.
    rate_hz : sensor sample rate (Hz).
    speed : movement duration multiplier.
    """
    return AssessmentSubject(
        active_deg={s: float(active_deg[s]) for s in SIDES},
        passive_deg={s: float(passive_deg[s]) for s in SIDES},
        passive_method=passive_method,
        include_prone=False,
        hold_series=None,
        rate_hz=float(rate_hz),
        speed=float(speed),
    )


def weekly_client(
    weeks: int = 6,
    start_active_deg: float = 8.0,
    gain_deg_per_week: float = 2.0,
    passive_deg: float = 20.0,
    sides_of_concern: tuple[str, ...] = ("left",),
    other_active_deg: float = 17.0,
    other_passive_deg: float = 19.0,
    passive_method: str = "half_kneeling",
    rate_hz: float = 100.0,
) -> list[AssessmentSubject]:
    """A client in rehabilitation, one :func:`lean_subject` per weekly visit.

    On each side of concern the active hip extension is ``start_active_deg`` in week 1 and
    grows by ``gain_deg_per_week`` each week, with the passive range fixed at
    ``passive_deg``; the other side stays at ``other_active_deg`` / ``other_passive_deg``.
    The defaults make the left side a motor control deficit (active 8 of passive 20 deg)
    that closes to within norms by week 5 (active 16, gap 4 deg).

    Parameters
    ----------
    weeks : how many weekly visits (>= 1).
    start_active_deg : active range of the side(s) of concern in week 1 (deg).
    gain_deg_per_week : weekly change of that active range (deg).
    passive_deg : passive range of the side(s) of concern (deg).
    sides_of_concern : the sides whose active range changes.
    other_active_deg, other_passive_deg : the other side's ranges (deg).
    passive_method : how the passive range is taken.
    rate_hz : sensor sample rate (Hz).

    Returns
    -------
    list of AssessmentSubject
        Week 1 first.

    Raises
    ------
    ValueError
        for fewer than one week, an unknown side, or a range the script cannot play
        (:class:`~hipsim.assessment.AssessmentSubject` checks active in (0, 40] and passive
        in (0, 45] deg).
    """
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks}")
    if not sides_of_concern or any(s not in SIDES for s in sides_of_concern):
        raise ValueError(f"sides_of_concern must be left and/or right, got {sides_of_concern}")
    out = []
    for week in range(weeks):
        active_now = float(start_active_deg) + week * float(gain_deg_per_week)
        active = {s: active_now if s in sides_of_concern else other_active_deg for s in SIDES}
        passive = {s: passive_deg if s in sides_of_concern else other_passive_deg for s in SIDES}
        out.append(lean_subject(active, passive, passive_method, rate_hz))
    return out


def write_weekly_client(
    directory: str | Path,
    weeks: int = 6,
    start_active_deg: float = 8.0,
    gain_deg_per_week: float = 2.0,
    passive_deg: float = 20.0,
    sides_of_concern: tuple[str, ...] = ("left",),
    name: str = "client",
    subject_name: str = "",
    first_utc: datetime | None = None,
    seed: int = DEFAULT_WEEKLY_SEED,
    overwrite: bool = False,
    extra: dict[str, Any] | None = None,
    **subject_options: Any,
) -> list[dict[str, Any]]:
    """Record the weekly visits of :func:`weekly_client` as ``<name>-w1.hsr`` ... in ``directory``.

    Parameters
    ----------
    directory : where the recordings go (created if missing).
    weeks, start_active_deg, gain_deg_per_week, passive_deg, sides_of_concern : see
        :func:`weekly_client`; further keyword arguments (``other_active_deg``,
        ``other_passive_deg``, ``passive_method``, ``rate_hz``) go to it too.
    name : file name stem; week ``k`` is ``<name>-w<k>.hsr``.
    subject_name : the recordings' ``subject`` (default: ``name``).
    first_utc : when week 1 took place; the others follow exactly one week apart. None: the
        last visit is today (now, to the second) and the earlier ones one week apart before it.
    seed : week ``k`` uses seed ``seed * 1000 + k``: every visit has its own sensor mounting,
        sensor errors and script timing, as real visits do.
    overwrite : replace existing files.
    extra : more metadata ``extra`` entries for every recording (see
        :func:`write_assessment_recording`).

    Returns
    -------
    list of dict
        Per week (week 1 first): the :func:`write_assessment_recording` result plus ``week``
        (1-based) and ``subject`` (the nominal ``active_deg`` and ``passive_deg`` per side).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    subjects = weekly_client(
        weeks, start_active_deg, gain_deg_per_week, passive_deg, sides_of_concern,
        **subject_options,
    )  # fmt: skip
    if first_utc is None:
        now = datetime.now(UTC).replace(microsecond=0)
        first_utc = now - (weeks - 1) * WEEK
    out = []
    for k, subject in enumerate(subjects):
        week = k + 1
        result = write_assessment_recording(
            subject,
            seed * 1000 + week,
            directory / f"{name}-w{week}.hsr",
            subject_name=subject_name or name,
            created_utc=first_utc + k * WEEK,
            overwrite=overwrite,
            extra=extra,
        )
        result["week"] = week
        result["subject"] = {
            "active_deg": dict(subject.active_deg),
            "passive_deg": dict(subject.passive_deg),
        }
        out.append(result)
    return out


def analyze_recording(path: str | Path) -> dict[str, Any]:
    """Per side what ``hipsense analyze`` reports for a recording (whole-session smoothing).

    Returns
    -------
    dict
        ``gaps``: per side the ``analyze_session`` gap dict (``active_deg``,
        ``passive_deg``, ``gap_deg``, ``classification``, ...); ``created_utc`` of the
        recording; ``timing_s``: ``load`` (replay with smoothing) and ``analyze`` seconds.
    """
    from hipsense.exercises.load import load_session
    from hipsense.exercises.session import analyze_session
    from hipsense.recording.reader import RecordingReader

    t0 = time.perf_counter()
    angles, markers = load_session(path, None, "vqf", True)
    t1 = time.perf_counter()
    analysis = analyze_session(angles, markers).to_dict()
    t2 = time.perf_counter()
    with RecordingReader(path) as reader:
        created = reader.metadata().created_utc
    return {
        "gaps": {g["side"]: g for g in analysis["gaps"]},
        "created_utc": created,
        "timing_s": {"load": t1 - t0, "analyze": t2 - t1},
    }


__all__ = [
    "analyze_recording",
    "lean_subject",
    "weekly_client",
    "write_assessment_recording",
    "write_weekly_client",
]
