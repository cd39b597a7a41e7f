"""The Hugging Face inference API's token-classification task, answered by the engine (its command
line is `cli.serve`: `sparkner serve --model dslim/bert-base-NER --port 8000`).

`POST /models/<model-id>` (and `POST /`) take the API's body, `{"inputs": "..." | [...],
"parameters": {...}}` (the parameters may also sit at the body's root), and answer as the API does:
a list of `{entity_group, score, word, start, end}` per text. Errors are `{"error": "..."}`: 400 for
a bad request, 401 without the server's token, 404 for another model id, 408 for a body that came
too slowly, 413 over a size limit, 503 with `estimated_time` while the model loads (unless
`x-wait-for-model: true`, which waits) and with `Retry-After` when the queue is full or a request
ran out of time (`limits`). `GET /health`, `GET /metrics` (Prometheus, `metrics`) and
`GET /openapi.json` (`openapi`) describe the server.

By default the server answers as the hosted API does (`aggregation_strategy="simple"`,
`word_boundaries="pipeline"`); the command's options change its defaults and a request's
`parameters` always win. One classifier is kept per parameter set seen (`ClassifierCache`, bounded),
sharing the model's weights.

Concurrent requests are gathered for at most `--batch-wait-ms` (up to `--batch-tokens`) into one
engine call and answered one by one (`Batcher`); a text that fails fails only its own request.
Results are kept in a bounded LRU cache keyed by text and parameters (`ResultCache`); a request with
`x-use-cache: false` neither reads nor fills it. The `x-sparkner-cache` response header says `hit`,
`miss` or `partial`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sparkner.engine import windows
from sparkner.engine.classifier import TokenClassifier
from sparkner.engine.results import Entity, TextResult
from sparkner.options.settings import (
    TASK_PARAMETER_NAMES,
    OnError,
    Settings,
    parse_task_parameters,
    with_task_parameters,
)
from sparkner.serve import openapi
from sparkner.serve.limits import LimitExceeded, Limits, check_inputs, read_body
from sparkner.serve.metrics import Metrics

logger = logging.getLogger("sparkner.serve")

API_DEFAULTS = {"aggregation_strategy": "simple", "word_boundaries": "pipeline"}  # the hosted API's answers


class RequestError(Exception):
    """A problem with one request: its HTTP status, message, and extra fields or headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra, self.headers = status, extra, dict(headers or {})


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


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


class ClassifierCache:
    """One classifier per parameter set seen, the least recently used dropped past `capacity`: a client
    rotating a few parameter sets reuses them, and one sending ever new ones cannot grow the server.
    The classifiers share the model's weights (`sources.loading.cached_model`); making one is cheap and
    said once, not per request."""

    def __init__(self, capacity: int, on_load: Callable[[], None] = lambda: None) -> None:
        self.capacity, self.on_load = capacity, on_load
        self._classifiers: OrderedDict[Settings, TokenClassifier] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, settings: Settings) -> TokenClassifier:
        with self._lock:
            if settings in self._classifiers:
                self._classifiers.move_to_end(settings)
                return self._classifiers[settings]
            classifier = TokenClassifier.from_settings(settings)
            self._classifiers[settings] = classifier
            self.loads += 1
            self.on_load()
            if len(self._classifiers) > self.capacity:
                self._classifiers.popitem(last=False)
        described = {name: getattr(settings, name) for name in TASK_PARAMETER_NAMES}
        logger.info(
            "sparkner serve: a classifier for %s (%d kept)",
            ", ".join(f"{name}={getattr(value, 'value', value)}" for name, value in described.items()),
            len(self._classifiers),
        )
        return classifier


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
    keeps accepting requests. At most `max_queue_texts` texts wait: past that a request is
    refused at once (503) rather than held in memory. The classifiers return null entities for
    a failing text (`on_error="null"`), so a bad text fails only the request it came in.
    """

    def __init__(
        self, wait_seconds: float, max_tokens: int, max_queue_texts: int = 4096, metrics: Metrics | None = None
    ) -> None:
        self.wait_seconds, self.max_tokens, self.max_queue_texts = wait_seconds, max_tokens, max_queue_texts
        self.metrics = metrics or Metrics()
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.waiting = 0  # texts queued or being classified
        self.engine_calls = 0
        self.texts_per_second = 100.0  # measured as batches finish; estimates Retry-After

    async def classify(self, classifier: TokenClassifier, texts: list[str]) -> list[TextResult]:
        if self.waiting + len(texts) > self.max_queue_texts:
            raise RequestError(
                503,
                f"the server is busy: {self.waiting} texts are waiting (the limit is {self.max_queue_texts}); "
                "try again later",
                retry_after(self.waiting / self.texts_per_second),
            )
        self._count(len(texts))
        future = asyncio.get_running_loop().create_future()
        try:
            await self.queue.put(Pending(classifier, texts, future))
            return await future
        finally:
            self._count(-len(texts))

    def _count(self, texts: int) -> None:
        self.waiting += texts
        self.metrics.queue_texts.set(self.waiting)

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
            await self._answer([item for item in batch if not item.future.done()])  # gone: timed out, cancelled

    async def _answer(self, batch: list[Pending]) -> None:
        by_classifier: dict[int, list[Pending]] = {}
        for item in batch:
            by_classifier.setdefault(id(item.classifier), []).append(item)
        for items in by_classifier.values():
            texts = [text for item in items for text in item.texts]
            self.engine_calls += 1
            self.metrics.batch_texts.observe(len(texts))
            self.metrics.batch_tokens.observe(_tokens(texts))
            started = time.monotonic()
            try:
                results = await asyncio.to_thread(items[0].classifier.classify, texts)
            except Exception as error:  # noqa: BLE001 - e.g. the model failed to load: every request hears it
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            self.texts_per_second = len(texts) / max(time.monotonic() - started, 1e-3)
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
        limits: Limits | None = None,
    ) -> None:
        self.settings = replace(settings, on_error=OnError.NULL)
        self.model_id, self.token, self.cache = model_id, token, cache
        self.limits = limits or Limits()
        self.metrics = Metrics()
        self.batcher = Batcher(wait_seconds, max_tokens, self.limits.max_queue_texts, self.metrics)
        self.classifiers = ClassifierCache(self.limits.max_parameter_sets, self.metrics.classifier_loads.inc)
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
            seconds = time.monotonic() - self.load_started
            self.metrics.model_load_seconds.set(seconds)
            logger.info("sparkner serve: %s loaded in %.1f s", self.model_id, seconds)

    def classifier(self, parameters: Mapping[str, Any]) -> TokenClassifier:
        """The classifier for a request's parameters (validated as the library validates them)."""
        return self.classifiers.get(with_task_parameters(self.settings, parameters))

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
                    503,
                    f"Model {self.model_id} is currently loading",
                    retry_after(remaining),
                    estimated_time=round(remaining, 1),
                )
            await asyncio.to_thread(self.loaded.wait)
        if self.load_error is not None:
            raise RequestError(500, f"Model {self.model_id} could not be loaded: {self.load_error}")

    async def answer(self, texts: list[str], parameters: dict[str, Any], use_cache: bool) -> tuple[list, str]:
        """The entities of each text, and whether they came from the cache."""
        try:
            classifier = self.classifier(parameters)
        except ValueError as error:
            raise RequestError(400, str(error)) from None
        key = json.dumps(parameters, sort_keys=True)
        found: list[list[Entity] | None] = [self.cache.get((text, key)) if use_cache else None for text in texts]
        missing = [i for i, entities in enumerate(found) if entities is None]
        if use_cache:
            self.metrics.cache.labels("hit").inc(len(texts) - len(missing))
            self.metrics.cache.labels("miss").inc(len(missing))
        if missing:
            results = await self.batcher.classify(classifier, [texts[i] for i in missing])
            for i, result in zip(missing, results):
                if result.entities is None:
                    raise RequestError(500, f"text {i} could not be classified: {result.error}")
                found[i] = result.entities
                if use_cache:
                    self.cache.put((texts[i], key), result.entities)
        status = "miss" if len(missing) == len(texts) else "hit" if not missing else "partial"
        return found, status


@dataclass(frozen=True)
class Request:
    """A request body, understood: its texts, whether `inputs` was one string, the task's parameters,
    and the API's `options` (`use_cache`, `wait_for_model`)."""

    texts: list[str]
    single: bool
    parameters: dict[str, Any]
    options: dict[str, Any]


def parse_request(body: Any) -> Request:
    """A request body; the task's parameters under `parameters` or at the body's root (not both)."""
    if not isinstance(body, Mapping) or "inputs" not in body:
        raise RequestError(400, 'the request body must be a JSON object with "inputs" (a string or a list of strings)')
    allowed = ("inputs", "parameters", "options", *TASK_PARAMETER_NAMES)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise RequestError(400, f"unknown keys {unknown} in the request body; allowed: {', '.join(allowed)}")
    inputs = body["inputs"]
    single = isinstance(inputs, str)
    texts = [inputs] if single else inputs
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise RequestError(400, f'"inputs" must be a string or a list of strings, got {json.dumps(inputs)[:80]}')
    at_root = {name: body[name] for name in TASK_PARAMETER_NAMES if name in body}
    if at_root and "parameters" in body:
        raise RequestError(
            400, f"give the task's parameters once, at the body's root ({', '.join(at_root)}) or under \"parameters\""
        )
    options = body.get("options") or {}
    if (
        not isinstance(options, Mapping)
        or not set(options) <= {"use_cache", "wait_for_model"}
        or not all(isinstance(v, bool) for v in options.values())
    ):
        raise RequestError(
            400, '"options" may hold use_cache and wait_for_model, true or false, such as {"use_cache": false}'
        )
    try:
        parameters = parse_task_parameters(at_root or body.get("parameters"))
    except ValueError as error:
        raise RequestError(400, str(error)) from None
    return Request(texts, single, parameters, dict(options))


def create_app(service: Service) -> Any:
    """The Starlette application of a service (its model starts loading with the app)."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect
    from starlette.requests import Request as HttpRequest
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.schemas import SchemaGenerator

    from sparkner import __version__

    def error_response(error: RequestError | LimitExceeded) -> JSONResponse:
        headers = getattr(error, "headers", {})
        if isinstance(error, LimitExceeded) and error.retry_after is not None:
            headers = retry_after(error.retry_after)
        return JSONResponse({"error": str(error), **getattr(error, "extra", {})}, error.status, headers=headers)

    def counted(route: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        """Counts each answer of the route by status, and times it."""

        def decorate(endpoint: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            @functools.wraps(endpoint)
            async def timed(request: HttpRequest) -> Any:
                started = time.perf_counter()
                response = await endpoint(request)
                service.metrics.requests.labels(route, str(response.status_code)).inc()
                service.metrics.latency.labels(route).observe(time.perf_counter() - started)
                return response

            return timed

        return decorate

    async def predict(request: HttpRequest) -> Response:
        limits = service.limits
        try:
            service.check_token(request.headers.get("authorization"))
            model_id = request.path_params.get("model_id")
            if model_id is not None and model_id != service.model_id:
                raise RequestError(404, f"Model {model_id} is not served here; this server serves {service.model_id}")
            raw = await read_body(request.stream(), request.headers.get("content-length"), limits)
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RequestError(400, "the request body is not valid JSON") from None
            parsed = parse_request(body)
            check_inputs(parsed.texts, limits)
            wait = parsed.options.get("wait_for_model", _header_flag(request, "x-wait-for-model", False))
            await service.wait_until_loaded(wait)
            use_cache = parsed.options.get("use_cache", _header_flag(request, "x-use-cache", True))
            try:
                found, cache_status = await asyncio.wait_for(
                    service.answer(parsed.texts, parsed.parameters, use_cache), limits.request_timeout
                )
            except asyncio.TimeoutError:
                raise RequestError(
                    503,
                    f"the request took longer than {limits.request_timeout:g} s (--request-timeout); try again later",
                    retry_after(service.batcher.waiting / service.batcher.texts_per_second),
                ) from None
        except (RequestError, LimitExceeded) as error:
            return error_response(error)
        except ClientDisconnect:  # gone before its body arrived: nobody to answer
            return Response(status_code=400)
        return JSONResponse(found[0] if parsed.single else found, headers={"x-sparkner-cache": cache_status})

    async def predict_root(request: HttpRequest) -> Response:
        return await predict(request)

    async def predict_model(request: HttpRequest) -> Response:
        return await predict(request)

    predict_root.__doc__ = openapi.docstring("The model's entities", openapi.predict_operation(False))
    predict_model.__doc__ = openapi.docstring("The model's entities", openapi.predict_operation(True))

    async def health(request: HttpRequest) -> JSONResponse:
        state = "error" if service.load_error else "ok" if service.loaded.is_set() else "loading"
        return JSONResponse({"status": state, "model": service.model_id, "engine_calls": service.batcher.engine_calls})

    async def metrics(request: HttpRequest) -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    engine = getattr(service.classifier({}), "engine", None)
    info = getattr(engine, "info", None)  # a Flair tagger has no windows, nor a stride
    max_stride = windows.max_stride(info) if info is not None else None
    schemas = SchemaGenerator(openapi.base_schema(__version__, service.limits, max_stride))

    async def openapi_document(request: HttpRequest) -> JSONResponse:
        return JSONResponse(schemas.get_schema(routes=app.routes))

    health.__doc__ = openapi.docstring("Health", openapi.HEALTH)
    metrics.__doc__ = openapi.docstring("Metrics", openapi.METRICS)
    openapi_document.__doc__ = openapi.docstring("OpenAPI", openapi.OPENAPI)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        loader = threading.Thread(target=service.load, name="sparkner-load", daemon=True)
        loader.start()
        batching = asyncio.get_running_loop().create_task(service.batcher.run())
        yield
        batching.cancel()
        if loader.is_alive():
            # Stopped while loading: a process that exits while a thread is inside torch's or OpenVINO's
            # native code aborts ("terminate called without an active exception"), and a conversion cut
            # short would be made again by the next start. Let the load finish, then exit cleanly.
            logger.info("sparkner serve: stopping once the model's load in progress has finished")
            await asyncio.to_thread(loader.join)

    routes = [
        Route("/health", counted("/health")(health), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_document, methods=["GET"], include_in_schema=True),
        Route("/", counted("/")(predict_root), methods=["POST"]),
        Route("/models/{model_id:path}", counted("/models/{model_id}")(predict_model), methods=["POST"]),
    ]

    async def not_found(request: HttpRequest, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"no route {request.method} {request.url.path}; see GET /openapi.json"}, 404)

    async def method_not_allowed(request: HttpRequest, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: method_not_allowed})
    return app


def _header_flag(request: Any, name: str, default: bool) -> bool:
    value = request.headers.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")
