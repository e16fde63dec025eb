#!/usr/bin/env node
/*
 * editor_hostile.js - hostile input to the editor server: malformed JSON,
 * huge bodies, slow clients, unknown routes, path traversal, raw garbage on
 * the socket and websocket garbage. Every case must get a clear HTTP error
 * or a close, other clients must still be served meanwhile, and the runtime
 * must keep running (its flows keep producing debug messages).
 *
 *   node tests/integration/editor_hostile.js path/to/edgeflow
 */
"use strict";

const path = require("path");
const net = require("net");
const h = require("./editor_harness.js");
const WebSocket = require(path.join(h.modules, "ws"));

const t = h.reporter("editor.hostile");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Sends raw bytes, returns what came back before close or timeout. */
function raw(port, bytes, ms = 2000, keepOpen = false) {
    return new Promise((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        let got = "";
        let closed = false;
        s.on("data", (d) => { got += d; });
        s.on("close", () => { closed = true; resolve({ got, closed }); });
        s.on("error", () => {});
        s.on("connect", () => { if (bytes) s.write(bytes); });
        setTimeout(() => {
            if (!closed) {
                if (!keepOpen) s.destroy();
                resolve({ got, closed: false, socket: s });
            }
        }, ms);
    });
}

async function status(base, p, opts) {
    const r = await fetch(base + p, opts);
    const body = await r.text();
    return { status: r.status, body };
}

function wsOpen(url) {
    return new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.on("open", () => resolve(ws));
        ws.on("error", () => resolve(null));
    });
}

function wsClose(ws, ms = 3000) {
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), ms);
        ws.on("close", (code) => { clearTimeout(timer); resolve(code); });
    });
}

async function main() {
    const bin = process.argv[2];
    const flows = path.join(__dirname, "fixtures", "hostile-flows.json");
    const ef = await h.start(bin, flows);
    const B = ef.base;
    try {
        /* a listener that counts debug messages: the flows must keep running */
        const watcher = await wsOpen(B.replace("http", "ws") + "/comms");
        let debugCount = 0;
        watcher.on("message", (d) => {
            for (const m of JSON.parse(String(d))) if (m.topic === "debug") debugCount++;
        });

        let r = await status(B, "/flows", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{\"flows\": [" });
        t.check("malformed JSON -> 400", r.status === 400, r.status);
        t.check("malformed JSON error names the problem", /invalid_json/.test(r.body), r.body);
        r = await status(B, "/flows", { method: "POST", headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v2" }, body: "[1,2]" });
        t.check("v2 deploy of a non-object -> 400", r.status === 400, r.status);
        r = await status(B, "/flows", { method: "POST", headers: { "Content-Type": "application/json" }, body: "[{\"id\":\"x\"}]" });
        t.check("flows that do not validate -> 400 with the problems", r.status === 400 && /invalid_flows/.test(r.body), r.body);
        r = await status(B, "/flows", { method: "POST", headers: { "Content-Type": "application/json" }, body: "[{\"id\":\"t\",\"type\":\"tab\"},{\"id\":\"n\",\"type\":\"no-such-type\",\"z\":\"t\"}]" });
        t.check("unknown node type -> 400, flows kept", r.status === 400, r.status);
        r = await status(B, "/flows", { method: "POST", headers: { "Content-Type": "application/json", "Node-RED-Deployment-Type": "sideways" }, body: "[]" });
        t.check("unknown deployment type -> 400", r.status === 400, r.status);

        /* 6 MiB body: refused from its Content-Length, connection closed */
        const bigHead = "POST /flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                        (6 << 20) + "\r\n\r\n[" + "1,".repeat(1 << 16);
        const big = await raw(ef.port, bigHead, 1500);
        t.check("6 MiB body -> 413 and close", / 413 /.test(big.got), big.got.slice(0, 80));
        const lie = await raw(ef.port, "POST /flows HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 1500);
        t.check("absurd Content-Length -> 413", / 413 /.test(lie.got), lie.got.slice(0, 80));

        t.check("unknown route -> 404", (await status(B, "/no/such/route")).status === 404);
        t.check("unknown method on a route -> 404", (await status(B, "/flows", { method: "DELETE" })).status === 404);
        t.check("missing static file -> 404", (await status(B, "/red/nope.js")).status === 404);
        const trav = await raw(ef.port, "GET /red/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 1500);
        t.check("path traversal does not leak files", !/root:/.test(trav.got), trav.got.slice(0, 80));
        const trav2 = await raw(ef.port, "GET /vendor/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 1500);
        t.check("encoded traversal does not leak files", !/root:/.test(trav2.got), trav2.got.slice(0, 80));
        const icon = await status(B, "/icons/node-red/..%2f..%2fpackage.json");
        t.check("icon traversal does not leak files", !/"name"/.test(icon.body) && (icon.status === 404 || /<svg/.test(icon.body)), icon.status);
        t.check("inject on a non-inject node -> 404", (await status(B, "/inject/dbg", { method: "POST" })).status === 404);
        t.check("context of a missing node -> empty", (await status(B, "/context/node/nope")).status === 200);

        /* raw garbage: an HTTP error or a close, never a hang */
        const garbage = await raw(ef.port, Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]), 3000);
        t.check("binary garbage -> error or close", garbage.closed || / 4\d\d /.test(garbage.got), JSON.stringify(garbage.got.slice(0, 60)));
        const badline = await raw(ef.port, "HELLO WORLD\r\n\r\n", 3000);
        t.check("bad request line -> error or close", badline.closed || / 4\d\d /.test(badline.got), JSON.stringify(badline.got.slice(0, 60)));
        const hugeHeader = await raw(ef.port, "GET / HTTP/1.1\r\nX-Big: " + "a".repeat(20000) + "\r\n\r\n", 3000);
        t.check("20 KB header -> error or close", hugeHeader.closed || / 4\d\d /.test(hugeHeader.got), JSON.stringify(hugeHeader.got.slice(0, 60)));

        /* slow clients: 30 half-sent requests and a stalled body do not block others */
        const slow = [];
        for (let i = 0; i < 30; i++) {
            slow.push(raw(ef.port, "GET /settings HTTP/1.1\r\nHost: x\r\n", 100, true));
        }
        const stalled = raw(ef.port, "POST /flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[1,", 100, true);
        const slowSockets = await Promise.all(slow.concat([stalled]));
        const t0 = Date.now();
        r = await status(B, "/settings");
        t.check("served while 31 clients stall", r.status === 200 && Date.now() - t0 < 2000, Date.now() - t0);
        for (const s of slowSockets) if (s.socket) s.socket.destroy();

        /* websocket garbage */
        let ws = await wsOpen(B.replace("http", "ws") + "/comms");
        ws.send("this is not json");
        ws.send("{\"subscribe\": 42}");
        ws.send("[1,2,3]");
        await sleep(200);
        t.check("malformed /comms messages are ignored", ws.readyState === WebSocket.OPEN);
        ws.send(Buffer.from([1, 2, 3]), { binary: true });
        t.check("binary frame -> close 1003", (await wsClose(ws)) === 1003);
        ws = await wsOpen(B.replace("http", "ws") + "/comms");
        ws.send("x".repeat(100000));
        t.check("100 KB message -> close 1009", (await wsClose(ws)) === 1009);
        const other = await wsOpen(B.replace("http", "ws") + "/not-comms");
        t.check("websocket on another path is refused", other === null || (await wsClose(other, 1500)) !== null);
        /* a frame that claims 2^63 bytes, then keeps sending: closed at the 64 KiB cap */
        const upgrade = Buffer.from("GET /comms HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        const frame = Buffer.concat([Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
                                     Buffer.alloc(200000, 0x61)]);
        const rawWs = await raw(ef.port, Buffer.concat([upgrade, frame]), 3000);
        const closeFrame = rawWs.got.indexOf("\x88") >= 0 || rawWs.got.indexOf("\ufffd\u0013\u0003\u00f1") >= 0 ||
                           /message too large/.test(rawWs.got);
        t.check("websocket frame claiming 2^63 bytes -> close", rawWs.closed || closeFrame, rawWs.got.slice(0, 80));

        /* still running: API answers, flows still produce debug messages */
        const before = debugCount;
        await sleep(700);
        t.check("flows keep running", debugCount > before, debugCount + " vs " + before);
        r = await status(B, "/flows");
        t.check("API still answers", r.status === 200 && JSON.parse(r.body).length === 3);
        t.check("process alive", ef.alive());
        watcher.close();
    } finally {
        const code = await ef.stop();
        t.check("SIGTERM exits 0", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
    }
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
