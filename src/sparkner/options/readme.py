"""The README's option tables, derived from the declarations (`make readme-options` rewrites them;
a test fails when they differ)."""

from __future__ import annotations

import json
import re

from sparkner.options.settings import OPTIONS

GROUP_TITLES = {"task": "task parameters", "engine": "engine settings", "loading": "model loading"}


def options_table(group: str) -> str:
    """The markdown table of one group's options, as the README shows it (checked by its tests)."""
    rows = ["| option | default | flag | meaning |", "|---|---|---|---|"]
    for declared in OPTIONS.values():
        if declared.group != group:
            continue
        default = "`None`" if declared.default is None else f"`{json.dumps(declared.default)}`"
        flag = f"`{declared.flag}`, `{declared.environment}`" if declared.environment else f"`{declared.flag}`"
        meaning = declared.help.rstrip(".") + "." + (" Also in `parameters`." if declared.in_parameters else "")
        rows.append(f"| `{declared.name}` | {default} | {flag} | {meaning} |")
    return "\n".join(rows)


def readme_blocks() -> dict[str, str]:
    """Each group's table between its README markers `<!-- options:GROUP -->` and `<!-- /options:GROUP -->`."""
    return {
        group: f"<!-- options:{group} -->\n{options_table(group)}\n<!-- /options:{group} -->" for group in GROUP_TITLES
    }


def update_readme(path: str) -> bool:
    """Rewrite the option tables in the README at `path`; True when something changed."""
    text = original = open(path, encoding="utf-8").read()
    for group, block in readme_blocks().items():
        pattern = re.compile(rf"<!-- options:{group} -->.*?<!-- /options:{group} -->", re.S)
        if not pattern.search(text):
            raise ValueError(f"{path} has no <!-- options:{group} --> block")
        text = pattern.sub(block.replace("\\", "\\\\"), text)
    if text != original:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    return text != original
