"""FastAPI services: the operator dashboard, live feed and the police liaison API."""
