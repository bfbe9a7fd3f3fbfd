"""intentcast's I/O shell: the CLI and, as they arrive, the node, stores and agents.

Everything here depends on `protocol`, never the other way round.
"""
