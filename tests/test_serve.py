"""`sparkner serve`: a real server on 127.0.0.1 answering the inference API's documented snippets
(curl, Python requests, JavaScript fetch with Node), its headers, and dynamic batching."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from parity import PIPELINE_WORDS, assert_same_entities

import sparkner
from sparkner.engine.results import TextResult
from sparkner.serve.app import Batcher, RequestError, ResultCache, parse_request

TEXT = "My name is Sarah Jessica Parker but you can call me Jessica"
TOKEN = "hf_***"  # the documentation's placeholder, used as this server's token
API_URL = (
    "https://api-inference.huggingface.co/models/dslim/bert-base-NER"  # replaced by the local address, and nothing else
)

CURL = """curl https://api-inference.huggingface.co/models/dslim/bert-base-NER \\
\t-X POST \\
\t-d '{"inputs": "My name is Sarah Jessica Parker but you can call me Jessica"}' \\
\t-H 'Content-Type: application/json' \\
\t-H "Authorization: Bearer hf_***"
"""

PYTHON = """import requests

API_URL = "https://api-inference.huggingface.co/models/dslim/bert-base-NER"
headers = {"Authorization": "Bearer hf_***"}

def query(payload):
\tresponse = requests.post(API_URL, headers=headers, json=payload)
\treturn response.json()
\t
output = query({
\t"inputs": "My name is Sarah Jessica Parker but you can call me Jessica",
})
"""

# The documented snippet, with the one fix the issue allows: the comma after the Authorization line.
JAVASCRIPT = """async function query(data) {
\tconst response = await fetch(
\t\t"https://api-inference.huggingface.co/models/dslim/bert-base-NER",
\t\t{
\t\t\theaders: {
\t\t\t\tAuthorization: "Bearer hf_***",
\t\t\t\t"Content-Type": "application/json",
\t\t\t},
\t\t\tmethod: "POST",
\t\t\tbody: JSON.stringify(data),
\t\t}
\t);
\tconst result = await response.json();
\treturn result;
}

query({"inputs": "My name is Sarah Jessica Parker but you can call me Jessica"}).then((response) => {
\tconsole.log(JSON.stringify(response));
});
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`sparkner serve` as its own process on a free port of 127.0.0.1, with the bearer token TOKEN."""

    def __init__(
        self, tmp: Path, *options: str, model_id: str | None = "sparkner-demo", env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        token_file = tmp / "token"
        token_file.write_text(TOKEN + "\n")
        self.log = tmp / f"server-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "sparkner.serve",
            "--model",
            sparkner.DEMO_MODEL,
            *(["--model-id", model_id] if model_id else []),
            "--port",
            str(self.port),
            "--api-token-file",
            str(token_file),
            *options,
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        self.process = subprocess.Popen(command, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env)

    def wait_until_listening(self, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def wait_until_loaded(self) -> None:
        import requests

        self.wait_until_listening()
        while requests.get(self.url + "/health", timeout=5).json()["status"] == "loading":
            time.sleep(0.1)

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value in `GET /metrics` (0 when it is not there yet)."""
        import requests
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(requests.get(self.url + "/metrics", timeout=5).text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The hosted API's exact answers are what these clients compare with: the pipeline's arithmetic.
EXACT_FLAGS = ("--runtime", "torch", "--dtype", "float32")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("serve"), *EXACT_FLAGS, "--max-texts", "8", "--max-text-chars", "400")
    try:
        server.wait_until_loaded()
        yield server
    finally:
        server.stop()
    assert TOKEN not in server.log.read_text(), "the token is never logged"


def api_answer(text: str, **parameters) -> list[dict]:
    options = {"aggregation_strategy": "simple", **PIPELINE_WORDS, **parameters}
    return sparkner.TokenClassifier(sparkner.DEMO_MODEL, **options)([text])[0]


def assert_api_answer(got: list[dict]) -> None:
    expected = api_answer(TEXT)
    assert [{k: e[k] for k in ("entity_group", "word", "start", "end")} for e in got] == [
        {k: e[k] for k in ("entity_group", "word", "start", "end")} for e in expected
    ]
    assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(got, expected))


@pytest.mark.server
def test_the_documented_curl_snippet(server):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(
        ["bash", "-c", CURL.replace(API_URL, server.url + "/models/sparkner-demo")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert_api_answer(json.loads(out.stdout))


@pytest.mark.server
def test_the_documented_python_snippet(server):
    namespace: dict = {}
    exec(PYTHON.replace(API_URL, server.url + "/models/sparkner-demo"), namespace)  # noqa: S102 - the API's own snippet
    assert_api_answer(namespace["output"])


@pytest.mark.server
def test_the_documented_javascript_snippet(server, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    script = tmp_path / "query.mjs"
    script.write_text(JAVASCRIPT.replace(API_URL, server.url + "/models/sparkner-demo"))
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, check=True, timeout=60)
    assert_api_answer(json.loads(out.stdout))


@pytest.mark.server
def test_headers_tokens_cache_and_errors(server):
    import requests

    url, auth = server.url + "/models/sparkner-demo", {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(url, json={"inputs": TEXT}).status_code == 401
    assert (
        requests.post(url, json={"inputs": TEXT}, headers={"Authorization": "Bearer wrong"})
        .json()["error"]
        .startswith("Authorization header")
    )
    body = {"inputs": "Angela Merkel visited Paris.", "parameters": {"aggregation_strategy": "first"}}
    first = requests.post(url, json=body, headers=auth)
    second = requests.post(url, json=body, headers=auth)
    bypass = requests.post(url, json=body, headers={**auth, "x-use-cache": "false"})
    assert (
        first.headers["x-sparkner-cache"],
        second.headers["x-sparkner-cache"],
        bypass.headers["x-sparkner-cache"],
    ) == ("miss", "hit", "miss")
    assert first.json() == second.json() and first.json()[0]["word"] == "angela merkel"
    # A request's parameters win over the server's defaults.
    text_mode = requests.post(url, json={**body, "parameters": {"word_boundaries": "text"}}, headers=auth).json()
    assert text_mode[0]["word"] == "Angela Merkel"
    bad = requests.post(url, json={"inputs": "x", "parameters": {"aggregation_strategy": "firts"}}, headers=auth)
    assert (
        bad.status_code == 400
        and "aggregation_strategy 'firts' is not one of none, simple, first, average, max" in bad.json()["error"]
    )
    assert requests.post(url, json={"inputs": 3}, headers=auth).status_code == 400
    assert requests.post(url, data="{not json", headers=auth).status_code == 400
    assert requests.post(server.url + "/models/other/model", json={"inputs": "x"}, headers=auth).status_code == 404
    many = requests.post(server.url + "/", json={"inputs": ["Paris", "Berlin"]}, headers=auth).json()
    assert [found[0]["word"] for found in many] == ["paris", "berlin"]


@pytest.mark.server
def test_concurrent_requests_share_engine_calls(server):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    url, auth = server.url + "/models/sparkner-demo", {"Authorization": f"Bearer {TOKEN}", "x-use-cache": "false"}
    texts = [f"Angela Merkel met Emmanuel Macron in Paris on day {i}." for i in range(48)]
    before = requests.get(server.url + "/health").json()["engine_calls"]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda text: requests.post(url, json={"inputs": text}, headers=auth).json(), texts))
    calls = requests.get(server.url + "/health").json()["engine_calls"] - before
    assert all(
        answer == api_answer(text) or len(answer) == len(api_answer(text)) for text, answer in zip(texts, answers)
    )
    assert calls < len(texts), f"{calls} engine calls for {len(texts)} concurrent requests"


@pytest.mark.server
def test_loading_answers_503_or_waits(tmp_path):
    """While the model loads (ONNX export and int8 quantization take seconds): 503 with an estimate,
    or with x-wait-for-model the answer once it is loaded."""
    import requests

    slow = Server(tmp_path, "--runtime", "onnx", "--dtype", "int8")
    try:
        slow.wait_until_listening()
        url, auth = slow.url + "/models/sparkner-demo", {"Authorization": f"Bearer {TOKEN}"}
        loading = requests.post(url, json={"inputs": TEXT}, headers=auth)
        assert loading.status_code == 503, loading.text
        assert (
            loading.json()["error"] == "Model sparkner-demo is currently loading"
            and loading.json()["estimated_time"] > 0
        )
        waited = requests.post(url, json={"inputs": TEXT}, headers={**auth, "x-wait-for-model": "true"})
        assert waited.status_code == 200 and [e["entity_group"] for e in waited.json()] == ["PER", "PER"]
    finally:
        slow.stop()


# -- in-process: the pieces -----------------------------------------------------------------


class FakeClassifier:
    """Fails on the text "bad", as a text that breaks the model would with on_error="null"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def classify(self, texts):
        self.calls.append(list(texts))
        return [TextResult(None, 0, 0, "boom") if t == "bad" else TextResult([{"word": t}], 1, 1) for t in texts]


def test_batcher_gathers_and_isolates_failures():
    async def scenario():
        batcher = Batcher(wait_seconds=0.05, max_tokens=10_000)
        task = asyncio.create_task(batcher.run())
        fake = FakeClassifier()
        results = await asyncio.gather(*(batcher.classify(fake, [t]) for t in ["a", "bad", "c", "d"]))
        task.cancel()
        return fake, results

    fake, results = asyncio.run(scenario())
    assert fake.calls == [["a", "bad", "c", "d"]], "one engine call for four concurrent requests"
    assert [r[0].entities for r in results] == [[{"word": "a"}], None, [{"word": "c"}], [{"word": "d"}]]


def test_cache_is_bounded_by_entries_and_bytes():
    cache = ResultCache(max_entries=2, max_bytes=10_000)
    for text in ("a", "b", "c"):
        cache.put((text, "{}"), [{"word": text}])
    assert cache.get(("a", "{}")) is None and cache.get(("c", "{}")) == [{"word": "c"}]
    small = ResultCache(max_entries=100, max_bytes=300)
    for i in range(10):
        small.put((f"text {i}", "{}"), [{"word": "w"}])
    assert small.get(("text 0", "{}")) is None and small.get(("text 9", "{}")) is not None


def test_request_bodies_are_checked():
    parsed = parse_request({"inputs": "x", "parameters": {"stride": 4}})
    assert (parsed.texts, parsed.single, parsed.parameters) == (["x"], True, {"stride": 4})
    assert parse_request({"inputs": ["x"], "aggregation_strategy": "first"}).parameters == {
        "aggregation_strategy": "first"
    }, "parameters at the body's root, as some clients send them"
    with pytest.raises(RequestError, match="give the task's parameters once"):
        parse_request({"inputs": "x", "stride": 2, "parameters": {"stride": 3}})
    with pytest.raises(RequestError, match='must be a JSON object with "inputs"'):
        parse_request([1])
    with pytest.raises(RequestError, match="parameters has unknown keys \\['strid'\\]"):
        parse_request({"inputs": "x", "parameters": {"strid": 4}})
    assert parse_request({"inputs": "x", "options": {"use_cache": False}}).options == {"use_cache": False}


# -- limits, time and the queue, in process (a classifier that takes its time) --------------------


class SlowClassifier:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def classify(self, texts):
        time.sleep(self.seconds)
        return [TextResult([], 1, 1) for _ in texts]


def in_process_app(seconds: float, **limits):
    """The real app around a classifier that sleeps `seconds` per batch, loaded at once."""
    from starlette.testclient import TestClient

    from sparkner.serve.app import Service, create_app
    from sparkner.serve.limits import Limits
    from sparkner.sources.settings import build_settings

    service = Service(
        build_settings(sparkner.DEMO_MODEL), "demo", None, ResultCache(0, 0), 0.001, 10_000, Limits(**limits)
    )
    service.load = service.loaded.set
    service.classifiers.get = lambda settings: SlowClassifier(seconds)
    return service, TestClient(create_app(service))


def test_a_request_past_its_time_gets_503_with_retry_after_and_the_next_is_answered():
    service, client = in_process_app(0.5, request_timeout=0.1)
    with client:
        late = client.post("/", json={"inputs": "Paris"})
        assert late.status_code == 503 and "longer than 0.1 s (--request-timeout)" in late.json()["error"]
        assert int(late.headers["retry-after"]) >= 1
        service.limits = type(service.limits)(request_timeout=5)
        assert client.post("/", json={"inputs": "Paris"}).status_code == 200


def test_a_full_queue_gets_503_with_retry_after_never_unbounded_memory():
    _, client = in_process_app(0.0, max_queue_texts=3)
    with client:
        full = client.post("/", json={"inputs": ["a", "b", "c", "d"]})
        assert full.status_code == 503 and "texts are waiting (the limit is 3)" in full.json()["error"]
        assert "retry-after" in full.headers
        assert client.post("/", json={"inputs": ["a", "b"]}).status_code == 200


def test_size_limits_get_413_naming_the_limit():
    _, client = in_process_app(0.0, max_body_bytes=300, max_texts=2, max_text_chars=20)
    with client:
        too_big = client.post("/", content=json.dumps({"inputs": "x" * 400}))
        assert too_big.status_code == 413 and "the limit is 300" in too_big.json()["error"]
        many = client.post("/", json={"inputs": ["a", "b", "c"]})
        assert many.status_code == 413 and "inputs holds 3 texts; the limit is 2 per request" in many.json()["error"]
        long = client.post("/", json={"inputs": "y" * 21})
        assert long.status_code == 413 and "a text of 21 characters; the limit is 20" in long.json()["error"]
        assert client.post("/", json={"inputs": ["a", "b"]}).status_code == 200


def test_rotating_parameter_sets_reuse_their_classifiers(tmp_path):
    from sparkner.serve.app import ClassifierCache
    from sparkner.sources.settings import build_settings

    base = build_settings(sparkner.DEMO_MODEL)
    cache = ClassifierCache(capacity=8)
    rotation = [
        {"stride": 8},
        {"aggregation_strategy": "first"},
        {"aggregation_strategy": "max"},
        {"ignore_labels": []},
    ]
    from sparkner.options.settings import with_task_parameters

    for _ in range(10):
        for parameters in rotation:
            cache.get(with_task_parameters(base, parameters))
    assert cache.loads == 4, "one classifier per parameter set, made once"
    small = ClassifierCache(capacity=2)
    for parameters in rotation:
        small.get(with_task_parameters(base, parameters))
    assert small.loads == 4 and len(small._classifiers) == 2, "bounded: the least recently used goes"


# -- a real server under hostile clients ---------------------------------------------------------


@pytest.mark.server
def test_real_clients_huggingface_hub_and_huggingface_js(server, tmp_path, monkeypatch):
    """huggingface_hub's InferenceClient and huggingface.js's tokenClassification, pointed at the server."""
    from huggingface_hub import InferenceClient, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests' offline mode, for a server on 127.0.0.1

    client = InferenceClient(model=server.url + "/models/sparkner-demo", token=TOKEN)
    got = client.token_classification(TEXT)
    assert_same_entities(
        [{k: e[k] for k in ("entity_group", "score", "word", "start", "end")} for e in got], api_answer(TEXT)
    )
    first = client.token_classification(TEXT, aggregation_strategy="first")
    assert [e.word for e in first] == [e["word"] for e in api_answer(TEXT, aggregation_strategy="first")]
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    install = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "@huggingface/inference@4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode != 0:
        pytest.skip(f"the npm registry is not reachable: {install.stderr[-300:]}")
    script = tmp_path / "client.mjs"
    script.write_text(
        'import { InferenceClient } from "@huggingface/inference";\n'
        f'const client = new InferenceClient("{TOKEN}", {{ endpointUrl: "{server.url}/models/sparkner-demo" }});\n'
        f'const out = await client.tokenClassification({{ inputs: "{TEXT}" }});\n'
        "console.log(JSON.stringify(out));\n"
    )
    run = subprocess.run(["node", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert_api_answer(json.loads(run.stdout))


@pytest.mark.server
def test_openapi_document_holds_for_500_generated_requests(server):
    """schemathesis reads GET /openapi.json and sends generated requests (valid and not): no 5xx, and every
    response is one the document describes."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        runs = 250 if operation.method.upper() == "POST" else 10

        @settings(max_examples=runs, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            nonlocal sent
            case.call_and_validate(headers=AUTH)
            sent += 1

        check()
    assert sent >= 500, sent


@pytest.mark.server
def test_hostile_clients_do_not_change_others_answers_and_metrics_count_them(tmp_path):
    """A client that disconnects mid-body, one that trickles its body, one that sends an oversized body
    and one that never finishes its headers, while normal clients are answered as usual; the limits
    answer 413/408, the next request is answered, and /metrics counts what was sent."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    server = Server(tmp_path, *EXACT_FLAGS, "--max-body-bytes", "5000", "--body-timeout", "1", "--header-timeout", "1",
                    "--batch-wait-ms", "50")  # fmt: skip
    try:
        server.wait_until_loaded()
        url = server.url + "/models/sparkner-demo"
        before = server.metric("sparkner_requests_total", route="/models/{model_id}", status="200")
        texts = [f"Angela Merkel met Emmanuel Macron in Paris on day {i}." for i in range(12)]

        def normal(text):
            return requests.post(url, json={"inputs": text}, headers={**AUTH, "x-use-cache": "false"}).json()

        def raw(payload: bytes, trickled: bytes = b"", close_after: bool = False) -> bytes:
            """`payload` at once, then `trickled` 8 bytes every 0.3 s; what the server answers."""
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(payload)
                for i in range(0, len(trickled), 8):
                    try:
                        sock.sendall(trickled[i : i + 8])
                    except (BrokenPipeError, ConnectionResetError):
                        break  # the server gave up on this client: read what it said
                    time.sleep(0.3)
                if close_after:
                    return b""
                sock.settimeout(10)
                return sock.recv(65536)

        body = json.dumps({"inputs": TEXT}).encode()
        head = f"POST /models/sparkner-demo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        headers = (head + f"Content-Length: {len(body)}\r\n\r\n").encode()
        huge = json.dumps({"inputs": ["word " * 2000]}).encode()
        with ThreadPoolExecutor(16) as pool:
            hostile = [
                pool.submit(raw, headers + body[:10], close_after=True),  # gone mid-body
                pool.submit(raw, headers, body),  # the body at 8 bytes every 0.3 s: longer than --body-timeout 1
                pool.submit(lambda: requests.post(url, data=huge, headers=AUTH)),
                pool.submit(raw, head.encode()),  # headers never finished: the server hangs up
            ]
            answers = list(pool.map(normal, texts))
            trickled, oversized, unfinished = hostile[1].result(), hostile[2].result(), hostile[3].result()
        for text, answer in zip(texts, answers):
            assert_same_entities(answer, api_answer(text), text)
        assert trickled.startswith(b"HTTP/1.1 408"), trickled[:200]
        assert oversized.status_code == 413 and "the limit is 5000" in oversized.json()["error"]
        assert unfinished == b"", "a client that never finishes its headers is hung up on"
        assert_same_entities(normal(TEXT), api_answer(TEXT), "the next request")
        after = server.metric("sparkner_requests_total", route="/models/{model_id}", status="200")
        assert after - before == len(texts) + 1, "every normal request counted once"
        assert server.metric("sparkner_requests_total", route="/models/{model_id}", status="413") == 1
        assert server.metric("sparkner_requests_total", route="/models/{model_id}", status="408") == 1
        assert server.metric("sparkner_batch_texts_count") >= 1 and server.metric("sparkner_model_load_seconds") > 0
    finally:
        server.stop()


@pytest.mark.server
def test_sigterm_answers_what_is_in_flight_then_exits_0_and_a_local_model_is_named_by_its_folder(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    server = Server(tmp_path, "--batch-wait-ms", "400", model_id=None)
    server.wait_until_loaded()
    log = server.log.read_text()
    endpoint = f"http://127.0.0.1:{server.port}/models/model"
    assert f"on {endpoint} (authorization required)" in log and f"try  curl {endpoint} -X POST" in log
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(requests.post, endpoint, json={"inputs": f"{TEXT} {i}"}, headers=AUTH) for i in range(8)]
        time.sleep(0.2)  # the requests wait for company (--batch-wait-ms 400): in flight
        server.process.send_signal(signal.SIGTERM)
        statuses = [future.result().status_code for future in futures]
    assert statuses == [200] * 8, statuses
    assert server.process.wait(timeout=60) == 0, server.log.read_text()[-2000:]
    assert "stopped by SIGTERM" in server.log.read_text()


@pytest.mark.server
def test_sigterm_while_the_model_loads_waits_for_the_load_then_exits_0(tmp_path):
    """The default runtime converts the model on first use (a cold cache here: seconds); a stop then must
    neither abort the process in native code nor leave a half-made conversion."""
    import requests

    server = Server(tmp_path, env={"SPARKNER_CACHE_DIR": str(tmp_path / "cold-cache")})
    server.wait_until_listening()
    deadline = time.monotonic() + 60
    while "sparkner: loading model" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into the conversion (native code), where a plain exit aborted 2 stops in 3
    assert requests.get(server.url + "/health", timeout=5).json()["status"] == "loading"
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=120) == 0, server.log.read_text()[-2000:]
    log = server.log.read_text()
    assert "terminate called" not in log and "Traceback" not in log, log[-2000:]
    assert "stopped by SIGTERM" in log and "model converted to OpenVINO" in log, "the load was let finish"
