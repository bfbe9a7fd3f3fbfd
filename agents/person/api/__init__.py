"""The daemon's local HTTP JSON API (FastAPI): routes for intents and offers, assistants,
data, and the field types they share."""
