"""hipsense: hip and pelvis angles from wearable IMUs.

The data flow is described in ``docs/architecture.md``; the stages are found by folder name:
``sensors`` (decode, clocks), ``sources`` (live sources), ``fusion`` (sensor orientation),
``body`` (calibration, joint angles), ``pipeline`` (the streaming composition), ``live``,
``exercises``, ``recording``, ``api``, ``cli``.
"""

__version__ = "0.1.0"
