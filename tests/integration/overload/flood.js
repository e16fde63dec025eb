#!/usr/bin/env node
/*
 * flood.js - a flood into slow nodes must not grow memory without bound.
 *
 * Runs the real edgeflow binary (`edgeflow run FLOW --settings S
 * --debug-stdout`) with a udp in node on a free loopback port while this
 * process sends it 1000-byte datagrams as fast as it can (FLOOD_BYTES, at
 * least FLOOD_MIN_MS and at most FLOOD_MAX_MS), and
 * reads the resident set size of the edgeflow process from /proc/PID/status
 * every 100 ms. Two scenarios:
 *   delay  udp in -> a delay node limiting to 1 message per second; with
 *          nodeMessageBufferMaxLength 1000 its queue is emptied with Node-RED's
 *          error "too many pending messages in delay node" (caught by a catch
 *          node, printed by a debug node) each time it would pass 1000;
 *   lua    udp in -> a split node cutting every datagram into single bytes
 *          (1000 messages each) -> a lua node busy-waiting 20 us per message;
 *          with maxQueuedMessages 5000 the delivery queue in front of it drops
 *          what does not fit and warns ("delivery queue full (5000 messages):
 *          message dropped (N so far)", the first drop then every 10000th).
 *   http   udp in -> http request to a local server that never answers; with
 *          nodeMessageBufferMaxLength 100 at most 100 requests are in flight
 *          and newer messages are refused ("too many pending messages in
 *          http request node", caught);
 *   tcpout no udp: a client streams bytes into a tcp in server (each chunk a
 *          message) -> tcp out as a server, with a client connected that never
 *          reads: writes beyond 64 MiB queued to it are dropped and warned
 *          about ("peer does not read (67108864 bytes queued): message dropped").
 *   tcpin  no udp: a client sends a tcp in server (utf8 stream split at "\n")
 *          text without a newline; beyond 64 MiB pending the connection is
 *          closed with an error ("... without a delimiter or end: connection
 *          closed", logged) instead of growing.
 *
 * Passes when the peak RSS during the flood stays within RSS_ALLOWANCE of
 * the RSS before it while the flood carried at least 3 times that many bytes
 * (so a queue keeping them would have passed the allowance), the scenario's
 * drops were reported as above, and SIGTERM then stops edgeflow with exit
 * status 0.
 *
 *   node flood.js EDGEFLOW_BINARY delay|lua|http|tcpout|tcpin [--unbounded]
 * --unbounded leaves the settings unset and only prints the measurements
 * (to see the growth the bounds prevent; it exits 0).
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const dgram = require("dgram");
const net = require("net");
const http = require("http");
const { spawn } = require("child_process");

const FLOOD_MIN_MS = 2000; /* the flood lasts at least this long, */
const FLOOD_MAX_MS = 20000; /* and until FLOOD_BYTES are sent or this long */
const DGRAM_BYTES = 1000;
const MiB = 1024 * 1024;
/*
 * Growth allowed per scenario; the flood carries 3 times that (tcpout: twice).
 * tcp out may queue 64 MiB, tcp in keep 64 MiB (in a buffer grown by
 * doubling, which the ASan build's realloc copies).
 */
const RSS_ALLOWANCE = {
    delay: 64 * MiB, lua: 64 * MiB, http: 64 * MiB, tcpout: 112 * MiB, tcpin: 160 * MiB,
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort(type) {
    return new Promise((resolve, reject) => {
        if (type === "udp") {
            const s = dgram.createSocket("udp4");
            s.on("error", reject);
            s.bind(0, "127.0.0.1", () => {
                const p = s.address().port;
                s.close(() => resolve(p));
            });
        } else {
            const s = net.createServer();
            s.on("error", reject);
            s.listen(0, "127.0.0.1", () => {
                const p = s.address().port;
                s.close(() => resolve(p));
            });
        }
    });
}

function rssOf(pid) {
    try {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
        return m ? Number(m[1]) * 1024 : 0;
    } catch (e) {
        return 0;
    }
}

function flow(udpPort, tcpPort, scenario) {
    let y = 0;
    const at = (n) => Object.assign(n, { z: "t1", x: 200, y: (y += 40) });
    const first = { delay: "dl", lua: "sp", http: "hr" }[scenario];
    const nodes = [{ id: "t1", type: "tab", label: "flood" }];
    if (first) {
        nodes.push(at({ id: "udp", type: "udp in", name: "", iface: "", port: String(udpPort),
            ipv: "udp4", multicast: "false", group: "", datatype: "buffer", wires: [[first]] }));
    }
    const caught = (scope) => {
        nodes.push(at({ id: "c1", type: "catch", name: "", scope: [scope], uncaught: false,
            wires: [["dc"]] }));
        nodes.push(at({ id: "dc", type: "debug", name: "", active: true, tosidebar: true,
            console: false, tostatus: false, complete: "error.message", targetType: "msg",
            wires: [] }));
    };
    if (scenario === "http") {
        nodes.push(at({ id: "hr", type: "http request", name: "", method: "GET", ret: "txt",
            paytoqs: "ignore", url: `http://127.0.0.1:${tcpPort}/hold`, tls: "", persist: false,
            proxy: "", insecureHTTPParser: false, authType: "", senderr: false, headers: [],
            wires: [[]] }));
        caught("hr");
    }
    if (scenario === "tcpout") {
        nodes.push(at({ id: "ti", type: "tcp in", name: "", server: "server", host: "",
            port: String(udpPort), datamode: "stream", datatype: "buffer", newline: "",
            topic: "", trim: false, base64: false, tls: "", wires: [["to"]] }));
        nodes.push(at({ id: "to", type: "tcp out", name: "", host: "", port: String(tcpPort),
            beserver: "server", base64: false, end: false, tls: "", wires: [] }));
    } else if (scenario === "tcpin") {
        nodes.push(at({ id: "ti", type: "tcp in", name: "", server: "server", host: "",
            port: String(tcpPort), datamode: "stream", datatype: "utf8", newline: "\\n",
            topic: "", trim: false, base64: false, tls: "", wires: [[]] }));
    }
    if (scenario === "delay") {
        nodes.push(at({ id: "dl", type: "delay", name: "", pauseType: "rate", timeout: "1",
            timeoutUnits: "seconds", rate: "1", nbRateUnits: "1", rateUnits: "second",
            randomFirst: "1", randomLast: "5", randomUnits: "seconds", drop: false,
            allowrate: false, outputs: 1, wires: [[]] }));
        caught("dl");
    } else if (scenario === "lua") {
        nodes.push(at({ id: "sp", type: "split", name: "", splt: "1", spltType: "len",
            arraySplt: 1, arraySpltType: "len", stream: false, addname: "", wires: [["slow"]] }));
        nodes.push(at({ id: "slow", type: "lua", name: "",
            func: "local t = os.clock()\nwhile os.clock() - t < 0.00002 do end\nreturn nil",
            outputs: 1, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [],
            wires: [[]] }));
    }
    return nodes;
}

/* Sends 1000-byte datagrams, a few thousand in flight, until floodBytes went out. */
async function floodUdp(port, floodBytes) {
    const sock = dgram.createSocket("udp4");
    const data = Buffer.alloc(DGRAM_BYTES, 0x61);
    let sent = 0, inflight = 0;
    const start = Date.now();
    const more = () => {
        const t = Date.now() - start;
        return t < FLOOD_MIN_MS || (t < FLOOD_MAX_MS && sent < floodBytes);
    };
    await new Promise((resolve) => {
        const pump = () => {
            while (inflight < 2000 && more()) {
                inflight++;
                sock.send(data, port, "127.0.0.1", (e) => {
                    inflight--;
                    if (!e) sent += DGRAM_BYTES;
                });
            }
            if (more()) setImmediate(pump);
            else resolve();
        };
        pump();
    });
    const floodMs = Date.now() - start;
    sock.close();
    return { sent, floodMs };
}

/* Writes bytes without a newline to a tcp server until floodBytes went or it closed the connection. */
async function floodTcp(port, floodBytes) {
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const sock = net.connect(port, "127.0.0.1");
    let sent = 0, cut = false;
    const start = Date.now();
    await new Promise((resolve) => {
        sock.on("error", () => { cut = true; });
        sock.on("close", () => { cut = cut || sent < floodBytes; resolve(); });
        sock.on("connect", function pump() {
            while (sent < floodBytes && !sock.destroyed && Date.now() - start < FLOOD_MAX_MS) {
                sent += chunk.length;
                if (!sock.write(chunk)) {
                    sock.once("drain", pump);
                    return;
                }
            }
            sock.end();
        });
    });
    /* what the kernel had not handed over when the peer cut off was not received */
    return { sent, floodMs: Date.now() - start, cut };
}

async function main() {
    const bin = process.argv[2];
    const scenario = process.argv[3];
    const unbounded = process.argv.includes("--unbounded");
    if (!bin || !RSS_ALLOWANCE[scenario]) {
        console.error("usage: node flood.js EDGEFLOW_BINARY delay|lua|http|tcpout|tcpin [--unbounded]");
        process.exit(2);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-flood-"));
    /* the udp in port, or for tcpout the tcp in port */
    const udpPort = await freePort(scenario === "tcpout" ? "tcp" : "udp");
    const uiPort = await freePort("tcp");
    let held = 0, maxHeld = 0, holder = null;
    if (scenario === "http") {
        /* a server that takes every request and never answers; it listens on a port of its
         * own choosing before the flow names it, so no other test can take it in between */
        holder = http.createServer((req, res) => {
            held++;
            maxHeld = Math.max(maxHeld, held);
            res.on("close", () => { held--; });
        });
        await new Promise((r) => holder.listen(0, "127.0.0.1", r));
    }
    const tcpPort = holder ? holder.address().port : await freePort("tcp");
    const allowance = RSS_ALLOWANCE[scenario];
    const floodBytes = (scenario === "tcpout" ? 2 : 3) * allowance;
    fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(flow(udpPort, tcpPort, scenario)));
    const settings = unbounded ? {}
        : scenario === "delay" ? { nodeMessageBufferMaxLength: 1000 }
        : scenario === "http" ? { nodeMessageBufferMaxLength: 100 } : { maxQueuedMessages: 5000 };
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(settings));
    const ef = spawn(bin, ["run", path.join(dir, "flows.json"), "--settings",
        path.join(dir, "settings.json"), "--user-dir", dir, "--port", String(uiPort),
        "--debug-stdout"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    ef.stdout.on("data", (d) => { out += d; });
    ef.stderr.on("data", (d) => { err += d; });
    const exited = new Promise((r) => ef.on("exit", (code, sig) => r({ code, sig })));

    /* wait until the udp or tcp server listens */
    for (let i = 0; i < 50 && !/listening|udp/i.test(err); i++) {
        await sleep(100);
    }
    await sleep(300);
    const base = rssOf(ef.pid);
    let peak = base;
    const sampler = setInterval(() => { peak = Math.max(peak, rssOf(ef.pid)); }, 100);

    let sent = 0, floodMs = 0, cut = false, reader = null;
    if (scenario === "tcpout") {
        /* a client of the tcp out server that never reads */
        reader = net.connect(tcpPort, "127.0.0.1");
        reader.pause();
        reader.on("error", () => {});
        await new Promise((r) => reader.on("connect", r));
        await sleep(200);
    }
    if (scenario === "tcpin") {
        ({ sent, floodMs, cut } = await floodTcp(tcpPort, floodBytes));
    } else if (scenario === "tcpout") {
        ({ sent, floodMs } = await floodTcp(udpPort, floodBytes));
    } else {
        ({ sent, floodMs } = await floodUdp(udpPort, floodBytes));
    }
    await sleep(500);
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(ef.pid));

    ef.kill("SIGTERM");
    const killer = setTimeout(() => ef.kill("SIGKILL"), 20000);
    const ex = await exited;
    clearTimeout(killer);
    fs.rmSync(dir, { recursive: true, force: true });

    if (reader) {
        reader.destroy();
    }
    if (holder) {
        holder.closeAllConnections();
        holder.close();
    }
    const httpRefused = out.split("\n").filter((l) => l.includes("too many pending messages in http request node")).length;
    const refused = out.split("\n").filter((l) => l.includes("too many pending messages in delay node")).length;
    const warned = /delivery queue full \(5000 messages\): message dropped \(\d+ so far\)/.test(err);
    const peerWarned = /peer does not read \(67108864 bytes queued\): message dropped \(\d+ so far\)/.test(err);
    const closedErr = err.includes("without a delimiter or end: connection closed");
    const mb = (b) => (b / 1048576).toFixed(1) + " MiB";
    console.log(`${scenario}${unbounded ? " (unbounded)" : ""}: sent ${mb(sent)} in ${floodMs} ms; ` +
        `RSS before ${mb(base)}, peak ${mb(peak)} (+${mb(peak - base)}); ` +
        `delay refusals caught: ${refused}; delivery queue warning: ${warned}; ` +
        `tcp out warning: ${peerWarned}; tcp in closed: ${cut} (error: ${closedErr}); ` +
        `http requests held at once: ${maxHeld}, refused: ${httpRefused}; exit ${ex.code}`);
    if (unbounded) {
        return 0;
    }
    const fails = [];
    if (scenario !== "tcpin" && sent < floodBytes) {
        fails.push(`the flood was too small to tell (${mb(sent)} sent)`);
    }
    if (peak - base > allowance) {
        fails.push(`RSS grew by ${mb(peak - base)}, more than ${mb(allowance)}`);
    }
    if (scenario === "http" && (httpRefused < 1 || maxHeld > 100)) {
        fails.push(`http request: ${maxHeld} requests in flight at once (at most 100), ` +
            `${httpRefused} refused (at least 1)`);
    }
    if (scenario === "tcpout" && !peerWarned) {
        fails.push("no \"peer does not read\" warning in the log");
    }
    if (scenario === "tcpin" && !(cut && closedErr && sent < floodBytes)) {
        fails.push(`tcp in did not cut the connection (${mb(sent)} accepted) with its error`);
    }
    if (scenario === "delay" && refused < 1) {
        fails.push("no \"too many pending messages in delay node\" error was caught");
    }
    if (scenario === "lua" && !warned) {
        fails.push("no \"delivery queue full\" warning in the log");
    }
    if (ex.code !== 0) {
        fails.push(`exit status ${ex.code} (signal ${ex.sig}) after SIGTERM`);
    }
    if (fails.length) {
        console.log("FAILED:\n  " + fails.join("\n  "));
        console.log("stderr (last 2000 bytes):\n" + err.slice(-2000));
        return 1;
    }
    console.log("ok");
    return 0;
}

main().then((rc) => process.exit(rc), (e) => {
    console.error(e);
    process.exit(1);
});
