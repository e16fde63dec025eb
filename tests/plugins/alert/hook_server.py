#!/usr/bin/env python3
"""hook_server.py PORTFILE LOGFILE - a webhook receiver for webhook_test.sh.

Listens on a free 127.0.0.1 port (written to PORTFILE), answers each POST on
its own thread and appends {path, contentType, body} as a JSON line to
LOGFILE. POST /fail answers 500. A body whose "event" is "raise" is held for
0.3 s before it is logged, so posts sent at once would be logged out of order.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            event = json.loads(body).get("event")
        except ValueError:
            event = None
        if event == "raise":
            time.sleep(0.3)
        with open(sys.argv[2], "a") as log:
            log.write(json.dumps({"path": self.path,
                                  "contentType": self.headers.get("Content-Type"),
                                  "body": body.decode()}) + "\n")
        status = 500 if self.path == "/fail" else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
