"""What the live architecture views (a Docker engine, a Kubernetes cluster) draw alike."""

import re

# Parts the target lacks (dashed red) and parts it does not ask for (grey).
TARGET_STYLES = [
    "  classDef missing fill:#ffebe9,stroke:#cf222e,color:#82071e,stroke-dasharray:5 3",
    "  classDef extra fill:#f6f8fa,stroke:#8c959f,color:#57606a,stroke-dasharray:2 2",
]


def label(text: str, limit: int = 48) -> str:
    """A learner-chosen name made safe inside a quoted Mermaid label."""
    text = re.sub(r"[^\w.:/@+\- >()]", "?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def target_marks(ids: dict, missing: dict, extra, kinds, drawn: str) -> list[str]:
    """The class lines marking what a lab's target lacks (`missing`, per kind) and what it does
    not ask for (`extra`, (kind, name) pairs) among the drawn nodes (`ids`); items of the kind
    `drawn` got their class (state or extra) when they were drawn."""
    lines = [f"  class {ids[(kind, name)]} missing" for kind in kinds for name in missing[kind] if (kind, name) in ids]
    lines += [f"  class {ids[(kind, name)]} extra" for kind, name in extra if kind != drawn and (kind, name) in ids]
    return lines
