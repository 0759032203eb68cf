"""The Python client as its own distribution (clients/python, `trustledger-client`): it installs and imports with httpx
and pydantic alone, its models are the ones the server documents, and a server it cannot reach raises its own error."""

from __future__ import annotations

import ast
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from trustledger_client import ApiProblem, ClientConnectionError, TrustLedgerClient, TrustLedgerClientError, models
from verify_api import federation_schemas, schemas

CLIENT_DIST = Path(__file__).parents[2] / "clients" / "python"
CLIENT_PACKAGE = CLIENT_DIST / "trustledger_client"
CLIENT_THIRD_PARTY = {"httpx", "pydantic"}
SERVER_MODULES = ["fastapi", "starlette", "sqlalchemy", "eventsourcing", "cryptography", "verify_api", "ledger"]


def test_client_package_imports_only_the_standard_library_httpx_and_pydantic() -> None:
    wrong = []
    for path in sorted(CLIENT_PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top not in sys.stdlib_module_names and top not in {*CLIENT_THIRD_PARTY, "trustledger_client"}:
                    wrong.append(f"{path.name} imports {top}")
    assert wrong == []


def _server_models() -> dict[str, type[BaseModel]]:
    found = {**vars(schemas), **vars(federation_schemas)}
    return {k: v for k, v in found.items() if isinstance(v, type) and issubclass(v, BaseModel)}


def test_client_models_are_the_servers_response_schemas() -> None:
    """Each model the client returns is the one the server serves (the same class once `verify_api.schemas` takes
    them from `trustledger_client.models`; until then, the same JSON schema, so the two cannot drift apart)."""
    server = _server_models()
    ours = {
        k: v
        for k, v in vars(models).items()
        if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == models.__name__
    }
    assert set(ours) <= set(server), "a client model the server does not define"
    drifted = [
        name
        for name, model in ours.items()
        if server[name] is not model and server[name].model_json_schema() != model.model_json_schema()
    ]
    assert drifted == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_connection_refused_raises_the_clients_connection_error() -> None:
    base = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: the connection is refused
    with (
        TrustLedgerClient(base, api_key="tlk_x", timeout=2.0, retries=0) as client,
        pytest.raises(ClientConnectionError) as caught,
    ):
        client.health()
    assert isinstance(caught.value, TrustLedgerClientError)
    assert base in str(caught.value)
    assert caught.value.base_url == base
    assert caught.value.sent is False
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def _raises(exc: Callable[[httpx.Request], httpx.TransportError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("failure", "sent"),
    [
        (lambda r: httpx.ConnectTimeout("connect timed out", request=r), False),
        (lambda r: httpx.ReadTimeout("read timed out", request=r), True),
        (lambda r: httpx.RemoteProtocolError("peer closed connection", request=r), True),
    ],
)
def test_timeouts_and_broken_exchanges_raise_the_clients_connection_error(
    failure: Callable[[httpx.Request], httpx.TransportError], sent: bool
) -> None:
    http = httpx.Client(base_url="https://ledger.example", transport=_raises(failure))
    client = TrustLedgerClient(http=http, retries=0)
    with pytest.raises(ClientConnectionError, match=r"https://ledger\.example \(GET /v1/public/verify\)") as caught:
        client.public_verify("a-secret-token")
    assert "a-secret-token" not in str(caught.value)  # the query (a licence token) stays out of messages and logs
    assert caught.value.sent is sent
    http.close()


def test_an_error_answer_is_still_an_api_problem() -> None:
    problem = {"type": "https://ledger.example/problems/busy", "title": "Busy", "status": 503, "detail": "try again"}
    transport = httpx.MockTransport(lambda _: httpx.Response(503, json=problem))
    with (
        httpx.Client(base_url="https://ledger.example", transport=transport) as http,
        pytest.raises(ApiProblem) as caught,
    ):
        TrustLedgerClient(http=http, retries=0).health()
    assert isinstance(caught.value, TrustLedgerClientError)
    assert caught.value.type == problem["type"]


INSTALLED_CHECK = textwrap.dedent(
    """
    import importlib.metadata, socket, sys
    import trustledger_client
    from trustledger_client import ClientConnectionError, TrustLedgerClient

    server = {server!r}
    assert not set(server) & set(sys.modules), sorted(set(server) & set(sys.modules))
    for name in server:
        try:
            __import__(name)
        except ImportError:
            continue
        raise SystemExit(f"{{name}} is importable next to the client")
    dists = {{d.metadata["Name"].lower() for d in importlib.metadata.distributions()}}
    assert "trustledger" not in dists and "trustledger-client" in dists, dists
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        TrustLedgerClient(f"http://127.0.0.1:{{port}}", timeout=2.0, retries=0).health()
    except ClientConnectionError as exc:
        print("refused:", exc)
    print("from", trustledger_client.__file__)
    """
)


@pytest.mark.slow
def test_the_client_installs_and_runs_alone_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """`pip install ./clients/python` from a copy of that folder only (so nothing outside it can be reached), into
    a fresh virtualenv; httpx and pydantic come from the machine's package index, as for an approval system."""
    source = tmp_path / "trustledger-client"
    shutil.copytree(CLIENT_DIST, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)]
    installed = subprocess.run(pip, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr
    script = INSTALLED_CHECK.format(server=SERVER_MODULES)
    done = subprocess.run([python, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "refused: cannot connect to the TrustLedger API at http://127.0.0.1:" in done.stdout
    assert str(venv) in done.stdout  # the installed copy, not the repository's
    # and the client's own tests pass there (standard-library unittest: nothing else is installed)
    own = [python, "-I", "-m", "unittest", "discover", "-s", str(source / "tests"), "-t", str(source / "tests")]
    tested = subprocess.run(own, cwd=tmp_path / "venv", capture_output=True, text=True, check=False)
    assert tested.returncode == 0 and "OK" in tested.stderr, tested.stderr
    assert "Ran 5 tests" in tested.stderr
