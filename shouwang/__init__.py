"""Shouwang (守望): real-time video analytics and early warning for residential compounds.

The top-level packages are the architecture, in the order a frame travels:
``streams`` → ``detectors`` → ``pipeline`` → ``alerts`` → ``api``. This package holds what
they all share: the site configuration, geodesy helpers and the command line.
"""

__version__ = "0.1.0"
