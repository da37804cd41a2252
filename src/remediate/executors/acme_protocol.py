"""The ACME (RFC 8555) steps of the `acme` executor, over the PyPI `acme` library (the
client certbot is built on), each within a bounded retry.

Servers reject nonces on purpose (Pebble 5 % by default, `PEBBLE_WFE_NONCEREJECT`) and the
library retries a `badNonce` only once; every step here is retried up to STEP_ATTEMPTS
times, and only when a retry cannot do anything twice: a `badNonce` (the server refused
the request before acting on it), or a connection that was never made. A step that may
have reached the server (a lost reply) is not repeated blindly: the caller probes what
the server holds instead (the order URL it recorded before finalizing).

Polling is our own (the library's sleeps a whole second before its first look), bounded
by the action's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwa, jwk

from remediate.executors.base import ExecutorError

T = TypeVar("T")
STEP_ATTEMPTS = 6
FIRST_POLL = 0.1  # seconds; doubled up to MAX_POLL
MAX_POLL = 2.0
USER_AGENT = "remediate-acme"


class StepFailed(ExecutorError):
    """An ACME step failed for good; `problem` is the server's problem type, if it gave one."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass
class Session:
    """A client bound to one account, and the deadline of the whole action."""

    acme: client.ClientV2
    deadline: float  # time.monotonic()
    retries: int = 0  # steps repeated after a badNonce or a refused connection

    def step(self, name: str, call: Callable[[], T]) -> T:
        """`call()`, repeated while it failed without the server acting on it."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except messages.Error as exc:
                if exc.code != "badNonce" or attempt >= STEP_ATTEMPTS or self._late():
                    raise StepFailed(f"ACME {name}: {problem_text(exc)}", exc.typ) from None
            except requests.exceptions.ConnectionError as exc:
                if not _never_sent(exc) or attempt >= STEP_ATTEMPTS or self._late():
                    raise StepFailed(f"ACME {name}: {_short(exc)}") from None
                time.sleep(min(0.05 * 2**attempt, 1.0))
            except requests.exceptions.RequestException as exc:
                raise StepFailed(f"ACME {name}: {_short(exc)}") from None
            except errors.Error as exc:
                raise StepFailed(f"ACME {name}: {_short(exc)}") from None
            self.retries += 1

    def _late(self) -> bool:
        return time.monotonic() >= self.deadline

    def fetch(self, url: str) -> requests.Response:
        """A POST-as-GET of `url` (RFC 8555 §6.3), retried like every step."""
        new_nonce = self.acme.directory["newNonce"]
        return self.step(
            f"fetch {url}", lambda: self.acme.net.post(url, None, new_nonce_url=new_nonce)
        )

    def order(self, url: str, csr_pem: bytes) -> messages.OrderResource:
        body = messages.Order.from_json(self.fetch(url).json())
        return messages.OrderResource(body=body, uri=url, csr_pem=csr_pem)

    def authorization(self, url: str) -> messages.AuthorizationResource:
        body = messages.Authorization.from_json(self.fetch(url).json())
        return messages.AuthorizationResource(body=body, uri=url)

    def wait(self, what: str, probe: Callable[[], T], done: Callable[[T], bool]) -> T:
        """`probe()` until `done` says so, sleeping a little longer each time."""
        pause = FIRST_POLL
        while True:
            value = probe()
            if done(value):
                return value
            if time.monotonic() + pause > self.deadline:
                raise StepFailed(f"ACME {what}: still not done when the action's timeout came")
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL)


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """The connection was refused or never made: nothing reached the server."""
    text = str(exc)
    return any(s in text for s in ("Connection refused", "NewConnectionError", "Name or service"))


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def problem_text(error: messages.Error) -> str:
    """`urn:ietf:params:acme:error:unauthorized: <detail>` (and sub-problems)."""
    text = str(error.typ or "error")
    if error.detail:
        text += f": {error.detail}"
    for sub in error.subproblems or ():
        text += f"; {sub.typ}: {sub.detail}"
    return text if len(text) <= 600 else text[:600] + "…"


def account_jwk(key: Any) -> tuple[jwk.JWK, jwa.JWASignature]:
    """The JWK and signature algorithm of an account key (RSA or EC P-256/P-384)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return jwk.JWKRSA(key=key), jwa.RS256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithms = {"secp256r1": jwa.ES256, "secp384r1": jwa.ES384}
        if key.curve.name in algorithms:
            return jwk.JWKEC(key=key), algorithms[key.curve.name]
    raise ExecutorError("the account key must be RSA or EC P-256/P-384")


def connect(
    directory: str,
    account_key: Any,
    email: str | None,
    verify: str | bool,
    deadline: float,
) -> Session:
    """A session on `directory` with the account of `account_key` (registered if new)."""
    key, algorithm = account_jwk(account_key)
    timeout = max(1, min(30, int(deadline - time.monotonic())))
    # verify_ssl goes to requests' `verify`, which takes a CA file: the caBundle
    net = client.ClientNetwork(
        key, alg=algorithm, verify_ssl=verify,  # type: ignore[arg-type]
        user_agent=USER_AGENT, timeout=timeout,
    )  # fmt: skip
    probe = Session(acme=None, deadline=deadline)  # type: ignore[arg-type]
    found = probe.step("directory", lambda: client.ClientV2.get_directory(directory, net))
    session = Session(client.ClientV2(found, net), deadline)
    session.retries = probe.retries
    registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)

    def register() -> None:
        try:
            session.acme.new_account(registration)
        except errors.ConflictError as exists:  # the key already has an account: use it
            net.account = messages.RegistrationResource(
                uri=exists.location, body=messages.Registration()
            )

    session.step("new-account", register)
    return session


def new_order(session: Session, csr_pem: bytes) -> messages.OrderResource:
    return session.step("new-order", lambda: session.acme.new_order(csr_pem))


@dataclass(frozen=True)
class Challenge:
    """What a publisher needs to make the server's check pass, for one identifier."""

    kind: str  # http-01 | dns-01
    domain: str
    token: str
    key_authorization: str  # http-01: the file's content
    validation: str  # dns-01: the TXT record's value; http-01: the key authorization
    record: str  # dns-01: the TXT record's name (_acme-challenge.<domain>)


def challenge_of(
    session: Session, authorization: messages.AuthorizationResource, kind: str
) -> tuple[messages.ChallengeBody, Challenge]:
    wanted = {"http-01": challenges.HTTP01, "dns-01": challenges.DNS01}[kind]
    domain = str(authorization.body.identifier.value)
    for body in authorization.body.challenges:
        if isinstance(body.chall, wanted):
            response, validation = body.response_and_validation(session.acme.net.key)
            token = body.chall.encode("token")
            key_authorization = str(response.key_authorization)
            text = str(validation)
            base = domain.removeprefix("*.")
            return body, Challenge(kind, domain, token, key_authorization, text,
                                   f"_acme-challenge.{base}")  # fmt: skip
    offered = ", ".join(str(b.chall.typ) for b in authorization.body.challenges) or "none"
    raise StepFailed(f"ACME server offers no {kind} challenge for {domain} (offered: {offered})")


def answer(session: Session, body: messages.ChallengeBody) -> None:
    response = body.chall.response(session.acme.net.key)
    session.step(f"answer {body.chall.typ}", lambda: session.acme.answer_challenge(body, response))


def settled_authorization(session: Session, url: str) -> messages.AuthorizationResource:
    """The authorization at `url` once it is no longer pending (StepFailed if invalid)."""
    found = session.wait(
        "authorization",
        lambda: session.authorization(url),
        lambda a: a.body.status != messages.STATUS_PENDING,
    )
    if found.body.status != messages.STATUS_VALID:
        for chall in found.body.challenges:
            if chall.error is not None:
                raise StepFailed(
                    f"{chall.chall.typ} challenge for {found.body.identifier.value} failed: "
                    f"{problem_text(chall.error)}",
                    chall.error.typ,
                )
        raise StepFailed(f"authorization for {found.body.identifier.value} is {found.body.status}")
    return found


def finalize(session: Session, order: messages.OrderResource) -> messages.OrderResource:
    """Finalize a ready order (or one already finalized) and return it once valid."""
    status = order.body.status
    if status == messages.STATUS_READY:
        try:
            session.step("finalize", lambda: session.acme.begin_finalization(order))
        except StepFailed as exc:
            if exc.problem != "urn:ietf:params:acme:error:orderNotReady":
                raise
    done = session.wait(
        "finalize",
        lambda: session.order(str(order.uri), order.csr_pem),
        lambda o: o.body.status in (messages.STATUS_VALID, messages.STATUS_INVALID),
    )
    if done.body.status == messages.STATUS_INVALID:
        why = problem_text(done.body.error) if done.body.error else "no reason given"
        raise StepFailed(f"ACME order {order.uri} is invalid: {why}")
    return done


def certificate_pem(session: Session, order: messages.OrderResource) -> bytes:
    url = order.body.certificate
    if not url:
        raise StepFailed(f"ACME order {order.uri} is valid but names no certificate")
    return session.fetch(str(url)).text.encode()
