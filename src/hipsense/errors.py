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


class NotFoundError(StorageError):
    """What was asked for (a recording, a client) is not in the data directory."""


class ConflictError(StorageError):
    """The request conflicts with the stored state (a name taken, a stale edit, busy)."""


class RecordingNotFoundError(NotFoundError):
    """No recording of that name in the data directory."""


class RecordingConflictError(ConflictError):
    """The recording exists already, is being recorded, or cannot be read."""


class ClientNotFoundError(NotFoundError):
    """No client with that id."""


class ClientConflictError(ConflictError):
    """A client's name is taken, or the client changed since the edit was started."""
