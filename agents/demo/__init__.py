"""`intentcast demo`: scenarios on one shared harness of real processes, and the protocol-only
walk-through (`--local`)."""
