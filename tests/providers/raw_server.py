"""A hand-written HTTP/1.1 server on loopback and the exact bytes it answers with.

The lean client and the SDK path are checked against servers whose every byte the test
chooses (written whole, one byte at a time, with pauses), not against a library's idea of a
server (docs/method.md, "Client paths"): this module is that server and the builders of Chat
Completions and Anthropic Messages streams the tests send through it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------- a raw server


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    #: What the first ``recv`` of this request returned (one write → usually all of it).
    first_recv: bytes
    connection: int  # which connection (0, 1, …) it came on
    on_connection: int  # its place on that connection (0 = first)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


#: answer(request, socket) → True to keep the connection for another request.
Answer = Callable[[Seen, socket.socket], bool]


class RawServer:
    """HTTP/1.1 on a bare socket, one thread per connection; ``answer`` writes the bytes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self.connections = 0
        self.stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)  # accept wakes to see ``stop``
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            index = self.connections
            self.connections += 1
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, index: int) -> None:
        buffer = b""
        n = 0
        try:
            while not self.stop.is_set():
                first = b""
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    first = first or data
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                while len(buffer) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                seen = Seen(method, path, headers, body, first, index, n)  # type: ignore[arg-type]
                self.seen.append(seen)
                n += 1
                if not self.answer(seen, sock):
                    return
        except OSError:
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


# ---------------------------------------------------------------------------- wire bytes


def head(
    status: int = 200,
    content_type: str = "text/event-stream",
    *,
    chunked: bool = True,
    length: int | None = None,
    close: bool = False,
    extra: str = "",
) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}", f"content-type: {content_type}", "x-request-id: req_raw"]
    if length is not None:
        lines.append(f"content-length: {length}")
    elif chunked:
        lines.append("transfer-encoding: chunked")
    if close:
        lines.append("connection: close")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


LAST = b"0\r\n\r\n"


def chat(delta: dict | None = None, finish: str | None = None, usage: dict | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def usage(completion: int, prompt: int = 7) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def anthropic_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def message_start(input_tokens: int = 9) -> bytes:
    return anthropic_event(
        "message_start",
        message={
            "id": "msg_raw",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    )


def block_start(index: int, block: dict) -> bytes:
    return anthropic_event("content_block_start", index=index, content_block=block)


def block_delta(index: int, delta: dict) -> bytes:
    return anthropic_event("content_block_delta", index=index, delta=delta)


def text(index: int, value: str) -> bytes:
    return block_delta(index, {"type": "text_delta", "text": value})


def message_end(stop: str, output_tokens: int) -> list[bytes]:
    return [
        anthropic_event(
            "message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": output_tokens}
        ),
        anthropic_event("message_stop"),
    ]


def send_stream(
    events: list[bytes],
    *,
    how: str = "whole",
    pause_s: float = 0.0,
    close: bool = False,
    chunked_encoding: bool = True,
    status: int = 200,
) -> Answer:
    """An answer that streams ``events``: in one write ("whole"), one write per event ("each",
    ``pause_s`` apart), or one byte at a time ("bytes")."""

    def answer(seen: Seen, sock: socket.socket) -> bool:
        framed = [chunked(e) if chunked_encoding else e for e in events]
        if chunked_encoding:
            framed.append(LAST)
        sock.sendall(head(status, chunked=chunked_encoding, close=close))
        if how == "whole":
            sock.sendall(b"".join(framed))
        elif how == "each":
            for part in framed:
                time.sleep(pause_s)
                sock.sendall(part)
        else:
            for byte in b"".join(framed):
                sock.sendall(bytes([byte]))
                time.sleep(0.00005)
        return not close

    return answer


def send_body(
    status: int, body: bytes, content_type: str = "application/json", *, close: bool = False, with_length: bool = True
) -> Answer:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        if with_length:
            sock.sendall(head(status, content_type, length=len(body), close=close) + body)
        else:
            sock.sendall(head(status, content_type, chunked=False, close=True) + body)
            return False
        return not close

    return answer


def keep_alive_stream(seen: Seen, sock: socket.socket) -> bool:
    events = [chat({"content": "Hi"}), chat({}, finish="stop", usage=usage(1)), DONE]
    if "/messages" in seen.path:
        events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), *message_end("end_turn", 1)]
    sock.sendall(head() + b"".join(chunked(e) for e in events) + LAST)
    return True


#: Whole (non-streamed) answers: a Chat Completion and an Anthropic Message.
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there!", "reasoning": "Think."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": 4,
            "total_tokens": 11,
            "queue_time": 0.01,
            "prompt_time": 0.002,
            "completion_time": 0.004,
        },
    }
).encode()
MESSAGE = json.dumps(
    {
        "id": "msg_whole",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "content": [{"type": "thinking", "thinking": "Think.", "signature": "x"}, {"type": "text", "text": "Hello there!"}],
        "usage": {"input_tokens": 9, "output_tokens": 5},
    }
).encode()
