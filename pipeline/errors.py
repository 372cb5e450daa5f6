"""The root exception of the worker."""


class PipelineError(Exception):
    """A pipeline stage cannot go on: bad input media, labels or settings."""
