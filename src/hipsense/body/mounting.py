"""Calibration from a static pose and each sensor's declared placement (no movement needed).

As OpenSense's IMU placer does (Al Borno et al. 2022), the sensor's orientation on its segment
is taken from where it was put: the static pose gives the superior axis (gravity) exactly, the
placement gives the heading: the sensor axis that points away from the skin (``+z`` unless
declared otherwise) is, seen from above,

- ``sacrum`` (pelvis): posterior, so the pelvis's anterior axis is its opposite;
- ``lateral`` (thigh, on the iliotibial band): lateral, i.e. left on the left thigh, right on
  the right thigh;
- ``anterior`` (thigh, over the quadriceps): anterior.

The sites are those of ``firmware_notes/placement.md``. Text form, one per role::

    pelvis=sacrum  thigh_left=lateral  thigh_right=anterior:-z

(``:AXIS`` names the axis away from the skin: ``+x``, ``-x``, ``+y``, ``-y``, ``+z``, ``-z``).

Expected accuracy: the heading of a hand-placed sensor is uncertain by about +-10-15 deg about
the segment's long axis. That figure is geometry: at mid-thigh the thigh is about 16 cm across
(a radius of about 8 cm), and a sensor put 1.5-2 cm beside the intended line (the lateral or
anterior midline, found by eye) sits turned by 1.5/8 to 2/8 rad, 11-14 deg; the sacrum is
flatter but the belt can rotate it as much. With ``PLACEMENT_UNCERTAINTY_DEG`` on the pelvis
and on a thigh, the hip's axes are ``e = sqrt(2)`` times that apart: ``expected_error_deg``
(degrees of axis misalignment, as for the other methods). At 30 deg of hip flexion that is
``30 sin(e)`` of cross-talk into abduction, hip flexion itself loses ``30 (1 - cos e)``, and
pelvic tilt takes ``sin(e)`` of the obliquity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipsense.body.calibration import Calibration, SegmentCalibration, segment_from_axes
from hipsense.body.static_pose import find_static_pose
from hipsense.body.walking_calibration import SCORE_PER_DEG
from hipsense.errors import CalibrationError, ConfigurationError
from hipsense.types import ROLES, AlignedBlock, FloatArray

SITES: dict[str, tuple[str, ...]] = {
    "pelvis": ("sacrum",),
    "thigh_left": ("lateral", "anterior"),
    "thigh_right": ("lateral", "anterior"),
}
AXES: dict[str, FloatArray] = {
    f"{sign}{name}": s * np.eye(3)[k]
    for k, name in enumerate("xyz")
    for sign, s in (("+", 1.0), ("-", -1.0))
}
PLACEMENT_UNCERTAINTY_DEG = 12.5
REFERENCE_FLEXION_DEG = 30.0
# Below this angle between the skin normal and the vertical the heading is not defined.
MIN_NORMAL_FROM_VERTICAL_DEG = 30.0


@dataclass(frozen=True)
class Placement:
    """Where a sensor sits: ``site`` on segment ``role``, ``skin_axis`` (sensor coordinates)
    pointing away from the skin."""

    role: str
    site: str
    skin_axis: str = "+z"

    @property
    def skin_normal(self) -> FloatArray:
        """Unit vector in sensor coordinates pointing away from the skin."""
        return AXES[self.skin_axis]


def parse_placement(role: str, text: str) -> Placement:
    """``SITE[:AXIS]`` for ``role`` (see the module docstring).

    Raises
    ------
    ConfigurationError
        one line naming what is wrong and what is allowed.
    """
    if role not in SITES:
        raise ConfigurationError(
            f"placement for unknown role {role!r}; roles are {', '.join(ROLES)}"
        )
    site, _, axis = text.strip().lower().partition(":")
    if site not in SITES[role]:
        raise ConfigurationError(
            f"{role}: placement {text!r} is not one of {', '.join(SITES[role])} "
            "(optionally ':AXIS', the sensor axis pointing away from the skin, e.g. 'lateral:-z')"
        )
    axis = axis.strip() or "+z"
    if axis in ("x", "y", "z"):
        axis = "+" + axis
    if axis not in AXES:
        raise ConfigurationError(
            f"{role}: placement {text!r}: axis {axis!r} is not one of {', '.join(AXES)}"
        )
    return Placement(role, site, axis)


def parse_placements(texts: dict[str, str]) -> dict[str, Placement]:
    """Role -> placement text, parsed (:func:`parse_placement`)."""
    return {role: parse_placement(role, text) for role, text in texts.items()}


def _y_axis(p: Placement, z_axis: FloatArray) -> tuple[FloatArray, float]:
    """(left axis in sensor coordinates, angle of the skin normal from the vertical, deg)."""
    n = p.skin_normal
    n_h = n - (n @ z_axis) * z_axis
    from_vertical = float(np.degrees(np.arccos(np.clip(abs(n @ z_axis), 0.0, 1.0))))
    if from_vertical < MIN_NORMAL_FROM_VERTICAL_DEG:
        raise CalibrationError(
            f"{p.role}: the sensor's {p.skin_axis} axis, declared pointing away from the skin, "
            f"is {from_vertical:.0f} deg from the vertical in the static pose: on the "
            f"{p.site} it should be near horizontal; check the placement and its axis"
        )
    n_h /= np.linalg.norm(n_h)
    if p.site == "sacrum":
        x = -n_h
    elif p.site == "anterior":
        x = n_h
    else:  # lateral: left on the left thigh, right on the right one
        return (n_h if p.role == "thigh_left" else -n_h), from_vertical
    return np.cross(z_axis, x), from_vertical


def calibrate_mounting(
    data: AlignedBlock,
    placements: dict[str, Placement],
    static_window_s: tuple[float, float] | None = None,
) -> Calibration:
    """Calibrate from the static pose and the declared placement of every sensor.

    Parameters
    ----------
    data : aligned session data with a still, upright stretch.
    placements : per role in ``data`` its :class:`Placement`.
    static_window_s : the static pose; the first still stretch when None.

    Raises
    ------
    CalibrationError
        when a role has no placement, there is no static pose, or a declared skin axis is
        near vertical.
    """
    missing = [r for r in data.quat if r not in placements]
    if missing:
        raise CalibrationError(
            f"no placement declared for {', '.join(missing)} (e.g. --placement "
            f"{missing[0]}={SITES.get(missing[0], ('lateral',))[0]})"
        )
    static = find_static_pose(data, static_window_s)
    rows = slice(static.start, static.stop)
    e = PLACEMENT_UNCERTAINTY_DEG
    e_hip = float(np.hypot(e, e))
    crosstalk = float(REFERENCE_FLEXION_DEG * np.sin(np.radians(e_hip)))
    segments: dict[str, SegmentCalibration] = {}
    notes = [
        f"calibrated from the static pose {static.window_s[0]:.2f}-{static.window_s[1]:.2f} s "
        "and the declared placements: "
        + ", ".join(
            f"{r} {p.site} ({p.skin_axis} away from the skin)"
            for r, p in placements.items()
            if r in data.quat
        ),
        f"expected error {e_hip:.1f} deg: a hand-placed sensor's heading is uncertain by "
        f"about +-{e:g} deg (10-15 deg: 1.5-2 cm off the line on an 8 cm thigh radius), "
        f"{e_hip:.1f} deg between pelvis and thigh, i.e. {crosstalk:.1f} deg of abduction "
        f"cross-talk and {REFERENCE_FLEXION_DEG * (1 - np.cos(np.radians(e_hip))):.1f} deg "
        f"of flexion error at {REFERENCE_FLEXION_DEG:.0f} deg of flexion; calibrate with the "
        "routine or walking for better",
    ]
    score = float(np.clip(100.0 - SCORE_PER_DEG * e_hip, 0.0, 100.0))
    for role in data.quat:
        p = placements[role]
        z = static.z_axis[role]
        y, from_vertical = _y_axis(p, z)
        quality = {
            "static_duration_s": static.duration_s,
            "static_gyr_rms_deg_s": static.gyr_rms_deg_s[role],
            "skin_normal_from_vertical_deg": from_vertical,
            "axis_error_deg": e,
            "score": score,
        }
        segments[role] = segment_from_axes(role, data.quat[role][rows], z, y, quality)
    return Calibration(
        segments,
        static.window_s,
        static.window_s,
        score,
        [],
        method="mounting",
        expected_error_deg=e_hip,
        notes=notes,
    )


__all__ = ["Placement", "calibrate_mounting", "parse_placement", "parse_placements"]
