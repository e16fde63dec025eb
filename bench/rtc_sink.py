#!/usr/bin/env python3
"""
rtc_sink.py PORT N - the HTTP destination of bench/route_to_cloud.sh: counts
the records route-to-cloud delivers (batch bodies: JSON arrays of
{key, seq, data}) and prints "DRAINED <records> <seconds>" from the first
request to the one that brings the count to N, then exits.
"""
import http.server
import json
import socket
import sys
import time

PORT, N = int(sys.argv[1]), int(sys.argv[2])
state = {"count": 0, "t0": None, "last_seq": 0, "order_ok": True}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if state["t0"] is None:
            state["t0"] = time.time()
        items = json.loads(body)
        for it in items:
            if it["seq"] <= state["last_seq"]:
                state["order_ok"] = False
            state["last_seq"] = it["seq"]
        state["count"] += len(items)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if state["count"] >= N:
            print("DRAINED %d %.3f %s" % (state["count"], time.time() - state["t0"],
                                          "in-order" if state["order_ok"] else "OUT-OF-ORDER"),
                  flush=True)
            raise SystemExit(0)


srv = http.server.HTTPServer(("127.0.0.1", PORT), H)
try:
    srv.serve_forever()
except SystemExit:
    pass
