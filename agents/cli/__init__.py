"""The `intentcast` command: one module per command group, on top of everything else.

It is the only place that reads the passphrase from the environment or the terminal."""
