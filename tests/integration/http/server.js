/*
 * server.js - the HTTP server the http request tests talk to, on a free
 * 127.0.0.1 port (start(): Promise<port>). No Date header, so responses
 * (and their x-node-red-request-node hash) are the same in every run.
 */
"use strict";
const http = require("http");

function handler(req, res) {
    res.sendDate = false;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url, "http://x");
        const send = (status, type, data, extra) => {
            const h = Object.assign({}, type ? { "Content-Type": type } : {}, extra || {});
            res.writeHead(status, h);
            res.end(data);
        };
        switch (url.pathname) {
        case "/json": return send(200, "application/json", JSON.stringify({ a: 1, b: [1, "two"] }));
        case "/text": return send(200, "text/plain; charset=utf-8", "hello wörld");
        case "/bin": return send(200, "application/octet-stream", Buffer.from([0, 1, 2, 255]));
        case "/badjson": return send(200, "application/json", "not json");
        case "/nocontent": return send(204, null, "");
        case "/notfound": return send(404, "text/plain", "no such thing");
        case "/redirect": return send(302, null, "", { Location: "/json" });
        case "/redirect2": return send(301, null, "", { Location: "/redirect" });
        case "/cookies":
            return send(200, "text/plain", "ok", { "Set-Cookie": ["a=1; Path=/; HttpOnly", "b=two%20x"] });
        case "/conn": /* requests seen on this connection: 2+ when kept alive */
            req.socket.efCount = (req.socket.efCount || 0) + 1;
            return send(200, "text/plain", String(req.socket.efCount));
        case "/slow": return setTimeout(() => send(200, "text/plain", "late"), 1500);
        case "/echo": {
            const names = Object.keys(req.headers).filter((k) =>
                !["host", "connection", "user-agent", "accept", "accept-encoding", "content-length",
                  "transfer-encoding"].includes(k)).sort();
            const seen = {};
            for (const k of names) seen[k] = req.headers[k];
            return send(200, "application/json", JSON.stringify({
                method: req.method, path: url.pathname, query: url.search, headers: seen,
                body: body.toString("latin1")
            }));
        }
        default: return send(404, "text/plain", "unknown");
        }
    });
}

function start() {
    const server = http.createServer(handler);
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

module.exports = { start };
