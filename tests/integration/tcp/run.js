#!/usr/bin/env node
/*
 * run.js - integration tests of the tcp in, tcp out and tcp request nodes
 * with real TCP peers on free loopback ports. Each scenario builds a flow
 * for its ports, runs it in the real edgeflow binary (`edgeflow run FLOW
 * --debug-stdout`) while this process plays the peers (clients that
 * connect to the flow's servers, servers the flow's clients connect to),
 * and compares what the debug nodes showed (per debug node, in order) and
 * what the peers saw with expected/<scenario>.json, which was recorded from
 * Node-RED 4.1.15 (tools/nr-run.js) the same way. Port numbers are written
 * as P0, P1, ... in both. Debug values are compared per debug node in
 * order; what a peer receives is ordered within one connection only. An
 * edgeflow run lasts at least the scenario's runMs (as the recording did)
 * and goes on while it does not match yet, up to 15 s more, so that a
 * loaded machine or the ASan build only makes it slower (see MIN_EXTRA_MS).
 *
 *   node run.js EDGEFLOW_BINARY [SCENARIO]   compare edgeflow with the recordings
 *   node run.js --record [SCENARIO]          re-record them from Node-RED
 *
 * Scenarios: server (tcp in framing, datatypes, sessions, status), reply
 * (tcp out reply by session and to all, base64, reset), client (tcp in and
 * tcp out as clients: reconnects; tcp out as a server), request (tcp
 * request: every return mode, msg.host/port, refused, a peer that ends, a
 * peer that resets, connection reuse, msg.reset), timeout (socketTimeout on tcp in
 * and tcp request, a peer that resets a tcp in connection), and watch (the watch node
 * on a temporary directory: create, modify, rename, delete, a subdirectory,
 * recursion, a single file, a missing path; events compared as a multiset).
 * Exit status 0 when everything matches; the differences are printed otherwise.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const { spawn } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- flow building ---- */

let nodes, ypos;
function add(n) {
    n.z = "t1";
    n.x = 100;
    n.y = (ypos += 40);
    nodes.push(n);
}
function tab() {
    nodes = [{ id: "t1", type: "tab", label: "tcp" }];
    ypos = 0;
}
function inject(id, delay, props, wires) {
    add({ id, type: "inject", props: props.map(([p, v, vt]) => ({ p, v, vt })), repeat: "",
        crontab: "", once: true, onceDelay: delay, topic: "", wires: [wires] });
}
/* A debug node showing msg[prop], or a JSONata expression when expr starts with "=". */
function debug(id, show) {
    const jsonata = show.startsWith("=");
    add({ id, type: "debug", active: true, tosidebar: true, console: false, tostatus: false,
        complete: jsonata ? show.slice(1) : show, targetType: jsonata ? "jsonata" : "msg",
        wires: [] });
}
function status(id, scope, wires) {
    add({ id, type: "status", name: "", scope, wires: [wires] });
}
function catcher(id, scope, wires) {
    add({ id, type: "catch", name: "", scope, uncaught: false, wires: [wires] });
}
function tcpIn(id, cfg, wires) {
    add(Object.assign({ id, type: "tcp in", name: "", server: "server", host: "", port: "",
        datamode: "stream", datatype: "buffer", newline: "", topic: "", trim: false, base64: false,
        tls: "" }, cfg, { wires: [wires] }));
}
function tcpOut(id, cfg) {
    add(Object.assign({ id, type: "tcp out", name: "", host: "", port: "", beserver: "reply",
        base64: false, end: false, tls: "" }, cfg, { wires: [] }));
}
function tcpReq(id, cfg, wires) {
    add(Object.assign({ id, type: "tcp request", name: "", server: "127.0.0.1", port: "",
        out: "time", ret: "buffer", splitc: "100", newline: "", trim: false, tls: "" }, cfg,
    { wires: [wires] }));
}

const META = '={"t": topic, "ip": ip, "port": $type(port), "s": _session.type, "n": $length(_session.id)}';
const STATUS = '={"text": status.text, "fill": status.fill, "shape": status.shape, "event": status.event, ' +
    '"ip": status.ip, "s": status._session.type}';

/* ---- peers ---- */

/* Connects to port, retrying while the flow is starting. */
async function connect(port) {
    for (let i = 0; i < 1000; i++) {
        const s = await new Promise((resolve) => {
            const c = net.connect(port, "127.0.0.1");
            c.once("connect", () => resolve(c));
            c.once("error", () => resolve(null));
        });
        if (s) return s;
        await sleep(30);
    }
    throw new Error("cannot connect to " + port);
}

/* A client peer: its data and whether the flow closed it, logged under name. */
async function client(log, name, port, script) {
    const s = await connect(port);
    const rec = { peer: name, data: "", end: false };
    log.push(rec);
    s.on("data", (d) => (rec.data += d.toString("latin1")));
    s.on("end", () => (rec.end = true));
    s.on("error", (e) => (rec.error = e.code));
    await script(s);
}

/* A server peer; onConn(socket, k) for the k-th connection (from 1). */
function server(onConn) {
    let k = 0;
    const srv = net.createServer((sock) => {
        sock.on("error", () => {});
        onConn(sock, ++k);
    });
    return new Promise((r) => srv.listen(0, "127.0.0.1", () => r(srv)));
}

async function freePorts(n) {
    const ports = [];
    const socks = [];
    for (let i = 0; i < n; i++) {
        const s = net.createServer();
        await new Promise((r) => s.listen(0, "127.0.0.1", r));
        socks.push(s);
        ports.push(s.address().port);
    }
    await Promise.all(socks.map((s) => new Promise((r) => s.close(r))));
    return ports;
}

/* ---- scenarios ---- */

const scenarios = {};

scenarios.server = {
    runMs: 2500,
    async setup(ctx) {
        const P = await freePorts(7);
        ctx.ports = P;
        tab();
        tcpIn("ina", { port: String(P[0]), datatype: "utf8", newline: "\\n", topic: "lines" }, ["da", "dam"]);
        tcpIn("inb", { port: String(P[1]), datamode: "single" }, ["db", "dbm"]);
        tcpIn("inc", { port: String(P[2]), datatype: "base64" }, ["dc"]);
        tcpIn("ind", { port: String(P[3]), datatype: "utf8", newline: "\\r\\n", trim: true }, ["dd", "ddm"]);
        tcpIn("ine", { port: String(P[4]) }, ["de"]);
        tcpIn("inf", { port: String(P[5]), datamode: "single", datatype: "utf8" }, ["df"]);
        tcpIn("ing", { port: String(P[6]), datatype: "base64", newline: "\\n" }, ["dg", "dgm"]);
        for (const id of ["da", "db", "dc", "dd", "de", "df", "dg"]) debug(id, "payload");
        for (const id of ["dam", "dbm", "ddm", "dgm"]) debug(id, META);
        status("st", ["ina"], ["dst"]);
        debug("dst", STATUS);
        ctx.flow = nodes;
    },
    async peers(ctx, log) {
        const P = ctx.ports;
        await Promise.all([
            client(log, "a", P[0], async (s) => {
                s.write("a\nb");
                await sleep(150);
                s.write("\nc");
                await sleep(150);
                s.end();
            }),
            client(log, "b", P[1], async (s) => {
                s.write("hel");
                await sleep(150);
                s.write("lo");
                await sleep(100);
                s.end();
            }),
            client(log, "c", P[2], async (s) => {
                s.write("hi");
                await sleep(150);
                s.end();
            }),
            client(log, "d", P[3], async (s) => {
                s.write("x\r\ny\r\nz");
                await sleep(150);
                s.end();
            }),
            client(log, "e", P[4], async (s) => {
                s.write(Buffer.from([0, 1, 255]));
                await sleep(150);
                s.end();
            }),
            client(log, "f", P[5], async (s) => {
                s.write("whole");
                await sleep(150);
                s.write(" text \u00e9");
                await sleep(100);
                s.end();
            }),
            client(log, "g", P[6], async (s) => {
                s.write("hi\n");
                await sleep(150);
                s.end();
            }),
        ]);
    },
};

scenarios.timeout = {
    runMs: 3500,
    settings: { socketTimeout: 400 },
    async setup(ctx) {
        const log = ctx.log;
        const seen = { peer: "srv", conns: [] };
        log.push(seen);
        ctx.servers = [
            await server((s, k) => {
                seen.conns.push(k);
                s.on("data", (d) => s.write("echo:" + d));
            }),
        ];
        const P = await freePorts(2);
        ctx.ports = P.concat([ctx.servers[0].address().port]);
        tab();
        tcpIn("in", { port: String(P[0]), datatype: "utf8" }, ["d"]);
        debug("d", "payload");
        status("st", ["in"], ["dst"]);
        debug("dst", STATUS);
        tcpIn("inr", { port: String(P[1]), datatype: "utf8" }, ["dr"]);
        debug("dr", "payload");
        status("str", ["inr"], ["dstr"]);
        debug("dstr", STATUS);
        tcpReq("rq", { port: String(ctx.ports[2]), out: "sit", ret: "string" }, ["dq"]);
        debug("dq", "payload");
        status("stq", ["rq"], ["dstq"]);
        debug("dstq", STATUS);
        inject("iq", 0.2, [["payload", "q1", "str"]], ["rq"]);
        /* long after q1's connection timed out, even on a loaded machine */
        inject("iq2", 2.2, [["payload", "q2", "str"]], ["rq"]);
        ctx.flow = nodes;
    },
    async peers(ctx, log) {
        const P = ctx.ports;
        await Promise.all([
            /* idle after one chunk: the flow ends the connection after socketTimeout */
            client(log, "idle", P[0], async (s) => {
                s.write("x");
                await new Promise((r) => s.on("end", r));
                s.end();
            }),
            /* a peer that resets the connection */
            client(log, "reset", P[1], async (s) => {
                s.write("before reset");
                await sleep(150);
                s.resetAndDestroy();
            }),
        ]);
    },
};

scenarios.reply = {
    runMs: 2600,
    async setup(ctx) {
        const P = await freePorts(1);
        ctx.ports = P;
        tab();
        tcpIn("in", { port: String(P[0]), datatype: "utf8", newline: "\\n" }, ["echo", "d"]);
        debug("d", "payload");
        tcpOut("echo", {});
        tcpOut("b64", { base64: true });
        inject("iall", 1.0, [["payload", "all\n", "str"]], ["echo"]);
        inject("inum", 1.2, [["payload", "42", "num"]], ["echo"]);
        inject("ib64", 1.4, [["payload", "aGVsbG8K", "str"]], ["b64"]);
        inject("ireset", 1.8, [["payload", "", "str"], ["reset", "true", "bool"]], ["echo"]);
        ctx.flow = nodes;
    },
    async peers(ctx, log) {
        const P = ctx.ports;
        let aSent;
        const aSending = new Promise((r) => (aSent = r));
        await Promise.all([
            client(log, "a", P[0], async (s) => {
                s.write("one\n", aSent);
                await new Promise((r) => s.on("close", r));
            }),
            client(log, "b", P[0], async (s) => {
                /* "two" after "one" (they come on different connections) */
                await aSending;
                await sleep(300);
                s.write("two\n");
                await new Promise((r) => s.on("close", r));
            }),
        ]);
    },
};

scenarios.client = {
    runMs: 2600,
    settings: { socketReconnectTime: 500 },
    async setup(ctx) {
        const log = ctx.log;
        const rec = (name) => {
            const r = { peer: name, conns: [] };
            log.push(r);
            return r;
        };
        const h1 = rec("h1"), h2 = rec("h2"), h3 = rec("h3");
        ctx.servers = [
            await server((s, k) => {
                h1.conns.push(k);
                if (k === 1) s.end("first");
                else if (k === 2) s.end("second");
                else s.on("data", (d) => h1.conns.push(k + ":" + d));
            }),
            await server((s, k) => {
                h2.conns.push(k);
                if (k === 1) s.end("hello");
                else if (k === 2) s.write("again");
                s.on("data", (d) => h2.conns.push(k + ":" + d));
            }),
            await server((s, k) => {
                let d = "";
                s.on("data", (x) => (d += x));
                /* connections in the order they were accepted (they may close in any order) */
                s.on("close", () => d && h3.conns.push(k + ":" + d) && h3.conns.sort());
            }),
        ];
        const S = ctx.servers.map((s) => s.address().port);
        const P = await freePorts(2);
        ctx.ports = S.concat(P);
        tab();
        tcpIn("ic1", { server: "client", host: "127.0.0.1", port: String(S[0]), datamode: "single",
            datatype: "utf8", topic: "cl" }, ["dc1", "dc1m"]);
        debug("dc1", "payload");
        debug("dc1m", META);
        tcpIn("ic2", { server: "client", host: "127.0.0.1", port: String(S[1]), datatype: "utf8" }, ["dc2"]);
        debug("dc2", "payload");
        status("st2", ["ic2"], ["dst2"]);
        debug("dst2", STATUS);
        tcpOut("oc", { beserver: "client", host: "127.0.0.1", port: String(S[2]), end: true });
        inject("io1", 0.6, [["payload", "to-server", "str"]], ["oc"]);
        inject("io2", 1.2, [["payload", "{\"a\":1}", "json"]], ["oc"]);
        tcpOut("os", { beserver: "server", port: String(P[0]) });
        tcpOut("os2", { beserver: "server", port: String(P[1]), end: true, base64: true });
        status("sts", ["os"], ["dsts"]);
        debug("dsts", STATUS);
        inject("is1", 0.9, [["payload", "srv-msg", "str"]], ["os"]);
        inject("is2", 0.9, [["payload", "Ynll", "str"]], ["os2"]);
        /* reply without a session: every tcp in connection, client ones included */
        tcpOut("rall", {});
        inject("ir", 2.0, [["payload", "bcast", "str"]], ["rall"]);
        ctx.flow = nodes;
    },
    async peers(ctx, log) {
        const P = ctx.ports;
        await Promise.all([
            client(log, "s", P[3], async (s) => {
                await sleep(1500);
                s.end();
            }),
            client(log, "s2", P[4], async (s) => {
                await new Promise((r) => s.on("close", r));
            }),
        ]);
    },
};

/* ---- watch: file changes in a temporary directory (a tcp in tells when the flow runs) ---- */

function watchNode(id, files, recursive, wires) {
    add({ id, type: "watch", name: "", files, recursive, wires: [wires] });
}

scenarios.watch = {
    runMs: 8500,
    unordered: true,
    async setup(ctx) {
        const D = fs.mkdtempSync(path.join(os.tmpdir(), "ef-watch-"));
        const E = fs.mkdtempSync(path.join(os.tmpdir(), "ef-watch-"));
        fs.mkdirSync(path.join(D, "sub"));
        fs.writeFileSync(path.join(D, "sub", "deep.txt"), "deep");
        fs.writeFileSync(path.join(D, "old.txt"), "old");
        fs.writeFileSync(path.join(E, "single.txt"), "1");
        fs.writeFileSync(path.join(E, "other.txt"), "1");
        ctx.dirs = [D, E];
        ctx.subst = [[D, "D"], [E, "E"]];
        const P = await freePorts(1);
        ctx.ports = P;
        tab();
        tcpIn("ready", { port: String(P[0]) }, []);
        const show = '={"p": payload, "t": topic, "f": file, "fn": filename, "e": event, "s": size, "ty": type}';
        watchNode("w1", D, false, ["d1"]);
        watchNode("w2", D, true, ["d2"]);
        watchNode("w3", `${path.join(E, "single.txt")} , ${path.join(E, "missing")}`, false, ["d3"]);
        for (const id of ["d1", "d2", "d3"]) debug(id, show);
        catcher("c3", ["w3"], ["d3x"]);
        debug("d3x", '={"e": error.message, "p": payload}');
        ctx.flow = nodes;
    },
    async peers(ctx) {
        const [D, E] = ctx.dirs;
        const s = await connect(ctx.ports[0]);
        s.destroy();
        await sleep(1000); /* node-watch first checks for native recursion */
        const step = async (fn) => {
            await sleep(150);
            fn();
            await sleep(350);
        };
        await step(() => fs.writeFileSync(path.join(D, "new.txt"), "hello"));
        await step(() => fs.appendFileSync(path.join(D, "old.txt"), "+more"));
        await step(() => fs.renameSync(path.join(D, "old.txt"), path.join(D, "renamed.txt")));
        await step(() => fs.unlinkSync(path.join(D, "new.txt")));
        await step(() => fs.writeFileSync(path.join(D, "sub", "deep.txt"), "deeper"));
        await step(() => fs.mkdirSync(path.join(D, "newdir")));
        await step(() => fs.writeFileSync(path.join(D, "newdir", "x.txt"), "x"));
        await step(() => fs.writeFileSync(path.join(E, "single.txt"), "22"));
        await step(() => fs.writeFileSync(path.join(E, "other.txt"), "22"));
        await step(() => fs.rmSync(path.join(D, "sub"), { recursive: true }));
        /* an editor's save: backup file, new file, backup gone (only what exists is reported) */
        await step(() => {
            fs.writeFileSync(path.join(D, "e.txt~"), "b");
            fs.writeFileSync(path.join(D, "e.txt"), "e");
            fs.unlinkSync(path.join(D, "e.txt~"));
        });
    },
    cleanup(ctx) {
        for (const d of ctx.dirs) fs.rmSync(d, { recursive: true, force: true });
    },
};

scenarios.request = {
    runMs: 4000,
    async setup(ctx) {
        const log = ctx.log;
        /*
         * What the echo peer received: one string per connection (TCP orders
         * bytes within a connection only), the connections sorted, as the
         * tcp request nodes' connections run side by side.
         */
        const conns = [];
        log.push({ peer: "echo", toJSON: () => ({ peer: "echo", got: conns.map((c) => c.got).sort() }) });
        ctx.servers = [
            await server((s) => {
                const c = { got: "" };
                conns.push(c);
                s.on("data", (d) => {
                    c.got += d.toString();
                    s.write(Buffer.concat([Buffer.from("echo:"), d]));
                });
            }),
            await server((s) => s.on("data", () => s.end("bye"))),
            await server((s) => s.on("data", () => s.resetAndDestroy())),
        ];
        const [e, b, rst] = ctx.servers.map((s) => s.address().port);
        const [closed] = await freePorts(1);
        ctx.ports = [e, b, rst, closed];
        tab();
        const tc = (n, delay, props, cfg, show) => {
            const ds = show.map((_, i) => `d${n}${String.fromCharCode(97 + i)}`);
            inject(`i${n}`, delay, props, [`r${n}`]);
            tcpReq(`r${n}`, Object.assign({ port: String(e) }, cfg), ds);
            show.forEach((s, i) => debug(ds[i], s));
        };
        tc(1, 0.1, [["payload", "hello", "str"], ["topic", "t1", "str"]], {}, ["payload", "topic"]);
        tc(2, 0.15, [["payload", "{\"a\":1}", "json"]], { ret: "string" }, ["payload"]);
        tc(3, 0.2, [["payload", "a\nb\n", "str"]], { out: "char", splitc: "\\n", ret: "string" }, ["payload"]);
        tc(4, 0.25, [["payload", "xyz", "str"]], { out: "count", splitc: "3", ret: "string" }, ["payload"]);
        tc(5, 0.3, [["payload", "l1\nl2\n", "str"]], { out: "sit", ret: "string", newline: "\\n" }, ["payload"]);
        /* messages to one connection well apart, so that neither side reads them as one chunk */
        inject("i5b", 1.0, [["payload", "l3\nl4", "str"]], ["r5"]);
        tc(6, 0.35, [["payload", "fire", "str"]], { out: "immed" }, ["payload"]);
        tc(7, 0.4, [["payload", "via msg", "str"], ["host", "127.0.0.1", "str"], ["port", String(e), "num"]],
            { server: "", port: "", ret: "string" }, ["payload"]);
        tc(8, 0.45, [["payload", "x", "str"]], { port: String(closed) }, ["payload"]);
        catcher("c8", ["r8"], ["d8x"]);
        debug("d8x", "error.message");
        tc(9, 0.5, [["payload", "x", "str"]], { port: String(b), ret: "string" }, ["payload"]);
        tc(10, 0.55, [["payload", "y", "str"]], { port: String(b), out: "sit" }, ["payload"]);
        tc(11, 0.7, [["payload", "[1,2]", "bin"]], { out: "char", splitc: "0x32" }, ["payload"]);
        tc(12, 0.75, [["payload", "boom", "str"]], { port: String(rst) }, ["payload"]);
        catcher("c12", ["r12"], ["d12x"]);
        debug("d12x", "error.message");
        /* sit: the connection is reused by the next message, then msg.reset closes it */
        tc(13, 0.8, [["payload", "s1", "str"]], { out: "sit", ret: "string" }, ["payload"]);
        inject("i13b", 1.5, [["payload", "s2", "str"]], ["r13"]);
        inject("i13c", 2.2, [["reset", "true", "bool"]], ["r13"]);
        inject("i13d", 2.9, [["payload", "s3", "str"]], ["r13"]);
        status("st13", ["r13"], ["d13s"]);
        debug("d13s", STATUS);
        tc(14, 0.85, [["payload", "", "str"]], { server: "", port: "" }, ["payload"]);
        tc(15, 0.9, [["payload", "nul", "str"]], { out: "count", splitc: "0" }, ["payload"]);
        tc(16, 0.95, [["payload", "12345678", "str"]], { out: "char", splitc: "4", ret: "string" }, ["payload"]);
        ctx.flow = nodes;
    },
    async peers() {},
};

/* ---- running ---- */

/*
 * Runs cmd; the caller ends it with stop() (SIGTERM). done resolves with
 * the output when the process has exited; out() is the stdout so far.
 */
function spawnRun(cmd, args) {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const done = new Promise((resolve) => p.on("close", (code, sig) => resolve({ out, err, code, sig })));
    return { done, out: () => out, stop: () => p.exitCode === null && p.signalCode === null && p.kill("SIGTERM") };
}

function placeholders(text, ports, subst) {
    for (const [from, to] of subst || []) text = text.split(from).join(to);
    ports.forEach((p, i) => (text = text.split(String(p)).join("P" + i)));
    return text;
}

function byId(lines) {
    const m = {};
    for (const l of lines) (m[l.id] = m[l.id] || []).push(JSON.stringify(l.value));
    return m;
}

/* The debug lines (complete ones) and the peers' log of a run so far, with placeholders. */
function snapshot(ctx, out) {
    const lines = out.split("\n").slice(0, -1).filter((l) => l.trim())
        .map((l) => JSON.parse(placeholders(l, ctx.ports, ctx.subst)));
    const log = ctx.log.slice().sort((a, b) => String(a.peer).localeCompare(String(b.peer)));
    const peers = JSON.parse(placeholders(JSON.stringify(log), ctx.ports, ctx.subst));
    return { lines, peers };
}

/*
 * The differences between a recording and a run, one text each: per debug
 * node its values in order (as a multiset for unordered scenarios), and the
 * peers' log as a whole.
 */
function differences(name, want, got) {
    const diffs = [];
    const w = byId(want.debug), g = byId(got.lines);
    if (scenarios[name].unordered) {
        /* events of one step may come in either order */
        for (const m of [w, g]) for (const k of Object.keys(m)) m[k].sort();
    }
    for (const id of new Set([...Object.keys(w), ...Object.keys(g)])) {
        const a = w[id] || [], b = g[id] || [];
        if (JSON.stringify(a) !== JSON.stringify(b)) {
            diffs.push(`${name}: debug ${id}:\n  expected ${a.join("\n           ")}\n  got      ${b.join("\n           ")}`);
        }
    }
    if (JSON.stringify(want.peers) !== JSON.stringify(got.peers)) {
        diffs.push(`${name}: peers:\n  expected ${JSON.stringify(want.peers)}\n  got      ${JSON.stringify(got.peers)}`);
    }
    return diffs;
}

/*
 * How long an edgeflow run lasts: at least runMs + MIN_EXTRA_MS (the window
 * the recording had, so late extra messages are still seen); past that it
 * goes on while the run does not yet match the recording (a loaded machine,
 * an ASan build), and ends SETTLE_MS after it matches (to see messages that
 * would come after the last expected one), or at runMs + MAX_EXTRA_MS
 * without a match (then the differences are reported).
 */
const MIN_EXTRA_MS = 300, SETTLE_MS = 700, MAX_EXTRA_MS = 15000;

async function runScenario(name, record, bin, want) {
    const sc = scenarios[name];
    const ctx = { log: [] };
    await sc.setup(ctx);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-tcp-"));
    const flowFile = path.join(dir, "flow.json");
    fs.writeFileSync(flowFile, JSON.stringify(ctx.flow, null, 1));
    const settings = sc.settings || {};
    let cmd, args;
    if (record) {
        cmd = process.execPath;
        args = [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms", String(sc.runMs)];
        for (const [k, v] of Object.entries(settings)) args.push("--setting", k + "=" + JSON.stringify(v));
    } else {
        const sfile = path.join(dir, "settings.json");
        fs.writeFileSync(sfile, JSON.stringify(settings));
        cmd = bin;
        args = ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir, "--settings", sfile];
    }
    const t0 = Date.now();
    const run = spawnRun(cmd, args);
    let exited = false;
    run.done.then(() => (exited = true));
    let peersDone = false;
    const peers = sc.peers(ctx, ctx.log).catch((e) => ctx.log.push({ peerError: String(e) }))
        .then(() => (peersDone = true));
    if (!record) {
        /* nr-run.js ends by itself after runMs; edgeflow is stopped here */
        let matchedAt = 0;
        for (;;) {
            await sleep(50);
            const now = Date.now() - t0;
            if (exited || now >= sc.runMs + MAX_EXTRA_MS) break;
            const matches = peersDone && differences(name, want, snapshot(ctx, run.out())).length === 0;
            if (!matches) matchedAt = 0;
            else if (!matchedAt) matchedAt = now;
            if (matchedAt && now >= sc.runMs + MIN_EXTRA_MS && now >= matchedAt + SETTLE_MS) break;
        }
        run.stop();
    }
    const res = await run.done;
    /* a peer still waiting for the flow (a regression) gives up once the flow is gone */
    await Promise.race([peers, sleep(1000)]);
    for (const s of ctx.servers || []) {
        s.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
    const got = snapshot(ctx, res.out.endsWith("\n") || !res.out ? res.out : res.out + "\n");
    if (sc.cleanup) sc.cleanup(ctx);
    return { lines: got.lines, peers: got.peers, err: res.err, code: res.code, sig: res.sig,
        ms: Date.now() - t0 };
}

async function main() {
    const argv = process.argv.slice(2);
    const record = argv[0] === "--record";
    const bin = record ? null : argv[0];
    if (!record && !bin) {
        console.error("usage: node run.js EDGEFLOW_BINARY [SCENARIO] | --record [SCENARIO]");
        process.exit(2);
    }
    const names = argv[1] ? [argv[1]] : Object.keys(scenarios);
    let fails = 0;
    for (const name of names) {
        const fixture = path.join(__dirname, "expected", name + ".json");
        const want = record ? null : JSON.parse(fs.readFileSync(fixture));
        const res = await runScenario(name, record, bin, want);
        if (record) {
            fs.mkdirSync(path.dirname(fixture), { recursive: true });
            fs.writeFileSync(fixture, JSON.stringify({ debug: res.lines, peers: res.peers }, null, 1) + "\n");
            process.stderr.write(res.err);
            console.log(`${name}: recorded ${res.lines.length} lines`);
            continue;
        }
        const diffs = differences(name, want, res);
        for (const d of diffs) console.error(d);
        let f = diffs.length;
        if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(res.err)) {
            f++;
        }
        if (f) {
            console.error(`${name}: edgeflow stderr (run of ${res.ms} ms):\n` + res.err);
        } else {
            console.log(`${name}: ok, ${res.lines.length} debug lines and the peers match (run of ${res.ms} ms)`);
        }
        fails += f;
    }
    process.exit(fails ? 1 : 0);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
