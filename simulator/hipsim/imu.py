"""IMU sampling: exact interval-averaged signals, then a seeded sensor error model.

For output sample ``k`` at true instant ``t_k`` the ideal gyroscope reports the mean angular
rate over ``(t_{k-1}, t_k]``: the rotation vector of ``q(t_{k-1})^-1 q(t_k)`` divided by the
interval, in sensor coordinates, so ``q_k = q_{k-1} * exp(gyr_k * dt)`` integrates exactly.
The ideal accelerometer reports the specific force averaged over the same interval (Simpson's
rule on an oversampled grid of at least 400 Hz): ``R^T (a + (0, 0, 9.81))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipsense.body.frames import qconj, qmul, qrotate, quat_to_rotvec
from hipsense.types import FloatArray, SampleBlock, check_role
from hipsim.kinematics import BodyModel, sensor_motion
from hipsim.script import MotionScript

GRAVITY_M_S2 = 9.81
EARTH_FIELD_UT = np.array([20.0, 0.0, -45.0])
CHUNK_SAMPLES = 2048


@dataclass
class ImuErrors:
    """Sensor error model; every random quantity is drawn per sensor from the session seed.

    Attributes
    ----------
    gyro_noise_rad_s : white noise std per axis at 100 Hz (scales with sqrt(rate / 100)).
    gyro_bias_max_rad_s : constant bias, uniform in +-this per axis.
    gyro_bias_walk_rad_s_rt_s : bias random walk (rad/s per sqrt(s)).
    gyro_scale_error : scale factor error, uniform in +-this per axis (fraction).
    gyro_misalignment_rad : cross-axis misalignment, uniform in +-this per element.
    gyro_saturation_rad_s : output clipped to +-this.
    acc_noise_m_s2, acc_bias_max_m_s2, acc_scale_error, acc_misalignment_rad,
    acc_saturation_m_s2 : the same for the accelerometer (m/s^2).
    jitter_s : std of the true sampling instants around the nominal timestamps (s).
    random_start_phase : each sensor starts at a random phase within one sample period.
    mag_noise_uT : magnetometer white noise std (uT).
    mag_offset_max_uT : hard-iron offset, uniform in +-this per axis (uT).
    mag_disturbance_uT : magnitude of the extra field near furniture (uT).
    """

    gyro_noise_rad_s: float = 0.0
    gyro_bias_max_rad_s: float = 0.0
    gyro_bias_walk_rad_s_rt_s: float = 0.0
    gyro_scale_error: float = 0.0
    gyro_misalignment_rad: float = 0.0
    gyro_saturation_rad_s: float = np.inf
    acc_noise_m_s2: float = 0.0
    acc_bias_max_m_s2: float = 0.0
    acc_scale_error: float = 0.0
    acc_misalignment_rad: float = 0.0
    acc_saturation_m_s2: float = np.inf
    jitter_s: float = 0.0
    random_start_phase: bool = False
    mag_noise_uT: float = 0.0
    mag_offset_max_uT: float = 0.0
    mag_disturbance_uT: float = 0.0

    @classmethod
    def none(cls) -> ImuErrors:
        """Exact data: no noise, bias, scale, misalignment, jitter or start phase."""
        return cls()

    @classmethod
    def realistic(cls) -> ImuErrors:
        """A consumer MEMS IMU (BMI270/ICM-42688 class) worn on the body."""
        return cls(
            gyro_noise_rad_s=0.006,
            gyro_bias_max_rad_s=np.deg2rad(0.5),
            gyro_bias_walk_rad_s_rt_s=1.5e-4,
            gyro_scale_error=0.005,
            gyro_misalignment_rad=np.deg2rad(0.5),
            gyro_saturation_rad_s=np.deg2rad(2000.0),
            acc_noise_m_s2=0.015,
            acc_bias_max_m_s2=0.05,
            acc_scale_error=0.005,
            acc_misalignment_rad=np.deg2rad(0.5),
            acc_saturation_m_s2=16 * GRAVITY_M_S2,
            jitter_s=0.0002,
            random_start_phase=True,
            mag_noise_uT=0.3,
            mag_offset_max_uT=5.0,
            mag_disturbance_uT=25.0,
        )


@dataclass
class SensorErrorDraw:
    """The drawn constant errors of one sensor (for tests and reports)."""

    start_offset_s: float
    gyro_bias_rad_s: FloatArray
    gyro_matrix: FloatArray
    acc_bias_m_s2: FloatArray
    acc_matrix: FloatArray
    mag_offset_uT: FloatArray
    mag_disturbance_uT: FloatArray


def _sensor_matrix(rng: np.random.Generator, scale: float, misalignment: float) -> FloatArray:
    """``diag(1 + s) + off-diagonal misalignment`` mapping true to measured axes."""
    m = rng.uniform(-misalignment, misalignment, size=(3, 3))
    np.fill_diagonal(m, 1.0 + rng.uniform(-scale, scale, size=3))
    return m


def draw_errors(errors: ImuErrors, rng: np.random.Generator, rate_hz: float) -> SensorErrorDraw:
    """Draw one sensor's constant errors from its own random stream."""
    return SensorErrorDraw(
        start_offset_s=float(rng.uniform(0.0, 1.0 / rate_hz)) if errors.random_start_phase else 0.0,
        gyro_bias_rad_s=rng.uniform(-1, 1, 3) * errors.gyro_bias_max_rad_s,
        gyro_matrix=_sensor_matrix(rng, errors.gyro_scale_error, errors.gyro_misalignment_rad),
        acc_bias_m_s2=rng.uniform(-1, 1, 3) * errors.acc_bias_max_m_s2,
        acc_matrix=_sensor_matrix(rng, errors.acc_scale_error, errors.acc_misalignment_rad),
        mag_offset_uT=rng.uniform(-1, 1, 3) * errors.mag_offset_max_uT,
        mag_disturbance_uT=rng.normal(size=3) / np.sqrt(3.0) * errors.mag_disturbance_uT,
    )


def oversampling_factor(rate_hz: float) -> int:
    """Simpson sub-intervals per output interval for the accelerometer average.

    Even, at least 4 and at least 400 Hz: Simpson's rule then integrates the smooth specific
    force to far below sensor noise (error ~ h^4).
    """
    m = max(4, int(np.ceil(400.0 / rate_hz)))
    return m + (m % 2)


def ideal_signals(
    script: MotionScript,
    body: BodyModel,
    role: str,
    t_true_s: FloatArray,
    t_before_s: float,
    oversample: int,
    with_mag: bool = False,
    disturbance_uT: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Error-free gyro (rad/s), acc (m/s^2) and mag (uT) at true instants ``t_true_s``.

    ``t_before_s`` is the instant preceding the first sample (start of its interval);
    ``oversample`` the (even) number of Simpson sub-intervals per sample interval. The
    sub-grid includes the interval ends, whose orientations give the gyro.
    Works chunk by chunk so memory stays bounded for hour-long sessions.
    """
    n = len(t_true_s)
    gyr = np.empty((n, 3))
    acc = np.empty((n, 3))
    mag = np.empty((n, 3)) if with_mag else None
    m = oversample
    frac = np.arange(m) / m
    simpson = np.ones(m + 1)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    simpson /= 3.0 * m
    gravity = np.array([0.0, 0.0, GRAVITY_M_S2])
    for lo in range(0, n, CHUNK_SAMPLES):
        hi = min(n, lo + CHUNK_SAMPLES)
        edges = np.concatenate(([t_true_s[lo - 1] if lo > 0 else t_before_s], t_true_s[lo:hi]))
        dt = np.diff(edges)
        sub_t = np.append((edges[:-1, None] + frac[None, :] * dt[:, None]).ravel(), edges[-1])
        sub = sensor_motion(script, body, role, sub_t)
        q_ends = sub.quat[::m]
        delta = qmul(qconj(q_ends[:-1]), q_ends[1:])
        gyr[lo:hi] = quat_to_rotvec(delta) / dt[:, None]
        force = qrotate(qconj(sub.quat), sub.acc_m_s2 + gravity)
        # Interval k uses sub-samples k*m .. (k+1)*m (ends shared with the neighbours).
        windows = np.lib.stride_tricks.sliding_window_view(force, m + 1, axis=0)[::m]
        acc[lo:hi] = windows @ simpson
        if mag is not None:
            disturbance = np.zeros(3) if disturbance_uT is None else disturbance_uT
            envelope = script.magnetic_disturbance.evaluate(edges[1:]).value
            field = EARTH_FIELD_UT + envelope[:, None] * disturbance
            mag[lo:hi] = qrotate(qconj(q_ends[1:]), field)
    return gyr, acc, mag


def sample_sensor(
    script: MotionScript,
    body: BodyModel,
    role: str,
    rate_hz: float,
    errors: ImuErrors,
    rng: np.random.Generator,
    with_mag: bool = False,
) -> tuple[SampleBlock, SensorErrorDraw]:
    """Simulate one sensor over the script: reported timestamps and measured signals.

    The reported ``time_s`` are nominal ``offset + k / rate_hz``; the true sampling instants
    add jitter. Errors are applied as ``clip(M @ true + bias(t) + noise)``.
    """
    draw = draw_errors(errors, rng, rate_hz)
    period = 1.0 / rate_hz
    n = int(np.floor((script.duration_s - draw.start_offset_s) * rate_hz + 1e-9)) + 1
    t_nominal = draw.start_offset_s + np.arange(n, dtype=np.float64) * period
    jitter = np.clip(rng.normal(size=n) * errors.jitter_s, -0.4 * period, 0.4 * period)
    t_true = t_nominal + jitter
    gyr, acc, mag = ideal_signals(
        script,
        body,
        role,
        t_true,
        t_true[0] - period,
        oversampling_factor(rate_hz),
        with_mag,
        draw.mag_disturbance_uT,
    )
    noise_scale = np.sqrt(rate_hz / 100.0)
    walk = np.cumsum(rng.normal(size=(n, 3)), axis=0) * (
        errors.gyro_bias_walk_rad_s_rt_s * np.sqrt(period)
    )
    gyr = gyr @ draw.gyro_matrix.T + draw.gyro_bias_rad_s + walk
    gyr += rng.normal(size=(n, 3)) * (errors.gyro_noise_rad_s * noise_scale)
    acc = acc @ draw.acc_matrix.T + draw.acc_bias_m_s2
    acc += rng.normal(size=(n, 3)) * (errors.acc_noise_m_s2 * noise_scale)
    gyr = np.clip(gyr, -errors.gyro_saturation_rad_s, errors.gyro_saturation_rad_s)
    acc = np.clip(acc, -errors.acc_saturation_m_s2, errors.acc_saturation_m_s2)
    if mag is not None:
        mag = mag + draw.mag_offset_uT + rng.normal(size=(n, 3)) * errors.mag_noise_uT
    return SampleBlock(check_role(role), t_nominal, acc, gyr, mag), draw
