#!/usr/bin/env node
/*
 * faults.js - the http request node against servers that misbehave or are
 * hard to talk to, all started here on free 127.0.0.1 ports:
 *   - a server that resets the connection before answering, and one that
 *     sends the headers and part of the body and then resets;
 *   - an HTTPS server with a self-signed certificate made with openssl now:
 *     refused without a tls-config node, accepted with a tls-config whose CA
 *     is that certificate, and with one whose verifyservercert is false;
 *   - a 50 MB chunked response streamed in 64 KB pieces: the payload must
 *     arrive whole (same SHA-256 as sent); edgeflow's peak RSS and the time
 *     taken are printed.
 * The debug lines were recorded from Node-RED 4.1.15 (tools/nr-run.js) into
 * expected-faults.json. The 50 MB payload is posted back by a second http
 * request to /sink, which answers "<length> <sha256>"; that must also equal
 * what was sent.
 *
 *   node faults.js EDGEFLOW_BINARY     compare with expected-faults.json
 *   node faults.js --record            re-record it from Node-RED
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const http = require("http");
const https = require("https");
const crypto = require("crypto");
const { spawn } = require("child_process");
const { makeCert } = require("./cert.js");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const BIG = 50 * 1024 * 1024;
const PIECE = 64 * 1024;

/* The big body: a fixed pseudo-random pattern, so a lost or reordered chunk shows. */
function piece(i) {
    const b = Buffer.alloc(PIECE);
    let x = (i * 2654435761) >>> 0 || 1;
    for (let j = 0; j < PIECE; j += 4) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        b.writeUInt32LE(x, j);
    }
    return b;
}
function bigSha() {
    const h = crypto.createHash("sha256");
    for (let i = 0; i < BIG / PIECE; i++) h.update(piece(i));
    return h.digest("hex");
}

function listen(server) {
    return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server.address().port)));
}

function handler(req, res) {
    res.sendDate = false;
    if (req.url === "/partial") {
        /* headers and 10 bytes of a 1000-byte body, then a TCP reset */
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "1000" });
        res.write("0123456789", () => setTimeout(() => req.socket.resetAndDestroy(), 50));
        return;
    }
    if (req.url === "/sink") {
        /* what the flow received from /big, posted back: its length and SHA-256 */
        const h = crypto.createHash("sha256");
        let len = 0;
        req.on("data", (c) => { h.update(c); len += c.length; });
        req.on("end", () => {
            req.socket.server.efSinkAt = Date.now();
            res.writeHead(200, { "Content-Type": "text/plain" });
            res.end(`${len} ${h.digest("hex")}`);
        });
        return;
    }
    if (req.url === "/big") {
        req.socket.server.efBigAt = Date.now();
        res.writeHead(200, { "Content-Type": "application/octet-stream" });
        let i = 0;
        const more = () => {
            while (i < BIG / PIECE) {
                if (!res.write(piece(i++))) return res.once("drain", more);
            }
            res.end();
        };
        return more();
    }
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("secure hello");
}

function buildFlow(p, certFile) {
    const nodes = [{ id: "t1", type: "tab", label: "faults" }];
    const inject = (id, delay, wires) => nodes.push({ id, type: "inject", z: "t1", props: [{ p: "payload" }],
        repeat: "", crontab: "", once: true, onceDelay: delay, topic: "", payload: "", payloadType: "date",
        wires: [wires] });
    const request = (id, cfg, wires) => nodes.push(Object.assign({ id, type: "http request", z: "t1",
        name: "", method: "GET", ret: "txt", paytoqs: "ignore", url: "", tls: "", persist: false, proxy: "",
        insecureHTTPParser: false, authType: "", senderr: false, headers: [] }, cfg, { wires: [wires] }));
    const debug = (id, complete) => nodes.push({ id, type: "debug", z: "t1", active: true, tosidebar: true,
        console: false, tostatus: false, complete, targetType: "msg", wires: [] });
    const kase = (n, delay, cfg) => {
        inject(`i${n}`, delay, [`r${n}`]);
        request(`r${n}`, cfg, [`d${n}`, `d${n}s`]);
        debug(`d${n}`, "payload");
        debug(`d${n}s`, "statusCode");
        nodes.push({ id: `c${n}`, type: "catch", z: "t1", name: "", scope: [`r${n}`], uncaught: false,
            wires: [[`d${n}x`]] });
        debug(`d${n}x`, "error.message");
    };
    const tls = (id, cfg) => nodes.push(Object.assign({ id, type: "tls-config", name: "", cert: "", key: "",
        ca: "", certname: "", keyname: "", caname: "", servername: "", verifyservercert: true,
        alpnprotocol: "" }, cfg));
    kase(1, 0.1, { url: `http://127.0.0.1:${p.reset}/x` });
    kase(2, 0.2, { url: `http://127.0.0.1:${p.http}/partial` });
    kase(3, 0.3, { url: `https://127.0.0.1:${p.https}/` });
    tls("tlsca", { ca: certFile });
    kase(4, 0.4, { url: `https://127.0.0.1:${p.https}/`, tls: "tlsca" });
    tls("tlsnoverify", { verifyservercert: false });
    kase(5, 0.5, { url: `https://127.0.0.1:${p.https}/`, tls: "tlsnoverify" });
    /* without a tls-config node, https:// is added to a bare host */
    kase(6, 0.6, { url: `127.0.0.1:${p.https}/`, tls: "tlsnoverify" });
    /* the big one, posted back to /sink, which answers its length and SHA-256 */
    inject("i7", 0.8, ["r7"]);
    request("r7", { url: `http://127.0.0.1:${p.http}/big`, ret: "bin" }, ["r7b", "d7s"]);
    debug("d7s", "statusCode");
    request("r7b", { url: `http://127.0.0.1:${p.http}/sink`, method: "POST" }, ["d7"]);
    debug("d7", "payload");
    return nodes;
}

/* Run `cmd args`; resolves with stdout lines, stderr, peak RSS (kB, edgeflow only). */
function collect(cmd, args, runMs, env) {
    return new Promise((resolve) => {
        const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: Object.assign({}, process.env, env) });
        let out = "", err = "", peak = 0;
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (err += d));
        const sample = setInterval(() => {
            try {
                const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, "utf8"));
                if (m) peak = Math.max(peak, +m[1]);
            } catch (e) { /* gone */ }
        }, 100);
        const timer = cmd === process.execPath ? null : setTimeout(() => p.kill("SIGTERM"), runMs);
        p.on("close", (code, sig) => {
            clearInterval(sample);
            if (timer) clearTimeout(timer);
            resolve({ out, err, code, sig, peak });
        });
    });
}

async function main() {
    const argv = process.argv.slice(2);
    const record = argv[0] === "--record";
    const bin = argv[0];
    if (!bin) {
        console.error("usage: node faults.js EDGEFLOW_BINARY | --record");
        process.exit(2);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-faults-"));
    const { key, cert } = makeCert(dir);
    const plain = http.createServer(handler);
    const secure = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, handler);
    /* reads the request, then resets the connection without a byte of answer */
    const reset = net.createServer((s) => s.once("data", () => s.resetAndDestroy()));
    const p = { http: await listen(plain), https: await listen(secure), reset: await listen(reset) };
    const flowFile = path.join(dir, "flow.json");
    fs.writeFileSync(flowFile, JSON.stringify(buildFlow(p, cert), null, 1));
    const runMs = 8000;
    const args = record ? [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms", String(runMs)]
        : ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir];
    const res = await collect(record ? process.execPath : bin, args, runMs);
    const ports = [[p.http, "HTTP"], [p.https, "HTTPS"], [p.reset, "RESET"]];
    const lines = res.out.split("\n").filter((l) => l.trim()).map((l) => {
        for (const [n, name] of ports) l = l.split(String(n)).join(name);
        return JSON.parse(l);
    });
    const got = lines;
    const bigSeen = lines.filter((l) => l.id === "d7").map((l) => l.value);
    const fixture = path.join(__dirname, "expected-faults.json");
    let fails = 0;
    if (record) {
        fs.writeFileSync(fixture, JSON.stringify(got, null, 1) + "\n");
        process.stderr.write(res.err);
        console.log(`recorded ${got.length} lines`);
    } else {
        const want = JSON.parse(fs.readFileSync(fixture));
        const key1 = (a) => a.map((l) => JSON.stringify(l)).sort();
        const w = key1(want), g = key1(got);
        for (const l of w) if (!g.includes(l)) { console.error("missing: " + l); fails++; }
        for (const l of g) if (!w.includes(l)) { console.error("unexpected: " + l); fails++; }
        if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(res.err)) {
            console.error("sanitizer report");
            fails++;
        }
        if (res.code !== 0 && res.sig !== "SIGTERM") {
            console.error(`edgeflow exited with ${res.code} ${res.sig}`);
            fails++;
        }
    }
    const wantBig = `${BIG} ${bigSha()}`;
    if (JSON.stringify(bigSeen) !== JSON.stringify([wantBig])) {
        console.error(`50 MB payload came back as ${JSON.stringify(bigSeen)}, want ["${wantBig}"]`);
        fails++;
    }
    if (fails) console.error("stderr:\n" + res.err);
    else if (!record) console.log(`ok: ${got.length} lines match`);
    if (plain.efBigAt && plain.efSinkAt) {
        console.log(`50 MB: /big requested to /sink received in ${plain.efSinkAt - plain.efBigAt} ms`);
    }
    console.log(`peak RSS ${Math.round(res.peak / 1024)} MB`);
    if (!record && res.peak > 400 * 1024) {
        console.error("peak RSS above 400 MB for a 50 MB response");
        fails++;
    }
    process.exitCode = fails ? 1 : 0;
    fs.rmSync(dir, { recursive: true, force: true });
    for (const s of [plain, secure, reset]) { s.close(); if (s.closeAllConnections) s.closeAllConnections(); }
}

main().catch((e) => {
    console.error(e && e.stack || e);
    process.exit(1);
});
