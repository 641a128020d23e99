"""An issuer's keys (JWKS) are fetched off the event loop, cached, and fetched again when a
token names a key id not seen yet (a rotated key)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eps_chassis.auth import AuthError, Role, TokenVerifier

ISSUER = "https://login.example/tenant/v2.0"


class Issuer:
    """A slow JWKS endpoint on loopback: it counts fetches and takes 0.3 s over each."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0

    def publish(self, kid: str) -> Any:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        return key

    def body(self) -> bytes:
        jwks = [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid}
            for kid, k in self.keys.items()
        ]
        return json.dumps({"keys": jwks}).encode()

    def token(self, kid: str) -> str:
        now = int(time.time())
        claims: dict[str, object] = {"sub": "u1", "role": str(Role.EP), "la": "rutland"}
        claims |= {"iss": ISSUER}
        claims |= {"aud": "eps-api", "iat": now, "exp": now + 60}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    served = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            time.sleep(0.3)
            body = served.body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served, f"http://127.0.0.1:{server.server_port}/keys"
    finally:
        server.shutdown()


async def test_keys_are_fetched_off_the_loop_cached_and_refetched_for_a_new_key_id(
    issuer: tuple[Issuer, str],
) -> None:
    served, url = issuer
    served.publish("k1")
    verifier = TokenVerifier(issuer=ISSUER, audience="eps-api", jwks_url=url, jwks_cooldown_s=0)
    gaps: list[float] = []

    async def ticking() -> None:  # what the fast track sharing the loop would see
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(ticking())
    try:
        first = await verifier.authenticate(served.token("k1"))
        again = await asyncio.gather(*(verifier.authenticate(served.token("k1")) for _ in range(5)))
        assert served.fetches == 1  # cached
        served.publish("k2")  # the issuer rotates its key
        rotated = await verifier.authenticate(served.token("k2"))
        assert served.fetches == 2
        with pytest.raises(AuthError, match="signing key"):
            await verifier.authenticate(jwt.encode({"sub": "x"}, served.keys["k1"], "ES256",
                                                   headers={"kid": "made-up"}))  # fmt: skip
    finally:
        ticker.cancel()
    assert first.subject == rotated.subject == "u1" and all(p == first for p in again)
    assert max(gaps) < 0.2  # the loop ran on while each 0.3 s fetch was under way
