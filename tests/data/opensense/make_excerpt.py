"""Write the OpenSense example trial's pelvis and femur sensors, cut to the columns hipsense
reads, as gzip files next to this script, and the repository's licence beside them.

Source: opensim-core, ``Bindings/Java/Matlab/OpenSenseExample/IMUData`` (Apache-2.0, see
README.md). Every kept line is the original text: the metadata lines, then the tab-separated
``PacketCounter``, ``Acc_X..Z`` and ``Mat[i][j]`` columns, values unchanged.

Usage::

    python tests/data/opensense/make_excerpt.py /path/to/opensim-core.git [COMMIT]

The path is a git directory (bare or not); COMMIT defaults to HEAD.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

TRIAL = "Bindings/Java/Matlab/OpenSenseExample/IMUData/MT_012005D6_009-001"
# myIMUMappings.xml: _00B42279 pelvis_imu, _00B4227C femur_r_imu, _00B421EE femur_l_imu.
SENSORS = {"pelvis": "00B42279", "thigh_right": "00B4227C", "thigh_left": "00B421EE"}
KEEP = (
    "PacketCounter",
    "Acc_X",
    "Acc_Y",
    "Acc_Z",
    *(f"Mat[{i}][{j}]" for j in (1, 2, 3) for i in (1, 2, 3)),
)


def excerpt(text: str) -> str:
    """The metadata lines and the ``KEEP`` columns of one export."""
    lines = text.replace("\r", "").split("\n")
    out = [ln for ln in lines if ln.startswith("//")]
    body = [ln for ln in lines if ln and not ln.startswith("//")]
    header = body[0].split("\t")
    index = [header.index(c) for c in KEEP]
    for line in body:
        cells = line.split("\t")
        out.append("\t".join(cells[k] for k in index))
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """Write ``<role>_<serial>.txt.gz`` for the three sensors."""
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    git_dir, commit = argv[0], argv[1] if len(argv) == 2 else "HEAD"
    here = Path(__file__).parent
    for role, serial in SENSORS.items():
        text = subprocess.run(
            ["git", "-C", git_dir, "show", f"{commit}:{TRIAL}_{serial}.txt"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        target = here / f"{role}_{serial}.txt.gz"
        # mtime=0: the same bytes on every run.
        target.write_bytes(gzip.compress(excerpt(text).encode(), compresslevel=9, mtime=0))
        print(f"wrote {target} ({target.stat().st_size} bytes)")
    # Apache-2.0, section 4(a): recipients of the data get a copy of the licence.
    licence = subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:LICENSE.txt"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (here / "LICENSE.txt").write_text(licence)
    print(f"wrote {here / 'LICENSE.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
