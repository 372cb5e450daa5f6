"""The root exception of the ingest layer."""


class StreamError(Exception):
    """A stream could not be opened or read. Messages carry redacted URLs only."""


class StreamEnded(StreamError):
    """The source has stopped: its owner stopped it, or a file played to its end."""
