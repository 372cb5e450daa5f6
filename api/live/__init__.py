"""The live view (WebRTC): pages under ``/live``, signalling under ``/api/live``."""
