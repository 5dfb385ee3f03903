"""hipsense: hip and pelvis angles from wearable IMUs.

The data flow is described in ``ARCHITECTURE.md``; the stages are found by folder name:
``sensors`` (decode, clocks), ``fusion`` (sensor orientation), ``body`` (calibration, joint
angles), ``pipeline`` (the streaming composition), ``exercises``, ``recording``, ``api``.
"""

__version__ = "0.1.0"
