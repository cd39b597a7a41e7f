"""`sparkner serve` (also `python -m sparkner.serve`): the inference API's token-classification task over HTTP.

sparkner serve --model dslim/bert-base-NER --port 8000 --api-token-file token.txt
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from sparkner.cli.common import (
    CommandParser,
    Failed,
    add_deprecated_flag,
    add_option_flags,
    command_parser,
    driver_errors,
    options_from_args,
    read_secret,
    setup_logging,
)
from sparkner.engine.classifier import TokenClassifier
from sparkner.serve.app import API_DEFAULTS, ResultCache, Service, create_app
from sparkner.serve.limits import LIMIT_FIELDS, Limits, timed_protocol
from sparkner.sources.locations import short_name
from sparkner.sources.settings import build_settings

logger = logging.getLogger("sparkner.serve")
PROG = "sparkner serve"
# The server's own bearer token (what clients send), not the model's Hugging Face token.
API_TOKEN_ENVIRONMENT = "SPARKNER_SERVE_TOKEN"


def build_parser() -> CommandParser:
    parser = command_parser(PROG, "The Hugging Face inference API's token-classification task, answered by sparkner.")
    parser.add_argument(
        "--model", required=True, help="Hub id, local directory (also dbfs:/ and /Volumes/ paths) or Flair model file"
    )
    parser.add_argument(
        "--model-id",
        help="the id clients put in /models/<model-id> (default: --model, or for a local path its folder's name)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--api-token-file",
        help="require 'Authorization: Bearer <token>' from clients, with the token in this file (or in "
        f"${API_TOKEN_ENVIRONMENT})",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        help="how long a request waits for others to batch with (0: no batching)",
    )
    parser.add_argument("--batch-tokens", type=int, default=8192, help="tokens per gathered batch at most")
    parser.add_argument(
        "--cache-entries", type=int, default=10_000, help="results kept in the cache at most (0: no cache)"
    )
    parser.add_argument("--cache-mb", type=float, default=64.0, help="approximate size of the cache at most")
    limits = parser.add_argument_group("limits: what one client may take")
    for name, declared in LIMIT_FIELDS.items():
        limits.add_argument(
            "--" + name.replace("_", "-"),
            type=type(declared.default),
            default=declared.default,
            help=f"{declared.metadata['help']} (default {declared.default:g})",
        )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        help="on SIGTERM or SIGINT: seconds to answer the requests in flight before exiting (default 30)",
    )
    add_option_flags(parser, "sparkner options: the server's defaults (see the README's option table)")
    # Spellings of 0.1.0, for one release: --token-file was the server's bearer token, --hf-token-file is unchanged.
    add_deprecated_flag(parser, "--token-file", "--api-token-file", dest="api_token_file")
    return parser


class GracefulServer:
    """uvicorn's server, made to end with exit status 0 after a clean stop: on SIGTERM or SIGINT it stops
    accepting, answers what is in flight (up to the shutdown timeout) and returns; uvicorn itself raises
    the signal again once done, and the process would die of it."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                with super().capture_signals():
                    try:
                        yield
                    finally:
                        stopped_by = getattr(self, "_captured_signals", [])
                        if stopped_by:
                            logger.info("sparkner serve: stopped by %s", signal.Signals(stopped_by[-1]).name)
                        stopped_by.clear()

        self.server = Server(config)

    def run(self) -> None:
        self.server.run()


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    try:
        with driver_errors(PROG, (OSError,)):
            args = vars(build_parser().parse_args(argv))
            options = {**API_DEFAULTS, **options_from_args(args)}
            settings = build_settings(args["model"], **options)
            TokenClassifier.from_settings(settings)  # the model and options checked before listening
            api_token = read_secret(args.get("api_token_file"), API_TOKEN_ENVIRONMENT)
    except Failed as failed:
        return failed.status
    import uvicorn

    limits = Limits(**{name: args[name] for name in LIMIT_FIELDS})
    cache = ResultCache(args["cache_entries"], int(args["cache_mb"] * 2**20))
    service = Service(
        settings,
        args.get("model_id") or short_name(args["model"]),
        api_token,
        cache,
        args["batch_wait_ms"] / 1000,
        args["batch_tokens"],
        limits,
    )
    for line in start_up_lines(service.model_id, args["host"], args["port"], api_token is not None):
        logger.info("%s", line)
    config = uvicorn.Config(
        create_app(service),
        host=args["host"],
        port=args["port"],
        log_level="warning",
        http=timed_protocol(limits.header_timeout),
        timeout_graceful_shutdown=math.ceil(args["shutdown_timeout"]),
    )
    GracefulServer(config).run()
    return 0


def start_up_lines(model_id: str, host: str, port: int, authorization: bool) -> list[str]:
    """What the server says when it starts: its endpoint, and a request to try it with."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    endpoint = f"http://{shown_host}:{port}/models/{quote(model_id, safe='/:@')}"
    bearer = " -H 'Authorization: Bearer <token>'" if authorization else ""
    return [
        f"sparkner serve: {model_id} on {endpoint} (authorization {'required' if authorization else 'off'})",
        f"sparkner serve: try  curl {endpoint} -X POST -H 'Content-Type: application/json'{bearer} "
        """-d '{"inputs": "My name is Wolfgang and I live in Berlin"}'""",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
