#!/usr/bin/env node
/*
 * run.js - integration test of the http request node: starts server.js on a
 * free loopback port, builds a flow (flow.js) with that port, runs it in the
 * real edgeflow binary (`edgeflow run FLOW --debug-stdout`) and compares the
 * debug lines, per debug node in order, with expected.json, which was
 * recorded from Node-RED 4.1.15 (tools/nr-run.js) with `--record`. The port
 * is written as PORT in both.
 *
 *   node run.js EDGEFLOW_BINARY            compare edgeflow with expected.json
 *   node run.js --record                   re-record expected.json from Node-RED
 *   node run.js --extra EDGEFLOW_BINARY    edgeflow-only cases (credentials, keep-alive)
 *   node run.js --udp EDGEFLOW_BINARY      udp in/out on free loopback ports (expected-udp.json;
 *   node run.js --record-udp               recorded from Node-RED the same way)
 *
 * Exit status 0 when everything matches; the differences are printed otherwise.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const { start } = require("./server.js");
const dgram = require("dgram");
const { buildFlow, buildExtraFlow, extraExpected, buildUdpFlow } = require("./flow.js");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const RUN_MS = 3500;

function collect(cmd, args, port, closedPort) {
    return new Promise((resolve) => {
        const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "", err = "";
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (err += d));
        const timer = cmd === process.execPath ? null : setTimeout(() => p.kill("SIGTERM"), RUN_MS);
        p.on("close", (code, sig) => {
            if (timer) clearTimeout(timer);
            const lines = out.split("\n").filter((l) => l.trim()).map((l) =>
                JSON.parse(l.split(String(port)).join("PORT").split(String(closedPort)).join("CLOSED")));
            resolve({ lines, err, code, sig });
        });
    });
}

function byId(lines) {
    const m = {};
    for (const l of lines) (m[l.id] = m[l.id] || []).push(JSON.stringify(l.value));
    return m;
}

function compare(want, got) {
    const w = byId(want), g = byId(got);
    let fails = 0;
    for (const id of new Set([...Object.keys(w), ...Object.keys(g)])) {
        const a = w[id] || [], b = g[id] || [];
        if (JSON.stringify(a) !== JSON.stringify(b)) {
            fails++;
            console.error(`debug ${id}:\n  expected ${a.join("\n           ")}\n  got      ${b.join("\n           ")}`);
        }
    }
    return fails;
}

/* n distinct free UDP ports on 127.0.0.1. */
async function udpPorts(n) {
    const socks = [];
    for (let i = 0; i < n; i++) {
        const s = dgram.createSocket("udp4");
        await new Promise((r) => s.bind(0, "127.0.0.1", r));
        socks.push(s);
    }
    const ports = socks.map((s) => s.address().port);
    socks.forEach((s) => s.close());
    return ports;
}

async function mainUdp(record, bin) {
    const ports = await udpPorts(3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-udp-"));
    const flowFile = path.join(dir, "flow.json");
    fs.writeFileSync(flowFile, JSON.stringify(buildUdpFlow(ports), null, 1));
    const fixture = path.join(__dirname, "expected-udp.json");
    const args = record ? [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms", "1500"]
        : ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir];
    const res = await collect(record ? process.execPath : bin, args, ports[0], ports[1]);
    fs.rmSync(dir, { recursive: true, force: true });
    if (record) {
        fs.writeFileSync(fixture, JSON.stringify(res.lines, null, 1) + "\n");
        process.stderr.write(res.err);
        console.log(`recorded ${res.lines.length} lines`);
        return;
    }
    let fails = compare(JSON.parse(fs.readFileSync(fixture)), res.lines);
    if (!/udp: ip address not set/.test(res.err)) {
        console.error("no warning: udp: ip address not set");
        fails++;
    }
    if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(res.err)) {
        fails++;
    }
    if (fails) {
        console.error("edgeflow stderr:\n" + res.err);
    } else {
        console.log(`ok: ${res.lines.length} lines match`);
    }
    process.exitCode = fails ? 1 : 0;
}

async function main() {
    const argv = process.argv.slice(2);
    if (argv[0] === "--udp" || argv[0] === "--record-udp") {
        return mainUdp(argv[0] === "--record-udp", argv[1]);
    }
    const record = argv[0] === "--record";
    const extra = argv[0] === "--extra";
    const bin = extra ? argv[1] : argv[0];
    if (!record && !bin) {
        console.error("usage: node run.js EDGEFLOW_BINARY | --record | --extra EDGEFLOW_BINARY");
        process.exit(2);
    }
    const server = await start();
    const port = server.address().port;
    const closed = await start();
    const closedPort = closed.address().port;
    await new Promise((r) => closed.close(r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-http-"));
    const flowFile = path.join(dir, "flow.json");
    fs.writeFileSync(flowFile, JSON.stringify(extra ? buildExtraFlow(port) : buildFlow(port, closedPort), null, 1));
    let res;
    if (record) {
        res = await collect(process.execPath, [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms",
            String(RUN_MS)], port, closedPort);
        fs.writeFileSync(path.join(__dirname, "expected.json"),
            JSON.stringify(res.lines, null, 1) + "\n");
        process.stderr.write(res.err);
        console.log(`recorded ${res.lines.length} lines`);
    } else {
        res = await collect(bin, ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir], port, closedPort);
        const want = extra ? extraExpected : JSON.parse(fs.readFileSync(path.join(__dirname, "expected.json")));
        let fails = compare(want, res.lines);
        if (res.code !== 0 && res.sig !== "SIGTERM") {
            console.error(`edgeflow exited with ${res.code} ${res.sig}`);
            fails++;
        }
        if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(res.err)) {
            console.error("sanitizer report:\n" + res.err);
            fails++;
        }
        if (fails) {
            console.error("edgeflow stderr:\n" + res.err);
        } else {
            console.log(`ok: ${res.lines.length} lines match`);
        }
        process.exitCode = fails ? 1 : 0;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    server.close();
    server.closeAllConnections();
}

main().catch((e) => {
    console.error(e && e.stack || e);
    process.exit(1);
});
