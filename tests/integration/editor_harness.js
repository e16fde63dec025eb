/*
 * editor_harness.js - starts `edgeflow run` with the editor server on a free
 * loopback port for the editor tests (editor_api.js, editor_hostile.js,
 * tests/e2e/). The user directory is a fresh temporary folder holding a
 * copy of the given flows file, so deploys never touch the repository.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const net = require("net");
const { spawn } = require("child_process");

const root = path.resolve(__dirname, "..", "..");
const modules = path.join(root, "tools", "node_modules");

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

async function waitUp(base, child, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (child.exitCode !== null) throw new Error("edgeflow exited with " + child.exitCode);
        try {
            /* /auth/login answers with or without adminAuth */
            const r = await fetch(base + "/auth/login");
            if (r.ok) return;
        } catch (e) { /* not yet */ }
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("edgeflow did not start its editor server");
}

/*
 * start(binary, flowsFile, opts) -> {base, port, dir, child, stderr(), stop()}
 * opts.settings: an object written as the settings file.
 */
async function start(binary, flowsFile, opts = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-editor-"));
    fs.copyFileSync(flowsFile, path.join(dir, "flows.json"));
    const port = await freePort();
    const args = ["run", path.join(dir, "flows.json"), "--port", String(port), "--user-dir", dir];
    if (opts.settings) {
        fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(opts.settings));
        args.push("--settings", path.join(dir, "settings.json"));
    }
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => { err += d; });
    child.on("error", (e) => { err += String(e) + "\n"; }); /* e.g. the binary is missing */
    const base = "http://127.0.0.1:" + port;
    try {
        await waitUp(base, child, 15000);
    } catch (e) {
        child.kill("SIGKILL");
        throw new Error(e.message + "\n" + err);
    }
    return {
        base, port, dir, child,
        stderr: () => err,
        alive: () => child.exitCode === null && child.signalCode === null,
        stop: () => new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
                resolve(child.exitCode);
                return;
            }
            child.on("exit", (code) => resolve(code));
            child.kill("SIGTERM");
        }),
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

/* A tiny test reporter: check(name, cond, detail); done() exits 0/1. */
function reporter(suite) {
    let passed = 0, failed = 0;
    return {
        check(name, cond, detail) {
            if (cond) {
                passed++;
                console.log("ok   " + name);
            } else {
                failed++;
                console.log("FAIL " + name + (detail !== undefined ? ": " + detail : ""));
            }
            return cond;
        },
        done() {
            console.log(suite + ": " + passed + " passed, " + failed + " failed");
            process.exit(failed ? 1 : 0);
        },
        get failed() { return failed; },
    };
}

module.exports = { start, freePort, reporter, root, modules };
