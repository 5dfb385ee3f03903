"""Simulated sensors played in real time: the demo source of ``hipsense serve``.

A :class:`SimulatedSource` takes a simulated session (``hipsim.simulate_session``: a
calibration routine followed by exercises) and plays its sample blocks paced by the wall clock
in small blocks (20 ms by default), looping with continuous session time. The session's
script markers are emitted as :class:`~hipsense.types.Marker` items when their start is
reached, and each virtual sensor reports itself connected with a battery level.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.sources import DeviceInfo, SourceBatch, SourceItem
from hipsense.sources.pacing import Pacer
from hipsense.types import ROLES, Marker, SampleBlock, SensorEvent, check_role

DEMO_SCENARIO = "demo"


class ScriptMarker(Protocol):
    """A labelled window of a simulated session (``hipsim`` markers have this shape)."""

    start_s: float
    end_s: float
    label: str
    side: str | None


class SimulatedSession(Protocol):
    """The part of ``hipsim.SimSession`` a source needs."""

    samples: dict[str, SampleBlock]
    markers: Sequence[Any]


@dataclass
class _PlainSession:
    samples: dict[str, SampleBlock]
    markers: Sequence[Any]


def simulator() -> Any:
    """The ``hipsim`` package, or a clear error when it is not installed."""
    try:
        import hipsim
    except ImportError as exc:
        raise ConfigurationError(
            f"the simulator (hipsim) is not available ({exc}); install hipsense with its "
            "simulator or use --source replay FILE"
        ) from None
    return hipsim


def simulate_demo(
    scenario: str = DEMO_SCENARIO, seed: int = 0, duration_s: float | None = None
) -> SimulatedSession:
    """Simulate the demo session (calibration routine, then exercises) with ``hipsim``.

    Raises
    ------
    ConfigurationError
        when the simulator is not installed or does not know ``scenario``.
    """
    hipsim = simulator()
    kwargs: dict[str, Any] = {}
    if duration_s is not None:
        kwargs["duration_s"] = duration_s
    try:
        session = hipsim.simulate_session(scenario, seed, **kwargs)
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"cannot simulate scenario {scenario!r}: {exc}") from None
    return _PlainSession(dict(session.samples), list(session.markers))


ASSESSMENT_DEMO = "assessment"


def simulate_assessment_demo(seed: int = 0) -> tuple[SimulatedSession, Any]:
    """The default demo: a simulated person for the hip extension assessment, and their
    timeline (``hipsim.assessment``): calibration routine, active and passive extension on
    both sides (left: motor-control deficit, right: within norms) and a PAILs/RAILs series
    whose PAILs hold is missed. The session carries no markers: a scripted clinician
    (``hipsim.clinician``) drives the assessment through the API, as a person would.

    Raises
    ------
    ConfigurationError
        when the simulator is not installed.
    """
    simulator()
    from hipsim.assessment import assessment_demo_session

    session, timeline = assessment_demo_session(seed)
    return _PlainSession(dict(session.samples), []), timeline


class SimulatedSource:
    """Play a simulated session's samples in real time, looping.

    Parameters
    ----------
    session : a simulated session (``samples`` role -> SampleBlock, ``markers``).
    block_s : wall-clock duration of each yielded block (s).
    speed : playback speed (1.0 = real time; tests use more).
    loop : start again at the end, with session time continuing.
    battery_pct : battery level reported by each virtual sensor.

    Examples
    --------
    >>> source = SimulatedSource(simulate_demo(seed=1))  # doctest: +SKIP
    >>> async for batch in source.stream(): ...  # doctest: +SKIP
    """

    name = "sim"

    def __init__(
        self,
        session: SimulatedSession,
        block_s: float = 0.02,
        speed: float = 1.0,
        loop: bool = True,
        battery_pct: int = 87,
    ) -> None:
        if not session.samples:
            raise ConfigurationError("the simulated session has no sensors")
        if not (block_s > 0 and speed > 0):
            raise ConfigurationError("block_s and speed must be positive")
        self.samples: dict[str, SampleBlock] = {
            check_role(r): b for r, b in session.samples.items()
        }
        self.markers = sorted(session.markers, key=lambda m: float(m.start_s))
        self.roles: list[str] = [r for r in ROLES if r in self.samples]
        self.rate_hz: dict[str, float] = {
            r: float(round(1.0 / np.median(np.diff(self.samples[r].time_s)), 6)) for r in self.roles
        }
        self.block_s = block_s
        self.speed = speed
        self.loop = loop
        self.battery_pct = battery_pct
        ends = [float(b.time_s[-1]) for b in self.samples.values()]
        # One period per loop: the longest sensor plus one sample, so times stay increasing.
        self.period_s = max(ends) + 1.0 / min(self.rate_hz.values())

    @property
    def session_start_ns(self) -> int | None:
        """None: simulated samples come without raw notifications."""
        return None

    def devices(self) -> list[DeviceInfo]:
        """Descriptions of the virtual sensors (role, protocol, address)."""
        return [DeviceInfo(r, "simulated", f"sim:{r}", signal_dbm=-55) for r in self.roles]

    async def close(self) -> None:
        """Nothing to release."""

    def _block(self, t0: float, t1: float, offset: float) -> list[SourceItem]:
        items: list[SourceItem] = []
        for role in self.roles:
            block = self.samples[role]
            lo, hi = np.searchsorted(block.time_s, [t0, t1], side="left")
            if hi > lo:
                part = block.slice(int(lo), int(hi))
                part.time_s = part.time_s + offset
                items.append(part)
        for m in self.markers:
            if t0 <= float(m.start_s) < t1:
                items.append(
                    Marker(
                        float(m.start_s) + offset,
                        float(m.end_s) + offset,
                        str(m.label),
                        getattr(m, "side", None),
                        "simulated script",
                    )
                )
        return items

    async def stream(self) -> AsyncIterator[SourceBatch]:
        """Yield the session in blocks of ``block_s`` wall-clock seconds, paced in real time."""
        step_s = self.block_s * self.speed
        pacer = Pacer(self.speed)
        yield SourceBatch(
            [
                SensorEvent(
                    r,
                    "connected",
                    0.0,
                    f"virtual {r} sensor connected",
                    {"battery_pct": self.battery_pct, "address": f"sim:{r}"},
                )
                for r in self.roles
            ]
        )
        session_t = 0.0
        lap = 0
        while True:
            offset = lap * self.period_s
            t = 0.0
            while t < self.period_s:
                t_next = min(t + step_s, self.period_s)
                await pacer.wait(session_t + t_next)
                items = self._block(t, t_next, offset)
                if items:
                    yield SourceBatch(items)
                t = t_next
            session_t += self.period_s
            lap += 1
            if not self.loop:
                return
