"""The exceptions geoservice raises.

Every error names the input at fault, what arrived and what would fix it. Subclasses also inherit the matching
built-in exception so callers can catch either (as h3-py's ``H3ValueError`` does).
"""


class GeoserviceError(Exception):
    """Base class for every error geoservice raises on purpose."""


class LayerSpecError(GeoserviceError, ValueError):
    """A layer spec in ``layers/`` is malformed or refers to something that does not exist."""


class UnknownLayerError(GeoserviceError, KeyError):
    """A layer name that no spec in ``layers/`` defines."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputFileError(GeoserviceError, ValueError):
    """A whole input file cannot be read: empty, binary, bad encoding, ragged rows, missing columns."""


class RequestError(GeoserviceError, ValueError):
    """A request asks for something not offered (a period a map does not cover, dates where a period is due): the
    asker's move, a 400."""


class SetupError(GeoserviceError, RuntimeError):
    """Something the service needs first is missing: boundaries not loaded, no postcode table, no PostGIS."""


class BatchConflictError(GeoserviceError, RuntimeError):
    """Another ingest wrote some of the same records while this batch ran; nothing of this batch was kept."""
