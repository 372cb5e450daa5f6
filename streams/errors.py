"""The root exception of the ingest layer."""


class StreamError(Exception):
    """A stream could not be opened or read. Messages carry redacted URLs only."""
