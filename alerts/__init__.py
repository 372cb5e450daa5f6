"""The alert record, precise location, Redis publishing and delivery."""
