"""A bound on reading a request body: a client that stops sending gets 408 and its connection closed.

Without it a stalled upload (or a slow-loris client sending a byte a minute) holds its connection, and a thread
or an upload file, for as long as it likes. :class:`BodyTimeout` wraps the ASGI ``receive`` of every HTTP request:
while the body is not complete, each piece must come within ``seconds`` of asking for it. When it does not, the
middleware answers 408 itself (a problem details object, ``Connection: close``) and the application's ``receive``
raises :class:`BodyTimedOut` (routes clean up what they wrote; whatever the application answers afterwards is
dropped). After the body is complete, ``receive`` waits as it would (responses listen for a disconnect).
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON

__all__ = ["BodyTimedOut", "BodyTimeout"]


class BodyTimedOut(Exception):
    """The client sent no more of the request body within the time allowed (answered 408 already)."""


class BodyTimeout:
    """ASGI middleware: 408 for a request whose body stalls for ``seconds``; see the module docstring."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"complete": False, "started": False, "timed_out": False}

        async def send_(message: Message) -> None:
            if state["timed_out"]:
                return  # answered 408 already
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def receive_() -> Message:
            if state["timed_out"]:
                return {"type": "http.disconnect"}
            if state["complete"]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                await self._answer_408(scope, send, state)
                raise BodyTimedOut(f"no more of the request body within {self.seconds:g} s") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["complete"] = True
            return message

        try:
            await self.app(scope, receive_, send_)
        except Exception:
            if not state["timed_out"]:
                raise

    async def _answer_408(self, scope: Scope, send: Send, state: dict[str, bool]) -> None:
        already = state["started"]
        state["timed_out"] = True
        if already:  # a response started before the body was read whole: nothing to add, the server closes it
            return
        body = _problem(408, scope.get("path", ""), f"the request body stalled: no data for {self.seconds:g} s")
        await send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _problem(status: int, path: str, detail: str) -> bytes:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": path,
        "code": "timeout",
    }
    return json.dumps(body).encode()
