"""What every command line shares: flags from the option declarations, secrets from files or the
environment, driver-side errors as one line with exit status 2, logging, and the local session.

Each command (`job`, `eval`, `serve`) is one module of this package that builds its parser with
`command_parser`, turns its arguments into sparkner options with `options_from_args`, and runs its
driver-side checks inside `driver_errors`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sparkner.options.settings import OPTIONS, Option
from sparkner.sources.locations import ModelLoadError


class CommandError(Exception):
    """A problem with a command's input or settings: printed as one line, exit status 2."""


# What the driver's checks raise for a user's mistake (a bad value, a model that cannot be had, a
# missing package): never a traceback, one line naming the fix.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (CommandError, ValueError, ImportError, ModelLoadError)


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line errors, and a misspelled flag answered with the closest one."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            unknown = message.removeprefix("unrecognized arguments:").split()
            word = next((word for word in unknown if word.startswith("-")), unknown[0] if unknown else "")
            flag = word.split("=")[0]  # --flag=value
            message = f"unknown flag {flag}; " + self.closest_flag_hint(flag)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def closest_flag_hint(self, flag: str) -> str:
        known = sorted(name for name in self._option_string_actions if name.startswith("--"))
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        return f"did you mean {close[0]}?" if close else "see --help for the flags"


def command_parser(prog: str, description: str) -> CommandParser:
    """A command's parser: only flags actually given are set (so a config file's values stay unless
    overridden), and no abbreviations (`--token hf_...` must never be read as a file flag)."""
    return CommandParser(prog=prog, description=description, argument_default=argparse.SUPPRESS, allow_abbrev=False)


def option_help(declared: Option) -> str:
    """An option's flag help: its README text, its allowed values and its default."""
    text = declared.help.replace("`", "")
    if declared.choices:
        text += f" [one of: {', '.join(declared.choices)}]"
    if declared.cli_type is not None and declared.default is not None:
        text += f" (default: {declared.default})"
    return text.replace("%", "%%")


class DeprecatedFlag(argparse.Action):
    """An old spelling of a flag, kept for one release: works, and says which flag to use instead."""

    def __init__(self, *args: Any, replacement: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replacement = replacement

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_flag(parser: argparse.ArgumentParser, old: str, new: str, dest: str) -> None:
    parser.add_argument(old, dest=dest, action=DeprecatedFlag, replacement=new, help=argparse.SUPPRESS)


def add_option_flags(
    parser: argparse.ArgumentParser, title: str = "sparkner options (see the README's option table)"
) -> None:
    """One flag per declared option; a secret's flag names the file holding it (`dest`: NAME_file)."""
    group = parser.add_argument_group(title)
    for declared in OPTIONS.values():
        if declared.secret:
            where = f" (or set {declared.environment})" if declared.environment else ""
            group.add_argument(
                declared.flag,
                dest=f"{declared.name}_file",
                metavar="FILE",
                help=f"file holding the {declared.name}{where}: {option_help(declared)}",
            )
        elif declared.cli_type is None:
            group.add_argument(declared.flag, dest=declared.name, action="store_true", help=option_help(declared))
        else:
            group.add_argument(
                declared.flag,
                dest=declared.name,
                type=declared.cli_type,
                metavar=declared.name.upper(),
                help=option_help(declared),
            )


def options_from_args(args: dict[str, Any]) -> dict[str, Any]:
    """Pop sparkner's options out of parsed arguments; a secret is read from its file, else from its
    environment variable (left out when neither is there, so the library's own default applies)."""
    options = {name: args.pop(name) for name in list(args) if name in OPTIONS}
    for name, declared in OPTIONS.items():
        if declared.secret:
            value = read_secret(args.pop(f"{name}_file", None), declared.environment)
            if value is not None:
                options[name] = value
    return options


def read_secret(path: str | None, variable: str | None = None) -> str | None:
    """A token from a file (never from a command line, where logs and process lists would show it),
    else from the environment variable `variable` if one is named; a missing or empty file is an error."""
    if path is None:
        return (os.environ.get(variable) or None) if variable else None
    file = Path(path).expanduser()
    if not file.is_file():
        raise CommandError(f"token file {path!r} does not exist")
    token = file.read_text().strip()
    if not token:
        raise CommandError(f"token file {path!r} is empty")
    return token


class Failed(Exception):
    """Raised by `driver_errors` after it printed the message: the command returns `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@contextlib.contextmanager
def driver_errors(prog: str, extra: Sequence[type[BaseException]] = ()) -> Iterator[None]:
    """A user's mistake inside the block is printed as `prog: error: ...` and becomes `Failed(2)`."""
    try:
        yield
    except (*DRIVER_ERRORS, *extra) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise Failed(2) from None


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr; the chatty libraries at warnings only."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def start_spark_apart_from_the_terminal() -> None:
    """Start Spark's JVM (when this process starts one) in a session of its own, away from the terminal.

    Ctrl-C on a terminal signals its whole foreground process group: besides this command (which
    stops the run cleanly, `jobs.signals`), the JVM and the Python workers it forks, whose dying
    words (Java's rejected tasks, Python's broken pipes) would follow the one line the command
    prints. In a session of its own only this process hears the terminal; the JVM still ends with
    it (it exits when its stdin, a pipe from here, closes). Under spark-submit or Databricks the JVM
    is already there and nothing changes.
    """
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    with SparkContext._lock:
        if SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
            SparkContext._gateway = launch_gateway(popen_kwargs={"start_new_session": True})
            SparkContext._jvm = SparkContext._gateway.jvm


def local_session(app_name: str, master: str | None = None) -> Any:
    """`getOrCreate()` (spark-submit's and Databricks' session when there is one).

    A session started here runs its Python workers on this very interpreter unless
    PYSPARK_PYTHON says otherwise, so a tool run from a virtual environment finds sparkner in
    its workers without the variable being set (pyspark itself would start `python3`).
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    start_spark_apart_from_the_terminal()
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    # Commit task output only when the whole write succeeds: a killed run leaves no partial files.
    builder = builder.config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
    # The job shows its own progress line (rows, rates, ETA); Spark's stage bar would overwrite it.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()
