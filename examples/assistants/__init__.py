"""Example fourth-party assistants: run one with `intentcast assistant run`."""
