"""Request and response models of the HTTP API (they make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Side = Literal["left", "right"]
SourceState = Literal["running", "paused", "ended", "failed"]


class ErrorResponse(BaseModel):
    """Every error: a message a person can act on."""

    error: str


class Health(BaseModel):
    """Service status."""

    status: Literal["ok", "degraded"]
    version: str
    source: str
    source_state: SourceState = Field(
        description="running; paused (a paused replay); ended (the source, e.g. a replay, "
        "finished: its sensors show disconnected; POST /api/replay/restart plays a replay "
        "again); failed (see source_error)"
    )
    running: bool
    source_error: str | None
    calibrated: bool
    time_s: float
    clients: int
    clients_dropped: int = Field(description="messages dropped for slow clients (connected now)")
    recording: str | None
    uptime_s: float


class Device(BaseModel):
    """One sensor as the service sees it (``hipsense.types.DeviceStatus``).

    ``gaps``, ``samples_missing``, ``samples_filled``, ``malformed`` and ``drift_ppm`` come from
    the sensor stream (decoder and clock); ``notifications``, ``disconnects``, ``reconnects``
    and ``last_error`` from the BLE session (0 / None for sources without one).
    """

    role: str
    protocol: str
    address: str
    name: str | None
    connected: bool
    battery_pct: float | None
    signal_dbm: float | None
    data_rate_hz: float
    nominal_rate_hz: float
    samples: int
    samples_missing: int
    samples_filled: int
    gaps: int
    malformed: int
    notifications: int
    disconnects: int
    reconnects: int
    drift_ppm: float | None
    last_time_s: float | None
    last_error: str | None


class AssignRole(BaseModel):
    """Give a connected sensor a body role."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["pelvis", "thigh_left", "thigh_right"]


class CalibrationStatus(BaseModel):
    """Progress of the guided calibration."""

    step: Literal["idle", "static", "knee_lifts", "hinges", "calibrating", "done", "failed"]
    message: str
    still: bool
    still_s: float
    static_required_s: float
    knee_lifts: dict[str, int]
    knee_lifts_wanted: int
    hinges: int
    hinges_wanted: int
    segment_angle_deg: dict[str, float]
    quality_score: float | None
    warnings: list[str]
    error: str | None
    calibrated: bool


class MarkerIn(BaseModel):
    """A marker to add; times default to the current session time."""

    model_config = ConfigDict(extra="forbid")
    exercise: str = Field("note", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    side: Side | None = None
    text: str = Field("", max_length=500)
    start_s: float | None = Field(None, ge=0, le=1e7)
    end_s: float | None = Field(None, ge=0, le=1e7)


class MarkerOut(BaseModel):
    """A marker on the session timeline (seconds)."""

    start_s: float
    end_s: float | None
    exercise: str
    side: str | None
    text: str


class SessionStart(BaseModel):
    """Start recording the live stream into a named session (one ``.hsr`` recording)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=NAME_PATTERN, description="default: date and time")
    note: str = Field("", max_length=2000)
    subject: str = Field("", max_length=200, description="pseudonym of the person measured")
    client_id: str | None = Field(
        None, max_length=40, description="the client measured (GET /api/clients lists them)"
    )


class SessionSummary(BaseModel):
    """A recorded session (one recording in the data directory)."""

    name: str
    started_at: str = Field(description="ISO 8601 UTC time the recording started")
    subject: str
    note: str
    recording: bool
    duration_s: float
    frames: int
    markers: int
    exercises: list[str]
    source: str
    sensors: list[dict[str, Any]]
    file_bytes: int
    damaged: bool
    client_id: str | None = None
    report_url: str
    download_url: str


class SessionDetail(SessionSummary):
    """A recorded session with its markers, calibration, protocols and summary."""

    marker_list: list[MarkerOut]
    calibration: dict[str, Any] | None
    protocols: list[dict[str, Any]]
    summary: dict[str, Any]
    software_version: str
    damage: str
    export_urls: dict[str, str]


class Results(BaseModel):
    """What the analyzers produced (empty lists until the analytics exist)."""

    analyzers: list[str]
    rom: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    events: list[dict[str, Any]]


class RecordingInfo(BaseModel):
    """A recording (``.hsr`` file) in the data directory."""

    name: str
    file: str
    size_bytes: int
    modified: str
    created_utc: str
    subject: str
    duration_s: float
    exercises: list[str]
    damaged: bool
    download_url: str
    export_urls: dict[str, str]


class ReplayStart(BaseModel):
    """Replay a recording of the data directory in place of the live source."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    speed: float = Field(1.0, gt=0, le=100)


class ReplayStatus(BaseModel):
    """What the service is playing."""

    source: str
    replaying: str | None = Field(description="recording replayed from the data directory")
    running: bool
    paused: bool | None
    position_s: float | None
    duration_s: float | None


class ReplaySeek(BaseModel):
    """Jump the replay to a session time."""

    model_config = ConfigDict(extra="forbid")
    time_s: float = Field(ge=0, le=1e7)


class Ack(BaseModel):
    """A command was accepted."""

    ok: bool = True
    message: str = ""
