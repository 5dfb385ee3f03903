"""Shared helpers of the end-to-end tests: the virtual BLE stack and the browser."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from hipsense.sensors.ble import BleSession, ReconnectPolicy
from hipsim.ble import VirtualRadio, build_radio

Items = list[Any]


async def run_over_virtual_ble(
    samples: Mapping[str, Any],
    protocols: Mapping[str, str],
    rates: Mapping[str, float],
    on_items: Callable[[Items], None],
    faults: Mapping[str, Any] | None = None,
    speed: float | None = None,
    on_start: Callable[[BleSession, dict[str, str]], None] | None = None,
) -> tuple[list[dict[str, Any]], VirtualRadio]:
    """Stream ``samples`` through virtual sensors and hipsense's BleSession to the end.

    ``on_items`` gets every batch the session yields; ``on_start`` the running session and
    the role -> address assignments. Returns the session's final device status and the radio.
    """
    radio, assignments = build_radio(dict(samples), dict(protocols), faults, speed=speed)
    await radio.start()
    ble = BleSession(
        assignments,
        dict(rates),
        backend=radio.ble_backend(),
        scan_timeout_s=0.3,
        policy=ReconnectPolicy(base_delay_s=0.2, scan_timeout_s=2.0, connect_timeout_s=2.0),
        seed=1,
    )
    await ble.start()
    if on_start is not None:
        on_start(ble, assignments)

    async def consume() -> None:
        async for items in ble.items():
            on_items(items)

    task = asyncio.create_task(consume())
    try:
        await radio.wait_finished(120.0)
    finally:
        await ble.stop()
        await task
        status = ble.status()
        await radio.close()
    return status, radio


@pytest.fixture
def virtual_ble() -> Callable[..., Any]:
    """:func:`run_over_virtual_ble` for tests (conftest modules are not imported by path)."""
    return run_over_virtual_ble


# Debian's chromium, launched so that it does not try hosts this network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' "
            "(.ci/run does this); the browser tests cannot run without it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser: Any, url: str, **context: Any) -> tuple[Any, list[str]]:
    """A new page at ``url`` and the list its script errors and console errors go to."""
    page = browser.new_page(**context)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    return page, errors


@pytest.fixture
def opener() -> Callable[..., tuple[Any, list[str]]]:
    """:func:`open_page` for tests (conftest modules are not imported by path)."""
    return open_page
