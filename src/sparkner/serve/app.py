"""The Hugging Face inference API's token-classification task, answered by the engine (its command
line is `cli.serve`: `sparkner serve --model dslim/bert-base-NER --port 8000`).

`POST /models/<model-id>` (and `POST /`) take the API's body, `{"inputs": "..." | [...],
"parameters": {...}}`, and answer as the API does: a list of `{entity_group, score, word, start,
end}` per text. Errors are `{"error": "..."}`: 400 for a bad request, 401 without the server's
token, 404 for another model id, 503 with `estimated_time` while the model loads (unless
`x-wait-for-model: true`, which waits). `GET /health` says whether the model is loaded.

By default the server answers as the hosted API does (`aggregation_strategy="simple"`,
`word_boundaries="pipeline"`); the command's options change its defaults and a request's
`parameters` always win.

Concurrent requests are gathered for at most `--batch-wait-ms` (up to `--batch-tokens`) into one
engine call and answered one by one (`Batcher`); a text that fails fails only its own request.
Results are kept in a bounded LRU cache keyed by text and parameters (`ResultCache`); a request with
`x-use-cache: false` neither reads nor fills it. The `x-sparkner-cache` response header says `hit`,
`miss` or `partial`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sparkner.engine.classifier import TokenClassifier
from sparkner.engine.results import Entity, TextResult
from sparkner.options.settings import OnError, Settings, parse_task_parameters, with_task_parameters
from sparkner.worker_cache import WORKER_CACHE

logger = logging.getLogger("sparkner.serve")

API_DEFAULTS = {"aggregation_strategy": "simple", "word_boundaries": "pipeline"}  # the hosted API's answers


class RequestError(Exception):
    """A problem with one request: its HTTP status and message."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


# -- the result cache -------------------------------------------------------------------------


class ResultCache:
    """Least recently used results, bounded by entries and by (approximate) bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[list[Entity], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(text: str, entities: list[Entity]) -> int:
        return len(text) + 64 * (len(entities) + 1) + sum(len(e["word"]) for e in entities)

    def get(self, key: tuple[str, str]) -> list[Entity] | None:
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return [dict(entity) for entity in self._entries[key][0]]

    def put(self, key: tuple[str, str], entities: list[Entity]) -> None:
        size = self._size(key[0], entities)
        if self.max_entries < 1 or size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            self._entries[key] = ([dict(entity) for entity in entities], size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1][1]


# -- dynamic batching -------------------------------------------------------------------------


@dataclass
class Pending:
    classifier: TokenClassifier
    texts: list[str]
    future: asyncio.Future


class Batcher:
    """Gathers concurrent requests into one engine call per parameter set.

    Requests wait at most `wait_seconds` for company, and a batch holds at most about
    `max_tokens` tokens (text length / 4, the usual characters per token); the engine runs
    in one background thread, so batches queue behind each other while the event loop
    keeps accepting requests. The classifiers return null entities for a failing text
    (`on_error="null"`), so a bad text fails only the request it came in.
    """

    def __init__(self, wait_seconds: float, max_tokens: int) -> None:
        self.wait_seconds, self.max_tokens = wait_seconds, max_tokens
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.engine_calls = 0

    async def classify(self, classifier: TokenClassifier, texts: list[str]) -> list[TextResult]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(classifier, texts, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            size = _tokens(batch[0].texts)
            deadline = time.monotonic() + self.wait_seconds
            while size < self.max_tokens and (timeout := deadline - time.monotonic()) > 0:
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                batch.append(item)
                size += _tokens(item.texts)
            await self._answer(batch)

    async def _answer(self, batch: list[Pending]) -> None:
        by_classifier: dict[int, list[Pending]] = {}
        for item in batch:
            by_classifier.setdefault(id(item.classifier), []).append(item)
        for items in by_classifier.values():
            texts = [text for item in items for text in item.texts]
            self.engine_calls += 1
            try:
                results = await asyncio.to_thread(items[0].classifier.classify, texts)
            except Exception as error:  # noqa: BLE001 - e.g. the model failed to load: every request hears it
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            position = 0
            for item in items:
                if not item.future.done():
                    item.future.set_result(results[position : position + len(item.texts)])
                position += len(item.texts)


def _tokens(texts: list[str]) -> int:
    return sum(len(text) for text in texts) // 4 + len(texts)


# -- the service ------------------------------------------------------------------------------


class Service:
    """The model (loaded in the background), a classifier per parameter set, the cache and the batcher."""

    def __init__(
        self,
        settings: Settings,
        model_id: str,
        token: str | None,
        cache: ResultCache,
        wait_seconds: float,
        max_tokens: int,
    ) -> None:
        self.settings = replace(settings, on_error=OnError.NULL)
        self.model_id, self.token, self.cache = model_id, token, cache
        self.batcher = Batcher(wait_seconds, max_tokens)
        self.loaded = threading.Event()
        self.load_error: BaseException | None = None
        self.load_started = time.monotonic()
        self.load_seconds_estimate = 10.0

    def load(self) -> None:
        """Load the weights (in a background thread at start-up)."""
        try:
            self.classifier({}).load()
        except BaseException as error:  # noqa: BLE001 - reported to every request instead
            self.load_error = error
            logger.error("sparkner serve: the model could not be loaded: %s", error)
        finally:
            self.loaded.set()
        if self.load_error is None:
            logger.info("sparkner serve: %s loaded in %.1f s", self.model_id, time.monotonic() - self.load_started)

    def classifier(self, parameters: Mapping[str, Any]) -> TokenClassifier:
        """The classifier for a request's parameters (validated as the library validates them), from the
        bounded worker cache: clients sending ever new parameters cannot grow the server without bound."""
        settings = with_task_parameters(self.settings, parameters)
        return WORKER_CACHE.get("classifier", settings, lambda: TokenClassifier.from_settings(settings))

    def check_token(self, authorization: str | None) -> None:
        if self.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise RequestError(401, "Authorization header is missing or invalid: send 'Authorization: Bearer <token>'")

    async def wait_until_loaded(self, wait: bool) -> None:
        if not self.loaded.is_set():
            if not wait:
                elapsed = time.monotonic() - self.load_started
                remaining = max(1.0, self.load_seconds_estimate - elapsed)
                raise RequestError(
                    503, f"Model {self.model_id} is currently loading", estimated_time=round(remaining, 1)
                )
            await asyncio.to_thread(self.loaded.wait)
        if self.load_error is not None:
            raise RequestError(500, f"Model {self.model_id} could not be loaded: {self.load_error}")

    async def answer(self, body: Any, use_cache: bool) -> tuple[Any, str]:
        """The API's response for a request body, and whether it came from the cache."""
        texts, single, parameters = parse_request(body)
        try:
            classifier = self.classifier(parameters)
        except ValueError as error:
            raise RequestError(400, str(error)) from None
        key = json.dumps(parameters, sort_keys=True)
        found: list[list[Entity] | None] = [self.cache.get((text, key)) if use_cache else None for text in texts]
        missing = [i for i, entities in enumerate(found) if entities is None]
        if missing:
            results = await self.batcher.classify(classifier, [texts[i] for i in missing])
            for i, result in zip(missing, results):
                if result.entities is None:
                    raise RequestError(500, f"text {i} could not be classified: {result.error}")
                found[i] = result.entities
                if use_cache:
                    self.cache.put((texts[i], key), result.entities)
        status = "miss" if len(missing) == len(texts) else "hit" if not missing else "partial"
        return (found[0] if single else found), status


def parse_request(body: Any) -> tuple[list[str], bool, dict[str, Any]]:
    """(texts, whether `inputs` was one string, the task parameters) of a request body."""
    if not isinstance(body, Mapping) or "inputs" not in body:
        raise RequestError(400, 'the request body must be a JSON object with "inputs" (a string or a list of strings)')
    unknown = sorted(set(body) - {"inputs", "parameters", "options"})
    if unknown:
        raise RequestError(400, f"unknown keys {unknown} in the request body; allowed: inputs, parameters, options")
    inputs = body["inputs"]
    single = isinstance(inputs, str)
    texts = [inputs] if single else inputs
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise RequestError(400, f'"inputs" must be a string or a list of strings, got {json.dumps(inputs)[:80]}')
    try:
        parameters = parse_task_parameters(body.get("parameters"))
    except ValueError as error:
        raise RequestError(400, str(error)) from None
    return texts, single, parameters


def create_app(service: Service) -> Any:
    """The Starlette application of a service (its model starts loading with the app)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def error_response(error: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(error), **error.extra}, status_code=error.status)

    async def predict(request: Request) -> JSONResponse:
        try:
            service.check_token(request.headers.get("authorization"))
            model_id = request.path_params.get("model_id")
            if model_id is not None and model_id != service.model_id:
                raise RequestError(404, f"Model {model_id} is not served here; this server serves {service.model_id}")
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RequestError(400, "the request body is not valid JSON") from None
            await service.wait_until_loaded(_header_flag(request, "x-wait-for-model", False))
            result, cache_status = await service.answer(body, _header_flag(request, "x-use-cache", True))
        except RequestError as error:
            return error_response(error)
        return JSONResponse(result, headers={"x-sparkner-cache": cache_status})

    async def health(request: Request) -> JSONResponse:
        state = "error" if service.load_error else "ok" if service.loaded.is_set() else "loading"
        return JSONResponse({"status": state, "model": service.model_id, "engine_calls": service.batcher.engine_calls})

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        threading.Thread(target=service.load, name="sparkner-load", daemon=True).start()
        batching = asyncio.get_running_loop().create_task(service.batcher.run())
        yield
        batching.cancel()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/", predict, methods=["POST"]),
        Route("/models/{model_id:path}", predict, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _header_flag(request: Any, name: str, default: bool) -> bool:
    value = request.headers.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")
