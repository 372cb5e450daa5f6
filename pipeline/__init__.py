"""The worker: scheduling, batching, tracking, rules and per-stage timing."""
