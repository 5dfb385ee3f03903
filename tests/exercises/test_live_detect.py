"""Live segment detection: the live analyzer reports what the offline detector finds."""

from __future__ import annotations

import asyncio
import json
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
from test_holds import split  # the same block cutting as the hold tests

from hipsense.exercises.detect import WALK_CONTEXT_S, detect_segments
from hipsense.exercises.live import DETECT_EVERY_S, ExerciseAnalyzer
from hipsense.exercises.segments import slice_block
from hipsense.exercises.session import analyze_session
from hipsense.pipeline import process_session
from hipsense.types import AngleBlock, Marker, SampleBlock
from hipsim.scenarios import hip_cars, reverse_walking, sit_to_stand
from hipsim.subjects import scripted_session

SEGMENT_KEYS = ("start_s", "end_s", "exercise", "side", "source")
DETECTION_KINDS = ("segment_detected", "movement_started")
MAX_DELAY_S = 5.0  # walking: 1.5 s step interval + 2.15 s until a step is known + 1 s tick


def run_live(angles, sizes, markers=None, **options):
    """Events of a detecting analyzer fed ``angles`` in blocks; ``markers(t)`` polled."""
    shown: list[Marker] = []
    analyzer = ExerciseAnalyzer(markers=lambda: list(shown), detect=True, **options)
    events = []
    for block in split(angles, np.asarray(sizes)):
        if markers is not None:
            shown[:] = markers(float(block.time_s[-1]))
        events.extend(analyzer.process(block))
    return events, analyzer


def segments_of(events):
    return [{k: e[k] for k in SEGMENT_KEYS} for e in events if e["kind"] == "segment_detected"]


def detected_results(events):
    return [
        {k: v for k, v in e.items() if k != "time_s"}
        for e in events
        if e.get("source") == "detected" and e["kind"] not in DETECTION_KINDS
    ]


def offline(angles, markers=()):
    analysis = analyze_session(angles, list(markers), detect=True).to_dict()
    segments = [s for s in analysis["segments"] if s["source"] == "detected"]
    results = [r for r in analysis["results"] if r["source"] == "detected"]
    return segments, results


def by_time(items):
    return sorted(items, key=lambda d: (d["start_s"], d["end_s"], str(d.get("side"))))


def assert_live_equals_offline(events, angles, markers=()):
    segments, results = offline(angles, markers)
    assert by_time(segments_of(events)) == by_time(segments)
    assert sorted(map(repr, detected_results(events))) == sorted(map(repr, results))
    return segments


@cache
def mixed_session(seed: int) -> AngleBlock:
    """Calibration, then sitting down three times, CARs of both hips, walking twice."""

    def block(b, rng):
        sit_to_stand(b, rng)
        hip_cars(b, rng)
        reverse_walking(b, rng)

    return process_session(scripted_session(block, seed).samples).angles


@pytest.mark.parametrize(
    ("scenario", "seed", "count"),
    [
        ("sit_to_stand", 1, 3),
        ("sit_to_stand", 2, 3),
        ("hip_cars", 1, 4),
        ("hip_cars", 2, 4),
        ("reverse_walking", 1, 2),
        ("reverse_walking", 3, 2),
    ],
)
def test_live_detection_equals_offline_for_any_block_size(sim, scenario, seed, count):
    _session, angles, _markers = sim(scenario, seed)
    events, _ = run_live(angles, [7])
    segments = assert_live_equals_offline(events, angles)
    assert len(segments) == count
    detection = [e for e in events if e["kind"] in DETECTION_KINDS]
    rng = np.random.default_rng(seed)
    for sizes in ([50], rng.integers(1, 14, size=40), [len(angles)]):
        again, _ = run_live(angles, sizes)
        # The same events at the same times: detection runs at whole seconds of angle time.
        assert [e for e in again if e["kind"] in DETECTION_KINDS] == detection
        assert detected_results(again) == detected_results(events)


def test_live_detection_of_a_mixed_session_frame_by_frame():
    angles = mixed_session(4)
    events, analyzer = run_live(angles, [1])
    segments = assert_live_equals_offline(events, angles)
    assert [s["exercise"] for s in segments].count("sitting") == 3
    assert [s["exercise"] for s in segments].count("cars") == 4
    assert [s["exercise"] for s in segments].count("reverse_walking") == 2
    assert [s.to_dict() for s in analyzer.detected] == segments_of(events)
    results = {r["kind"] for r in detected_results(events)}
    assert results == {"sitting", "cars", "gait"}
    for e in events:
        if e["kind"] == "segment_detected":
            # Reported after the movement ended, at a whole second, soon enough.
            assert 0.0 < e["time_s"] - e["end_s"] <= MAX_DELAY_S
            assert e["time_s"] % DETECT_EVERY_S == 0.0 and "note" not in e
            started = [
                s
                for s in events
                if s["kind"] == "movement_started"
                and s["exercise"] == e["exercise"]
                and s["side"] == e["side"]
                and e["start_s"] <= s["start_s"] < e["end_s"]
            ]
            assert len(started) == 1 and started[0]["time_s"] < e["time_s"]


def test_marks_suppress_overlapping_detections_live(sim):
    _session, angles, markers = sim("sit_to_stand", 1)
    mark = [m for m in markers if m.exercise == "sitting"][1]

    def shown(now_s):  # the mark opens at its start and closes at its end, as in a session
        if now_s < mark.start_s:
            return []
        return [Marker(mark.start_s, mark.end_s if now_s >= mark.end_s else None, "sitting")]

    events, _ = run_live(angles, [10], markers=shown)
    segments = assert_live_equals_offline(events, angles, [mark])
    assert len(segments) == 2
    assert not any(
        e["start_s"] < mark.end_s and mark.start_s < e["end_s"]
        for e in events
        if e["kind"] in DETECTION_KINDS
    )
    marked = [e for e in events if e["kind"] == "sitting" and e["source"] == "marked"]
    assert len(marked) == 1 and abs(marked[0]["start_s"] - mark.start_s) < 0.02
    # Without the mark, the sit it covers is detected.
    plain, _ = run_live(angles, [10])
    assert len(segments_of(plain)) == 3


@pytest.mark.parametrize("scenario", ["calibration", "half_kneeling_stretch", "hip_lift"])
def test_nothing_detected_live_in_holds_and_lying(sim, scenario):
    _session, angles, _markers = sim(scenario, 1)
    events, analyzer = run_live(angles, [10])
    assert [e for e in events if e["kind"] in DETECTION_KINDS] == []
    assert analyzer.detected == [] and detect_segments(angles) == []


def test_detection_is_off_by_default(sim):
    _session, angles, _markers = sim("sit_to_stand", 1)
    analyzer = ExerciseAnalyzer()
    events = [e for b in split(angles, np.array([25])) for e in analyzer.process(b)]
    assert analyzer.detector is None and events == []


def sitting_block(sit_s: tuple[float, float], total_s: float, rate_hz: float = 100.0):
    """Synthetic angles: standing, sitting (hips 90 deg) from ``sit_s[0]`` to ``sit_s[1]``."""
    t = np.arange(0.0, total_s, 1.0 / rate_hz)
    rng = np.random.default_rng(5)
    up = np.clip(np.minimum(t - sit_s[0], sit_s[1] - t), 0.0, 1.0)
    cols = {}
    for side in ("left", "right"):
        cols[f"hip_flexion_{side}_deg"] = 90.0 * up + rng.normal(0.0, 0.5, len(t))
        cols[f"hip_abduction_{side}_deg"] = rng.normal(0.0, 0.5, len(t))
        cols[f"hip_internal_rotation_{side}_deg"] = rng.normal(0.0, 0.5, len(t))
    cols["pelvic_tilt_deg"] = -8.0 * up + rng.normal(0.0, 0.3, len(t))
    cols["pelvic_obliquity_deg"] = rng.normal(0.0, 0.3, len(t))
    cols["pelvic_rotation_deg"] = rng.normal(0.0, 0.3, len(t))
    return AngleBlock(t, cols)


def test_a_movement_longer_than_the_cap_is_reported_in_parts_with_bounded_memory():
    angles = sitting_block((10.0, 230.0), 300.0)
    cap_s = 60.0
    shown: list[Marker] = []
    analyzer = ExerciseAnalyzer(markers=lambda: shown, detect=True, detect_max_s=cap_s)
    events, longest_s = [], 0.0
    for block in split(angles, np.array([10])):
        events.extend(analyzer.process(block))
        longest_s = max(longest_s, analyzer.buffered_s)
    # Frames retained: the cap, one detection interval and the walking context at most.
    assert longest_s <= cap_s + DETECT_EVERY_S + WALK_CONTEXT_S + 0.1
    parts = segments_of(events)
    (whole,) = detect_segments(angles)
    assert len(parts) == 4
    assert parts[0]["start_s"] == whole.start_s and parts[-1]["end_s"] == whole.end_s
    for a, b in zip(parts[:-1], parts[1:], strict=True):
        assert abs(b["start_s"] - a["end_s"]) < 0.02
    notes = [e.get("note") for e in events if e["kind"] == "segment_detected"]
    assert all(n and "cap" in n for n in notes[:-1]) and notes[-1] is None
    assert all(p["end_s"] - p["start_s"] <= cap_s + DETECT_EVERY_S for p in parts)
    # The default cap (600 s) keeps this bout whole, as offline.
    whole_events, _ = run_live(angles, [10])
    assert segments_of(whole_events) == [whole.to_dict()]


def test_service_detects_segments_live(tmp_path):
    with warnings.catch_warnings():
        # Starlette 1.x prefers httpx2 for its TestClient; httpx is what the project installs.
        warnings.filterwarnings("ignore", message="Using `httpx` with")
        from fastapi.testclient import TestClient

    from hipsense.api.app import create_app
    from hipsense.api.service import ServiceSettings
    from hipsense.sources.simulated import SimulatedSource, simulate_demo

    session = simulate_demo("sit_to_stand", seed=1)
    app = create_app(ServiceSettings(data_dir=tmp_path), lambda: SimulatedSource(session))
    with TestClient(app):
        (analyzer,) = [
            a for a in app.state.service.live.analyzers if isinstance(a, ExerciseAnalyzer)
        ]
        assert analyzer.detector is not None
    off = create_app(
        ServiceSettings(data_dir=tmp_path), lambda: SimulatedSource(session), detect_segments=False
    )
    with TestClient(off):
        (analyzer,) = [
            a for a in off.state.service.live.analyzers if isinstance(a, ExerciseAnalyzer)
        ]
        assert analyzer.detector is None


def random_session(seed: int, duration_s: float = 240.0, rate_hz: float = 100.0) -> AngleBlock:
    """Synthetic angles with edge cases: steps near the prominence threshold and step interval
    limits, circles with pauses near the 2 s limit, sits near the 5 s limit, slow drifts."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    flex = {s: np.zeros(len(t)) for s in ("left", "right")}
    abd = {s: np.zeros(len(t)) for s in ("left", "right")}
    tilt = np.zeros(len(t))
    start = 3.0
    while start < duration_s - 15.0:
        kind = rng.choice(["walk", "sit", "circles", "rest"])
        if kind == "walk":
            length = rng.uniform(3.0, 12.0)
            stride_s = rng.uniform(1.0, 3.2)
            amp = rng.uniform(3.0, 15.0)
            on = (t >= start) & (t < start + length)
            phase = 2 * np.pi * (t - start) / stride_s
            for k, side in enumerate(("left", "right")):
                flex[side][on] += amp * np.sin(phase[on] + k * np.pi) + 4.0
        elif kind == "sit":
            length = rng.uniform(3.0, 9.0)
            up = np.clip(np.minimum(t - start, start + length - t), 0.0, 1.0)
            depth = rng.uniform(50.0, 95.0)
            for side in ("left", "right"):
                flex[side] += depth * up
            tilt -= 8.0 * up
        elif kind == "circles":
            side = str(rng.choice(["left", "right"]))
            length = 0.0
            direction = rng.choice([-1.0, 1.0])
            for _ in range(int(rng.integers(1, 5))):
                rep_s = rng.uniform(2.0, 4.0)
                on = (t >= start + length) & (t < start + length + rep_s)
                theta = 2 * np.pi * (t[on] - start - length) / rep_s
                flex[side][on] += 45.0 * (1 - np.cos(theta))
                abd[side][on] += direction * 20.0 * np.sin(theta)
                length += rep_s + rng.uniform(0.2, 2.6)
        else:
            length = rng.uniform(0.5, 4.0)
        start += length + rng.uniform(0.2, 3.0)
    cols: dict[str, np.ndarray] = {}
    drift = np.cumsum(rng.normal(0.0, 0.05, len(t)))
    for side in ("left", "right"):
        cols[f"hip_flexion_{side}_deg"] = flex[side] + 0.2 * drift + rng.normal(0, 0.4, len(t))
        cols[f"hip_abduction_{side}_deg"] = abd[side] + rng.normal(0, 0.4, len(t))
        cols[f"hip_internal_rotation_{side}_deg"] = rng.normal(0, 0.4, len(t))
    cols["pelvic_tilt_deg"] = tilt + rng.normal(0, 0.3, len(t))
    cols["pelvic_obliquity_deg"] = rng.normal(0, 0.3, len(t))
    cols["pelvic_rotation_deg"] = rng.normal(0, 0.3, len(t))
    return AngleBlock(t, cols)


@pytest.mark.parametrize("seed", range(12))
def test_live_detection_equals_offline_on_random_edge_cases(seed):
    angles = random_session(seed)
    sizes = np.random.default_rng(seed).integers(1, 40, size=50)
    events, _ = run_live(angles, sizes)
    segments, results = offline(angles)
    # A movement still under way when the angles stop is not final live: only those may miss.
    end_s = float(angles.time_s[-1])
    missing = [s for s in segments if s not in segments_of(events)]
    assert all(s["end_s"] > end_s - MAX_DELAY_S for s in missing)
    assert by_time(segments_of(events)) == by_time([s for s in segments if s not in missing])
    reported = [r for r in results if not any(r["start_s"] >= s["start_s"] for s in missing)]
    assert sorted(map(repr, detected_results(events))) == sorted(map(repr, reported))


# --- the end of the stream -------------------------------------------------------------------


def run_live_to_end(angles, sizes, markers=None):
    """``run_live`` and then the analyzer's end-of-stream events: (events, finish events)."""
    events, analyzer = run_live(angles, sizes, markers)
    last = analyzer.finish()
    assert analyzer.finish() == [], "finish reports once"
    return events + last, last


def cut_inside(angles: AngleBlock, exercise: str, fraction: float = 0.6) -> AngleBlock:
    """The session's angles up to ``fraction`` of its last detected ``exercise`` segment."""
    seg = [s for s in detect_segments(angles) if s.exercise == exercise][-1]
    return slice_block(angles, -np.inf, seg.start_s + fraction * (seg.end_s - seg.start_s))


@pytest.mark.parametrize("exercise", ["reverse_walking", "cars", "sitting"])
def test_finish_reports_a_movement_under_way_as_offline_does(exercise):
    angles = cut_inside(mixed_session(4), exercise)
    end_s = round(float(angles.time_s[-1]) + 0.01, 3)  # one period after the last frame
    rng = np.random.default_rng(len(exercise))
    for sizes in ([7], rng.integers(1, 30, size=40), [len(angles)]):
        events, last = run_live_to_end(angles, sizes)
        segments = assert_live_equals_offline(events, angles)
        # The movement under way is the finish's: it ends with the angles (a sit at the end,
        # CARs and walks within their padding after the last loop or step).
        (cut,) = segments_of(last)
        assert cut == segments[-1] and cut["exercise"] == exercise
        assert end_s - 1.5 < cut["end_s"] <= end_s
        assert exercise != "sitting" or cut["end_s"] == end_s
        assert all(e["time_s"] == round(float(angles.time_s[-1]), 3) for e in last)
        assert detected_results(last), "its results come with it"


@pytest.mark.parametrize("seed", range(12))
def test_live_detection_with_finish_equals_offline_wherever_the_stream_stops(seed):
    rng = np.random.default_rng(100 + seed)
    angles = random_session(seed, duration_s=120.0)
    angles = slice_block(angles, -np.inf, float(rng.uniform(10.0, 120.0)))
    events, _ = run_live_to_end(angles, rng.integers(1, 40, size=50))
    assert_live_equals_offline(events, angles)


def test_finish_analyses_a_mark_the_angles_did_not_reach(sim):
    _session, angles, markers = sim("sit_to_stand", 1)
    mark = [m for m in markers if m.exercise == "sitting"][1]
    angles = slice_block(angles, -np.inf, 0.5 * (mark.start_s + mark.end_s))
    events, last = run_live_to_end(angles, [10], markers=lambda now_s: [mark])
    assert_live_equals_offline(events, angles, [mark])
    marked = [e for e in last if e["kind"] == "sitting" and e["source"] == "marked"]
    expected = analyze_session(angles, [mark]).to_dict()["results"]
    assert [{k: v for k, v in e.items() if k != "time_s"} for e in marked] == [
        r for r in expected if r["kind"] == "sitting" and r["source"] == "marked"
    ]


class SeenAngles(ExerciseAnalyzer):
    """An exercise analyzer that keeps the angle blocks it was given."""

    def __init__(self) -> None:
        super().__init__(detect=True)
        self.blocks: list[AngleBlock] = []

    def process(self, angles: AngleBlock) -> list[dict]:
        self.blocks.append(angles)
        return super().process(angles)


@dataclass
class CutSession:
    samples: dict[str, SampleBlock]
    markers: list


async def test_live_session_broadcasts_the_end_of_stream_events_once():
    from hipsense.live import LiveSession
    from hipsense.sources.simulated import SimulatedSource, simulate_demo

    demo = simulate_demo("sit_to_stand", seed=1)  # sits at 34.7-44.7, 52.1-62.1, 69.5-79.5 s
    cut_s = 75.0
    samples = {
        r: b.slice(0, int(np.searchsorted(b.time_s, cut_s))) for r, b in demo.samples.items()
    }
    analyzer = SeenAngles()
    source = SimulatedSource(CutSession(samples, []), speed=25.0, loop=False)
    live = LiveSession(source, auto_calibrate=True, analyzers=[analyzer])
    sub = live.subscribe(maxlen=100_000)
    await live.start()
    while live.running:
        await asyncio.sleep(0.01)
    await live.stop()
    messages = [json.loads(await sub.get()) for _ in range(len(sub))]
    assert messages[-1]["kind"] == "source_ended"
    analysis = [m for m in messages if m["type"] == "analysis"]
    detected = [m for m in analysis if m["kind"] == "segment_detected"]
    seen = AngleBlock.concat(analyzer.blocks)
    segments, _results = offline(seen)
    assert [{k: m[k] for k in SEGMENT_KEYS} for m in detected] == segments
    assert len(segments) == 3
    # The sit under way at the end came once, after the last frames, before source_ended.
    last = detected[-1]
    assert last["time_s"] == round(float(seen.time_s[-1]), 3) and last["end_s"] > cut_s - 0.1
    after = messages[max(i for i, m in enumerate(messages) if m["type"] == "frames") :]
    assert messages.count(last) == 1 and last in after
    assert any(m.get("kind") == "sitting" and m.get("source") == "detected" for m in after)
    assert {k: v for k, v in last.items() if k != "type"} in live.results


# --- a mark after a detection ----------------------------------------------------------------


def current_results(analyzer):
    """The analyzer's results without detection events (compare with ``analyze_session``)."""
    return [
        {k: v for k, v in e.items() if k != "time_s"}
        for e in analyzer.results
        if e["kind"] not in DETECTION_KINDS
    ]


@pytest.mark.parametrize("opened_first", [False, True])
def test_a_mark_overlapping_a_reported_detection_withdraws_it(sim, opened_first):
    _session, angles, _markers = sim("sit_to_stand", 1)
    plain, _ = run_live(angles, [10])
    first, second, third = [e for e in plain if e["kind"] == "segment_detected"]
    # Marked just after the second sit was reported: its last 3 s (frames still buffered),
    # and a mark touching the first sit's end (touching is no overlap: that one stays).
    overlap = Marker(second["end_s"] - 3.0, second["end_s"] + 0.5, "sitting")
    touching = Marker(first["end_s"], first["end_s"] + 2.0, "hip_lift")
    add_s = second["time_s"] + 0.3

    def shown(now_s):
        marks = [touching] if now_s >= first["time_s"] + 0.3 else []
        if now_s >= add_s:
            marks.append(overlap)
        elif opened_first and now_s >= add_s - 0.2:  # open for a moment, then closed
            marks.append(Marker(overlap.start_s, None, "sitting"))
        return marks

    marks = [touching, overlap]
    for sizes in ([10], [1], np.random.default_rng(3).integers(1, 30, size=40)):
        events, analyzer = run_live(angles, sizes, markers=shown)
        (withdrawn,) = [e for e in events if e["kind"] == "segment_withdrawn"]
        assert {k: withdrawn[k] for k in SEGMENT_KEYS} == {k: second[k] for k in SEGMENT_KEYS}
        assert second["time_s"] < withdrawn["time_s"] < add_s
        # What is left equals the offline analysis with the same marks.
        segments, _results = offline(angles, marks)
        assert [s.to_dict() for s in analyzer.detected] == segments
        assert segments == [{k: e[k] for k in SEGMENT_KEYS} for e in (first, third)]
        expected = analyze_session(angles, marks, detect=True).to_dict()["results"]
        kept = [r for r in expected if r["source"] != "session"]
        assert sorted(map(repr, current_results(analyzer))) == sorted(map(repr, kept))
        assert {"bridge", "sitting"} <= {r["kind"] for r in kept if r["source"] == "marked"}
