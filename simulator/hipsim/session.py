"""Simulated sessions: IMU samples of pelvis and thighs with exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hipsense.body.frames import (
    hip_angles_from_quat,
    hip_quat_from_angles,
    pelvis_angles_from_quat,
    pelvis_quat_from_angles,
    qmul,
    thigh_inclination,
)
from hipsense.types import (
    PELVIS_COLUMNS,
    ROLES,
    FloatArray,
    SampleBlock,
    check_role,
    hip_columns,
    thigh_inclination_column,
)
from hipsim.imu import ImuErrors, SensorErrorDraw, sample_sensor
from hipsim.kinematics import BodyModel, make_body, sensor_motion
from hipsim.scenarios import SCENARIOS, CalibrationRoutine, build_script_builder
from hipsim.script import HIP_CHANNELS, PELVIS_CHANNELS, SIDE_NAMES, Marker, MotionScript

# Independent random streams per purpose (and per sensor), so that e.g. switching errors off
# keeps the same subject, script and mounting.
_STREAM_SCRIPT, _STREAM_BODY, _STREAM_SENSOR = 1, 2, 3


@dataclass
class SimSession:
    """One simulated session.

    Attributes
    ----------
    scenario, seed : what was simulated.
    samples : per role, the sensor's samples; ``time_s`` are the reported timestamps on the
        session clock (nominal ``offset + k / rate``); the true instants carry jitter.
    mounting : per role ``q_sensor_in_segment``: scalar-first quaternion rotating sensor
        coordinates into segment coordinates (``q_sensor_in_earth = q_segment_in_earth *
        mounting``).
    markers : labelled windows in time order (calibration routine, exercise phases, rests).
    duration_s : length of the script (s).
    rate_hz : per role output rate (Hz).
    errors : the error model used.
    error_draws : per role the drawn constant errors (bias, scale matrix, start offset).
    body : subject geometry, heading at the static pose, sensor levers.
    script : the analytic motion script (for :meth:`truth_at`).
    """

    scenario: str
    seed: int
    samples: dict[str, SampleBlock]
    mounting: dict[str, FloatArray]
    markers: list[Marker]
    duration_s: float
    rate_hz: dict[str, float]
    errors: ImuErrors
    error_draws: dict[str, SensorErrorDraw] = field(repr=False)
    body: BodyModel = field(repr=False)
    script: MotionScript = field(repr=False)

    def segment_quats_at(self, time_s: FloatArray) -> dict[str, FloatArray]:
        """Bone segment -> heading-aligned earth quaternions (pelvis, thigh_left, thigh_right).

        The heading-aligned frame is the subject's body heading (the static-pose heading,
        turned by any whole-body turn of the script), z up.
        """
        jets = self.script.evaluate(np.asarray(time_s, dtype=float))
        pelvis = pelvis_quat_from_angles(*(jets[name].value for name in PELVIS_CHANNELS))
        out = {"pelvis": pelvis}
        for side in SIDE_NAMES:
            hip = hip_quat_from_angles(side, *(jets[name].value for name in HIP_CHANNELS[side]))
            out[f"thigh_{side}"] = qmul(pelvis, hip)
        return out

    def truth_at(self, time_s: FloatArray) -> dict[str, FloatArray]:
        """Exact ground-truth angles (degrees) at arbitrary session times ``time_s`` (s).

        Keys: ``hip_columns(side)`` for both sides, ``PELVIS_COLUMNS`` and
        ``thigh_inclination_column(side)``. Pelvic angles are relative to the subject's body
        heading (the static-pose heading until a whole-body turn, marked ``"turn"``), hip
        angles are the bone (not skin) thigh relative to the pelvis, both decomposed with
        ``hipsense.body.frames``.
        """
        t = np.atleast_1d(np.asarray(time_s, dtype=float))
        order = np.argsort(t, kind="stable")
        quats = self.segment_quats_at(t[order])
        out: dict[str, FloatArray] = {}
        pelvis = quats["pelvis"]
        for side in SIDE_NAMES:
            thigh = quats[f"thigh_{side}"]
            hip = qmul(pelvis * np.array([1.0, -1.0, -1.0, -1.0]), thigh)
            for name, value in zip(hip_columns(side), hip_angles_from_quat(side, hip), strict=True):
                out[name] = value
            out[thigh_inclination_column(side)] = thigh_inclination(thigh, pelvis)
        for name, value in zip(PELVIS_COLUMNS, pelvis_angles_from_quat(pelvis), strict=True):
            out[name] = value
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return {name: np.rad2deg(value)[inverse] for name, value in out.items()}

    def truth_table(self, rate_hz: float = 100.0) -> tuple[FloatArray, dict[str, FloatArray]]:
        """Ground truth on the regular grid ``k / rate_hz`` over the session (s, degrees)."""
        time_s = np.arange(int(np.floor(self.duration_s * rate_hz + 1e-9)) + 1) / rate_hz
        return time_s, self.truth_at(time_s)

    def sensor_quat_at(self, role: str, time_s: FloatArray) -> FloatArray:
        """True sensor -> earth quaternions (world heading, z up) of ``role`` at sorted times."""
        return sensor_motion(self.script, self.body, role, np.asarray(time_s, float)).quat

    def exercise_markers(self) -> list[Marker]:
        """Markers of exercise phases (no calibration routine, its extra movements, standing
        rests or turns)."""
        from hipsim.scenarios import CALIBRATION_LABELS, EXTRA_MOVEMENTS

        skip = {*CALIBRATION_LABELS, *EXTRA_MOVEMENTS, "rest_standing", "turn"}
        return [m for m in self.markers if m.label not in skip]


def _rates(rate_hz: dict[str, float] | float, roles: tuple[str, ...]) -> dict[str, float]:
    if isinstance(rate_hz, dict):
        missing = [r for r in roles if r not in rate_hz]
        if missing:
            raise ValueError(f"rate_hz has no rate for {', '.join(missing)}")
        rates = {r: float(rate_hz[r]) for r in roles}
    else:
        rates = dict.fromkeys(roles, float(rate_hz))
    for role, rate in rates.items():
        if not rate > 0:
            raise ValueError(f"rate_hz for {role} must be positive, got {rate}")
    return rates


def simulate_session(
    scenario: str,
    seed: int = 0,
    *,
    rate_hz: dict[str, float] | float = 100.0,
    errors: ImuErrors | None = None,
    duration_s: float | None = None,
    roles: tuple[str, ...] = ROLES,
    with_mag: bool = False,
    soft_tissue: bool = False,
    include_calibration: bool = True,
    routine: CalibrationRoutine | None = None,
) -> SimSession:
    """Simulate an exercise session with exact IMU physics and ground truth.

    Parameters
    ----------
    scenario : one of :data:`hipsim.SCENARIOS`.
    seed : seeds the subject (heading, mounting), script variations and sensor errors.
    rate_hz : output rate (Hz), one for all sensors or per role.
    errors : sensor error model; None means :meth:`ImuErrors.realistic`.
    duration_s : session length (s); default: calibration + one exercise block. Longer
        sessions repeat the exercise block and pad with standing rest; shorter ones truncate.
    roles : which sensors to simulate.
    with_mag : also simulate magnetometers (uT).
    soft_tissue : add skin motion of the thigh sensors (a few degrees at high flexion).
    include_calibration : start with the calibration routine (else a 3 s standing rest).
    routine : how the subject performs the calibration routine (amplitudes, speed, order,
        pauses); None is the default routine. :meth:`hipsim.population.Subject.simulate`
        passes a drawn subject's routine and sensor rates.

    Returns
    -------
    SimSession

    Examples
    --------
    >>> session = simulate_session("active_extension", seed=3)
    >>> t, truth = session.truth_table(100.0)
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    for role in roles:
        check_role(role)
    if duration_s is not None and duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    errors = ImuErrors.realistic() if errors is None else errors
    rates = _rates(rate_hz, roles)
    body_rng = np.random.default_rng([seed, _STREAM_BODY])
    script_rng = np.random.default_rng([seed, _STREAM_SCRIPT])
    builder = build_script_builder(scenario, script_rng, duration_s, include_calibration, routine)
    script = builder.build(duration_s)
    body = make_body(body_rng, soft_tissue)
    return sample_session(scenario, seed, script, body, rates, errors, with_mag)


def sample_session(
    scenario: str,
    seed: int,
    script: MotionScript,
    body: BodyModel,
    rates: dict[str, float],
    errors: ImuErrors,
    with_mag: bool = False,
) -> SimSession:
    """Every sensor of ``rates`` sampled from ``script`` on ``body``, as a :class:`SimSession`
    (each sensor's errors drawn from its own stream of ``seed``)."""
    samples: dict[str, SampleBlock] = {}
    draws: dict[str, SensorErrorDraw] = {}
    for role in rates:
        sensor_rng = np.random.default_rng([seed, _STREAM_SENSOR, ROLES.index(role)])
        samples[role], draws[role] = sample_sensor(
            script, body, role, rates[role], errors, sensor_rng, with_mag
        )
    return SimSession(
        scenario=scenario,
        seed=seed,
        samples=samples,
        mounting={role: body.mounting[role].copy() for role in rates},
        markers=list(script.markers),
        duration_s=script.duration_s,
        rate_hz=dict(rates),
        errors=errors,
        error_draws=draws,
        body=body,
        script=script,
    )
