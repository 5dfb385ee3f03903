"""Generate the sample sessions of this folder, reproducibly, with the simulator.

Run from the repository root: ``.venv/bin/python recordings/make_samples.py``.

For every exercise scenario of :data:`hipsim.SCENARIOS` (each starts with the calibration
routine: static pose, knee lifts, hip hinges) it writes

- ``<scenario>.hsr``: a 40 s recording (calibration routine, then the exercise; 3 sensors at
  100 Hz; markers of the calibration movements and exercise phases). To stay small (< 3 MB
  in all) the signals are stored as float16 and zlib-compressed, time as float64: the
  angles differ from a float64 recording by at most ~0.01 deg, against ~0.3 deg RMS error
  to the truth (measured on ``active_extension``),
- ``<scenario>_truth.csv.gz``: the simulator's exact angles at 20 Hz (gzip, deterministic),

and ``demo_session.csv``, a short session in the generic CSV contract (the README's demo input),
and ``assessment.hsr``: a whole hip extension assessment (``hipsim.assessment.DEMO_SUBJECT``:
left motor-control deficit, right within norms, a PAILs/RAILs series with one hold missed)
whose markers were written by the assessment itself, run on the recording's own replay by the
scripted clinician, so ``hipsense analyze`` / ``report`` on it give both gaps.
Same seed, same bytes (apart from the ``created_utc`` field, fixed here too).
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import hipsim
from hipsense.body.calibration import Calibration
from hipsense.recording.convert import write_samples_recording
from hipsense.recording.format import SensorInfo, SessionMetadata
from hipsense.recording.writer import RecordingWriter
from hipsense.types import Marker

HERE = Path(__file__).resolve().parent
SEED = 7
RATE_HZ = 100.0
TRUTH_RATE_HZ = 20.0
DEMO_SCENARIO = "active_extension"
DEMO_DURATION_S = 33.0
SESSION_DURATION_S = 40.0
CREATED_UTC = "2024-01-01T00:00:00+00:00"


def _markers(session: hipsim.SimSession) -> list[Marker]:
    return [Marker(m.start_s, m.end_s, m.label, m.side) for m in session.markers]


def _write(
    path: Path,
    scenario: str,
    session: hipsim.SimSession,
    markers: list[Marker],
    calibration: Calibration | None = None,
) -> None:
    """A float16, compressed recording of ``session`` with its markers (and calibration)."""
    metadata = SessionMetadata(
        subject=f"sim-{scenario}",
        created_utc=CREATED_UTC,
        source="simulator",
        sensors=[
            SensorInfo(role, protocol="simulator", rate_hz=RATE_HZ) for role in session.samples
        ],
        extra={"scenario": scenario, "seed": SEED, "duration_s": session.duration_s},
    )

    def add_items(writer: RecordingWriter) -> None:
        if calibration is not None:
            writer.set_calibration(calibration)
        for marker in markers:
            writer.add_marker(marker)

    write_samples_recording(
        path,
        metadata,
        session.samples,
        sample_dtype="<f2",
        compress=True,
        overwrite=True,
        extra=add_items,
    )


def write_session(scenario: str, out_dir: Path) -> Path:
    """Simulate ``scenario`` and write its recording and gzipped truth; returns the .hsr path."""
    session = hipsim.simulate_session(
        scenario, seed=SEED, rate_hz=RATE_HZ, duration_s=SESSION_DURATION_S
    )
    path = out_dir / f"{scenario}.hsr"
    _write(path, scenario, session, _markers(session))
    _gzip_deterministic(
        lambda p: hipsim.write_truth_csv(session, p, TRUTH_RATE_HZ),
        out_dir / f"{scenario}_truth.csv.gz",
    )
    return path


def write_assessment(out_dir: Path) -> Path:
    """The assessment demo as a recording, marked by the assessment run on its own replay."""
    from hipsense.recording.replay import replay_recording
    from hipsim.assessment import assessment_demo_session
    from hipsim.clinician import drive_in_process

    session, timeline = assessment_demo_session(SEED)
    path = out_dir / "assessment.hsr"
    # First without markers: the calibration found in the recording's own samples (float16)
    # is then written at its start, as the service records the calibration in use, so a
    # replay in the service and `analyze` use the same one.
    _write(path, "assessment", session, [])
    replay = replay_recording(path)
    _, markers, errors = drive_in_process(replay.angles, timeline)
    if errors:
        raise RuntimeError(f"the scripted assessment was refused: {errors}")
    _write(path, "assessment", session, markers, replay.calibration)
    _gzip_deterministic(
        lambda p: hipsim.write_truth_csv(session, p, TRUTH_RATE_HZ),
        out_dir / "assessment_truth.csv.gz",
    )
    return path


def _gzip_deterministic(write, out: Path) -> None:
    tmp = out.with_suffix("")
    write(tmp)
    data = tmp.read_bytes()
    tmp.unlink()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    out.write_bytes(buf.getvalue())


def main(out_dir: Path = HERE) -> int:
    """Write every sample session; prints the files and the total size."""
    total = 0
    for scenario in hipsim.SCENARIOS:
        if scenario == "calibration":
            continue  # every scenario starts with the calibration routine
        path = write_session(scenario, out_dir)
        size = path.stat().st_size + (out_dir / f"{scenario}_truth.csv.gz").stat().st_size
        total += size
        print(f"{path.name:40s} {size / 1e3:7.0f} kB")
    path = write_assessment(out_dir)
    size = path.stat().st_size + (out_dir / "assessment_truth.csv.gz").stat().st_size
    total += size
    print(f"{path.name:40s} {size / 1e3:7.0f} kB")
    demo = hipsim.simulate_session(DEMO_SCENARIO, seed=SEED, duration_s=DEMO_DURATION_S)
    hipsim.write_samples_csv(demo, out_dir / "demo_session.csv")
    demo_size = (out_dir / "demo_session.csv").stat().st_size
    total += demo_size
    print(f"{'demo_session.csv':40s} {demo_size / 1e3:7.0f} kB")
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
