"""One exception hierarchy; every message says what happened and what to do next."""


class HipsenseError(Exception):
    """Base class of every error hipsense raises on purpose."""


class InputFormatError(HipsenseError):
    """A file or request does not follow the documented format (row/column named)."""


class CalibrationError(HipsenseError):
    """The calibration movements are missing or too poor to calibrate from."""


class ConfigurationError(HipsenseError):
    """An option or parameter is invalid (unknown filter, impossible rate, ...)."""


class StorageError(HipsenseError):
    """A recording or the session index cannot be used as asked (an invalid name, ...)."""


class RecordingNotFoundError(StorageError):
    """No recording of that name in the data directory."""


class RecordingConflictError(StorageError):
    """The recording exists already, is being recorded, or cannot be read."""
