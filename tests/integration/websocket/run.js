#!/usr/bin/env node
/*
 * run.js - integration test of the websocket nodes with real websocket
 * clients and servers (node's ws package) on free loopback ports.
 *
 *   node run.js EDGEFLOW_BINARY           compare edgeflow with expected.json
 *   node run.js --record                  re-record expected.json from Node-RED 4.1.15
 *   node run.js --hostile EDGEFLOW_BINARY edgeflow-only cases (limits, bad frames,
 *                                         abrupt disconnects, unknown paths, redeploys)
 *   node run.js --client EDGEFLOW_BINARY  edgeflow-only client cases (wss with tls-config,
 *                                         heartbeat, oversized, late and failing servers)
 *
 * The compared run starts a ws server (the peer of the websocket-client
 * nodes), runs flow.js's flow in the runtime (`edgeflow run --port P` or
 * tools/nr-run.js --port P) and drives its listeners with ws clients: echo
 * in payload and whole-message mode, replies to one session among several,
 * a broadcast to three clients; the client nodes connect, send, receive,
 * and reconnect after the server goes away and comes back. What every
 * client received, what the ws server received and what the debug nodes
 * showed (statuses included) are compared, with random ids normalised.
 * Exit status 0 when everything matches.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const http = require("http");
const { spawn } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const WebSocket = require(path.join(ROOT, "tools", "node_modules", "ws"));
const https = require("https");
const { execFileSync } = require("child_process");
const { buildFlow, buildHostileFlow, buildRedeployFlow, buildClientFlow } = require("./flow.js");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/* p, or a rejection naming `what` after ms. */
function within(p, ms, what) {
    let t;
    return Promise.race([p, new Promise((_, rej) => {
        t = setTimeout(() => rej(new Error("timed out: " + what)), ms);
    })]).finally(() => clearTimeout(t));
}

function freePort() {
    return new Promise((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const p = s.address().port;
            s.close(() => resolve(p));
        });
    });
}

/* ---- The peer of the websocket-client nodes ---- */

function startPeer(port, log) {
    return new Promise((resolve, reject) => {
        const wss = new WebSocket.Server({
            host: "127.0.0.1",
            port,
            handleProtocols: (protocols) => [...protocols][0] || false,
        });
        wss.on("connection", (ws, req) => {
            const proto = ws.protocol || "";
            const l = (log[req.url] = log[req.url] || []);
            l.push(["connect", proto, req.headers["x-edge"] || ""]);
            if (req.url === "/whole") {
                ws.send(JSON.stringify({ payload: "welcome", topic: "w" }));
            } else {
                ws.send("welcome " + req.url);
            }
            ws.on("message", (data, binary) => {
                l.push(["message", binary ? "binary" : "text",
                    binary ? [...data] : normId(data.toString())]);
                ws.send(binary ? data : "echo " + data.toString(), { binary });
            });
        });
        wss.on("listening", () => resolve(wss));
        wss.on("error", reject);
    });
}

function stopPeer(wss) {
    return new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
    });
}

/* ---- Runtimes ---- */

function startRuntime(cmd, args) {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const st = { proc: p, out: "", err: "", code: null, sig: null };
    p.stdout.on("data", (d) => (st.out += d));
    p.stderr.on("data", (d) => (st.err += d));
    st.done = new Promise((r) => p.on("close", (code, sig) => {
        st.code = code;
        st.sig = sig;
        r();
    }));
    return st;
}

async function stopRuntime(st) {
    st.proc.kill("SIGTERM");
    const t = setTimeout(() => st.proc.kill("SIGKILL"), 10000);
    await st.done;
    clearTimeout(t);
}

/* Waits until a websocket on `url` opens (the flows run), up to ms. */
async function waitReady(url, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        const ok = await new Promise((r) => {
            const ws = new WebSocket(url);
            ws.on("open", () => {
                ws.close();
                r(true);
            });
            ws.on("error", () => r(false));
        });
        if (ok) {
            await sleep(200);
            return;
        }
        await sleep(150);
    }
    throw new Error("runtime not ready: " + url);
}

/* ---- Clients ---- */

/* Opens a client; resolves with {ws, got[]} once open. */
function client(url, opts) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, opts);
        const c = { ws, got: [], closeCode: null };
        ws.on("message", (d, binary) => c.got.push(binary ? { binary: [...d] } : d.toString()));
        c.closed = new Promise((r) => ws.on("close", (code) => {
            c.closeCode = code;
            r(code);
        }));
        ws.on("open", () => resolve(c));
        ws.on("error", (e) => reject(e));
    });
}

async function closeAll(cs) {
    for (const c of cs) {
        c.ws.close();
        await within(c.closed, 5000, "close of c");
        await sleep(50);
    }
}

/* Random ids (also inside JSON text in a string, with escaped quotes) become <id>. */
const normId = (s) => s.replace(/(\\*)"(_msgid|id)\1":\1"[0-9a-f]{16}\1"/g, '$1"$2$1":$1"<id>$1"');

async function scenarios(port) {
    const base = `ws://127.0.0.1:${port}`;
    const t = {};
    /* echo, payload mode: the reply goes back through msg._session */
    const a = await client(base + "/ws/echo");
    a.ws.send("hello");
    a.ws.send(Buffer.from([1, 2, 3]));
    a.ws.send('{"a":1}');
    a.ws.send("");
    a.ws.send("12345");
    a.ws.send("ünïcödé ✓");
    await sleep(400);
    t.echo = a.got;
    /* whole-message mode: JSON in, JSON out without _session */
    const w = await client(base + "/ws/whole");
    for (const m of ['{"payload":"x","topic":"t"}', "notjson", "5", '"str"', "true",
        '[{"payload":"arr"}]', '{"payload":{"deep":[1,2]},"_msgid":"0123456789abcdef"}']) {
        w.ws.send(m);
    }
    w.ws.send(Buffer.from('{"payload":"from binary"}'));
    await sleep(400);
    t.whole = w.got.map((g) => typeof g === "string" ? normId(g) : g);
    /* two sessions on one listener: each gets only its own replies */
    const s1 = await client(base + "/ws/echo");
    const s2 = await client(base + "/ws/echo");
    s1.ws.send("from s1");
    await sleep(150);
    s2.ws.send("from s2");
    await sleep(150);
    s1.ws.send("again s1");
    await sleep(400);
    t.sessions = [s1.got, s2.got];
    await closeAll([a, w, s1, s2]);
    /* broadcast: three clients, one message to all */
    const bs = [];
    for (let i = 0; i < 3; i++) {
        bs.push(await client(base + "/ws/bcast"));
        await sleep(100);
    }
    bs[1].ws.send("to everyone");
    await sleep(300);
    bs[2].ws.send(Buffer.from([9, 8]));
    await sleep(400);
    t.broadcast = bs.map((b) => b.got);
    await closeAll(bs);
    await sleep(200);
    return t;
}

/* Debug lines, per debug node, with ids and ports normalised. */
function debugById(out, ports) {
    const m = {};
    for (const line of out.split("\n").filter((l) => l.trim())) {
        let s = line;
        for (const p of ports) s = s.split(String(p)).join("PORT");
        const o = JSON.parse(normId(s));
        (m[o.id] = m[o.id] || []).push(JSON.stringify(o.value));
    }
    return m;
}

async function runCompared(record, bin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-ws-"));
    const port = await freePort();
    const peerPort = await freePort();
    const peerLog = {};
    let peer = await startPeer(peerPort, peerLog);
    const flowFile = path.join(dir, "flow.json");
    fs.writeFileSync(flowFile, JSON.stringify(buildFlow(peerPort), null, 1));
    const st = record
        ? startRuntime(process.execPath, [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--port",
            String(port), "--run-ms", "60000"])
        : startRuntime(bin, ["run", flowFile, "--debug-stdout", "--port", String(port), "--user-dir", dir]);
    let result;
    try {
        await waitReady(`ws://127.0.0.1:${port}/ws/echo`, 30000);
        const t = await scenarios(port);
        /* the client nodes: let the injects run, then take the peer away and bring it back */
        await sleep(2500);
        await stopPeer(peer);
        await sleep(500);
        peer = await startPeer(peerPort, peerLog);
        await sleep(4500);
        t.peer = peerLog;
        await stopRuntime(st);
        await stopPeer(peer);
        result = { clients: t, debug: debugById(st.out, [port, peerPort]) };
    } catch (e) {
        await stopRuntime(st);
        await stopPeer(peer);
        console.error(st.err);
        throw e;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    const file = path.join(__dirname, "expected.json");
    if (record) {
        fs.writeFileSync(file, JSON.stringify(result, null, 1) + "\n");
        console.log("recorded expected.json");
        return 0;
    }
    const want = JSON.parse(fs.readFileSync(file, "utf8"));
    let fails = 0;
    for (const k of new Set([...Object.keys(want.clients), ...Object.keys(result.clients)])) {
        const a = JSON.stringify(want.clients[k]), b = JSON.stringify(result.clients[k]);
        if (a !== b) {
            fails++;
            console.error(`clients.${k}:\n  expected ${a}\n  got      ${b}`);
        }
    }
    for (const k of new Set([...Object.keys(want.debug), ...Object.keys(result.debug)])) {
        const a = want.debug[k] || [], b = result.debug[k] || [];
        if (JSON.stringify(a) !== JSON.stringify(b)) {
            fails++;
            console.error(`debug ${k}:\n  expected ${a.join("\n           ")}\n  got      ${b.join("\n           ")}`);
        }
    }
    fails += checkExit(st);
    if (fails) {
        console.error("edgeflow stderr:\n" + st.err);
    } else {
        console.log("ok: clients, peer and debug output match Node-RED's");
    }
    return fails ? 1 : 0;
}

function checkExit(st) {
    let fails = 0;
    if (st.code !== 0 && st.sig !== "SIGTERM") {
        console.error(`edgeflow exited with ${st.code} ${st.sig}`);
        fails++;
    }
    if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(st.err)) {
        console.error("sanitizer report:\n" + st.err);
        fails++;
    }
    return fails;
}

/* ---- Hostile input and redeploys (edgeflow only) ---- */

function httpReq(port, method, urlPath, body, headers) {
    return new Promise((resolve, reject) => {
        if (body) headers = { ...headers, "content-length": Buffer.byteLength(body) };
        const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers }, (res) => {
            let data = "";
            res.on("data", (d) => (data += d));
            res.on("end", () => resolve({ status: res.statusCode, body: data }));
        });
        req.on("error", reject);
        if (body) req.write(body);
        req.end();
    });
}

/* Resolves with how a connection attempt ended: "open", or the error text. */
function tryConnect(url, ms) {
    return new Promise((resolve) => {
        const ws = new WebSocket(url);
        const t = setTimeout(() => {
            ws.terminate();
            resolve("timeout");
        }, ms);
        ws.on("open", () => {
            clearTimeout(t);
            ws.close();
            resolve("open");
        });
        ws.on("error", (e) => {
            clearTimeout(t);
            resolve("error: " + e.message);
        });
    });
}

async function echoOnce(url, text) {
    const c = await client(url);
    c.ws.send(text);
    for (let i = 0; i < 40 && !c.got.length; i++) await sleep(25);
    c.ws.close();
    await within(c.closed, 5000, "close of c");
    return c.got[0];
}

async function runHostile(bin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-ws-h-"));
    const port = await freePort();
    const max = 65536;
    fs.writeFileSync(path.join(dir, "settings.json"),
        JSON.stringify({ webSocketNodeMaxPayload: max, httpNodeRoot: "/api/" }));
    const flowFile = path.join(dir, "flows.json");
    fs.writeFileSync(flowFile, JSON.stringify(buildHostileFlow()));
    const st = startRuntime(bin, ["run", flowFile, "--port", String(port), "--user-dir", dir,
        "--settings", path.join(dir, "settings.json")]);
    const base = `ws://127.0.0.1:${port}`;
    let fails = 0;
    const check = (name, ok, detail) => {
        if (!ok) {
            fails++;
            console.error(`FAIL ${name}: ${detail === undefined ? "" : JSON.stringify(detail)}`);
        } else {
            console.log(`ok ${name}`);
        }
    };
    try {
        await waitReady(base + "/api/ws/echo", 30000);
        check("path is relative to httpNodeRoot", (await tryConnect(base + "/ws/echo", 3000)) !== "open");
        check("unknown path refused promptly", /^error/.test(await tryConnect(base + "/nope", 3000)));
        check("query string ignored for the path", (await tryConnect(base + "/api/ws/echo?x=1", 3000)) === "open");

        /* a message over webSocketNodeMaxPayload closes with 1009 */
        let c = await client(base + "/api/ws/echo");
        c.ws.send("x".repeat(max + 1));
        check("oversized message closed with 1009", (await c.closed) === 1009, c.closeCode);
        /* the limit applies to the whole message, not to each fragment */
        c = await client(base + "/api/ws/echo");
        c.ws.send(Buffer.alloc(40000, 1), { fin: false });
        c.ws.send(Buffer.alloc(40000, 2), { fin: true });
        check("oversized fragmented message closed with 1009", (await c.closed) === 1009, c.closeCode);
        /* fragments under the limit are one message */
        c = await client(base + "/api/ws/echo");
        c.ws.send("a".repeat(20000), { fin: false });
        c.ws.send("b".repeat(20000), { fin: false });
        c.ws.send("c".repeat(20000), { fin: true });
        c.ws.send("y".repeat(max));
        for (let i = 0; i < 80 && c.got.length < 2; i++) await sleep(25);
        check("fragmented message reassembled",
            c.got.length === 2 && c.got[0] === "a".repeat(20000) + "b".repeat(20000) + "c".repeat(20000),
            c.got.map((g) => g.length));
        check("message of exactly the limit accepted", c.got[1] === "y".repeat(max));
        c.ws.close();
        await within(c.closed, 5000, "close of c");
        /* text that is not UTF-8 closes with 1007 */
        c = await client(base + "/api/ws/echo");
        c.ws.send(Buffer.from([0x68, 0xff, 0xfe, 0x69]), { binary: false });
        check("invalid UTF-8 text closed with 1007", (await c.closed) === 1007, c.closeCode);
        c = await client(base + "/api/ws/echo");
        c.ws.send(Buffer.from([0xc0, 0xaf]), { binary: false }); /* an overlong "/" */
        check("overlong UTF-8 closed with 1007", (await c.closed) === 1007, c.closeCode);
        check("4-byte UTF-8 accepted", (await echoOnce(base + "/api/ws/echo", "emoji \u{1F600}")) === "emoji \u{1F600}");
        c = await client(base + "/api/ws/echo");
        c.ws.send(Buffer.from([0xed, 0xa0, 0x80]), { binary: false }); /* a UTF-16 surrogate */
        check("surrogate in text closed with 1007", (await c.closed) === 1007, c.closeCode);
        /* abrupt disconnects while replies are on their way */
        for (let i = 0; i < 30; i++) {
            const d = await client(base + "/api/ws/echo");
            d.ws.send("z".repeat(30000));
            d.ws.send("bye");
            d.ws.terminate();
        }
        /* a client that sends garbage instead of frames */
        await new Promise((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => {
                s.write(`GET /api/ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
                setTimeout(() => {
                    s.write(Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]));
                    setTimeout(() => {
                        s.destroy();
                        resolve();
                    }, 200);
                }, 200);
            });
            s.on("error", () => resolve());
        });
        /* a client that stops reading does not hold up the others, and gets everything later */
        const slow = await client(base + "/api/ws/echo");
        slow.ws._socket.pause();
        const chunk = "s".repeat(60000);
        for (let i = 0; i < 80; i++) slow.ws.send(chunk);
        await sleep(300);
        const t0 = Date.now();
        const other = await echoOnce(base + "/api/ws/echo", "not blocked");
        check("other clients served while one does not read", other === "not blocked" && Date.now() - t0 < 2000,
            Date.now() - t0);
        slow.ws._socket.resume();
        for (let i = 0; i < 200 && slow.got.length < 80; i++) await sleep(25);
        check("slow reader receives all its replies in order",
            slow.got.length === 80 && slow.got.every((g) => g === chunk), slow.got.length);
        slow.ws.close();
        await within(slow.closed, 5000, "close of slow");
        check("still echoes after hostile clients", (await echoOnce(base + "/api/ws/echo", "alive")) === "alive");
        /* the editor keeps working */
        const r = await httpReq(port, "GET", "/", null, {});
        check("editor page served", r.status === 200, r.status);
        check("editor /comms websocket opens", (await tryConnect(base + "/comms", 3000)) === "open");
        const flows = await httpReq(port, "GET", "/flows", null, { "node-red-api-version": "v2" });
        check("admin API answers", flows.status === 200, flows.status);

        /* a "nodes" deploy that keeps /ws/echo and replaces /ws/old by /ws/new */
        const keep = await client(base + "/api/ws/echo");
        const old = await client(base + "/api/ws/old");
        const rev = JSON.parse(flows.body).rev;
        const dep = await httpReq(port, "POST", "/flows",
            JSON.stringify({ rev, flows: buildRedeployFlow() }),
            { "content-type": "application/json", "node-red-api-version": "v2",
                "node-red-deployment-type": "nodes" });
        check("redeploy accepted", dep.status === 200, dep);
        await within(old.closed, 5000, "close of old");
        check("removed listener's client disconnected", old.closeCode !== null, old.closeCode);
        check("removed path refused", /^error/.test(await tryConnect(base + "/api/ws/old", 3000)));
        check("added path echoes", (await echoOnce(base + "/api/ws/new", "new!")) === "new!");
        keep.ws.send("still here");
        for (let i = 0; i < 40 && !keep.got.length; i++) await sleep(25);
        check("unchanged listener keeps its client", keep.got[0] === "still here", keep.got);
        keep.ws.close();
        await within(keep.closed, 5000, "close of keep");
        /* a full deploy restarts the listener: its clients are dropped, as in Node-RED */
        const keep2 = await client(base + "/api/ws/echo");
        const rev2 = JSON.parse((await httpReq(port, "GET", "/flows", null, { "node-red-api-version": "v2" })).body).rev;
        await httpReq(port, "POST", "/flows", JSON.stringify({ rev: rev2, flows: buildRedeployFlow() }),
            { "content-type": "application/json", "node-red-api-version": "v2",
                "node-red-deployment-type": "full" });
        await within(keep2.closed, 5000, "close of keep2");
        check("full deploy drops the listener's clients", keep2.closeCode !== null);
        check("path served again after a full deploy",
            (await echoOnce(base + "/api/ws/echo", "back")) === "back");
    } catch (e) {
        fails++;
        console.error(e && e.stack || e);
    }
    await stopRuntime(st);
    fails += checkExit(st);
    if (fails) console.error("edgeflow stderr:\n" + st.err);
    fs.rmSync(dir, { recursive: true, force: true });
    return fails ? 1 : 0;
}

/* ---- Client nodes against servers that misbehave (edgeflow only) ---- */

/* A CA and a server certificate for 127.0.0.1 signed by it, made with openssl. */
function makeCerts(dir) {
    const o = (...a) => execFileSync("openssl", a, { cwd: dir, stdio: "ignore" });
    o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=edgeflow test CA");
    o("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1");
    fs.writeFileSync(path.join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
    o("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext.cnf");
    return { ca: path.join(dir, "ca.pem"), key: path.join(dir, "srv.key"), cert: path.join(dir, "srv.pem") };
}

/* A ws server recording connections, close codes and pings; `onConn` may act on each. */
function recorder(opts, onConn) {
    const rec = { conns: [], closes: [] };
    rec.wss = new WebSocket.Server(opts);
    rec.wss.on("connection", (ws, req) => {
        rec.conns.push(req.url);
        ws.on("close", (code) => rec.closes.push(code));
        if (onConn) onConn(ws, req);
        else ws.send("welcome " + req.url);
    });
    rec.ready = new Promise((r) => rec.wss.on("listening", r));
    return rec;
}

async function runClient(bin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-ws-c-"));
    const certs = makeCerts(dir);
    const ports = { tls: await freePort(), nopong: await freePort(), peer: await freePort(), late: await freePort() };
    const httpsServer = https.createServer({ key: fs.readFileSync(certs.key), cert: fs.readFileSync(certs.cert) });
    await new Promise((r) => httpsServer.listen(ports.tls, "127.0.0.1", r));
    const tls = recorder({ server: httpsServer });
    const nopong = recorder({ host: "127.0.0.1", port: ports.nopong, autoPong: false });
    const max = 65536;
    const big = recorder({ host: "127.0.0.1", port: ports.peer }, (ws) => ws.send("B".repeat(max + 10)));
    await Promise.all([nopong.ready, big.ready]);
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify({ webSocketNodeMaxPayload: max }));
    const flowFile = path.join(dir, "flows.json");
    fs.writeFileSync(flowFile, JSON.stringify(buildClientFlow({ ...ports, ca: certs.ca })));
    const st = startRuntime(bin, ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir,
        "--settings", path.join(dir, "settings.json")]);
    await sleep(1500);
    const late = recorder({ host: "127.0.0.1", port: ports.late });
    await late.ready;
    await sleep(7000);
    await stopRuntime(st);
    await sleep(300);
    const dbgs = {};
    for (const line of st.out.split("\n").filter((l) => l.trim())) {
        const o = JSON.parse(line);
        (dbgs[o.id] = dbgs[o.id] || []).push(o.value);
    }
    const texts = (id) => (dbgs[id] || []).map((v) => v && v.payload);
    const statuses = (id) => (dbgs[id] || []).map((v) => v && v.text);
    let fails = 0;
    const check = (name, ok, detail) => {
        if (!ok) {
            fails++;
            console.error(`FAIL ${name}: ${JSON.stringify(detail)}`);
        } else {
            console.log(`ok ${name}`);
        }
    };
    check("wss verified with the tls-config CA", texts("d_sec").includes("welcome /secure"), dbgs.d_sec);
    check("wss without verification", texts("d_insec").includes("welcome /insecure"), dbgs.d_insec);
    check("wss with an unknown CA refused", !tls.conns.includes("/bad") && !dbgs.d_bad &&
        statuses("ds_bad").includes("common.status.error"), { conns: tls.conns, st: dbgs.ds_bad });
    check("failed connection retried every 3 s", statuses("ds_bad").filter((t) => t === "common.status.error").length >= 2,
        statuses("ds_bad"));
    check("heartbeat without pong drops and reconnects", nopong.conns.length >= 2 &&
        statuses("ds_hb").includes("common.status.error"), { conns: nopong.conns, st: statuses("ds_hb") });
    check("oversized message from the server closed with 1009", big.closes.includes(1009), big.closes);
    check("reconnects after closing for size", big.conns.length >= 2 && !dbgs.d_big, big.conns);
    check("server that starts late is reached", late.conns.includes("/late") &&
        texts("d_late").includes("welcome /late"), { conns: late.conns, d: dbgs.d_late });
    check("a URL that is not one is reported", /ws:\/\//.test(st.err) && /Cbad2|websocket-client/.test(st.err),
        st.err);
    fails += checkExit(st);
    if (fails) console.error("edgeflow stderr:\n" + st.err);
    for (const r of [tls, nopong, big, late]) {
        for (const c of r.wss.clients) c.terminate();
        r.wss.close();
    }
    httpsServer.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return fails ? 1 : 0;
}

async function main() {
    const argv = process.argv.slice(2);
    if (argv[0] === "--record") {
        process.exitCode = await runCompared(true);
    } else if (argv[0] === "--hostile" && argv[1]) {
        process.exitCode = await runHostile(argv[1]);
    } else if (argv[0] === "--client" && argv[1]) {
        process.exitCode = await runClient(argv[1]);
    } else if (argv[0]) {
        process.exitCode = await runCompared(false, argv[0]);
    } else {
        console.error("usage: node run.js EDGEFLOW_BINARY | --record | --hostile EDGEFLOW_BINARY");
        process.exitCode = 2;
    }
}

main().catch((e) => {
    console.error(e && e.stack || e);
    process.exit(1);
});
