"""``import hfbridge`` works without LangChain or LlamaIndex, and never pulls them in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ("langchain_core", "llama_index")

SCRIPT = textwrap.dedent(
    """
    import sys

    BLOCKED = {blocked!r}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked for this test")
            return None

    sys.meta_path.insert(0, Block())
    try:
        import langchain_core  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not work")

    import hfbridge
    import hfbridge.catalog.aliases
    import hfbridge.errors
    import hfbridge.transport

    assert hfbridge.transport.HFClient and hfbridge.errors.HFError
    assert hfbridge.catalog.aliases.resolve_model
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
    print("LOADED", loaded)
    """
).format(blocked=BLOCKED)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_import_without_the_frameworks():
    result = run(SCRIPT)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_import_does_not_load_the_frameworks_even_when_installed():
    code = (
        "import sys, hfbridge, hfbridge.transport, hfbridge.errors, hfbridge.catalog.aliases\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {BLOCKED!r}))"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


LAZY = textwrap.dedent(
    """
    import sys
    import httpx
    from hfbridge.transport import HFClient

    answers = iter([httpx.Response(500, json={{"error": "busy"}}), httpx.Response(200, json={{}})])
    client = HFClient(
        base_url="http://127.0.0.1:9/v1",
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=lambda seconds: None,
    )
    print("AFTER IMPORT", {names!r} & set(sys.modules))
    client.request("POST", "x", json={{}}).json()  # the 500, then the 200, parsed
    print("AFTER RETRY", {names!r} & set(sys.modules))
    """
)


def test_tenacity_and_the_json_parser_load_only_when_needed():
    names = {"tenacity", "pydantic_core"}
    result = run(LAZY.format(names=names))
    assert result.returncode == 0, result.stderr
    assert "AFTER IMPORT set()" in result.stdout
    after = result.stdout.split("AFTER RETRY", 1)[1]
    assert "tenacity" in after
    assert "pydantic_core" in after


HTTPX_ON_USE = textwrap.dedent(
    """
    import sys
    import hfbridge.transport
    import hfbridge.inference.chat
    import hfbridge.llama_index.llms, hfbridge.llama_index.embeddings
    print("AFTER IMPORT", "httpx" in sys.modules)
    from hfbridge.llama_index import HFLLM
    llm = HFLLM(model="org/name")
    print("AFTER CONSTRUCTION", "httpx" in sys.modules)
    llm.service.client.http  # the pool: a request would build it
    print("AFTER FIRST USE", "httpx" in sys.modules)
    """
)


def test_httpx_loads_on_first_use_not_on_import():
    result = run(HTTPX_ON_USE)
    assert result.returncode == 0, result.stderr
    assert "AFTER IMPORT False" in result.stdout
    assert "AFTER CONSTRUCTION False" in result.stdout
    assert "AFTER FIRST USE True" in result.stdout


def test_the_lazy_module_is_the_module_once_used_from_many_threads():
    from concurrent.futures import ThreadPoolExecutor

    from hfbridge.transport._lazy import LazyModule

    lazy = LazyModule("colorsys")  # a module these tests never import otherwise
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: lazy.rgb_to_hsv, range(32)))
    import colorsys

    assert found == [colorsys.rgb_to_hsv] * 32
    assert "rgb_to_hsv" in vars(lazy)  # read directly from now on
    assert "imported" in repr(lazy)
