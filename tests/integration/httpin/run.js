#!/usr/bin/env node
/*
 * run.js - http in / http response against real clients: edgeflow (the
 * binary given) runs flow.json on a free loopback port and answers the
 * requests in CASES; status, the headers that matter and the body must
 * equal what Node-RED 4.1.15 answered to the same requests on the same flow
 * (expected.json, recorded with `node run.js --record`, which runs the real
 * node-red CLI from tools/node_modules). Then edgeflow-only checks: the
 * httpNodeTimeout 503, double answers, hostile input (huge headers and
 * bodies, slowloris, garbage), concurrency, redeploys adding and removing
 * routes, and the editor still serving throughout.
 *
 *   node run.js [--record] EDGEFLOW_BINARY
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const { spawn } = require("child_process");

const here = __dirname;
const root = path.resolve(here, "..", "..", "..");
const FLOW = path.join(here, "flow.json");
const EXPECTED = path.join(here, "expected.json");
/* bcrypt of "s3cret" (bcryptjs, cost 8) */
const PASS_HASH = "$2b$08$vN3agE8CBzF5eRv.Ya8rbeXD/rldk6q0yR5YbGVSidbHmQLljO8fu";
const AUTH = "Basic " + Buffer.from("admin:s3cret").toString("base64");
const BADAUTH = "Basic " + Buffer.from("admin:wrong").toString("base64");

const GROUPS = {
    plain: { apiMaxLength: "64kb", httpNodeTimeout: 1500, httpNodeHeaders: ["x-tenant"] },
    busy: { httpNodeTimeout: 1500, httpNodeMaxPending: 5 },
    secured: {
        httpNodeRoot: "/api",
        httpNodeAuth: { user: "admin", pass: PASS_HASH },
        httpNodeCors: { origin: "*", methods: "GET,POST" },
        httpNodeTimeout: 1500,
    },
};

const big = "x".repeat(70000);
const multipart = [
    "--XyZ", 'Content-Disposition: form-data; name="title"', "", "hello world",
    "--XyZ", 'Content-Disposition: form-data; name="tags[]"', "", "a",
    "--XyZ", 'Content-Disposition: form-data; name="tags[]"', "", "b",
    "--XyZ", 'Content-Disposition: form-data; name="doc"; filename="a.txt"', "Content-Type: text/plain", "", "file body\r\nline 2",
    "--XyZ", 'Content-Disposition: form-data; name="bin"; filename="b.bin"', "", "\u0001\u0002",
    "--XyZ--", "",
].join("\r\n");

/* [group, name, method, path, headers, body] */
const CASES = [
    ["plain", "get query", "GET", "/hello?a=1&b[c]=2&a=3&d[]=x&d[]=y&s=a+b%21&e", {}],
    ["plain", "get no query", "GET", "/hello", {}],
    ["plain", "get trailing slash, case", "GET", "/HELLO/", {}],
    ["plain", "head", "HEAD", "/hello?x=1", {}],
    ["plain", "options auto", "OPTIONS", "/echo", {}],
    ["plain", "post json", "POST", "/echo", { "content-type": "application/json" }, '{"a":[1,2,{"b":null}],"c":"é"}'],
    ["plain", "put json", "PUT", "/echo", { "content-type": "application/json" }, '[1,2]'],
    ["plain", "patch urlencoded", "PATCH", "/echo", { "content-type": "application/x-www-form-urlencoded" }, "a=1&b[x]=2&b[y]=3&c=%20z+w"],
    ["plain", "delete json", "DELETE", "/echo", { "content-type": "application/json" }, '{"id":7}'],
    ["plain", "post text", "POST", "/type", { "content-type": "text/plain" }, "some text"],
    ["plain", "post xml", "POST", "/type", { "content-type": "application/xml" }, "<a>1</a>"],
    ["plain", "post no type", "POST", "/type", {}, "raw words"],
    ["plain", "post octet", "POST", "/type", { "content-type": "application/octet-stream" }, "abc"],
    ["plain", "post app utf8", "POST", "/type", { "content-type": "application/x-foo" }, "utf8 ok"],
    ["plain", "post app binary", "POST", "/type", { "content-type": "application/x-foo" }, { b64: "/wABAg==" }],
    ["plain", "post image", "POST", "/type", { "content-type": "image/png" }, "PNG"],
    ["plain", "post multipart no upload", "POST", "/type", { "content-type": "multipart/form-data; boundary=XyZ" }, multipart],
    ["plain", "post empty", "POST", "/type", {}, ""],
    ["plain", "post empty json", "POST", "/type", { "content-type": "application/json" }, ""],
    ["plain", "post json scalar", "POST", "/type", { "content-type": "application/json" }, '"str"'],
    ["plain", "post malformed json", "POST", "/echo", { "content-type": "application/json" }, '{"a":'],
    ["plain", "post json too big", "POST", "/echo", { "content-type": "application/json" }, '{"a":"' + big + '"}'],
    ["plain", "upload multipart", "POST", "/upload", { "content-type": "multipart/form-data; boundary=XyZ" }, multipart],
    ["plain", "upload non-multipart", "POST", "/upload", { "content-type": "text/plain" }, "not a form"],
    ["plain", "raw body", "POST", "/raw", { "content-type": "application/json" }, '{"not":"parsed"}'],
    ["plain", "params", "GET", "/device/ab%20c?x=1", {}],
    ["plain", "wildcard", "GET", "/files/a/b/c.txt", {}],
    ["plain", "wildcard trailing slash", "GET", "/files/x/", {}],
    ["plain", "wildcard empty", "GET", "/files/", {}],
    ["plain", "wildcard needs its slash", "GET", "/files", {}],
    ["plain", "param with trailing slash", "GET", "/device/7/", {}],
    ["plain", "param too many segments", "GET", "/device/7/8", {}],
    ["plain", "optional param absent", "GET", "/opt/one", {}],
    ["plain", "optional param present", "GET", "/opt/one/two", {}],
    ["plain", "cookies in", "GET", "/cookies", { cookie: "a=1; b=hello%20world; j=j:{\"x\":1}; q=\"quoted\"; a=2" }],
    ["plain", "cookies out", "GET", "/setcookie", {}],
    ["plain", "text", "GET", "/text", {}],
    ["plain", "number", "GET", "/num", {}],
    ["plain", "buffer", "GET", "/buf", {}],
    ["plain", "status and headers", "GET", "/status", {}],
    ["plain", "null", "GET", "/null", {}],
    ["plain", "undefined", "GET", "/undef", {}],
    ["plain", "jsonp", "GET", "/hello?callback=cb.x&v=1", {}],
    ["plain", "etag fresh", "GET", "/hello", { "if-none-match": 'W/"2-vyGp6PvFo4RvsFtPoIWeCReyIC8"' }],
    ["plain", "request headers", "GET", "/reqheaders?q=1", { "x-test": "t1", "x-api-key": "k", "x-tenant": "acme", "user-agent": "ua/1", accept: "text/plain" }],
    ["plain", "same route twice", "GET", "/dup", {}],
    ["plain", "fan-out first answer", "GET", "/twice", {}],
    ["plain", "slow flow", "GET", "/slow", {}],
    ["plain", "method not routed", "PUT", "/hello", {}],
    ["plain", "proxy: http request headers not sent back", "GET", "/proxy", {}],
    ["plain", "proxy: changed headers sent back", "GET", "/proxy2", {}],
    ["secured", "no auth", "GET", "/api/hello", {}],
    ["secured", "bad auth", "GET", "/api/hello", { authorization: BADAUTH }],
    ["secured", "auth ok", "GET", "/api/hello?z=1", { authorization: AUTH, origin: "http://x.example" }],
    ["secured", "auth ok twice (cache)", "GET", "/api/hello?z=2", { authorization: AUTH }],
    ["secured", "auth unknown path", "GET", "/api/nothing", { authorization: AUTH }],
    ["secured", "no auth unknown path", "GET", "/api/nothing", {}],
    ["secured", "cors preflight", "OPTIONS", "/api/echo", { origin: "http://x.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-y" }],
    ["secured", "cors post", "POST", "/api/echo", { authorization: AUTH, origin: "http://x.example", "content-type": "application/json" }, '{"ok":true}'],
    ["secured", "outside root", "GET", "/hello", {}],
];

/* Express error pages carry a stack trace in Node-RED: compare status and content type only */
const STATUS_ONLY = new Set(["post json scalar", "post malformed json", "post json too big"]);

const KEEP = ["content-type", "content-length", "etag", "allow", "www-authenticate", "vary",
    "access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
    "access-control-allow-credentials", "access-control-max-age", "x-config", "x-fixed", "x-from-msg",
    "x-list", "x-content-type-options", "content-security-policy", "x-extra"];

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
        s.on("error", reject);
    });
}

function rawRequest(port, method, p, headers, body) {
    /* a plain socket: exact bytes out, the whole answer back (no client normalisation) */
    return new Promise((resolve, reject) => {
        const buf = body === undefined ? Buffer.alloc(0)
            : typeof body === "object" ? Buffer.from(body.b64, "base64") : Buffer.from(body, "utf8");
        let head = method + " " + p + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nConnection: close\r\n";
        for (const [k, v] of Object.entries(headers)) head += k + ": " + v + "\r\n";
        if (body !== undefined) head += "Content-Length: " + buf.length + "\r\n";
        const s = net.connect(port, "127.0.0.1");
        const chunks = [];
        s.setTimeout(8000, () => { s.destroy(); reject(new Error("timeout " + method + " " + p)); });
        s.on("data", (d) => chunks.push(d));
        s.on("error", reject);
        s.on("close", () => resolve(parseResponse(Buffer.concat(chunks), method)));
        s.write(head + "\r\n");
        if (buf.length) s.write(buf);
    });
}

function parseResponse(all, method) {
    const sep = all.indexOf("\r\n\r\n");
    if (sep < 0) return { status: 0, headers: {}, body: all.toString("latin1") };
    const lines = all.subarray(0, sep).toString("latin1").split("\r\n");
    const status = parseInt(lines[0].split(" ")[1], 10);
    const headers = {};
    for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        const k = l.slice(0, i).trim().toLowerCase();
        const v = l.slice(i + 1).trim();
        if (headers[k] === undefined) headers[k] = v;
        else if (k === "set-cookie") headers[k] += "\n" + v;
        else headers[k] += ", " + v;
    }
    let body = all.subarray(sep + 4);
    if (/chunked/i.test(headers["transfer-encoding"] || "")) {
        const out = [];
        let i = 0;
        for (;;) {
            const e = body.indexOf("\r\n", i);
            const n = parseInt(body.subarray(i, e).toString(), 16);
            if (!n) break;
            out.push(body.subarray(e + 2, e + 2 + n));
            i = e + 2 + n + 2;
        }
        body = Buffer.concat(out);
    }
    const text = body.toString("utf8");
    return { status, headers, body: Buffer.from(text, "utf8").equals(body) ? text : { b64: body.toString("base64") } };
}

function normalise(r) {
    const h = {};
    for (const k of KEEP) if (r.headers[k] !== undefined) h[k] = r.headers[k];
    if (r.headers["set-cookie"]) {
        h["set-cookie"] = r.headers["set-cookie"].split("\n")
            .map((c) => /Max-Age=/.test(c) ? c.replace(/Expires=[^;]*/, "Expires=<date>") : c);
    }
    return { status: r.status, headers: h, body: r.body };
}

async function waitUp(port, child, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (child.exitCode !== null) throw new Error("server exited with " + child.exitCode);
        try {
            await rawRequest(port, "GET", "/__up", {});
            return;
        } catch (e) { /* not yet */ }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("server did not start");
}

async function startEdgeflow(bin, group, flowFile) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-httpin-"));
    fs.copyFileSync(flowFile || FLOW, path.join(dir, "flows.json"));
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(GROUPS[group]));
    const port = await freePort();
    const child = spawn(bin, ["run", path.join(dir, "flows.json"), "--port", String(port), "--user-dir", dir,
        "--settings", path.join(dir, "settings.json")], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (d) => { log += d; });
    await waitUp(port, child, 15000);
    return { port, child, dir, log: () => log };
}

async function startNodeRed(group) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nr-httpin-"));
    fs.copyFileSync(FLOW, path.join(dir, "flows.json"));
    const port = await freePort();
    const s = Object.assign({ uiHost: "127.0.0.1", uiPort: port, flowFile: "flows.json", userDir: dir,
        credentialSecret: false, editorTheme: { tours: false }, telemetry: { enabled: false },
        diagnostics: { enabled: false }, logging: { console: { level: "warn" } } }, GROUPS[group]);
    fs.writeFileSync(path.join(dir, "settings.js"), "module.exports = " + JSON.stringify(s, null, 1) + ";\n");
    const red = path.join(root, "tools", "node_modules", "node-red", "red.js");
    const child = spawn(process.execPath, [red, "--settings", path.join(dir, "settings.js"), "--userDir", dir],
        { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (d) => { log += d; });
    await waitUp(port, child, 30000);
    await new Promise((r) => setTimeout(r, 1000)); /* flows start after the server listens */
    return { port, child, dir, log: () => log };
}

function stop(srv) {
    return new Promise((resolve) => {
        if (srv.child.exitCode !== null) return resolve(srv.child.exitCode);
        srv.child.on("exit", (code, sig) => resolve(code === null ? sig : code));
        srv.child.kill("SIGTERM");
        setTimeout(() => srv.child.kill("SIGKILL"), 8000).unref();
    });
}

async function runCases(start) {
    const out = {};
    for (const group of Object.keys(GROUPS)) {
        const srv = await start(group);
        try {
            for (const [g, name, method, p, headers, body] of CASES) {
                if (g !== group) continue;
                try {
                    out[name] = normalise(await rawRequest(srv.port, method, p, headers, body));
                } catch (e) {
                    out[name] = { error: String(e), log: srv.log().slice(-2000) };
                }
            }
        } finally {
            await stop(srv);
            fs.rmSync(srv.dir, { recursive: true, force: true });
        }
    }
    return out;
}

let failures = 0;
function check(cond, what, detail) {
    if (cond) {
        console.log("ok   " + what);
    } else {
        failures++;
        console.log("FAIL " + what + (detail !== undefined ? "\n     " + JSON.stringify(detail) : ""));
    }
}

/* httpNodeMaxPending: past that many requests waiting for an answer, 503 at once. */
async function maxPending(bin) {
    const srv = await startEdgeflow(bin, "busy");
    try {
        const t0 = Date.now();
        const rs = await Promise.all(Array.from({ length: 8 }, () =>
            rawRequest(srv.port, "GET", "/never", {}).then((r) => ({ status: r.status, ms: Date.now() - t0 }))
                .catch((e) => ({ status: -1, err: String(e) }))));
        const fast = rs.filter((r) => r.status === 503 && r.ms < 1000).length;
        const late = rs.filter((r) => r.status === 503 && r.ms >= 1400).length;
        check(fast === 3 && late === 5, "httpNodeMaxPending 5: 3 of 8 refused at once, 5 answered at the timeout", rs);
        check(/requests are waiting for an http response \(httpNodeMaxPending\)/.test(srv.log()),
            "httpNodeMaxPending: warned", srv.log().slice(-400));
        const r = await rawRequest(srv.port, "GET", "/hello", {});
        check(r.status === 200, "serving again once the waiting requests are answered", r.status);
    } finally {
        const code = await stop(srv);
        check(code === 0, "edgeflow exits cleanly (max pending)", code);
        fs.rmSync(srv.dir, { recursive: true, force: true });
    }
}

async function edgeflowOnly(bin) {
    const srv = await startEdgeflow(bin, "plain");
    const port = srv.port;
    const get = (p, h = {}) => rawRequest(port, "GET", p, h);
    try {
        /* no flow answers: 503 after httpNodeTimeout (1500 ms here) */
        let t0 = Date.now();
        let r = await get("/never");
        check(r.status === 503 && Date.now() - t0 >= 1400, "unanswered request: 503 after httpNodeTimeout", [r.status, Date.now() - t0]);
        /* a boolean payload is an error in Node-RED (Buffer.byteLength): no answer, then 503 */
        r = await get("/bool");
        check(r.status === 503 && /Received type boolean \(true\)/.test(srv.log()), "boolean payload: node error, 503 at timeout", r.status);
        /* CR/LF in a header value: Node's "Invalid character in header content", nothing sent */
        r = await get("/inject");
        check(r.status === 503 && !/evil/.test(JSON.stringify(r.headers)) &&
            /Invalid character in header content \["X-Bad"\]/.test(srv.log()), "header injection refused", r);
        /* the second answer of a fan-out is an error; the first one went out */
        r = await get("/twice");
        await new Promise((res) => setTimeout(res, 200));
        check(r.status === 200 && (r.body === "A" || r.body === "B") &&
            /Cannot set headers after they are sent to the client/.test(srv.log()), "fan-out: one answer, one error", r);
        /* huge header: lws refuses it, the server keeps serving */
        r = await rawRequest(port, "GET", "/hello", { "x-huge": "h".repeat(20000) }).catch((e) => ({ status: -1, err: String(e) }));
        check(r.status !== 200, "oversized header refused", r.status);
        /* huge body (10 MB, over apiMaxLength): refused before it is read */
        t0 = Date.now();
        r = await rawRequest(port, "POST", "/type", { "content-type": "text/plain" }, "y".repeat(10 << 20)).catch((e) => ({ status: -1, err: String(e) }));
        check(r.status === 500 || r.status === -1 || r.status === 0, "10 MB body refused", r.status);
        /* a malformed percent escape: libwebsockets refuses the URL (403) before any route
           (Node-RED: 400 "Failed to decode param"); documented in docs/nodes.md */
        r = await get("/device/%E0%A4%A");
        check(r.status === 403 || r.status === 400, "malformed escape refused", r.status);
        /* garbage request line */
        const garbage = await new Promise((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => s.write("\x00\x01GARBAGE\r\n\r\n"));
            s.on("data", () => {});
            s.on("error", () => resolve("error"));
            s.on("close", () => resolve("closed"));
            setTimeout(() => { s.destroy(); resolve("open"); }, 3000);
        });
        check(garbage !== "open", "garbage request closed", garbage);
        /* slowloris: 20 connections trickling headers; others are still served */
        const slow = [];
        const slowStart = Date.now();
        for (let i = 0; i < 20; i++) {
            const s = net.connect(port, "127.0.0.1", () => s.write("GET /hello HTTP/1.1\r\nHost: x\r\n"));
            s.on("error", () => {});
            s.on("close", () => { s.closedAt = Date.now(); });
            slow.push(s);
        }
        const tick = setInterval(() => slow.forEach((s) => s.writable && s.write("X-a: b\r\n")), 200);
        r = await get("/hello?during=slowloris");
        check(r.status === 200 && r.body === '{"during":"slowloris"}', "served during slowloris", r);
        r = await get("/");
        check(r.status === 200 && /<html/i.test(r.body), "editor served during slowloris", r.status);

        /* 200 concurrent requests, all answered with their own query */
        const all = await Promise.all(Array.from({ length: 200 }, (_, i) => get("/hello?i=" + i)));
        check(all.every((x, i) => x.status === 200 && x.body === '{"i":"' + i + '"}'), "200 concurrent requests answered");
        /* redeploy: /hello goes, /fresh comes; the editor API deploys */
        const flows = JSON.parse(fs.readFileSync(FLOW, "utf8"))
            .filter((n) => n.id !== "get1");
        flows.push({ id: "fresh1", type: "http in", z: "tab1", url: "/fresh/:n", method: "get", x: 1, y: 1, wires: [["params"]] });
        /* a Lua function node between http in and http response: msg.res passes through it */
        flows.push({ id: "lua1", type: "http in", z: "tab1", url: "/lua", method: "post", x: 1, y: 2, wires: [["lua2"]] });
        flows.push({ id: "lua2", type: "lua", z: "tab1", outputs: 1, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [],
            func: "msg.payload = { double = msg.payload.n * 2, id = msg.req.params.id, res = tostring(msg.res) }\nmsg.statusCode = 202\nreturn msg",
            x: 1, y: 3, wires: [["res1"]] });
        const dep = await rawRequest(port, "POST", "/flows", { "content-type": "application/json", "node-red-deployment-type": "full" }, JSON.stringify(flows));
        check(dep.status === 200 || dep.status === 204, "deploy accepted", dep);
        r = await get("/hello");
        check(r.status === 404, "removed route answers 404 after the deploy", r.status);
        r = await get("/fresh/42");
        check(r.status === 200 && r.body === '{"n":"42"}', "added route answers after the deploy", r);
        r = await rawRequest(port, "POST", "/lua", { "content-type": "application/json" }, '{"n":21}');
        check(r.status === 202 && r.body === '{"double":42,"res":"handle: http response"}', "answered through a Lua node", r);
        /* a nodes deploy that touches nothing else keeps the routes */
        r = await get("/device/9");
        check(r.status === 200 && r.body === '{"id":"9"}', "unchanged routes survive the deploy", r);
        /* the trickling connections are dropped by libwebsockets (about 10 s for the headers) */
        while (Date.now() - slowStart < 20000 && slow.some((s) => !s.closedAt)) {
            await new Promise((res) => setTimeout(res, 250));
        }
        clearInterval(tick);
        check(slow.every((s) => s.closedAt && s.closedAt - slowStart < 20000), "slowloris connections dropped by the server",
            slow.map((s) => s.closedAt ? s.closedAt - slowStart : null));
        slow.forEach((s) => s.destroy());
        check(srv.child.exitCode === null, "edgeflow still running");
        /* stopping with requests in flight (one waiting in a delay node, one no flow answers) */
        get("/slow").catch(() => {});
        get("/never").catch(() => {});
        await new Promise((res) => setTimeout(res, 100));
    } finally {
        const code = await stop(srv);
        check(code === 0, "edgeflow exits cleanly (requests in flight)", code);
        fs.rmSync(srv.dir, { recursive: true, force: true });
    }
    /* the editor learns httpNodeRoot from /settings */
    const sec = await startEdgeflow(bin, "secured");
    try {
        const r = await rawRequest(sec.port, "GET", "/settings", {});
        check(r.status === 200 && JSON.parse(r.body).httpNodeRoot === "/api", "editor settings show httpNodeRoot", r.status);
    } finally {
        await stop(sec);
        fs.rmSync(sec.dir, { recursive: true, force: true });
    }
    /* httpNodeRoot: false registers nothing, and says so */
    const off = await startEdgeflow(bin, "plain");
    await stop(off);
    fs.rmSync(off.dir, { recursive: true, force: true });
    GROUPS.off = { httpNodeRoot: false };
    const srv2 = await startEdgeflow(bin, "off");
    try {
        const r = await rawRequest(srv2.port, "GET", "/hello", {});
        check(r.status === 404 && /Cannot create http-in node when httpNodeRoot set to false/.test(srv2.log()),
            "httpNodeRoot false: no routes, a warning", r.status);
    } finally {
        await stop(srv2);
        fs.rmSync(srv2.dir, { recursive: true, force: true });
        delete GROUPS.off;
    }
}

async function main() {
    const args = process.argv.slice(2);
    const record = args[0] === "--record";
    if (record) {
        const got = await runCases(startNodeRed);
        fs.writeFileSync(EXPECTED, JSON.stringify(got, null, 1) + "\n");
        console.log("recorded " + Object.keys(got).length + " answers of Node-RED in " + EXPECTED);
        return;
    }
    const bin = args[0];
    if (!bin) throw new Error("usage: node run.js [--record] EDGEFLOW");
    const expected = JSON.parse(fs.readFileSync(EXPECTED, "utf8"));
    const got = await runCases((g) => startEdgeflow(bin, g));
    for (const [, name] of CASES) {
        let a = got[name], b = expected[name];
        if (STATUS_ONLY.has(name) && a && b) {
            const pre = (x) => (/<pre>([^<]*)/.exec(typeof x.body === "string" ? x.body : "") || ["", ""])[1];
            a = [a.status, a.headers["content-type"], pre(a)];
            b = [b.status, b.headers["content-type"], pre(b).split("<br>")[0]];
        }
        check(JSON.stringify(a) === JSON.stringify(b), "as Node-RED: " + name, { edgeflow: a, nodered: b });
    }
    await edgeflowOnly(bin);
    await maxPending(bin);
    console.log(failures ? failures + " failed" : "all passed");
    process.exit(failures ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
