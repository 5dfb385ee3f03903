"""Which sensor is on which segment: roles remembered per device address in a small JSON file.

The file is ``$HIPSENSE_DATA_DIR/sensor_roles.json`` (default ``~/.local/share/hipsense``)::

    {"D0:00:00:00:00:01": {"role": "pelvis", "protocol": "open_profile", "name": "hipsense-IMU"}}

A role belongs to one address at a time: assigning it to a new address releases the old one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hipsense.errors import ConfigurationError
from hipsense.recording.index import data_dir
from hipsense.types import ROLES, check_role

ROLES_FILE = "sensor_roles.json"


class RoleStore:
    """Roles per sensor address, loaded from and saved to a JSON file.

    Parameters
    ----------
    path : the JSON file; default ``data_dir() / "sensor_roles.json"``.

    Examples
    --------
    >>> store = RoleStore(Path("/tmp/roles.json"))  # doctest: +SKIP
    >>> store.assign("D0:00:00:00:00:01", "pelvis", protocol="open_profile")  # doctest: +SKIP
    >>> store.assignments()  # doctest: +SKIP
    {'pelvis': 'D0:00:00:00:00:01'}
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else data_dir() / ROLES_FILE
        self.devices: dict[str, dict[str, Any]] = {}
        self.load()

    def load(self) -> None:
        """Read the file (a missing file means no roles yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.devices = {}
            return
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{self.path}: not valid JSON ({exc.msg}, line {exc.lineno}); fix or delete the "
                "file and assign the roles again"
            ) from None
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{self.path}: expected an object of address -> role")
        self.devices = {
            str(a).upper(): dict(v) for a, v in raw.items() if isinstance(v, dict) and "role" in v
        }

    def save(self) -> None:
        """Write the file atomically (write a temporary file, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.devices, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def assign(
        self, address: str, role: str, protocol: str | None = None, name: str | None = None
    ) -> None:
        """Give ``role`` to ``address`` (releasing it from any other address); not saved yet."""
        check_role(role)
        address = address.upper()
        for other, info in list(self.devices.items()):
            if info.get("role") == role and other != address:
                del self.devices[other]
        entry = self.devices.setdefault(address, {})
        entry["role"] = role
        if protocol:
            entry["protocol"] = protocol
        if name:
            entry["name"] = name

    def role_of(self, address: str) -> str | None:
        """The role remembered for ``address``, or None."""
        info = self.devices.get(address.upper())
        return None if info is None else str(info["role"])

    def protocol_of(self, address: str) -> str | None:
        """The protocol remembered for ``address``, or None."""
        info = self.devices.get(address.upper())
        return None if info is None or "protocol" not in info else str(info["protocol"])

    def assignments(self) -> dict[str, str]:
        """role -> address, in the order of :data:`hipsense.types.ROLES`."""
        by_role = {str(v["role"]): a for a, v in self.devices.items()}
        return {r: by_role[r] for r in ROLES if r in by_role}
