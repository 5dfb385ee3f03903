"""Choosing the calibration method by what a session contains.

Three ways to find each sensor's orientation on its segment, tried in this order:

- ``routine``: the static pose, knee lifts and hip hinges (:func:`.calibration.calibrate`);
- ``walking``: a static pose and walking (:mod:`.walking_calibration`: the thighs' axes from the
  gait's flexion axis, the pelvis's from the two thighs);
- ``mounting``: a static pose and each sensor's declared placement (:mod:`.mounting`), when
  placements are given.

The chosen method, its expected accuracy (``expected_error_deg``: how far, in degrees, the
calibrated axes may be from the anatomical ones; each method's module says how it is
estimated and what it means for the angles) and what was tried before it (``notes``) are
carried by the :class:`Calibration`.
When nothing works, one :class:`CalibrationError` says, per method, what was looked for and
why it was not possible.
"""

from __future__ import annotations

from hipsense.body.calibration import Calibration, calibrate, detect_calibration_windows
from hipsense.body.mounting import calibrate_mounting, parse_placements
from hipsense.body.walking_calibration import calibrate_walking
from hipsense.errors import CalibrationError
from hipsense.types import AlignedBlock

METHODS: tuple[str, ...] = ("routine", "walking", "mounting")


def calibrate_auto(
    data: AlignedBlock,
    static_window_s: tuple[float, float] | None = None,
    functional_window_s: tuple[float, float] | None = None,
    placements: dict[str, str] | None = None,
) -> Calibration:
    """Calibrate ``data`` with the best method its contents allow.

    Parameters
    ----------
    data : aligned session data (fused orientations plus raw samples).
    static_window_s, functional_window_s : windows of the routine (s); found automatically
        when not given. With a functional window given only the routine is tried (the windows
        say the routine is there), and its own error is raised. A static window alone is
        used by every method.
    placements : role -> declared placement text (``"sacrum"``, ``"lateral"``,
        ``"anterior:-z"``, see :mod:`.mounting`); enables the ``mounting`` method.

    Raises
    ------
    CalibrationError
        saying what was looked for, what was found and why each method was not possible.
    ConfigurationError
        for placement text that cannot be read.
    """
    parsed = parse_placements(placements) if placements else None
    if functional_window_s is not None:
        if static_window_s is None:
            static_window_s = detect_calibration_windows(data)[0]
        return calibrate(data, static_window_s, functional_window_s)
    failures: list[tuple[str, str]] = []
    try:
        static, functional = detect_calibration_windows(data)
        return calibrate(data, static_window_s or static, functional)
    except CalibrationError as exc:
        failures.append(("the calibration routine (still, knee lifts, hip hinges)", str(exc)))
    try:
        cal = calibrate_walking(data, static_window_s)
    except CalibrationError as exc:
        failures.append(("a static pose and walking", str(exc)))
    else:
        cal.notes.insert(0, f"no calibration routine: {failures[0][1]}")
        return cal
    if parsed is None:
        failures.append(
            (
                "a static pose and declared placements",
                "no placements declared (e.g. --placement pelvis=sacrum "
                "--placement thigh_left=lateral)",
            )
        )
    else:
        try:
            cal = calibrate_mounting(data, parsed, static_window_s)
        except CalibrationError as exc:
            failures.append(("a static pose and declared placements", str(exc)))
        else:
            cal.notes[:0] = [f"no calibration routine: {failures[0][1]}"] + [
                f"no walking calibration: {failures[1][1]}"
            ]
            return cal
    raise CalibrationError(
        "no calibration possible; looked for "
        + "; ".join(f"{what}: {why}" for what, why in failures)
    )
