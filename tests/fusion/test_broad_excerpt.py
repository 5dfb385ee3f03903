"""Whole-recording smoothing beats the causal filter on real IMU data with optical truth.

The excerpt (20 s of BROAD trial 14, slow translations with breaks: 5 s of rest, then 15 s of
movement; Laidig et al. 2021, CC-BY-4.0; see ``tests/data/broad/README.md``) is cut by
``tests/data/broad/make_excerpt.py``. On it, the inclination RMSE over the movement phase is
0.27 deg offline and 0.41 deg causal (``benchmarks/broad.py`` on the whole trial: 0.24 / 0.41).
"""

from pathlib import Path

import numpy as np
import pytest

from hipsense.body.frames import qconj, qrotate
from hipsense.fusion import estimate_orientation

EXCERPT = (
    Path(__file__).parents[1]
    / "data"
    / "broad"
    / "14_undisturbed_slow_translation_with_breaks_B_excerpt.npz"
)

# Bound on the offline estimate: the offlineVQF figures of BROAD's undisturbed slow trials on
# the whole trial are 0.19-0.39 deg (0.24 for this one); the excerpt gives 0.27 because its
# rest before the movement is 5 s instead of ~40 s. 0.30 leaves 10 % for other vqf releases and
# fails a causal-only result (0.41) or a smoother that loses the rest-phase bias estimate.
OFFLINE_BOUND_DEG = 0.30
# The causal filter must be clearly worse, not equal within noise (measured ratio 0.66).
MAX_OFFLINE_TO_CAUSAL = 0.8


def _inclination_rmse_deg(q: np.ndarray, q_ref: np.ndarray, movement: np.ndarray) -> float:
    """RMSE of the angle between the estimated and the reference vertical (sensor coordinates)."""
    up = np.array([0.0, 0.0, 1.0])
    q_ref = q_ref / np.linalg.norm(q_ref, axis=1, keepdims=True)
    a = qrotate(qconj(q[movement]), up)
    b = qrotate(qconj(q_ref[movement]), up)
    cos = np.clip(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1), -1.0, 1.0)
    err_deg = np.degrees(np.arccos(cos))
    return float(np.sqrt(np.nanmean(err_deg**2)))  # NaN: optical markers lost


@pytest.fixture(scope="module")
def excerpt() -> dict[str, np.ndarray]:
    with np.load(EXCERPT) as data:
        return {k: data[k] for k in data.files}


def _rmse(excerpt: dict[str, np.ndarray], offline: bool) -> float:
    q = estimate_orientation(
        excerpt["gyr_rad_s"].astype(np.float64),
        excerpt["acc_m_s2"].astype(np.float64),
        float(excerpt["rate_hz"]),
        offline=offline,
    )
    ref = excerpt["opt_quat"].astype(np.float64)
    return _inclination_rmse_deg(q, ref, excerpt["movement"])


def test_excerpt_is_what_the_script_cuts(excerpt: dict[str, np.ndarray]) -> None:
    n = len(excerpt["movement"])
    assert excerpt["gyr_rad_s"].shape == excerpt["acc_m_s2"].shape == (n, 3)
    assert excerpt["opt_quat"].shape == (n, 4)
    assert float(excerpt["rate_hz"]) == pytest.approx(285.714, abs=1e-3)
    assert not excerpt["movement"][:1000].any() and excerpt["movement"].mean() > 0.5
    assert "dlaidig/broad@" in str(excerpt["source"])


def test_offline_beats_causal_and_bound(excerpt: dict[str, np.ndarray]) -> None:
    offline_deg = _rmse(excerpt, offline=True)
    causal_deg = _rmse(excerpt, offline=False)
    assert offline_deg < OFFLINE_BOUND_DEG
    assert offline_deg < MAX_OFFLINE_TO_CAUSAL * causal_deg
