"""The data that flows between stages, and the fixed names of roles and angle columns.

Units are part of every name: seconds (``_s``), m/s^2 (``_m_s2``, specific force), rad/s
(``_rad_s``), microtesla (``_uT``), degrees (``_deg``). Quaternions are scalar first
``[w, x, y, z]`` and rotate sensor coordinates into earth coordinates (z up).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hipsense.errors import InputFormatError

FloatArray = npt.NDArray[np.float64]

Role = Literal["pelvis", "thigh_left", "thigh_right"]
ROLES: tuple[Role, ...] = ("pelvis", "thigh_left", "thigh_right")
THIGH_ROLES: tuple[Role, ...] = ("thigh_left", "thigh_right")
SIDES: dict[Role, str] = {"thigh_left": "left", "thigh_right": "right"}

PELVIS_COLUMNS = ("pelvic_tilt_deg", "pelvic_obliquity_deg", "pelvic_rotation_deg")


def hip_columns(side: str) -> tuple[str, str, str]:
    """Angle column names for one side (``"left"`` or ``"right"``)."""
    return (
        f"hip_flexion_{side}_deg",
        f"hip_abduction_{side}_deg",
        f"hip_internal_rotation_{side}_deg",
    )


def thigh_inclination_column(side: str) -> str:
    """Sagittal thigh inclination in the earth frame (= flexion - tilt, approximately)."""
    return f"thigh_inclination_{side}_deg"


def angle_columns(roles: tuple[str, ...] | list[str]) -> list[str]:
    """Output columns (after ``time_s``) of the ``process`` CSV for the given roles."""
    cols: list[str] = []
    for role in ROLES:
        if role in roles and role != "pelvis":
            cols.extend(hip_columns(SIDES[role]))
    cols.extend(PELVIS_COLUMNS)
    return cols


def check_role(role: str) -> Role:
    """Return ``role`` if it is a known role, else raise a clear error."""
    if role not in ROLES:
        raise InputFormatError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


@dataclass
class SampleBlock:
    """Consecutive IMU samples of one sensor on the session clock.

    Attributes
    ----------
    role : which segment the sensor is on.
    time_s : (N,) session time of each sample, strictly increasing.
    acc_m_s2 : (N, 3) specific force in sensor coordinates (+9.81 on the up axis at rest).
    gyr_rad_s : (N, 3) angular velocity in sensor coordinates.
    mag_uT : (N, 3) magnetic field in sensor coordinates, or None.
    """

    role: Role
    time_s: FloatArray
    acc_m_s2: FloatArray
    gyr_rad_s: FloatArray
    mag_uT: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.time_s)
        for name in ("acc_m_s2", "gyr_rad_s", "mag_uT"):
            arr = getattr(self, name)
            if arr is not None and np.shape(arr) != (n, 3):
                raise InputFormatError(
                    f"{self.role}: {name} has shape {np.shape(arr)}, expected ({n}, 3)"
                )

    def __len__(self) -> int:
        return len(self.time_s)

    @staticmethod
    def concat(blocks: list[SampleBlock]) -> SampleBlock:
        """One sensor's consecutive blocks joined (at least one block; the magnetometer is
        kept only when every block has it)."""
        if len(blocks) == 1:
            return blocks[0]
        mags = [b.mag_uT for b in blocks]
        return SampleBlock(
            blocks[0].role,
            np.concatenate([b.time_s for b in blocks]),
            np.concatenate([b.acc_m_s2 for b in blocks]),
            np.concatenate([b.gyr_rad_s for b in blocks]),
            None if any(m is None for m in mags) else np.concatenate(mags),  # type: ignore[arg-type]
        )

    def slice(self, start: int, stop: int) -> SampleBlock:
        """Samples ``start:stop`` as a new block (views, no copy)."""
        return SampleBlock(
            self.role,
            self.time_s[start:stop],
            self.acc_m_s2[start:stop],
            self.gyr_rad_s[start:stop],
            None if self.mag_uT is None else self.mag_uT[start:stop],
        )


@dataclass
class OrientationBlock:
    """Fused orientation of one sensor: scalar-first quaternions sensor -> earth (z up)."""

    role: Role
    time_s: FloatArray
    quat: FloatArray
    acc_m_s2: FloatArray
    gyr_rad_s: FloatArray
    rest: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.time_s)


def index_runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the runs of True in a boolean array.

    >>> index_runs(np.array([False, True, True, False, True]))
    [(1, 3), (4, 5)]
    """
    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@dataclass
class AlignedBlock:
    """All sensors resampled onto one session timeline.

    ``quat[role]`` is (N, 4) sensor -> earth; ``gyr_rad_s[role]`` and ``acc_m_s2[role]`` are
    (N, 3) in sensor coordinates, the nearest sample; ``rest[role]`` is the filter's rest flag.
    """

    time_s: FloatArray
    quat: dict[str, FloatArray]
    gyr_rad_s: dict[str, FloatArray]
    acc_m_s2: dict[str, FloatArray]
    rest: dict[str, npt.NDArray[np.bool_]]

    def __len__(self) -> int:
        return len(self.time_s)

    @staticmethod
    def concat(blocks: list[AlignedBlock]) -> AlignedBlock:
        """Join aligned blocks in time order (at least one block)."""
        first = blocks[0]
        if len(blocks) == 1:
            return first
        return AlignedBlock(
            np.concatenate([b.time_s for b in blocks]),
            {r: np.concatenate([b.quat[r] for b in blocks]) for r in first.quat},
            {r: np.concatenate([b.gyr_rad_s[r] for b in blocks]) for r in first.quat},
            {r: np.concatenate([b.acc_m_s2[r] for b in blocks]) for r in first.quat},
            {r: np.concatenate([b.rest[r] for b in blocks]) for r in first.quat},
        )

    def between(self, start_s: float, end_s: float) -> AlignedBlock:
        """The frames with ``start_s <= time_s <= end_s``."""
        i0 = int(np.searchsorted(self.time_s, start_s, side="left"))
        i1 = int(np.searchsorted(self.time_s, end_s, side="right"))
        return AlignedBlock(
            self.time_s[i0:i1],
            {r: q[i0:i1] for r, q in self.quat.items()},
            {r: g[i0:i1] for r, g in self.gyr_rad_s.items()},
            {r: a[i0:i1] for r, a in self.acc_m_s2.items()},
            {r: f[i0:i1] for r, f in self.rest.items()},
        )


@dataclass
class AngleBlock:
    """Joint angles on the session timeline; ``columns`` maps column name -> (N,) degrees."""

    time_s: FloatArray
    columns: dict[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.time_s)

    @staticmethod
    def concat(blocks: list[AngleBlock]) -> AngleBlock:
        """Join blocks in time order (empty list -> empty block)."""
        if not blocks:
            return AngleBlock(np.zeros(0))
        names = list(blocks[0].columns)
        return AngleBlock(
            np.concatenate([b.time_s for b in blocks]),
            {n: np.concatenate([b.columns[n] for b in blocks]) for n in names},
        )


@dataclass
class RawNotification:
    """Bytes of one BLE notification as received, with the host receive time.

    Recordings keep these so a replay runs through the decoders again.
    """

    role: Role
    address: str
    host_time_ns: int
    data: bytes


@dataclass(frozen=True)
class ConnectionStart:
    """A sensor's new BLE connection begins here: its decoder forgets partial packets.

    ``host_time_ns`` is the host clock (the one notifications are stamped with) when the
    connection was made; every notification of the new connection arrives at or after it.
    The BLE session emits one per connection in the order it happened among the raw
    notifications; recordings keep it so a replay resets the decoder at the same point.
    """

    role: str
    address: str
    host_time_ns: int


@dataclass
class DeviceStatus:
    """One sensor as the service and the page show it: the one status type.

    Counts come from where they happen: ``samples``, ``samples_missing``, ``samples_filled``,
    ``gaps``, ``malformed`` and ``drift_ppm`` from the sensor stream (decoder and clock),
    ``notifications``, ``disconnects`` and ``reconnects`` from the BLE session. Sources that
    have no such stage (simulated samples, a replay of decoded samples) leave them at 0 and
    count gaps from the gap events they carry.
    """

    role: str
    protocol: str = "unknown"
    address: str = ""
    name: str | None = None
    connected: bool = False
    battery_pct: float | None = None
    signal_dbm: float | None = None
    data_rate_hz: float = 0.0
    nominal_rate_hz: float = 0.0
    samples: int = 0
    samples_missing: int = 0
    samples_filled: int = 0
    gaps: int = 0
    malformed: int = 0
    notifications: int = 0
    disconnects: int = 0
    reconnects: int = 0
    drift_ppm: float | None = None
    last_time_s: float | None = None
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready status."""
        return asdict(self)


@dataclass
class SensorEvent:
    """Something that happened to a sensor: connected, disconnected, gap, battery, malformed.

    ``time_s`` is session time; ``detail`` holds JSON-ready values (e.g. ``{"battery_pct": 14}``).
    """

    role: str
    kind: str
    time_s: float
    message: str
    detail: dict[str, float | int | str] = field(default_factory=dict)


@dataclass
class Marker:
    """A user's mark on the session timeline: an exercise segment, a phase change, a note.

    ``exercise`` is one of the analysis names (``active_extension``, ``hold_pails``, ...) or
    ``note``; ``end_s`` is None while a segment is still open.
    """

    start_s: float
    end_s: float | None
    exercise: str
    side: str | None = None
    text: str = ""


def marker_dict(marker: Marker) -> dict[str, Any]:
    """JSON-ready marker, times to the millisecond (the API's and the page's form)."""
    return {
        "start_s": round(marker.start_s, 3),
        "end_s": None if marker.end_s is None else round(marker.end_s, 3),
        "exercise": marker.exercise,
        "side": marker.side,
        "text": marker.text,
    }


@dataclass
class AnalysisEvent:
    """An analyzer's result as the live session sent it to clients (``payload`` is JSON-ready),
    at live session time ``time_s``; recorders keep it for the session's summary."""

    time_s: float
    payload: dict[str, Any]
