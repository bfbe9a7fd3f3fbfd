"""The person's side: their agent, the disclosures it makes, the desk assistants talk to,
the daemon that runs it all and its local HTTP API (with that API's client)."""
