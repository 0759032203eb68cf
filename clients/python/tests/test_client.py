"""The client's own tests: standard library `unittest` only, so they run wherever the client is installed alone
(`python -m unittest discover -s tests` in the client's folder). The API is played by httpx's MockTransport."""

from __future__ import annotations

import json
import socket
import sys
import unittest

import httpx

from trustledger_client import ApiProblem, ClientConnectionError, TrustLedgerClient, TrustLedgerClientError

BASE = "https://verify.example"
PROBLEM = "application/problem+json"


def _client(handler: httpx.MockTransport, sleeps: list[float] | None = None) -> TrustLedgerClient:
    http = httpx.Client(base_url=BASE, transport=handler)
    waits = sleeps if sleeps is not None else []
    return TrustLedgerClient(BASE, "key-1", http=http, sleep=waits.append)


class ClientTests(unittest.TestCase):
    def test_an_answer_is_parsed_into_its_model_with_the_key_sent(self) -> None:
        seen: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            body = {"status": "ok", "database": "ok", "region": "HA", "origin": "ledger.ha.gov.example/log"}
            return httpx.Response(200, json=body)

        health = _client(httpx.MockTransport(answer)).health()
        self.assertEqual((health.region, health.origin), ("HA", "ledger.ha.gov.example/log"))
        self.assertEqual(seen[0].headers["Authorization"], "Bearer key-1")

    def test_a_problem_is_an_api_problem_naming_type_and_field(self) -> None:
        problem = {
            "type": "https://trustledger.example/problems/licence-not-found",
            "title": "No such licence",
            "status": 404,
            "detail": "no licence x",
            "field": "licence_id",
        }

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(404, content=json.dumps(problem), headers={"content-type": PROBLEM})

        with self.assertRaises(ApiProblem) as caught:
            _client(httpx.MockTransport(answer)).get("x")
        self.assertEqual(caught.exception.status, 404)
        self.assertTrue(caught.exception.type.endswith("/licence-not-found"))
        self.assertEqual(caught.exception.field, "licence_id")
        self.assertIsInstance(caught.exception, TrustLedgerClientError)

    def test_busy_is_waited_out_as_retry_after_says(self) -> None:
        answers = iter([503, 503, 200])
        sleeps: list[float] = []

        def answer(request: httpx.Request) -> httpx.Response:
            status = next(answers)
            if status == 503:
                busy = {"type": "https://trustledger.example/problems/busy", "title": "busy", "status": 503}
                return httpx.Response(503, json=busy, headers={"Retry-After": "2"})
            return httpx.Response(200, json={"status": "ok", "database": "ok", "region": "HA", "origin": "o/log"})

        self.assertEqual(_client(httpx.MockTransport(answer), sleeps).health().status, "ok")
        self.assertEqual(sleeps, [2.0, 2.0])

    def test_a_refused_connection_is_the_clients_own_error(self) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with (
            TrustLedgerClient(f"http://127.0.0.1:{port}", "k", timeout=2.0) as client,
            self.assertRaises(ClientConnectionError) as caught,
        ):
            client.public_verify("secret-token")
        self.assertFalse(caught.exception.sent)
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))
        self.assertNotIn("secret-token", str(caught.exception))  # the query (a licence token) is never echoed

    def test_the_server_is_not_installed_beside_the_client(self) -> None:
        for module in ("fastapi", "sqlalchemy", "verify_api", "ledger"):
            self.assertNotIn(module, sys.modules)


if __name__ == "__main__":
    unittest.main()
