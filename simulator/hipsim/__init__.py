"""hipsim: physically exact IMU data of pelvis and thighs with ground truth.

Scenarios are analytic motion scripts (minimum-jerk keyframes and smooth periodic terms);
sensor signals come from exact derivatives of the kinematic chain, sampled like a real IMU
and degraded by a seeded error model.

>>> from hipsim import simulate_session
>>> session = simulate_session("thomas_test", seed=1)
>>> truth = session.truth_at(session.samples["pelvis"].time_s)
"""

from hipsim.export import write_markers_csv, write_samples_csv, write_truth_csv
from hipsim.imu import ImuErrors
from hipsim.scenarios import SCENARIOS
from hipsim.script import Marker
from hipsim.session import SimSession, simulate_session

__all__ = [
    "SCENARIOS",
    "ImuErrors",
    "Marker",
    "SimSession",
    "simulate_session",
    "write_markers_csv",
    "write_samples_csv",
    "write_truth_csv",
]
