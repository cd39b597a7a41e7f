"""`sparkner serve`: a real server on 127.0.0.1 answering the inference API's documented snippets
(curl, Python requests, JavaScript fetch with Node), its headers, and dynamic batching."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    def __init__(self, tmp: Path, *options: str) -> None:
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
            "--model-id",
            "sparkner-demo",
            "--port",
            str(self.port),
            "--api-token-file",
            str(token_file),
            *options,
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
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

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("serve"))
    try:
        server.wait_until_loaded()
        yield server
    finally:
        server.stop()
    assert TOKEN not in server.log.read_text(), "the token is never logged"


def api_answer(text: str) -> list[dict]:
    return sparkner.TokenClassifier(sparkner.DEMO_MODEL, aggregation_strategy="simple", word_boundaries="pipeline")(
        [text]
    )[0]


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
    assert parse_request({"inputs": "x", "parameters": {"stride": 4}}) == (["x"], True, {"stride": 4})
    with pytest.raises(RequestError, match='must be a JSON object with "inputs"'):
        parse_request([1])
    with pytest.raises(RequestError, match="parameters has unknown keys \\['strid'\\]"):
        parse_request({"inputs": "x", "parameters": {"strid": 4}})
