"""A Spark standalone cluster on this machine, started from the installed pyspark: one master on
127.0.0.1 and `workers` workers on 127.0.0.2, 127.0.0.3, ..., each its own JVM with its own executors
(and their Python workers), free ports.

Each worker offers one fake GPU (address = its index) through a discovery script, so applications
that ask for GPUs get `TaskContext.resources()["gpu"]` without a GPU; applications that do not ask
run as on any CPU cluster. Logs stay in the cluster's folder and are printed when a check fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from pyspark.find_spark_home import _find_spark_home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandaloneCluster:
    def __init__(self, folder: Path, workers: int = 2, cores: int = 1, memory: str = "2g") -> None:
        self.folder = folder
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self.port = free_port()
        self.ui_port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.spark_class = Path(_find_spark_home()) / "bin" / "spark-class"

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _start(self, name: str, host: str, args: list[str]) -> None:
        # Executors start their Python workers with the driver's interpreter (PYSPARK_PYTHON travels
        # with each application); the cluster JVMs themselves need only Java.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYSPARK")} | {
            "SPARK_LOCAL_IP": host
        }
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process, in stop()
        process = subprocess.Popen(
            [str(self.spark_class), *args, "--host", host],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)

    def _gpu_properties(self, index: int) -> Path:
        script = self.folder / f"gpu-{index}.sh"
        script.write_text(f'#!/bin/sh\necho \'{{"name": "gpu", "addresses": ["{index}"]}}\'\n')
        script.chmod(0o755)
        properties = self.folder / f"worker-{index}.conf"
        properties.write_text(
            f"spark.worker.resource.gpu.amount 1\nspark.worker.resource.gpu.discoveryScript {script}\n"
        )
        return properties

    def start(self, timeout: float = 90) -> StandaloneCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start(
            "master",
            "127.0.0.1",
            ["org.apache.spark.deploy.master.Master", "--port", str(self.port), "--webui-port", str(self.ui_port)],
        )
        for index in range(self.workers):
            work = self.folder / f"work-{index}"
            work.mkdir(exist_ok=True)
            # Each worker on its own loopback address, so Spark sees two hosts: it never runs a task's
            # speculative copy on the host of the attempt it races.
            self._start(
                f"worker-{index}",
                f"127.0.0.{index + 2}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    self.master,
                    "--cores",
                    str(self.cores),
                    "--memory",
                    self.memory,
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(work),
                    "--properties-file",
                    str(self._gpu_properties(index)),
                ],
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.alive_workers() == self.workers:
                return self
            if any(process.poll() is not None for process in self.processes):
                break
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the standalone cluster did not start:\n{self.logs()}")

    def alive_workers(self) -> int:
        """From the master's JSON status page."""
        with contextlib.suppress(OSError, ValueError):
            return json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2))[
                "aliveworkers"
            ]
        return 0

    def executor_pids(self) -> list[int]:
        """The executor JVMs the workers have launched (`spark-class` execs java, so the workers'
        processes are the worker JVMs, and executors are their children)."""
        pids = []
        for worker in self.processes[1:]:
            found = subprocess.run(
                ["pgrep", "-P", str(worker.pid), "-f", "CoarseGrainedExecutorBackend"], capture_output=True, text=True
            )
            pids += [int(pid) for pid in found.stdout.split()]
        return pids

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for log in sorted(self.folder.rglob("*")):
            if log.is_file() and (log.suffix == ".log" or log.name == "stderr"):
                parts.append(f"--- {log.relative_to(self.folder)}\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Each JVM leads its own process group, with its executors and their Python workers in it."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
