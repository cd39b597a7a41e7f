"""`sparkner COMMAND ...`: one entry point for the batch job, the evaluation and the server."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "job": ("sparkner.cli.job", "add entities to a table of texts (also: sparkner-job)"),
    "eval": ("sparkner.cli.eval", "span metrics of a model on gold files (also: sparkner-eval)"),
    "serve": ("sparkner.cli.serve", "the inference API's token-classification task over HTTP"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        usage = "\n".join(f"  {name:<6} {text}" for name, (_, text) in COMMANDS.items())
        print(f"usage: sparkner COMMAND [options]   (sparkner COMMAND --help)\n\ncommands:\n{usage}", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
