"""The root exception of the model layer."""


class ModelError(Exception):
    """A model is missing, corrupt, or was given input it cannot take."""
