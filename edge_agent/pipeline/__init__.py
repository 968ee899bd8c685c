"""Run-time tuning of the device pipeline (memory), kept apart from the wiring in ``edge_agent.app``."""
