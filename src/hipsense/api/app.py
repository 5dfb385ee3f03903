"""The FastAPI application of ``hipsense serve``: API, WebSocket and the static dashboard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hipsense import __version__
from hipsense.api import assessment_routes, client_routes, file_routes, live_routes
from hipsense.api.errors import install_error_handlers
from hipsense.api.security import LOOPBACK_HOSTS, TOKEN_COOKIE, GuardMiddleware, is_loopback
from hipsense.api.service import Service, ServiceSettings
from hipsense.errors import ConfigurationError
from hipsense.exercises.clinic import ClinicProtocols
from hipsense.exercises.live import LATE_MARK_S, ExerciseAnalyzer
from hipsense.live import Analyzer, LiveSession
from hipsense.recording.sessions import SessionStore
from hipsense.sources import LiveSource

STATIC_DIR = Path(__file__).parent / "static"


def check_exposure(settings: ServiceSettings) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(settings.host) and not settings.token:
        raise ConfigurationError(
            f"binding to {settings.host} exposes hipsense to the network: give --token SECRET "
            "(clients then send it), or keep the default --host 127.0.0.1"
        )


def create_app(
    settings: ServiceSettings,
    source_factory: Callable[[], LiveSource],
    auto_calibrate: bool = False,
    analyzers: Iterable[Analyzer] = (),
    exercise_analysis: bool = True,
    detect_segments: bool = True,
) -> FastAPI:
    """Build the app; the source is created and started when the app starts.

    Parameters
    ----------
    settings : host, token, data directory, limits.
    source_factory : makes the live source (called once at startup).
    auto_calibrate : start the guided calibration with the first samples (simulated demo).
    analyzers : extra analyzers fed with the calibrated angles.
    exercise_analysis : add hipsense's exercise analyzer (ROM and gap, holds, CARs, Thomas
        test, bridge, walking, sitting) on the marked segments of every live session.
    detect_segments : the exercise analyzer also detects sitting, CARs and walking segments
        live (``segment_detected`` events and results with ``source`` ``"detected"``).

    Examples
    --------
    >>> source = SimulatedSource(simulate_demo())  # doctest: +SKIP
    >>> app = create_app(ServiceSettings(), lambda: source)  # doctest: +SKIP
    """
    check_exposure(settings)
    analyzer_list = list(analyzers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def make_live(source: LiveSource, calibrate: bool) -> LiveSession:
            live = LiveSession(
                source,
                client_queue=settings.client_queue,
                auto_calibrate=calibrate,
                analyzers=analyzer_list,
                placements=settings.placements,
            )
            if exercise_analysis:
                # The clinician's protocols first: the markers they add in a block are then
                # analysed with the same block. One analyzer per live session, reading that
                # session's markers; frames are kept long enough for marks placed at the end
                # of an assessment trial or a hold.
                live.analyzers.append(
                    ClinicProtocols(
                        live.add_marker,
                        lambda: live.time_s,
                        lambda: live.pipeline.calibration_ is not None,
                        history=lambda: (list(live.markers), list(live.results)),
                        refine=live.refine,
                    )
                )
                analyzer = ExerciseAnalyzer(
                    markers=lambda: list(live.markers),
                    detect=detect_segments,
                    keep_before_s=LATE_MARK_S,
                    refined=live.refined_frames,
                )
                live.analyzers.append(analyzer)
            return live

        store = await asyncio.to_thread(SessionStore, settings.data_dir)
        service = Service(
            settings,
            make_live(source_factory(), auto_calibrate),
            store,
            make_live=make_live,
            default_source=(source_factory, auto_calibrate),
        )
        app.state.service = service
        await service.live.start()
        try:
            yield
        finally:
            recorder = service.store.active
            if service.recording_feed is not None and recorder is not None:
                await service.live.remove_recorder(service.recording_feed)
                await asyncio.to_thread(service.store.finish, recorder)
            await service.live.stop()
            await asyncio.gather(*service.analysis_tasks, return_exceptions=True)
            store.close()

    app = FastAPI(
        title="hipsense local service",
        version=__version__,
        description="Live hip and pelvis angles, guided calibration, sessions and exercise "
        'protocols. Errors are JSON objects `{"error": "..."}`. Live frames and events '
        "stream over the WebSocket `/ws/live`.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(live_routes.router)
    app.include_router(live_routes.ws_router)
    app.include_router(file_routes.router)
    app.include_router(assessment_routes.router)
    app.include_router(client_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def page(name: str) -> Response:
        response = FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-store"})
        if settings.token:
            # The page's scripts and WebSocket then authenticate with the cookie.
            response.set_cookie(TOKEN_COOKIE, settings.token, httponly=True, samesite="strict")
        return response

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        return page("index.html")

    @app.get("/clients", include_in_schema=False)
    def clients_page(request: Request) -> Response:
        return page("clients.html")

    @app.get("/clients/{client_id}", include_in_schema=False)
    def client_page(request: Request, client_id: str) -> Response:
        return page("clients.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg")

    allowed_hosts = None
    if is_loopback(settings.host) and not settings.token:
        allowed_hosts = {h.strip("[]") for h in LOOPBACK_HOSTS} | {"testserver"}
    app.add_middleware(
        GuardMiddleware,
        token=settings.token,
        allowed_hosts=allowed_hosts,
        max_body_bytes=settings.max_body_bytes,
        upload_limits={"/api/clients/import": client_routes.ARCHIVE_UPLOAD_BYTES},
    )
    return app
