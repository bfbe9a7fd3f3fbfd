"""intentcast examples: catalogs for vendors and assistants for developers."""
