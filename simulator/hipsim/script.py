"""Motion scripts: keyframed channels plus smooth periodic terms, exact in time.

A script describes the whole movement of a session as functions of time:

- the hip-joint-centre midpoint position ``pos_x/y/z`` (m) in the *start frame* (x forward,
  y left, z up at the static pose, origin at the static pose's hip midpoint),
- the whole-body ``heading`` (rad) relative to the static pose (turns of the subject),
- pelvic ``tilt``, ``obliquity``, ``rotation`` (rad) relative to the current body heading,
- per side ``hip_flexion_<side>``, ``hip_abduction_<side>``, ``hip_internal_rotation_<side>``
  (rad), the signs of ``hipsense.body.frames``.

Each channel is a :class:`KeyframeTrack` (quintic Hermite segments with zero acceleration at
the knots: minimum-jerk between holds, exactly linear while cruising) plus additive terms
(:class:`OscillationTerm` for gait, :class:`CircleTerm` for hip CARs). Everything is evaluated
as :class:`~hipsim.jet.Jet`, i.e. with exact first and second derivatives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from hipsense.types import FloatArray
from hipsim.jet import Jet, jet_cos, jet_sin

SIDE_NAMES: tuple[str, str] = ("left", "right")
HIP_CHANNELS: dict[str, tuple[str, str, str]] = {
    side: (f"hip_flexion_{side}", f"hip_abduction_{side}", f"hip_internal_rotation_{side}")
    for side in SIDE_NAMES
}
PELVIS_CHANNELS: tuple[str, str, str] = ("pelvic_tilt", "pelvic_obliquity", "pelvic_rotation")
POSITION_CHANNELS: tuple[str, str, str] = ("pos_x", "pos_y", "pos_z")
CHANNELS: tuple[str, ...] = (
    *POSITION_CHANNELS,
    "heading",
    *PELVIS_CHANNELS,
    *HIP_CHANNELS["left"],
    *HIP_CHANNELS["right"],
)


@dataclass(frozen=True)
class Marker:
    """A labelled time window of the session script.

    Attributes
    ----------
    start_s, end_s : window on the session clock (s).
    label : phase name, e.g. ``"static"``, ``"knee_lift_left"``, ``"hold_rails"``.
    side : ``"left"``/``"right"`` for one-sided phases, else None.
    """

    start_s: float
    end_s: float
    label: str
    side: str | None = None


@dataclass
class KeyframeTrack:
    """A channel through knots ``(time, value, rate)`` with zero acceleration at every knot.

    Between knots the value follows the quintic Hermite polynomial matching value, rate and
    zero acceleration at both ends (minimum-jerk when both rates are zero). Outside the knots
    the track continues linearly with the end rate.
    """

    times_s: FloatArray
    values: FloatArray
    rates: FloatArray

    def evaluate(self, t_s: FloatArray) -> Jet:
        """Value and exact derivatives at sorted times ``t_s`` (s)."""
        t_s = np.asarray(t_s, dtype=float)
        n = len(self.times_s)
        if len(t_s) == 0:
            return Jet(np.zeros(0), np.zeros(0), np.zeros(0))
        first, last = np.searchsorted(self.times_s, (t_s[0], t_s[-1]), side="right") - 1
        if n == 1 or (
            first == last and (first < 0 or first == n - 1 or self._is_hold(int(first)))
        ):  # one hold segment or outside the knots: constant or linear
            k = int(max(first, 0))
            return Jet(
                self.values[k] + self.rates[k] * (t_s - self.times_s[k]),
                np.full_like(t_s, self.rates[k]),
                np.zeros_like(t_s),
            )
        i = np.searchsorted(self.times_s, t_s, side="right") - 1
        np.clip(i, 0, n - 2, out=i)
        t0 = self.times_s[i]
        p0 = self.values[i]
        v0, v1 = self.rates[i], self.rates[i + 1]
        span = self.times_s[i + 1] - t0
        tau = np.clip((t_s - t0) / span, 0.0, 1.0)
        tau2 = tau * tau
        tau3 = tau2 * tau
        one_minus = 1.0 - tau
        # Hermite bases: h4 (end value), h1 (start rate), h5 (end rate); h0 = 1 - h4.
        h4 = tau3 * (10.0 - 15.0 * tau + 6.0 * tau2)
        h4d = 30.0 * tau2 * one_minus * one_minus
        h4dd = 60.0 * tau * one_minus * (1.0 - 2.0 * tau)
        dp = self.values[i + 1] - p0
        value = p0 + dp * h4
        d1 = dp * h4d / span
        d2 = dp * h4dd / (span * span)
        moving = (v0 != 0.0) | (v1 != 0.0)
        if moving.any():
            h1 = tau - tau3 * (6.0 - 8.0 * tau + 3.0 * tau2)
            h1d = 1.0 - tau2 * (18.0 - 32.0 * tau + 15.0 * tau2)
            h1dd = -tau * (36.0 - 96.0 * tau + 60.0 * tau2)
            h5 = tau3 * (-4.0 + 7.0 * tau - 3.0 * tau2)
            h5d = tau2 * (-12.0 + 28.0 * tau - 15.0 * tau2)
            h5dd = tau * (-24.0 + 84.0 * tau - 60.0 * tau2)
            value += span * (v0 * h1 + v1 * h5)
            d1 += v0 * h1d + v1 * h5d
            d2 += (v0 * h1dd + v1 * h5dd) / span
        # Linear continuation outside the knots.
        before = t_s < self.times_s[0]
        after = t_s > self.times_s[-1]
        if before[0] or after[-1]:
            ends = np.where(before, 0, n - 1)
            outside = before | after
            lin_dt = t_s - self.times_s[ends]
            value = np.where(outside, self.values[ends] + self.rates[ends] * lin_dt, value)
            d1 = np.where(outside, self.rates[ends], d1)
            d2 = np.where(outside, 0.0, d2)
        return Jet(value, d1, d2)

    def _is_hold(self, k: int) -> bool:
        return bool(
            self.values[k] == self.values[k + 1]
            and self.rates[k] == 0.0
            and self.rates[k + 1] == 0.0
        )


@dataclass
class TermCache:
    """Evaluations shared by the terms of one time slice (envelopes, base waves)."""

    envelopes: dict[int, Jet] = field(default_factory=dict)
    waves: dict[tuple[float, float], tuple[FloatArray, FloatArray]] = field(default_factory=dict)


@dataclass
class OscillationTerm:
    """``amplitude * envelope(t) * sin(2 pi freq (t - start) + phase)`` added to a channel.

    With ``freq_hz = 0`` and ``phase_rad = pi/2`` it is a smoothly enveloped offset.
    The envelope is zero outside ``[start_s, end_s]``.
    """

    channel: str
    amplitude: float
    freq_hz: float
    phase_rad: float
    envelope: KeyframeTrack
    start_s: float
    end_s: float

    def contributions(self, t_s: FloatArray, cache: TermCache) -> dict[str, Jet]:
        """The term's value (channel unit) and derivatives at ``t_s`` within its support.

        ``cache`` holds envelope evaluations shared by terms of the same window.
        """
        omega = 2.0 * np.pi * self.freq_hz
        env = cache.envelopes.get(id(self.envelope))
        if env is None:
            env = cache.envelopes[id(self.envelope)] = self.envelope.evaluate(t_s)
        if omega == 0.0:
            return {self.channel: env * (self.amplitude * np.sin(self.phase_rad))}
        key = (self.freq_hz, self.start_s)
        base = cache.waves.get(key)  # sin, cos of omega (t - start), shared by equal frequencies
        if base is None:
            arg = omega * (t_s - self.start_s)
            base = cache.waves[key] = (np.sin(arg), np.cos(arg))
        s0, c0 = base
        cos_p, sin_p = np.cos(self.phase_rad), np.sin(self.phase_rad)
        sine = s0 * cos_p + c0 * sin_p
        cosine = c0 * cos_p - s0 * sin_p
        a = self.amplitude
        wave = Jet(a * sine, (a * omega) * cosine, (-a * omega * omega) * sine)
        return {self.channel: env * wave}


@dataclass
class CircleTerm:
    """A hip circle (controlled articular rotation) driven by a phase track ``theta``.

    ``theta`` advances by ``+-2 pi`` per repetition (the sign is the direction). The knee
    traces a closed loop: flexion peaks early in the loop, abduction late, and internal
    rotation swings positive then negative, all zero at ``theta = 0 (mod 2 pi)``.
    """

    side: str
    flexion_rad: float
    abduction_rad: float
    rotation_rad: float
    theta: KeyframeTrack
    start_s: float
    end_s: float

    # max of (1 - cos x)(1 + 0.6 sin x) / 2 over x, so the peaks equal the amplitudes.
    _NORM = 1.2242487

    def contributions(self, t_s: FloatArray, cache: TermCache) -> dict[str, Jet]:
        """Flexion, abduction and rotation increments (rad) at ``t_s`` within the support."""
        theta = self.theta.evaluate(t_s)
        s, c = jet_sin(theta), jet_cos(theta)
        lift = (1.0 - c) * (0.5 / self._NORM)
        flex, abd, rot = HIP_CHANNELS[self.side]
        return {
            flex: lift * (s * 0.6 + 1.0) * self.flexion_rad,
            abd: lift * (s * -0.6 + 1.0) * self.abduction_rad,
            rot: s * self.rotation_rad,
        }


Term = OscillationTerm | CircleTerm


@dataclass
class MotionScript:
    """A whole session's movement: channel tracks, additive terms, markers, disturbances.

    ``magnetic_disturbance`` is an envelope in [0, 1] that is 1 near furniture (table,
    chair), scaling each sensor's disturbance field.
    """

    duration_s: float
    tracks: dict[str, KeyframeTrack]
    terms: list[Term]
    markers: list[Marker]
    magnetic_disturbance: KeyframeTrack

    def evaluate(self, t_s: FloatArray, channels: tuple[str, ...] = CHANNELS) -> dict[str, Jet]:
        """Channel values (m, rad) and exact derivatives at sorted times ``t_s`` (s)."""
        t_s = np.asarray(t_s, dtype=float)
        out = {name: self.tracks[name].evaluate(t_s) for name in channels}
        if len(t_s) == 0:
            return out
        lo_t, hi_t = t_s[0], t_s[-1]
        caches: dict[tuple[int, int], TermCache] = {}
        for term in self.terms:
            if term.end_s < lo_t or term.start_s > hi_t:
                continue
            lo, hi = np.searchsorted(t_s, [term.start_s, term.end_s], side="left")
            hi = max(hi, lo)
            if hi == lo:
                continue
            key = (lo, hi)
            cache = caches.setdefault(key, TermCache())
            for name, jet in term.contributions(t_s[lo:hi], cache).items():
                if name in out:
                    out[name].add_at(lo, jet)
        return out


def _track(knots: list[tuple[float, float, float]]) -> KeyframeTrack:
    arr = np.asarray(knots, dtype=float)
    return KeyframeTrack(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())


def envelope_track(start_s: float, end_s: float, ramp_s: float) -> KeyframeTrack:
    """0 before ``start_s``, smooth rise to 1 over ``ramp_s``, 1, smooth fall to 0 at ``end_s``."""
    ramp_s = min(ramp_s, 0.5 * (end_s - start_s))
    knots = [(start_s, 0.0, 0.0), (start_s + ramp_s, 1.0, 0.0)]
    if end_s - ramp_s > start_s + ramp_s + 1e-9:
        knots.append((end_s - ramp_s, 1.0, 0.0))
    knots.append((end_s, 0.0, 0.0))
    return _track(knots)


_UNIT_SUFFIXES = {"_deg": np.pi / 180.0, "_m": 1.0, "_rad": 1.0}


def _channel_of(keyword: str) -> tuple[str, float]:
    for suffix, scale in _UNIT_SUFFIXES.items():
        if keyword.endswith(suffix):
            name = keyword[: -len(suffix)]
            if name in CHANNELS:
                return name, scale
    raise ValueError(f"unknown script channel {keyword!r}; use e.g. pelvic_tilt_deg or pos_z_m")


@dataclass
class ScriptBuilder:
    """Appends phases to a script in time order; all channels start at 0 (the static pose).

    ``move(duration, pelvic_tilt_deg=55, ...)`` moves the named channels with a minimum-jerk
    profile while every other channel holds; ``hold`` waits; ``marker`` labels a window.
    """

    t: float = 0.0
    knots: dict[str, list[tuple[float, float, float]]] = field(
        default_factory=lambda: {name: [(0.0, 0.0, 0.0)] for name in CHANNELS}
    )
    terms: list[Term] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    disturbance_knots: list[tuple[float, float, float]] = field(
        default_factory=lambda: [(0.0, 0.0, 0.0)]
    )
    envelopes: dict[tuple[float, float, float], KeyframeTrack] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """Current (end of the last move) value of channel ``name`` (m or rad)."""
        return self.knots[name][-1][1]

    def _knot(self, name: str, time_s: float, value: float, rate: float = 0.0) -> None:
        knots = self.knots[name]
        last_t, last_v, last_r = knots[-1]
        if time_s <= last_t + 1e-9:
            raise ValueError(f"knot of {name} at {time_s} s is not after {last_t} s")
        if last_t < self.t - 1e-9 and last_r == 0.0:
            knots.append((self.t, last_v, 0.0))  # hold until this move starts
        knots.append((time_s, value, rate))

    def move(self, duration_s: float, **targets: float) -> None:
        """Move channels (``<channel>_deg`` or ``_m`` keywords) to targets over ``duration_s``."""
        for keyword, target in targets.items():
            name, scale = _channel_of(keyword)
            self._knot(name, self.t + duration_s, target * scale)
        self.t += duration_s

    def move_body(
        self,
        duration_s: float,
        forward_m: float = 0.0,
        left_m: float = 0.0,
        up_m: float = 0.0,
        **targets: float,
    ) -> None:
        """Like :meth:`move`, plus a hip-midpoint displacement in the current body frame (m)."""
        heading = self.value("heading")
        dx = forward_m * np.cos(heading) - left_m * np.sin(heading)
        dy = forward_m * np.sin(heading) + left_m * np.cos(heading)
        displacement = {"pos_x_m": dx, "pos_y_m": dy, "pos_z_m": up_m}
        for key, delta in displacement.items():
            if delta != 0.0:
                targets[key] = self.value(key[:-2]) + delta
        self.move(duration_s, **targets)

    def cruise(self, duration_s: float, ramp_s: float, velocity_m_s: tuple[float, float]) -> None:
        """Translate horizontally at a constant start-frame velocity (m/s), smooth ramps."""
        t0, t1 = self.t, self.t + duration_s
        for name, v in zip(("pos_x", "pos_y"), velocity_m_s, strict=True):
            p0 = self.value(name)
            p1 = p0 + v * (duration_s - ramp_s)
            self._knot(name, t0 + ramp_s, p0 + 0.5 * v * ramp_s, v)
            self._knot(name, t1 - ramp_s, p1 - 0.5 * v * ramp_s, v)
            self._knot(name, t1, p1, 0.0)
        self.t = t1

    def hold(self, duration_s: float) -> None:
        """Keep every channel still for ``duration_s``."""
        self.t += duration_s

    def oscillate(
        self,
        channel_keyword: str,
        amplitude: float,
        freq_hz: float,
        phase_rad: float,
        start_s: float,
        end_s: float,
        ramp_s: float,
    ) -> None:
        """Add an enveloped sinusoid (amplitude in the keyword's unit) to a channel."""
        name, scale = _channel_of(channel_keyword)
        key = (start_s, end_s, ramp_s)
        env = self.envelopes.get(key)
        if env is None:
            env = self.envelopes[key] = envelope_track(start_s, end_s, ramp_s)
        self.terms.append(
            OscillationTerm(name, amplitude * scale, freq_hz, phase_rad, env, start_s, end_s)
        )

    def offset(
        self, channel_keyword: str, amount: float, start_s: float, end_s: float, ramp_s: float
    ) -> None:
        """Add a smoothly enveloped constant offset to a channel over a window."""
        self.oscillate(channel_keyword, amount, 0.0, 0.5 * np.pi, start_s, end_s, ramp_s)

    def disturb_magnetically(self, start_s: float, end_s: float, ramp_s: float = 1.0) -> None:
        """Mark a window near furniture (magnetic disturbance envelope 0 -> 1 -> 0)."""
        env = envelope_track(start_s, end_s, ramp_s)
        self.disturbance_knots.extend(
            zip(env.times_s.tolist(), env.values.tolist(), env.rates.tolist(), strict=True)
        )

    @contextlib.contextmanager
    def marker(self, label: str, side: str | None = None) -> Iterator[None]:
        """Label the phases appended inside the ``with`` block."""
        start = self.t
        yield
        self.markers.append(Marker(round(start, 6), round(self.t, 6), label, side))

    def build(self, duration_s: float | None = None) -> MotionScript:
        """The finished script; ``duration_s`` truncates or pads (holding still) the end."""
        total = self.t if duration_s is None else float(duration_s)
        markers = [
            Marker(m.start_s, min(m.end_s, total), m.label, m.side)
            for m in sorted(self.markers, key=lambda m: (m.start_s, m.end_s))
            if m.start_s < total
        ]
        disturbance = sorted(set(self.disturbance_knots))
        return MotionScript(
            duration_s=total,
            tracks={name: _track(k) for name, k in self.knots.items()},
            terms=list(self.terms),
            markers=markers,
            magnetic_disturbance=_track(disturbance),
        )
