"""The network: the libp2p node, its gossip and its streams (the only modules that import
libp2p), framing, adapters.

Everything above talks to peers through what this room hands out, never through libp2p."""
