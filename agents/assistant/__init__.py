"""The assistant's side: the SDK a developer imports, the agent that runs an assistant's moves,
its line to the person's daemon, and the runner (`intentcast assistant run`).

    from intentcast.agents.assistant import Assistant, Offer
"""

from intentcast.agents.assistant.sdk import (
    Agreement,
    Assistant,
    Event,
    IntentInfo,
    Offer,
    Refused,
)

__all__ = ["Agreement", "Assistant", "Event", "IntentInfo", "Offer", "Refused"]
