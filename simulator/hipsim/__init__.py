"""hipsim: physically exact IMU data of pelvis and thighs with ground truth.

Scenarios are analytic motion scripts (minimum-jerk keyframes and smooth periodic terms);
sensor signals come from exact derivatives of the kinematic chain, sampled like a real IMU
and degraded by a seeded error model.

>>> import hipsim
>>> from hipsim import simulate_session
>>> session = simulate_session("thomas_test", seed=1)
>>> truth = session.truth_at(session.samples["pelvis"].time_s)

Many subjects, each calibrating in its own way with its own sensor rates:

>>> subject = hipsim.draw_population(30, seed=0)[4]
>>> session = subject.simulate("hip_lift", exercise_s=20.0)
"""

from hipsim.export import write_markers_csv, write_samples_csv, write_truth_csv
from hipsim.imu import ImuErrors
from hipsim.population import Subject, draw_population
from hipsim.scenarios import SCENARIOS, CalibrationRoutine
from hipsim.script import Marker
from hipsim.session import SimSession, simulate_session

__all__ = [
    "SCENARIOS",
    "CalibrationRoutine",
    "ImuErrors",
    "Marker",
    "SimSession",
    "Subject",
    "draw_population",
    "simulate_session",
    "write_markers_csv",
    "write_samples_csv",
    "write_truth_csv",
]
