"""Routes of the clinician's protocols: the hip extension assessment and hold series.

The state lives on the server (:class:`hipsense.exercises.clinic.ClinicProtocols`); every
action is broadcast on ``/ws/live`` so every screen (laptop and phone at once) shows the same.
See ``docs/assessment.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from hipsense.api.errors import ApiError
from hipsense.api.schemas import ErrorResponse, Side
from hipsense.api.service import Service, get_service
from hipsense.errors import ConfigurationError
from hipsense.exercises.assessment import ACTIONS, AssessmentError, AssessmentOptions
from hipsense.exercises.clinic import ClinicProtocols
from hipsense.exercises.hold_series import HoldSeriesSpec

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422)
}
router = APIRouter(prefix="/api", responses=ERRORS, tags=["assessment"])
ServiceDep = Annotated[Service, Depends(get_service)]


def _both_sides() -> list[Side]:
    return ["left", "right"]


class AssessmentStart(BaseModel):
    """Options of a new hip extension assessment."""

    model_config = ConfigDict(extra="forbid")
    passive_method: Literal["half_kneeling", "thomas", "partner"] = Field(
        "half_kneeling",
        description="how passive extension is taken: half-kneeling lunge, Thomas test or "
        "partner-assisted",
    )
    include_prone: bool = Field(False, description="add the optional prone active trial")
    sides: list[Side] = Field(default_factory=_both_sides, min_length=1, max_length=2)


class AssessmentState(BaseModel):
    """The assessment's state: trials with their reps, and per side the gap."""

    model_config = ConfigDict(extra="allow")
    id: int | None
    state: Literal["idle", "running", "finished", "aborted", "recorded"]
    time_s: float
    current: int | None
    allowed: list[str]
    trials: list[dict[str, Any]]
    sides: dict[str, dict[str, Any]]
    comparison: dict[str, Any] | None


class HoldPhaseSeconds(BaseModel):
    """Hold time per phase (s)."""

    model_config = ConfigDict(extra="forbid")
    passive: float = Field(30.0, ge=1, le=600)
    pails: float = Field(10.0, ge=1, le=600)
    rails: float = Field(10.0, ge=1, le=600)


Phase = Literal["passive", "pails", "rails"]
DEFAULT_PHASES: tuple[Phase, ...] = ("passive", "pails", "rails")


class HoldSeriesStart(BaseModel):
    """A hold series to run on the server (passive hold, PAILs, RAILs)."""

    model_config = ConfigDict(extra="forbid")
    side: Side
    phases: list[Phase] = Field(
        default_factory=lambda: list(DEFAULT_PHASES), min_length=1, max_length=6
    )
    hold_s: HoldPhaseSeconds = Field(default_factory=lambda: HoldPhaseSeconds.model_validate({}))
    reps: int = Field(1, ge=1, le=10)
    rest_s: float = Field(10.0, ge=0, le=600)
    target_deg: float | None = Field(
        None, ge=-30, le=60, description="hip extension to hold (deg); null: captured at start"
    )
    tolerance_deg: float = Field(3.0, ge=0.5, le=20)


class HoldSeriesState(BaseModel):
    """The hold series' state as every client shows it."""

    model_config = ConfigDict(extra="allow")
    id: int | None
    state: Literal["idle", "holding", "resting", "finished", "stopped"]
    holds: list[dict[str, Any]]
    summary: dict[str, Any] | None


def clinic_of(service: Service) -> ClinicProtocols:
    """The clinician's protocols of the live session."""
    for analyzer in service.live.analyzers:
        if isinstance(analyzer, ClinicProtocols):
            return analyzer
    raise ApiError(409, "this service runs without the clinician's protocols")


def _broadcast(service: Service, messages: list[dict[str, Any]]) -> None:
    for m in messages:
        service.live.broadcast_event(str(m["type"]), {k: v for k, v in m.items() if k != "type"})


def _keep_protocol(service: Service, protocol: dict[str, Any]) -> None:
    """A session being recorded lists the protocols run in it (its summary and report)."""
    if service.store.active is not None:
        service.store.active.add_protocol({**protocol, "start_s": round(service.live.time_s, 3)})


@router.get("/assessment", response_model=AssessmentState)
async def assessment(service: ServiceDep) -> dict[str, Any]:
    """The current (or last) assessment: trials, reps and per side active, passive, gap."""
    return clinic_of(service).assessment_state()


@router.post("/assessment", response_model=AssessmentState, status_code=201)
async def start_assessment(body: AssessmentStart, service: ServiceDep) -> dict[str, Any]:
    """Start a hip extension assessment (409 while one runs or before calibration)."""
    clinic = clinic_of(service)
    try:
        options = AssessmentOptions(body.passive_method, body.include_prone, tuple(body.sides))
        _broadcast(service, clinic.start_assessment(options))
    except AssessmentError as exc:
        raise ApiError(409, str(exc)) from None
    _keep_protocol(service, {"kind": "hip extension assessment", **options.to_dict()})
    return clinic.assessment_state()


@router.post("/assessment/{action}", response_model=AssessmentState)
async def assessment_action(
    action: Annotated[str, Path(max_length=16, pattern=r"^[a-z]+$")], service: ServiceDep
) -> dict[str, Any]:
    """A clinician's action: start, accept, redo, skip, next or abort (409 out of order)."""
    if action not in ACTIONS:
        raise ApiError(404, f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    clinic = clinic_of(service)
    try:
        _broadcast(service, clinic.act(action))
    except AssessmentError as exc:
        raise ApiError(409, str(exc)) from None
    return clinic.assessment_state()


@router.get("/holds", response_model=HoldSeriesState)
async def holds(service: ServiceDep) -> dict[str, Any]:
    """The current (or last) hold series."""
    return clinic_of(service).series_state()


@router.post("/holds", response_model=HoldSeriesState, status_code=201)
async def start_holds(body: HoldSeriesStart, service: ServiceDep) -> dict[str, Any]:
    """Start a hold series run by the server (409 while one runs or before calibration)."""
    clinic = clinic_of(service)
    try:
        spec = HoldSeriesSpec(
            side=body.side,
            phases=tuple(body.phases),
            hold_s=body.hold_s.model_dump(),
            reps=body.reps,
            rest_s=body.rest_s,
            target_deg=body.target_deg,
            tolerance_deg=body.tolerance_deg,
        )
    except ConfigurationError as exc:
        raise ApiError(422, str(exc)) from None
    try:
        _broadcast(service, clinic.start_series(spec))
    except AssessmentError as exc:
        raise ApiError(409, str(exc)) from None
    _keep_protocol(service, {"kind": "hold series", **spec.to_dict()})
    return clinic.series_state()


@router.post("/holds/stop", response_model=HoldSeriesState)
async def stop_holds(service: ServiceDep) -> dict[str, Any]:
    """Stop the running hold series (the hold under way ends and is recorded)."""
    clinic = clinic_of(service)
    try:
        _broadcast(service, clinic.stop_series())
    except AssessmentError as exc:
        raise ApiError(409, str(exc)) from None
    return clinic.series_state()
