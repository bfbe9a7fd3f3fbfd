"""intentcast's I/O shell, installed as `intentcast.agents`: one subpackage per room.

Layers, top to bottom (tests/test_layers.py and `make lint` keep them true):
  cli                           the `intentcast` command
  demo                          `intentcast demo`: scenarios on one harness
  person | vendor | assistant   the three roles; they never import each other
  conversation | runtime        what the roles share: the driver and wire formats; the process
  net | store                   the libp2p node; SQLite, vault, audit log
  errors                        the domain errors every room raises
Everything here depends on `intentcast.protocol`, never the other way round.
"""

if __name__ != "intentcast.agents":  # the folder is on sys.path when Python runs from the root
    raise ImportError(f"import intentcast.agents, not {__name__} (the package is installed "
                      "under the intentcast namespace)")
