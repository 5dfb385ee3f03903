"""Forward walking without the calibration routine: a static pose, then walking with turns.

For the walking calibration (``hipsense.body.walking_calibration``): the session starts with
``static_s`` of quiet standing (the N-pose of Xsens MVN's N-pose + walk), then walks forward in
bouts, with a standing turn between bouts. The gait follows normative sagittal and frontal
hip and pelvis patterns of adults at a comfortable speed (Perry & Burnfield, Gait Analysis,
2010; Winter, Biomechanics and Motor Control of Human Movement, 2009), as sinusoids over the
stride phase ``s`` (0 at the left heel strike):

- hip flexion ``10 + 20 cos(2 pi s)`` (about +30 at heel strike, -10 at terminal stance), with a
  small second harmonic; hip adduction peaks in the loading response (``5 cos(2 pi (s - 0.12))``
  deg of adduction), so ab/adduction is **correlated** with flexion, as in real gait; internal
  rotation +-4 deg during stance;
- the pelvis: obliquity +-4 deg (the swing side drops), rotation +-4 deg (the swing side goes
  forward), tilt +-1.5 deg at twice the stride rate around 1 deg of extra anterior tilt;
- the body: 1.0-1.3 m/s, 0.9-0.95 strides/s, +-2 cm of vertical and lateral sway.

The right leg runs half a stride behind the left. Angles in degrees, distances in metres.

>>> session = simulate_walking(seed=1, errors=None)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from hipsense.types import ROLES
from hipsim.imu import ImuErrors
from hipsim.kinematics import make_body
from hipsim.script import ScriptBuilder
from hipsim.session import SimSession, sample_session

# The same independent random streams as hipsim.session (subject, script, each sensor).
_STREAM_SCRIPT, _STREAM_BODY = 1, 2  # the streams of hipsim.session
SCENARIO = "forward_walking"


def _walk(b: ScriptBuilder, rng: np.random.Generator, duration_s: float) -> None:
    """One bout of forward walking along the current heading (ramps of 1.5 s)."""
    speed = rng.uniform(1.0, 1.3)
    stride_hz = rng.uniform(0.9, 0.95)
    ramp = 1.5
    t0, t1 = b.t, b.t + duration_s
    heading = b.value("heading")
    phase0 = rng.uniform(-np.pi, np.pi)

    def wave(keyword: str, amplitude: float, harmonic: float, cycles: float) -> None:
        """``amplitude * cos(2 pi harmonic (s - cycles))`` with s the stride phase."""
        phase = harmonic * (phase0 - 2.0 * np.pi * cycles) + 0.5 * np.pi
        b.oscillate(keyword, amplitude, harmonic * stride_hz, phase, t0, t1, ramp)

    for side, lag in (("left", 0.0), ("right", 0.5)):
        b.offset(f"hip_flexion_{side}_deg", 10.0, t0, t1, ramp)
        wave(f"hip_flexion_{side}_deg", 20.0, 1.0, lag)
        wave(f"hip_flexion_{side}_deg", 3.0, 2.0, lag + 0.1)
        # Adduction (negative abduction) peaks in the loading response.
        wave(f"hip_abduction_{side}_deg", -5.0, 1.0, lag + 0.12)
        wave(f"hip_internal_rotation_{side}_deg", 4.0, 1.0, lag + 0.25)
    # Left stance: the right (swing) side drops, so the left side is higher.
    wave("pelvic_obliquity_deg", 4.0, 1.0, 0.12)
    # Left heel strike: the left side is forward, the pelvis turned to the right.
    wave("pelvic_rotation_deg", -4.0, 1.0, 0.0)
    b.offset("pelvic_tilt_deg", 1.0, t0, t1, ramp)
    wave("pelvic_tilt_deg", 1.5, 2.0, 0.1)
    wave("pos_z_m", 0.02, 2.0, 0.3)
    # Sway towards the stance leg (left at mid stance of the left leg).
    wave("pos_x_m", -0.02 * np.sin(heading), 1.0, 0.3)
    wave("pos_y_m", 0.02 * np.cos(heading), 1.0, 0.3)
    with b.marker("walking"):
        b.cruise(duration_s, ramp, (speed * np.cos(heading), speed * np.sin(heading)))


def _stand(b: ScriptBuilder, duration_s: float) -> None:
    with b.marker("rest_standing"):
        b.hold(duration_s)


def walking_script(
    rng: np.random.Generator, static_s: float = 3.0, bouts: int = 2, bout_s: float = 12.0
) -> ScriptBuilder:
    """Static pose, then ``bouts`` walking bouts with a standing 180 deg turn between."""
    b = ScriptBuilder()
    with b.marker("static"):
        b.hold(static_s)
    for k in range(bouts):
        _walk(b, rng, bout_s)
        _stand(b, 1.5)
        if k < bouts - 1:
            with b.marker("turn"):
                turn = 180.0 if k % 2 == 0 else -180.0
                b.move(2.0, heading_deg=np.rad2deg(b.value("heading")) + turn)
            _stand(b, 2.5)
    return b


def simulate_walking(
    seed: int = 0,
    *,
    rate_hz: dict[str, float] | float = 100.0,
    errors: ImuErrors | None = None,
    roles: tuple[str, ...] = ROLES,
    static_s: float = 3.0,
    bouts: int = 2,
    bout_s: float = 12.0,
) -> SimSession:
    """Simulate a static pose followed by forward walking (see the module docstring).

    Parameters
    ----------
    seed : seeds the subject (heading, mounting), the gait and the sensor errors.
    rate_hz : output rate (Hz), one for all sensors or per role.
    errors : sensor error model; None means exact data (:meth:`ImuErrors.none`).
    roles : which sensors to simulate.
    static_s, bouts, bout_s : the still start (s), number and length (s) of walking bouts.

    Returns
    -------
    SimSession with ``scenario == "forward_walking"``.
    """
    errors = ImuErrors.none() if errors is None else errors
    rates = rate_hz if isinstance(rate_hz, dict) else dict.fromkeys(roles, float(rate_hz))
    body = make_body(np.random.default_rng([seed, _STREAM_BODY]), soft_tissue=False)
    script = walking_script(
        np.random.default_rng([seed, _STREAM_SCRIPT]), static_s, bouts, bout_s
    ).build()
    return sample_session(SCENARIO, seed, script, body, {r: rates[r] for r in roles}, errors)
