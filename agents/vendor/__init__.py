"""The vendor's side: the responder that answers intents, its data side, its catalog and its
pricing policy, and the process that runs them."""
