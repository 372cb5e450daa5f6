"""The root exception of the benchmark package."""

from __future__ import annotations


class BenchError(Exception):
    """A budget file, a results file or a benchmark run is unusable.

    The message names the file and the field at fault, so the CLI prints it as is.
    """
