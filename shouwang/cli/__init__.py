"""The ``shouwang`` command line."""
