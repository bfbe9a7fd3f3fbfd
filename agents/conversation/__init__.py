"""What the roles share to talk to each other: the framed channel, the one conversation driver,
and the wire formats of the assistant and data streams."""
