"""A second, independent OpenAI-compatible server for the tests (stdlib only, not the sandbox):
the shape a local Ollama or llama.cpp server speaks. Knobs let a test cut a stream, garble it,
or answer with an error."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TinyOpenAI:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.words = "Fresh coffee at dawn is the best hook you will ever post".split()
        self.cut_after: int | None = None  # stop the stream after this many chunks
        self.garble_after: int | None = None  # send a broken data: line after this many
        self.error: tuple[int, dict[str, Any]] | None = None
        self.send_usage = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, {}))
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": "tiny-chat", "object": "model", "created": 0, "owned_by": "me"},
                        {"id": "tiny-embed", "object": "model", "created": 0, "owned_by": "me"},
                    ]})
                else:
                    self._json(404, {"error": {"message": "no such path", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(("POST", self.path, body))
                if server.error is not None:
                    self._json(*server.error)
                    return
                if self.path.endswith("/chat/completions"):
                    self._chat(body)
                elif self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._json(200, {"object": "list", "model": body["model"], "data": [
                        {"object": "embedding", "index": i,
                         "embedding": [float(len(t) % 7), 1.0, 0.5]}
                        for i, t in enumerate(inputs)],
                        "usage": {"prompt_tokens": 3, "total_tokens": 3}})
                else:
                    self._json(404, {"error": {"message": "no such path", "type": "not_found"}})

            def _chat(self, body: dict[str, Any]) -> None:
                n = int(body.get("n", 1))
                if not body.get("stream"):
                    self._json(200, {
                        "id": "c1", "object": "chat.completion", "created": 0,
                        "model": body["model"],
                        "choices": [{"index": i, "finish_reason": "stop",
                                     "message": {"role": "assistant",
                                                 "content": " ".join(server.words)}}
                                    for i in range(n)],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 11,
                                  "total_tokens": 21}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                for w, word in enumerate(server.words):
                    for i in range(n):
                        if server.cut_after is not None and sent >= server.cut_after:
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        if server.garble_after is not None and sent >= server.garble_after:
                            self.wfile.write(b"data: {not json at all\n\n")
                            self.wfile.flush()
                            return
                        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                 "model": body["model"], "choices": [{
                                     "index": i, "finish_reason": None,
                                     "delta": {"content": (" " if w else "") + word
                                               + (f" v{i + 1}" if w == 0 and n > 1 else "")}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        sent += 1
                for i in range(n):
                    done = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                            "model": body["model"],
                            "choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]}
                    self.wfile.write(f"data: {json.dumps(done)}\n\n".encode())
                if server.send_usage:
                    usage = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                             "model": body["model"], "choices": [],
                             "usage": {"prompt_tokens": 20, "completion_tokens": 12 * n,
                                       "total_tokens": 20 + 12 * n}}
                    self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> TinyOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
