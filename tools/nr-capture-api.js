#!/usr/bin/env node
/*
 * nr-capture-api.js - capture the admin API responses and /comms messages
 * of the reference Node-RED (node-red@4.1.15) for edgeflow's editor API
 * conformance test (tests/integration/editor_api.js).
 *
 *   node tools/nr-capture-api.js OUT.json
 *
 * Starts node-red/red.js with a temporary user directory on a free
 * 127.0.0.1 port, deploys tests/integration/fixtures/api-flows.json, runs
 * the request script in tests/integration/api_requests.js (the same list the
 * conformance test replays against edgeflow), records for each request the
 * status, content type and parsed JSON body, and collects the /comms
 * messages produced by the debug-format flow. Writes everything to OUT.json.
 * Run it again only when Node-RED's version or the request list changes.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const { spawn } = require("child_process");

const root = path.resolve(__dirname, "..");
const WebSocket = require(path.join(__dirname, "node_modules", "ws"));
const requests = require(path.join(root, "tests", "integration", "api_requests.js"));

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
            const p = s.address().port;
            s.close(() => resolve(p));
        });
        s.on("error", reject);
    });
}

async function waitUp(base, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        try {
            const r = await fetch(base + "/settings");
            if (r.ok) return;
        } catch (e) { /* not yet */ }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("Node-RED did not start");
}

async function main() {
    const out = process.argv[2];
    if (!out) {
        process.stderr.write("usage: node tools/nr-capture-api.js OUT.json\n");
        process.exit(2);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nr-capture-"));
    const port = await freePort();
    fs.copyFileSync(path.join(root, "tests", "integration", "fixtures", "api-flows.json"),
                    path.join(dir, "flows.json"));
    fs.writeFileSync(path.join(dir, "settings.js"),
        "module.exports = { uiHost: '127.0.0.1', uiPort: " + port + ", flowFile: 'flows.json'," +
        " credentialSecret: false, logging: { console: { level: 'error' } } };\n");
    const nr = spawn(process.execPath, [path.join(__dirname, "node_modules", "node-red", "red.js"),
        "-u", dir, "-s", path.join(dir, "settings.js")], { stdio: ["ignore", "inherit", "inherit"] });
    const base = "http://127.0.0.1:" + port;
    try {
        await waitUp(base, 30000);
        const result = await requests.run(base, WebSocket);
        fs.writeFileSync(out, JSON.stringify({ nodeRed: "4.1.15", ...result }, null, 1) + "\n");
        process.stdout.write("wrote " + out + "\n");
    } finally {
        nr.kill("SIGINT");
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    process.stderr.write(String(e && e.stack || e) + "\n");
    process.exit(1);
});
