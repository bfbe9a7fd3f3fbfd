"""Fuzzing every decoder a peer's bytes reach (see run.py for how to run it).

targets.py   one target per decoder: what it feeds in, which errors are the project's own
corpus.py    seed inputs: the hex of specs/vectors/*.json and envelopes sealed with fixed keys
mutate.py    structure-aware mutations (inside the COSE array and the payload map, re-signed)
run.py       the runner: atheris (libFuzzer) per target, bounded in time, crashes saved as hex
"""
