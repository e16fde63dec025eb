#!/usr/bin/env node
/*
 * capture.js - records the reference Node-RED's (node-red@4.1.15) answers
 * to auth_requests.js with adminAuth set, for the security test (auth.js).
 *
 *   node tests/integration/security/capture.js OUT.json
 *
 * Runs Node-RED twice (plain users, then with an anonymous default user)
 * on a free 127.0.0.1 port with a temporary user directory. Run it again
 * only when Node-RED's version or the request list changes.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const h = require("../editor_harness.js");
const WebSocket = require(path.join(h.modules, "ws"));
const reqs = require("./auth_requests.js");

async function waitUp(base, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        try {
            const r = await fetch(base + "/auth/login");
            if (r.ok) return;
        } catch (e) { /* not yet */ }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("Node-RED did not start");
}

async function capture(variant) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nr-auth-"));
    const port = await h.freePort();
    fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(reqs.FLOWS));
    fs.writeFileSync(path.join(dir, "settings.js"), "module.exports = " + JSON.stringify({
        uiHost: "127.0.0.1", uiPort: port, flowFile: "flows.json", credentialSecret: "sekrit",
        logging: { console: { level: "error" } }, adminAuth: reqs.adminAuth(variant),
    }) + ";\n");
    const nr = spawn(process.execPath, [path.join(h.modules, "node-red", "red.js"), "-u", dir,
        "-s", path.join(dir, "settings.js")], { stdio: ["ignore", "inherit", "inherit"] });
    const base = "http://127.0.0.1:" + port;
    try {
        await waitUp(base, 60000);
        return await reqs.run(base, WebSocket, variant);
    } finally {
        nr.kill("SIGINT");
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

async function main() {
    const out = process.argv[2];
    if (!out) {
        process.stderr.write("usage: node capture.js OUT.json\n");
        process.exit(2);
    }
    const result = { nodeRed: "4.1.15", users: await capture("users"), anon: await capture("anon") };
    fs.writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
    process.stdout.write("wrote " + out + "\n");
}

main().catch((e) => {
    process.stderr.write(String(e && e.stack || e) + "\n");
    process.exit(1);
});
