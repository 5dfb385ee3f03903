"""Compiled per-frame loops of the pipeline's hot path (C, ``_kernels.c``, called via ctypes).

The numpy formulations in :mod:`hipsense.body.frames` stay the reference and own every sign;
each kernel computes the same formula in one pass per frame instead of a dozen numpy passes
with temporaries (tests check the two agree to 1e-10). This is what lets the whole pipeline run
at more than half the speed of the bare VQF filter, and it keeps small live blocks cheap.

Every frame is computed on its own, with no sums across frames, so a frame's result does not
depend on how the session was split into blocks (live and replay agree to the bit); the C file
is compiled without fast-math and without contracting multiply-adds (``setup.py``).

The loops are plain C built with the package (``pip install -e .``), not a JIT: loading them
adds no compiler to the process (numba did this job first, but importing its LLVM added about
120 MB to every process, more than the whole replay memory budget).

Output arrays are passed in (C-contiguous, float64 or bool, the right shape) and filled.
"""

from __future__ import annotations

import ctypes
import importlib

import numpy as np

from hipsense.errors import HipsenseError
from hipsense.types import FloatArray

_D = ctypes.c_void_p  # a data pointer
_L = ctypes.c_long
_F = ctypes.c_double


def _load() -> ctypes.CDLL:
    try:
        module = importlib.import_module("hipsense._kernels")
    except ImportError as exc:
        raise HipsenseError(
            f"hipsense's compiled kernels are missing ({exc}); reinstall the package "
            "(`pip install -e .` or `make test`), which needs a C compiler"
        ) from None
    path = module.__file__
    if path is None:  # pragma: no cover - a built extension always has a file
        raise HipsenseError("hipsense._kernels has no file to load")
    lib = ctypes.CDLL(path)
    signatures = {
        "hs_resample_role": (_L, [_D, _D, _D, _D, _D, _L, _D, _L, _F, _D, _D, _D, _D]),
        "hs_apply_matrices": (None, [_D, _D, _D, _L, _D]),
        "hs_pelvis_angles_deg": (None, [_D, _L, _D, _D, _D]),
        "hs_hip_angles_deg": (None, [_D, _D, _L, _F, _F, _D, _D, _D, _D]),
        "hs_standing_role": (None, [_D, _D, _D, _L, _D, _F, _F, _F, _F, _D]),
        "hs_lever_arm_acc": (None, [_D, _L, _L, _F, _D, _D]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_LIB = _load()


def _in(a: np.ndarray, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` with ``shape`` (-1: any length)."""
    out: np.ndarray = np.ascontiguousarray(a, dtype=dtype)
    got = out.shape
    if len(got) != len(shape):
        raise ValueError(f"kernel input of shape {got}, expected {shape}")
    for want, have in zip(shape, got, strict=True):
        if want != -1 and want != have:
            raise ValueError(f"kernel input of shape {got}, expected {shape}")
    return out


def _out(a: np.ndarray, dtype: type, shape: tuple[int, ...]) -> int:
    """Data pointer of an output array, after checking it can be written in place."""
    if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"kernel output must be a writable C-contiguous {np.dtype(dtype)} array")
    if a.shape != shape:
        raise ValueError(f"kernel output of shape {a.shape}, expected {shape}")
    return _ptr(a)


def _ptr(a: np.ndarray) -> int:
    """Address of a C-contiguous array's data (a third of the cost of ``a.ctypes.data``
    when the array is writable, which matters for the many small blocks of a live session)."""
    if a.flags.writeable and a.size:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]  # ndarray is a buffer
    return int(a.ctypes.data)


def resample_role(
    time_s: FloatArray,
    quat: FloatArray,
    gyr: FloatArray,
    acc: FloatArray,
    rest: np.ndarray,
    grid_s: FloatArray,
    max_gap_s: float,
    quat_out: FloatArray,
    gyr_out: FloatArray,
    acc_out: FloatArray,
    rest_out: np.ndarray,
) -> int:
    """One sensor's values at the grid times (all within its samples' span).

    Orientation: normalised linear interpolation along the shortest path between the two
    neighbouring samples (:func:`hipsense.body.frames.nlerp`); raw gyroscope and accelerometer:
    the nearest sample; rest: both neighbours at rest. A grid point inside a hole longer than
    ``max_gap_s`` (or before the first sample) gets NaN and no rest. Returns the index of the
    left neighbour of the last grid point (still needed for the next grid point).
    """
    t = _in(time_s, np.float64, (-1,))
    n = len(t)
    if n == 0:
        raise ValueError("resample_role needs at least one sample")
    q, g, a = (
        _in(quat, np.float64, (n, 4)),
        _in(gyr, np.float64, (n, 3)),
        _in(acc, np.float64, (n, 3)),
    )
    r = _in(rest, np.bool_, (n,))
    grid = _in(grid_s, np.float64, (-1,))
    m = len(grid)
    return int(
        _LIB.hs_resample_role(
            _ptr(t),
            _ptr(q),
            _ptr(g),
            _ptr(a),
            _ptr(r),
            n,
            _ptr(grid),
            m,
            float(max_gap_s),
            _out(quat_out, np.float64, (m, 4)),
            _out(gyr_out, np.float64, (m, 3)),
            _out(acc_out, np.float64, (m, 3)),
            _out(rest_out, np.bool_, (m,)),
        )
    )


def apply_matrices(quat: FloatArray, mats: FloatArray, bounds: np.ndarray, out: FloatArray) -> None:
    """``out[k] = mats[i] @ quat[k]`` for the rows of interval ``i`` (``bounds[i] <= k <
    bounds[i + 1]``, covering every row): constant rotations on both sides of ``quat`` that
    change between intervals (see :func:`hipsense.body.frames.sandwich_matrices`)."""
    q = _in(quat, np.float64, (-1, 4))
    b = _in(bounds, np.int64, (-1,))
    n_int = len(b) - 1
    m = _in(mats, np.float64, (n_int, 4, 4))
    if n_int < 1 or b[0] != 0 or b[-1] != len(q) or np.any(np.diff(b) < 0):
        raise ValueError(f"interval bounds {b.tolist()} do not cover {len(q)} rows in order")
    _LIB.hs_apply_matrices(_ptr(q), _ptr(m), _ptr(b), n_int, _out(out, np.float64, q.shape))


def pelvis_angles_deg(
    pelvis: FloatArray, tilt_deg: FloatArray, obliquity_deg: FloatArray, rotation_deg: FloatArray
) -> None:
    """Pelvic tilt, obliquity, rotation (z-y-x) of pelvis -> heading-aligned earth quaternions;
    the formula of :func:`hipsense.body.frames.pelvis_angles_from_quat`."""
    p = _in(pelvis, np.float64, (-1, 4))
    n = len(p)
    _LIB.hs_pelvis_angles_deg(
        _ptr(p),
        n,
        _out(tilt_deg, np.float64, (n,)),
        _out(obliquity_deg, np.float64, (n,)),
        _out(rotation_deg, np.float64, (n,)),
    )


def hip_angles_deg(
    pelvis: FloatArray,
    thigh: FloatArray,
    s_abd: float,
    s_rot: float,
    flexion_deg: FloatArray,
    abduction_deg: FloatArray,
    internal_rotation_deg: FloatArray,
    inclination_deg: FloatArray,
) -> None:
    """Hip JCS angles of ``thigh`` relative to ``pelvis`` and the thigh's sagittal inclination
    (both segment -> heading-aligned earth); the formulas of
    :func:`hipsense.body.frames.hip_angles_from_quat` (on ``conj(pelvis) * thigh``) and
    :func:`hipsense.body.frames.thigh_inclination`."""
    p = _in(pelvis, np.float64, (-1, 4))
    n = len(p)
    t = _in(thigh, np.float64, (n, 4))
    _LIB.hs_hip_angles_deg(
        _ptr(p),
        _ptr(t),
        n,
        float(s_abd),
        float(s_rot),
        _out(flexion_deg, np.float64, (n,)),
        _out(abduction_deg, np.float64, (n,)),
        _out(internal_rotation_deg, np.float64, (n,)),
        _out(inclination_deg, np.float64, (n,)),
    )


def standing_role(
    gyr: FloatArray,
    acc: FloatArray,
    quat: FloatArray,
    z_segment: FloatArray,
    max_gyr_rad_s: float,
    gravity_m_s2: float,
    max_acc_deviation_m_s2: float,
    min_cos_pose: float,
    standing: np.ndarray,
) -> None:
    """Clear ``standing`` where this sensor moves, or its segment's z axis (in sensor
    coordinates) is further from earth's up than the pose limit. NaN frames are not standing."""
    g = _in(gyr, np.float64, (-1, 3))
    n = len(g)
    a, q = _in(acc, np.float64, (n, 3)), _in(quat, np.float64, (n, 4))
    z = _in(z_segment, np.float64, (3,))
    _LIB.hs_standing_role(
        _ptr(g),
        _ptr(a),
        _ptr(q),
        n,
        _ptr(z),
        float(max_gyr_rad_s),
        float(gravity_m_s2),
        float(max_acc_deviation_m_s2),
        float(min_cos_pose),
        _out(standing, np.bool_, (n,)),
    )


def lever_arm_acc(
    extended_gyr_rad_s: FloatArray, lag: int, rate_hz: float, lever_arm_m: FloatArray
) -> FloatArray:
    """Rotational acceleration (m/s^2, sensor coordinates) at ``lever_arm_m`` for the last
    ``len(extended_gyr_rad_s) - lag`` gyroscope rows: ``w x (w x r) + dw x r``, with ``dw`` the
    causal difference over ``lag`` samples (the first ``lag`` rows are the carried history)."""
    g = _in(extended_gyr_rad_s, np.float64, (-1, 3))
    r = _in(lever_arm_m, np.float64, (3,))
    out = np.empty((max(len(g) - lag, 0), 3))
    _LIB.hs_lever_arm_acc(_ptr(g), len(g), int(lag), float(rate_hz) / lag, _ptr(r), _ptr(out))
    return out
