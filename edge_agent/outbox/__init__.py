"""The durable outbox of sealed segments (spool.py) and the thread that drains it to the broker (drain.py)."""
