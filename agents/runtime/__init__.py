"""What every agent process shares: its home on disk (config, token, secrets), the JSON lines
it prints and the signals that stop it, and how values are shown to people."""
