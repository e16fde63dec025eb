#!/usr/bin/env node
/*
 * tls.js - TLS on edgeflow's editor/admin port (settings.https).
 *
 *   node tests/integration/security/tls.js EDGEFLOW
 *
 * Makes a self-signed certificate for 127.0.0.1 with openssl, starts
 * edgeflow with https given three ways (keyFile/certFile paths, key/cert
 * paths, key/cert PEM text as Node-RED's settings hold them) and checks
 * with curl: TLS 1.2 and 1.3 work (with the certificate verified), TLS 1.0
 * and 1.1 are refused by the server with a protocol_version alert even
 * when the client allows them, plain http to the port fails without
 * taking the server down, a login and the /comms websocket work over TLS,
 * and a missing key file keeps the editor closed with a clear message.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, execFileSync, spawnSync } = require("child_process");
const h = require("../editor_harness.js");
const WebSocket = require(path.join(h.modules, "ws"));
const reqs = require("./auth_requests.js");

const bin = process.argv[2];
const t = h.reporter("security.tls");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-tls-"));
const key = path.join(dir, "key.pem"), cert = path.join(dir, "cert.pem");

function curl(args) {
    const r = spawnSync("curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"].concat(args),
                        { encoding: "utf8" });
    return { code: r.stdout.trim(), err: r.stderr.trim() };
}

async function start(settings) {
    const port = await h.freePort();
    fs.writeFileSync(path.join(dir, "flows.json"), JSON.stringify(reqs.FLOWS));
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(settings));
    const child = spawn(bin, ["run", path.join(dir, "flows.json"), "--port", String(port), "--user-dir", dir,
                              "--settings", path.join(dir, "settings.json")], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => { err += d; });
    const end = Date.now() + 15000;
    while (Date.now() < end && !/editor (at|not started)/.test(err)) await sleep(50);
    return {
        port, base: "https://127.0.0.1:" + port, stderr: () => err,
        stop: () => new Promise((resolve) => {
            if (child.exitCode !== null) return resolve(child.exitCode);
            child.on("exit", (code) => resolve(code));
            child.kill("SIGTERM");
        }),
    };
}

async function checks(label, settings) {
    const ef = await start(settings);
    try {
        t.check(label + ": log says https", /editor at https:\/\/127\.0\.0\.1:/.test(ef.stderr()), ef.stderr());
        const url = ef.base + "/auth/login";
        let r = curl(["--cacert", cert, "--tlsv1.2", "--tls-max", "1.2", url]);
        t.check(label + ": TLS 1.2 with the certificate verified", r.code === "200", JSON.stringify(r));
        r = curl(["--cacert", cert, "--tlsv1.3", url]);
        t.check(label + ": TLS 1.3", r.code === "200", JSON.stringify(r));
        for (const v of ["1.0", "1.1"]) {
            r = curl(["--cacert", cert, "--tlsv" + v, "--tls-max", v, "--ciphers", "DEFAULT@SECLEVEL=0", url]);
            t.check(label + ": TLS " + v + " refused by the server", r.code === "000" && /alert protocol version/.test(r.err),
                    JSON.stringify(r));
        }
        r = curl(["http://127.0.0.1:" + ef.port + "/auth/login"]);
        t.check(label + ": plain http fails", r.code === "000" && r.err.length > 0, JSON.stringify(r));
        r = curl(["--cacert", cert, url]);
        t.check(label + ": and the server still answers", r.code === "200", JSON.stringify(r));
    } finally {
        const code = await ef.stop();
        t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
    }
}

async function main() {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                             "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                 { stdio: "ignore" });
    await checks("keyFile/certFile", { https: { keyFile: key, certFile: cert } });
    await checks("key/cert paths", { https: { key, cert } });
    await checks("key/cert PEM", { https: { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") } });

    /* a login, an authenticated request and /comms over TLS */
    const ef = await start({ https: { keyFile: key, certFile: cert }, adminAuth: reqs.adminAuth("users") });
    try {
        const out = spawnSync("curl", ["-sS", "--cacert", cert, "-d",
            "client_id=node-red-editor&grant_type=password&scope=&username=admin&password=secret",
            ef.base + "/auth/token"], { encoding: "utf8" }).stdout;
        let tok = "";
        try { tok = JSON.parse(out).access_token; } catch (e) { /* checked below */ }
        t.check("login over TLS", /^[0-9a-f]{64}$/.test(tok), out);
        const r = curl(["--cacert", cert, "-H", "Authorization: Bearer " + tok, ef.base + "/flows"]);
        t.check("GET /flows with the token over TLS", r.code === "200", JSON.stringify(r));
        const reply = await new Promise((resolve) => {
            const ws = new WebSocket("wss://127.0.0.1:" + ef.port + "/comms", { ca: fs.readFileSync(cert) });
            ws.on("open", () => ws.send(JSON.stringify({ auth: tok })));
            ws.on("message", (d) => { resolve(String(d)); ws.close(); });
            ws.on("error", (e) => resolve("error " + e.message));
            setTimeout(() => resolve("timeout"), 5000);
        });
        t.check("/comms auth over wss", reply === '{"auth":"ok"}', reply);
    } finally {
        const code = await ef.stop();
        t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
    }

    const bad = await start({ https: { keyFile: path.join(dir, "missing.pem"), certFile: cert } });
    t.check("missing key file: editor not started, with the reason",
            /editor not started: settings: https.keyFile: cannot read .*missing\.pem/.test(bad.stderr()), bad.stderr());
    const code = await bad.stop();
    t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + bad.stderr().slice(-2000));
    fs.rmSync(dir, { recursive: true, force: true });
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(1);
});
