"""The benchmark server: nginx on a free loopback port, with njs choosing the body to send.

Routes (every base URL below ends in ``/v1``, as a self-hosted OpenAI-compatible server's does):

- ``{url}/v1/chat/completions`` and ``{url}/{variant}/v1/chat/completions``: the recorded chat
  completion, or, when the request body says ``"stream": true``, the SSE body of the variant
  (``s200`` by default, ``s5000``, ``tools``, ``big``).
- ``{url}/v1/responses`` and ``{url}/{variant}/v1/responses``: the same text through the Responses
  API (router event shapes): the non-streamed response, or the event stream of 200 (``s200``) or
  5,000 (``s5000``) text deltas ending with ``response.completed``.
- ``{url}/v1/embeddings`` (OpenAI shape, ``input``) and ``{url}/embed`` (feature extraction,
  ``inputs``): one 384-float vector per input, built by njs; more than 32 inputs get a 413.

nginx serves the bodies from files (sendfile), so the server costs far less than any client; the
suite checks that with ``wrk`` (:func:`headroom`). Everything lives in a temporary directory that
is removed when the server stops. nginx, its njs module and wrk are installed with apt when missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import bodies

NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
APT_PACKAGES = ("nginx-light", "libnginx-mod-http-js", "wrk")
STREAM_VARIANTS = ("s200", "s5000", "tools", "big")
RESPONSES_VARIANTS = ("s200", "s5000")

NJS_SCRIPT = """
// njs runs top-level code for every request: keep it to literals (the vector is built in Python).
var CAP = %(cap)d;
var VEC = '%(vector)s';

function chat(r) {
  var body = r.requestText || '';
  var variant = r.variables.variant || 's200';
  if (/"stream"\\s*:\\s*true/.test(body)) {
    // the usage chunk (no choices) only when asked for, as OpenAI-compatible servers do
    var usage = variant !== 'big' && /"include_usage"\\s*:\\s*true/.test(body);
    r.internalRedirect('/_b/' + variant + (usage ? '.usage' : '') + '.sse');
  } else {
    r.internalRedirect('/_b/chat.json');
  }
}

function responses(r) {
  var variant = r.variables.variant || 's200';
  var stream = /"stream"\\s*:\\s*true/.test(r.requestText || '');
  r.internalRedirect(stream ? '/_b/' + variant + '.responses.sse' : '/_b/responses.json');
}

function fail(r, status, message) {
  r.headersOut['Content-Type'] = 'application/json';
  r.return(status, JSON.stringify({error: message, error_type: 'validation'}));
}

function embed(r) {
  var req;
  try { req = JSON.parse(r.requestText || ''); }
  catch (e) { return fail(r, 400, 'body is not JSON'); }
  var openai = req.input !== undefined;
  var items = openai ? req.input : req.inputs;
  if (typeof items === 'string') { items = [items]; }
  if (!Array.isArray(items) || items.length === 0) { return fail(r, 422, 'no inputs'); }
  if (items.length > CAP) {
    return fail(r, 413, 'Input validation error: batch size ' + items.length +
                ' > maximum allowed batch size ' + CAP);
  }
  var parts = [];
  var out;
  if (openai) {
    for (var i = 0; i < items.length; i++) {
      parts.push('{"object":"embedding","index":' + i + ',"embedding":' + VEC + '}');
    }
    out = '{"object":"list","data":[' + parts.join(',') + '],"model":"bench",' +
          '"usage":{"prompt_tokens":' + items.length + ',"total_tokens":' + items.length + '}}';
  } else {
    for (var j = 0; j < items.length; j++) { parts.push(VEC); }
    out = '[' + parts.join(',') + ']';
  }
  r.headersOut['Content-Type'] = 'application/json';
  r.return(200, out);
}

export default {chat, responses, embed};
"""

NGINX_CONF = """
%(user)s
worker_processes 1;
daemon off;
pid %(root)s/nginx.pid;
error_log %(root)s/error.log warn;
load_module %(njs)s;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_buffer_size 16m;
  client_max_body_size 64m;
  client_body_temp_path %(root)s/tmp_body;
  proxy_temp_path %(root)s/tmp_proxy;
  fastcgi_temp_path %(root)s/tmp_fastcgi;
  uwsgi_temp_path %(root)s/tmp_uwsgi;
  scgi_temp_path %(root)s/tmp_scgi;
  types { application/json json; text/event-stream sse; }
  js_import bench from %(root)s/bench.js;
  server {
    listen 127.0.0.1:%(port)d;
    # static files answer only GET: error_page re-enters as GET (one cheap internal redirect)
    location /_b/ { internal; alias %(root)s/bodies/; error_page 405 =200 $uri; }
    location = /v1/chat/completions { set $variant s200; js_content bench.chat; }
    location ~ ^/(?<variant>%(variants)s)/v1/chat/completions$ { js_content bench.chat; }
    location = /v1/responses { set $variant s200; js_content bench.responses; }
    location ~ ^/(?<variant>%(responses)s)/v1/responses$ { js_content bench.responses; }
    location = /v1/embeddings { js_content bench.embed; }
    location = /embed { js_content bench.embed; }
    location = /health { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Name a French cheese."}]}'
wrk.headers["Content-Type"] = "application/json"
"""


def ensure_tools() -> None:
    """Install nginx, its njs module and wrk with apt when they are missing."""
    missing = (
        shutil.which("nginx") is None or not NJS_MODULE.exists() or shutil.which("wrk") is None
    )
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            "The benchmarks need nginx with its njs module and wrk: install nginx-light, "
            "libnginx-mod-http-js and wrk (Debian names) and run again."
        )
    print("[bench] installing nginx, njs and wrk with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *APT_PACKAGES],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running benchmark server."""

    url: str  # e.g. http://127.0.0.1:PORT (no /v1)
    root: Path
    process: subprocess.Popen[bytes]
    big_tokens: int

    def base(self, variant: str = "s200") -> str:
        """The OpenAI-compatible base URL (ending in ``/v1``) whose streams are ``variant``."""
        return f"{self.url}/v1" if variant == "s200" else f"{self.url}/{variant}/v1"


def _write_tree(root: Path, port: int, big_tokens: int) -> None:
    body_dir = root / "bodies"
    body_dir.mkdir()
    shutil.copyfile(bodies.CHAT_JSON, body_dir / "chat.json")
    shutil.copyfile(bodies.RESPONSES_JSON, body_dir / "responses.json")
    shutil.copyfile(bodies.RESPONSES_200, body_dir / "s200.responses.sse")
    (body_dir / "s5000.responses.sse").write_text(bodies.responses_sse(5000), encoding="utf-8")
    recorded = {
        "s200": bodies.STREAM_200.read_text(encoding="utf-8"),
        "tools": bodies.TOOLS_SSE.read_text(encoding="utf-8"),
        "s5000": bodies.sse_stream(5000),
    }
    for name, sse in recorded.items():
        (body_dir / f"{name}.usage.sse").write_text(sse, encoding="utf-8")
        (body_dir / f"{name}.sse").write_text(bodies.without_usage(sse), encoding="utf-8")
    bodies.write_sse_stream(body_dir / "big.sse", big_tokens)  # never with usage: see bench.js
    (root / "bench.js").write_text(
        NJS_SCRIPT % {"cap": bodies.EMBED_CAP, "vector": bodies.embedding_vector()},
        encoding="utf-8",
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the 0700 temp dir
    (root / "nginx.conf").write_text(
        NGINX_CONF
        % {
            "user": user,
            "root": root,
            "njs": NJS_MODULE,
            "port": port,
            "variants": "|".join(STREAM_VARIANTS),
            "responses": "|".join(RESPONSES_VARIANTS),
        },
        encoding="utf-8",
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "error.log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"nginx exited with {process.returncode}: {log[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("nginx did not answer on /health within 10 s")


@contextlib.contextmanager
def nginx(big_tokens: int = 1_000_000) -> Iterator[Server]:
    """Start the benchmark server; stop it and remove its files on exit."""
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="hfbridge-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        _write_tree(root, port, big_tokens)
        process = subprocess.Popen(
            ["nginx", "-p", str(root), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, root)
            yield Server(url=url, root=root, process=process, big_tokens=big_tokens)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def headroom(server: Server, seconds: float = 3.0, connections: int = 64) -> dict[str, float]:
    """What the server sustains on the chat route under wrk (requests/s, mean latency in us)."""
    script = server.root / "post.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "-s", str(script), f"{server.base()}/chat/completions",
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)", result.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    scale = {"us": 1.0, "ms": 1e3, "s": 1e6}
    return {
        "requests_per_s": float(rate.group(1)) if rate else float("nan"),
        "latency_us": float(latency.group(1)) * scale[latency.group(2)]
        if latency
        else float("nan"),
        "connections": float(connections),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }
