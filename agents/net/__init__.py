"""The network: the libp2p node (the only module that imports libp2p), framing, adapters.

Everything above talks to peers through what this room hands out, never through libp2p."""
