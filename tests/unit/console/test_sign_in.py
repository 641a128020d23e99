"""Signing in with the LA's OpenID Connect issuer: the authorization code flow with PKCE, the
issuer played by a stand-in at the network boundary (httpx's MockTransport)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
from eps_console.adapters.sign_in import OpenIdConnect

ISSUER = "https://login.example.org/la/v2.0"
CALLBACK = "https://console.example.org/console/sign-in/callback"


class Issuer:
    """Answers discovery, and exchanges a code for a token only with the verifier whose S256
    challenge it was given."""

    def __init__(self) -> None:
        self.challenge: str | None = None
        self.exchanged: dict[str, list[str]] = {}
        self.authorised: httpx.Headers | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                },
            )
        assert request.url.path.endswith("/token")
        form = parse_qs(request.content.decode())
        self.exchanged, self.authorised = form, request.headers
        verifier = form["code_verifier"][0].encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if digest.decode() != self.challenge or form["code"] != ["the-code"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json={"access_token": "the-token", "token_type": "Bearer"})


def client(issuer: Issuer, secret: str | None = "s3cret") -> OpenIdConnect:
    return OpenIdConnect(
        ISSUER, "console", secret, "openid profile", transport=httpx.MockTransport(issuer.handle)
    )


async def test_the_code_is_exchanged_with_the_verifier_of_the_challenge_sent() -> None:
    issuer = Issuer()
    oidc = client(issuer)
    url, kept = await oidc.start(CALLBACK)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["response_type"] == ["code"] and query["client_id"] == ["console"]
    assert query["redirect_uri"] == [CALLBACK] and query["code_challenge_method"] == ["S256"]
    assert query["state"] == [kept["state"]] and query["nonce"] == [kept["nonce"]]
    assert "code_verifier" not in query  # the verifier never leaves the session
    issuer.challenge = query["code_challenge"][0]

    token = await oidc.finish(CALLBACK, kept, "the-code", kept["state"])
    assert token == "the-token"
    assert issuer.exchanged["grant_type"] == ["authorization_code"]
    assert issuer.authorised is not None
    assert issuer.authorised["authorization"].startswith("Basic ")  # a confidential client


async def test_an_answer_to_another_sign_in_or_without_the_verifier_gets_no_token() -> None:
    issuer = Issuer()
    oidc = client(issuer)
    url, kept = await oidc.start(CALLBACK)
    issuer.challenge = parse_qs(urlsplit(url).query)["code_challenge"][0]
    assert await oidc.finish(CALLBACK, kept, "the-code", "another-state") is None
    assert issuer.exchanged == {}  # refused before asking the issuer
    forged = {**kept, "verifier": "not-the-one"}
    assert await oidc.finish(CALLBACK, forged, "the-code", kept["state"]) is None
