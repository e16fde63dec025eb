#!/usr/bin/env python3
"""
fake_openai.py - a scripted OpenAI-compatible chat-completions server for the
ai agent tests: a stand-in for a model service (Ollama, llama.cpp server, a
cloud API) that cannot run here. It serves POST /v1/chat/completions on a
free 127.0.0.1 port, answers each request with the next entry of a prepared
script, and records every request it got (path, headers, JSON body) so a test
can check the messages and the tools schema the agent sent (and, as "entry",
which script entry answered each request).

A script is a list of entries, used in order:
  {"message": {...}, "usage": {...}}   200 with a chat.completion whose
                                       choices[0].message is `message`
  {"status": 500, "body": {...}}       that status and JSON body
  {"raw": "text", "status": 200}       that body as is (not JSON)
  "delay": seconds                     wait before answering (any entry)
  "repeat": true                       this entry answers every later request
When the script is exhausted the server answers 500 "script exhausted".

As a module: FakeModel(script) starts it in a thread (.base_url, .requests,
.stop()). As a program: fake_openai.py SCRIPT.json [--record FILE] prints
the port, serves until SIGTERM/SIGINT, then writes the requests to FILE.
"""
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeModel:
    def __init__(self, script, model="fake"):
        self.script = list(script)
        self.model = model
        self.requests = []
        self.lock = threading.Lock()
        self.next = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                owner._handle(self)

            def do_GET(self):
                self._plain(404, b"not found")

            def _plain(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = "http://127.0.0.1:%d/v1" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _entry(self):
        with self.lock:
            if self.next < len(self.script):
                e = self.script[self.next]
                if not e.get("repeat"):
                    self.next += 1
                return e
            return None

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        record = {"path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()},
                  "body": body, "time": time.time()}
        with self.lock:
            self.requests.append(record)
        if h.path != "/v1/chat/completions":
            return self._send(h, 404, {"error": {"message": "no such path " + h.path}})
        e = self._entry()
        record["entry"] = e  # which script entry answered it
        if e is None:
            return self._send(h, 500, {"error": {"message": "script exhausted"}})
        if e.get("delay"):
            time.sleep(e["delay"])
        status = e.get("status", 200)
        if "raw" in e:
            return self._send_bytes(h, status, e["raw"].encode("utf-8"), "text/plain")
        if "body" in e:
            return self._send(h, status, e["body"])
        msg = dict(e.get("message") or {"role": "assistant", "content": ""})
        msg.setdefault("role", "assistant")
        finish = "tool_calls" if msg.get("tool_calls") else "stop"
        out = {"id": "chatcmpl-%d" % len(self.requests), "object": "chat.completion",
               "created": int(time.time()), "model": body.get("model", self.model),
               "choices": [{"index": 0, "message": msg, "finish_reason": finish}]}
        if "usage" in e:
            out["usage"] = e["usage"]
        else:
            out["usage"] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return self._send(h, status, out)

    def _send(self, h, status, obj):
        return self._send_bytes(h, status, json.dumps(obj).encode("utf-8"), "application/json")

    def _send_bytes(self, h, status, data, ctype):
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def bodies(self):
        with self.lock:
            return [r["body"] for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: fake_openai.py SCRIPT.json [--record FILE]\n")
        return 2
    with open(sys.argv[1]) as f:
        script = json.load(f)
    record = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--record" else None
    fm = FakeModel(script)
    print(fm.port, flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    fm.stop()
    if record:
        with open(record, "w") as f:
            json.dump(fm.requests, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
