#!/usr/bin/env node
/*
 * cli.js - `edgeflow fleet` (the manager's REST client) against a small real
 * HTTP server started here on a free 127.0.0.1 port. The server records every
 * request (method, path and query, Authorization, Content-Type, body) and
 * answers canned JSON per route, so each command is checked for the request
 * it sends, what it prints and its exit status, and the error paths for the
 * text they print: HTTP errors with the server's error text, a non-JSON
 * error page, a refused connection, bad arguments and unreadable files.
 * (The manager's own end-to-end tests run the CLI against the real manager.)
 *
 *   node cli.js EDGEFLOW_BINARY
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const http = require("http");
const net = require("net");
const { spawn } = require("child_process");

const BIN = process.argv[2];
if (!BIN) {
    console.error("usage: node cli.js EDGEFLOW_BINARY");
    process.exit(2);
}

const SNAP = "3f2a9c0d41b7e5a6c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5";
const NOW = Date.now();
const device = {
    id: "dev-1", name: "dev-1", group: "line-1", labels: { site: "a" }, env: {},
    online: true, snapshot: SNAP, health: "healthy", lastSeen: NOW - 5000, cpu: 1.25,
    rss: 4800000, msgRate: 12.5, errors: 0, revoked: false, enrolled: NOW - 86400000,
};
const rollout = {
    id: "r-1", group: "line-1", snapshot: SNAP, state: "running", wave: 1, reason: null,
    strategy: "waves", waves: [1, "10%", "100%"], created: NOW, updated: NOW,
    devices: [{ id: "dev-1", wave: 0, status: "healthy", from: "0011223344556677", reason: null },
              { id: "dev-2", wave: 1, status: "failed", from: null, reason: "health: 3 errors" }],
};
const blob = Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 10, 13]);

/* route "METHOD path" (path without the query) -> [status, body (object, or a string sent as is)] */
const routes = {
    "GET /fleet/v1/devices": [200, [device, { ...device, id: "dev-2", online: false, snapshot: null,
                                               health: null, lastSeen: 0, labels: {} }]],
    "GET /fleet/v1/devices/dev-1": [200, { ...device, result: { seq: 3, status: "applied" },
                                           desiredSeq: 3 }],
    "GET /fleet/v1/devices/nope": [404, { error: "no device nope" }],
    "GET /fleet/v1/devices/a%20b%2Fc": [200, device],
    "PATCH /fleet/v1/devices/dev-1": [200, device],
    "POST /fleet/v1/devices/dev-1/revoke": [200, { ...device, revoked: true }],
    "POST /fleet/v1/devices/dev-1/commands": [200, { type: "resp", device: "dev-1", id: "c-1", ok: true,
                                                     result: ["line one", "line two"] }],
    "POST /fleet/v1/devices/dev-2/commands": [200, { type: "resp", device: "dev-2", id: "c-2", ok: false,
                                                     error: "busy applying a snapshot" }],
    "POST /fleet/v1/devices/dev-3/commands": [504, { error: "no answer from dev-3 within 10 s" }],
    "GET /fleet/v1/groups": [200, [{ name: "line-1", description: "first line", env: { LIMIT: "40" } }]],
    "GET /fleet/v1/groups/line-1": [200, { name: "line-1", description: "", env: {},
                                           snapshot: { id: SNAP, version: 3 } }],
    "GET /fleet/v1/groups/empty": [200, { name: "empty", description: "", env: {}, snapshot: null }],
    "POST /fleet/v1/groups": [201, { name: "line-2", description: "hi", env: { A: "1" } }],
    "PATCH /fleet/v1/groups/line-1": [200, { name: "line-1", description: "x", env: {} }],
    "POST /fleet/v1/provisioning-tokens": [201, { token: "ptok-123", group: "line-1", uses: 5,
                                                  expires: NOW + 3600000 }],
    "GET /fleet/v1/snapshots": [200, [{ id: SNAP, version: 3, group: "line-1", description: "raise limit",
                                        author: "alice", ts: NOW, files: [{ path: "flows.json" }] }]],
    ["GET /fleet/v1/snapshots/" + SNAP]: [200, { id: SNAP, version: 3, group: "line-1", description: "d",
                                               author: "alice", ts: NOW, env: {},
                                               files: [{ path: "flows.json", sha256: "ab", size: 10 }] }],
    ["GET /fleet/v1/snapshots/" + SNAP + "/flows"]: [200, [{ id: "n1", type: "inject" }]],
    "POST /fleet/v1/snapshots": [201, { id: SNAP, version: 4, group: "line-1" }],
    "GET /fleet/v1/rollouts": [200, [rollout]],
    "GET /fleet/v1/rollouts/r-1": [200, rollout],
    "POST /fleet/v1/rollouts": [201, rollout],
    "POST /fleet/v1/rollouts/r-1/pause": [200, { ...rollout, state: "paused" }],
    "POST /fleet/v1/rollouts/r-1/resume": [200, rollout],
    "POST /fleet/v1/rollouts/r-1/rollback": [200, { ...rollout, state: "rolledback" }],
    "POST /fleet/v1/rollouts/r-1/cancel": [200, { ...rollout, state: "cancelled" }],
    "POST /fleet/v1/rollouts/r-2/pause": [409, { error: "rollout r-2 is completed" }],
    "GET /fleet/v1/audit": [200, [{ ts: NOW, actor: "alice", action: "rollout.start", target: "r-1",
                                    detail: { devices: 2 } }]],
    "GET /fleet/v1/authoring": [200, { group: "line-1" }],
    "PUT /fleet/v1/authoring": [200, { group: "line-2" }],
    "GET /fleet/v1/files/ab12": [200, blob],
    "GET /fleet/v1/broken": [500, "<html>Internal Server Error</html>"],
};

let requests = [];
const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        const [p] = req.url.split("?");
        requests.push({ method: req.method, url: req.url, auth: req.headers.authorization || null,
                        type: req.headers["content-type"] || null, body });
        const route = routes[req.method + " " + p] ||
                      (p === "/fleet/v1/devices/boom" ? routes["GET /fleet/v1/broken"] : null);
        if (!route) {
            res.writeHead(404, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ error: "no route " + req.method + " " + p }));
            return;
        }
        let [status, out] = route;
        if (req.method === "POST" && p === "/fleet/v1/snapshots" && JSON.parse(body).description === "again") {
            status = 200; /* an identical snapshot already stored */
        }
        if (Buffer.isBuffer(out)) {
            res.writeHead(status, { "Content-Type": "application/octet-stream" });
            res.end(out);
        } else if (typeof out === "string") {
            res.writeHead(status, { "Content-Type": "text/html" });
            res.end(out);
        } else {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(out));
        }
    });
});

function run(args, env) {
    return new Promise((resolve) => {
        const child = spawn(BIN, ["fleet", ...args], {
            env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS || "",
                   UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || "", ...env },
        });
        let out = "", err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ code, out, err }));
    });
}

let failures = 0, checks = 0;
function check(cond, what, detail) {
    checks++;
    if (!cond) {
        failures++;
        console.log("FAIL " + what + (detail !== undefined ? "\n     " + JSON.stringify(detail) : ""));
    }
}

async function main() {
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const URL = "http://127.0.0.1:" + server.address().port;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ef-fleet-cli-"));
    const base = ["--url", URL, "--token", "T0K"];

    /* Runs one command; checks exit status, and the one request it made (or none). */
    async function t(name, args, want) {
        requests = [];
        const r = await run(want.noBase ? args : [...args, ...base], want.env || {});
        check(r.code === want.code, name + ": exit status " + want.code, { code: r.code, err: r.err });
        for (const s of want.out || []) {
            check(r.out.includes(s), name + ": stdout has " + JSON.stringify(s), r.out);
        }
        for (const s of want.err || []) {
            check(r.err.includes(s), name + ": stderr has " + JSON.stringify(s), r.err);
        }
        if (want.code === 0) {
            check(r.err === "", name + ": nothing on stderr", r.err);
        }
        const reqs = want.requests || (want.req ? [want.req] : []);
        check(requests.length === reqs.length, name + ": " + reqs.length + " request(s)",
              requests.map((q) => q.method + " " + q.url));
        reqs.forEach((w, i) => {
            const q = requests[i] || {};
            check(q.method === w[0] && q.url === w[1], name + ": request " + w[0] + " " + w[1], q);
            check(q.auth === (want.auth === undefined ? "Bearer T0K" : want.auth),
                  name + ": Authorization header", q.auth);
            if (w.length > 2) {
                check(q.type === "application/json", name + ": JSON content type", q.type);
                let body;
                try { body = JSON.parse(q.body); } catch (e) { body = "not JSON: " + q.body; }
                check(JSON.stringify(body) === JSON.stringify(w[2]), name + ": request body",
                      { got: body, want: w[2] });
            } else if (w[0] !== "GET") {
                check(q.body === "", name + ": no request body", q.body);
            }
        });
        return r;
    }

    /* devices */
    let r = await t("devices", ["devices", "--group", "line-1"],
                    { code: 0, req: ["GET", "/fleet/v1/devices?group=line-1"],
                      out: ["ID", "GROUP", "ONLINE", "SNAPSHOT", "LAST SEEN", SNAP.slice(0, 12), "4.6M",
                            "5s ago", "12.5", "site=a", "never"] });
    check(!r.out.includes(SNAP.slice(0, 13)), "devices: snapshot ids are shortened", r.out);
    check(r.out.trim().split("\n").length === 3, "devices: header + 2 rows", r.out);
    r = await t("device --json from the environment", ["device", "dev-1", "--json"],
                { code: 0, noBase: true, env: { EDGEFLOW_MANAGER: URL + "/", EDGEFLOW_TOKEN: "ENVTOK" },
                  auth: "Bearer ENVTOK", req: ["GET", "/fleet/v1/devices/dev-1"] });
    check(JSON.stringify(JSON.parse(r.out)) === JSON.stringify(routes["GET /fleet/v1/devices/dev-1"][1]),
          "device --json prints the answer as it is", r.out);
    await t("device, human", ["device", "dev-1"],
            { code: 0, req: ["GET", "/fleet/v1/devices/dev-1"],
              out: ["id              dev-1", "labels          site=a", "desiredSeq      3", "\"status\":\"applied\""] });
    await t("device without a token", ["device", "dev-1", "--url", URL],
            { code: 0, noBase: true, auth: null, req: ["GET", "/fleet/v1/devices/dev-1"] });
    await t("device id is escaped", ["device", "a b/c"],
            { code: 0, req: ["GET", "/fleet/v1/devices/a%20b%2Fc"] });
    await t("device-set", ["device-set", "dev-1", "--group", "g2", "--label", "site=b", "--label", "hw=pi",
                           "--env", "LIMIT=9", "--env", "URL=http://x/?a=b"],
            { code: 0, req: ["PATCH", "/fleet/v1/devices/dev-1",
                             { group: "g2", labels: { site: "b", hw: "pi" }, env: { LIMIT: "9", URL: "http://x/?a=b" } }] });
    await t("device-set env only", ["device-set", "dev-1", "--env", "A="],
            { code: 0, req: ["PATCH", "/fleet/v1/devices/dev-1", { env: { A: "" } }] });
    await t("device-set with nothing to set", ["device-set", "dev-1"],
            { code: 2, err: ["device-set needs --group, --label or --env"] });
    await t("device-set bad label", ["device-set", "dev-1", "--label", "nolabel"],
            { code: 2, err: ["--label needs KEY=VALUE, not 'nolabel'"] });
    await t("revoke", ["revoke", "dev-1"],
            { code: 0, req: ["POST", "/fleet/v1/devices/dev-1/revoke"], out: ["revoked         yes"] });
    await t("command logs", ["command", "dev-1", "logs", "--lines", "5"],
            { code: 0, req: ["POST", "/fleet/v1/devices/dev-1/commands", { cmd: "logs", args: { lines: 5 } }],
              out: ["line one\nline two\n"] });
    await t("command ping", ["command", "dev-1", "ping"],
            { code: 0, req: ["POST", "/fleet/v1/devices/dev-1/commands", { cmd: "ping", args: {} }] });
    await t("command answered with an error", ["command", "dev-2", "restart"],
            { code: 1, req: ["POST", "/fleet/v1/devices/dev-2/commands", { cmd: "restart", args: {} }],
              err: ["the device answered with an error: busy applying a snapshot"] });
    await t("command timeout (504)", ["command", "dev-3", "ping"],
            { code: 1, req: ["POST", "/fleet/v1/devices/dev-3/commands", { cmd: "ping", args: {} }],
              err: ["POST /fleet/v1/devices/dev-3/commands: HTTP 504: no answer from dev-3 within 10 s"] });
    await t("command unknown", ["command", "dev-1", "reboot"],
            { code: 2, err: ["command must be restart, logs or ping, not 'reboot'"] });
    await t("command --lines not a number", ["command", "dev-1", "logs", "--lines", "x"],
            { code: 2, err: ["--lines needs a whole number >= 0, not 'x'"] });

    /* groups, tokens */
    await t("groups", ["groups"], { code: 0, req: ["GET", "/fleet/v1/groups"],
                                    out: ["NAME", "line-1", "LIMIT=40", "first line"] });
    await t("group", ["group", "line-1"], { code: 0, req: ["GET", "/fleet/v1/groups/line-1"],
                                            out: ["snapshot        " + SNAP + " (version 3)"] });
    await t("group-create", ["group-create", "line-2", "--env", "A=1", "--description", "hi"],
            { code: 0, req: ["POST", "/fleet/v1/groups", { name: "line-2", env: { A: "1" }, description: "hi" }],
              out: ["name            line-2"] });
    await t("group-create, no env", ["group-create", "line-3"],
            { code: 0, req: ["POST", "/fleet/v1/groups", { name: "line-3", env: {} }] });
    await t("group-set", ["group-set", "line-1", "--description", "x"],
            { code: 0, req: ["PATCH", "/fleet/v1/groups/line-1", { description: "x" }] });
    await t("token-create", ["token-create", "line-1", "--uses", "5", "--label", "site=a", "--expires-in", "3600"],
            { code: 0, req: ["POST", "/fleet/v1/provisioning-tokens",
                             { group: "line-1", labels: { site: "a" }, uses: 5, expiresIn: 3600 }],
              out: ["token           ptok-123"] });
    await t("token-create, defaults", ["token-create", "line-1"],
            { code: 0, req: ["POST", "/fleet/v1/provisioning-tokens", { group: "line-1", labels: {} }] });

    /* snapshots */
    await t("snapshots", ["snapshots", "--group", "line-1"],
            { code: 0, req: ["GET", "/fleet/v1/snapshots?group=line-1"],
              out: ["VERSION", "raise limit", "alice", SNAP.slice(0, 12)] });
    await t("snapshots, all groups", ["snapshots"], { code: 0, req: ["GET", "/fleet/v1/snapshots"] });
    await t("snapshot", ["snapshot", SNAP], { code: 0, req: ["GET", "/fleet/v1/snapshots/" + SNAP],
                                              out: ["flows.json", "SHA256"] });
    r = await t("snapshot --flows", ["snapshot", SNAP, "--flows"],
                { code: 0, req: ["GET", "/fleet/v1/snapshots/" + SNAP + "/flows"] });
    check(JSON.stringify(JSON.parse(r.out)) === '[{"id":"n1","type":"inject"}]', "snapshot --flows prints the flows", r.out);
    const flows = [{ id: "t1", type: "tab" }, { id: "n1", type: "inject", z: "t1", wires: [[]] }];
    const creds = { n9: { user: "u", password: "p" } };
    fs.writeFileSync(path.join(tmp, "flows.json"), JSON.stringify(flows));
    fs.writeFileSync(path.join(tmp, "cred.json"), JSON.stringify(creds));
    const model = Buffer.alloc(70000);
    for (let i = 0; i < model.length; i++) model[i] = (i * 7) & 255;
    fs.writeFileSync(path.join(tmp, "model.bin"), model);
    fs.writeFileSync(path.join(tmp, "empty.txt"), "");
    await t("snapshot-create",
            ["snapshot-create", "line-1", path.join(tmp, "flows.json"), "--cred", path.join(tmp, "cred.json"),
             "--file", "models/m.onnx=" + path.join(tmp, "model.bin"), "--file", "e.txt=" + path.join(tmp, "empty.txt"),
             "--description", "raise limit", "--env", "LIMIT=40"],
            { code: 0, req: ["POST", "/fleet/v1/snapshots",
                             { group: "line-1", description: "raise limit", flows, credentials: creds,
                               env: { LIMIT: "40" },
                               files: [{ path: "models/m.onnx", content: model.toString("base64") },
                                       { path: "e.txt", content: "" }] }],
              out: ["snapshot " + SNAP + ": group line-1, version 4\n"] });
    await t("snapshot-create, already stored", ["snapshot-create", "line-1", path.join(tmp, "flows.json"),
                                                "--description", "again"],
            { code: 0, req: ["POST", "/fleet/v1/snapshots", { group: "line-1", description: "again", flows }],
              out: ["version 4 (an identical snapshot was already stored)"] });
    await t("snapshot-create, flows only", ["snapshot-create", "line-1", path.join(tmp, "flows.json")],
            { code: 0, req: ["POST", "/fleet/v1/snapshots", { group: "line-1", flows }] });
    await t("snapshot-create, flows not an array", ["snapshot-create", "line-1", path.join(tmp, "cred.json")],
            { code: 2, err: ["flows file " + path.join(tmp, "cred.json") + " must hold a JSON array, not object"] });
    await t("snapshot-create, missing flows", ["snapshot-create", "line-1", path.join(tmp, "none.json")],
            { code: 2, err: ["cannot read flows file " + path.join(tmp, "none.json") + ": No such file or directory"] });
    fs.writeFileSync(path.join(tmp, "bad.json"), "[1,");
    await t("snapshot-create, not JSON", ["snapshot-create", "line-1", path.join(tmp, "bad.json")],
            { code: 2, err: ["flows file " + path.join(tmp, "bad.json") + " is not JSON"] });
    await t("snapshot-create, missing --file", ["snapshot-create", "line-1", path.join(tmp, "flows.json"),
                                                "--file", "a.bin=" + path.join(tmp, "nope.bin")],
            { code: 2, err: ["cannot read --file a.bin=" + path.join(tmp, "nope.bin")] });
    await t("snapshot-create, missing argument", ["snapshot-create", "line-1"],
            { code: 2, err: ["snapshot-create: missing arguments"] });

    /* rollouts */
    await t("rollout-start latest with every option",
            ["rollout-start", "line-1", "latest", "--waves", "1,10%,100%", "--health-seconds", "5",
             "--max-errors", "1", "--failure-budget", "2", "--wave-timeout", "60", "--no-auto-rollback",
             "--label", "site=a"],
            { code: 0, requests: [["GET", "/fleet/v1/groups/line-1"],
                                  ["POST", "/fleet/v1/rollouts",
                                   { group: "line-1", snapshot: SNAP, selector: { labels: { site: "a" } },
                                     strategy: "waves", waves: [1, "10%", "100%"], healthSeconds: 5,
                                     maxErrors: 1, failureBudget: 2, waveTimeout: 60, autoRollback: false }]],
              out: ["id              r-1", "DEVICE"] });
    await t("rollout-start --all", ["rollout-start", "line-1", "abc", "--all"],
            { code: 0, req: ["POST", "/fleet/v1/rollouts",
                             { group: "line-1", snapshot: "abc", selector: { labels: {} }, strategy: "all",
                               autoRollback: true }] });
    await t("rollout-start, group without snapshot", ["rollout-start", "empty", "latest"],
            { code: 1, req: ["GET", "/fleet/v1/groups/empty"], err: ["group empty has no snapshot yet"] });
    await t("rollout-start, bad waves", ["rollout-start", "line-1", "abc", "--waves", "1,x"],
            { code: 2, err: ["--waves: 'x' is not a count (1, 2, ...) or a percentage (10%)"] });
    await t("rollout-start, waves 0%", ["rollout-start", "line-1", "abc", "--waves", "0%"], { code: 2, err: ["'0%'"] });
    await t("rollout-start, --all and --waves", ["rollout-start", "line-1", "abc", "--all", "--waves", "1"],
            { code: 2, err: ["--all or --waves, not both"] });
    await t("rollouts", ["rollouts"], { code: 0, req: ["GET", "/fleet/v1/rollouts"],
                                        out: ["STATE", "r-1", "running"] });
    await t("rollout", ["rollout", "r-1"], { code: 0, req: ["GET", "/fleet/v1/rollouts/r-1"],
                                             out: ["state           running", "health: 3 errors", "0011223344556677".slice(0, 12)] });
    for (const a of ["pause", "resume", "rollback", "cancel"]) {
        await t(a, [a, "r-1"], { code: 0, req: ["POST", "/fleet/v1/rollouts/r-1/" + a] });
    }
    await t("pause refused (409)", ["pause", "r-2"],
            { code: 1, req: ["POST", "/fleet/v1/rollouts/r-2/pause"],
              err: ["POST /fleet/v1/rollouts/r-2/pause: HTTP 409: rollout r-2 is completed"] });

    /* audit, authoring, files */
    await t("audit", ["audit", "--limit", "5"], { code: 0, req: ["GET", "/fleet/v1/audit?limit=5"],
                                                 out: ["ACTION", "rollout.start", "{\"devices\":2}"] });
    await t("audit, default", ["audit"], { code: 0, req: ["GET", "/fleet/v1/audit"] });
    await t("authoring", ["authoring"], { code: 0, req: ["GET", "/fleet/v1/authoring"],
                                          out: ["authoring group: line-1"] });
    await t("authoring set", ["authoring", "line-2"],
            { code: 0, req: ["PUT", "/fleet/v1/authoring", { group: "line-2" }], out: ["authoring group: line-2"] });
    await t("file", ["file", "ab12", "--out", path.join(tmp, "got.bin")],
            { code: 0, req: ["GET", "/fleet/v1/files/ab12"] });
    check(fs.readFileSync(path.join(tmp, "got.bin")).equals(blob), "file: the bytes are written as they are");

    /* errors */
    await t("404 names the request and the server's error", ["device", "nope"],
            { code: 1, req: ["GET", "/fleet/v1/devices/nope"], err: ["edgeflow fleet: GET /fleet/v1/devices/nope: HTTP 404: no device nope"] });
    await t("a non-JSON error page", ["device", "boom"],
            { code: 1, req: ["GET", "/fleet/v1/devices/boom"],
              err: ["GET /fleet/v1/devices/boom: HTTP 500: <html>Internal Server Error</html>"] });
    const closed = await new Promise((res) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
    });
    await t("connection refused", ["devices", "--url", "http://127.0.0.1:" + closed],
            { code: 1, noBase: true, err: ["cannot reach the manager at http://127.0.0.1:" + closed, "onnect"] });
    await t("unknown command", ["frobnicate"], { code: 2, noBase: true, err: ["unknown command 'frobnicate'"] });
    await t("unknown option", ["devices", "--colour", "red"], { code: 2, err: ["devices: unknown option --colour"] });
    await t("extra argument", ["devices", "x"], { code: 2, err: ["devices: unexpected argument 'x'"] });
    await t("option without value", ["devices", "--group"], { code: 2, noBase: true, err: ["--group needs a value"] });
    r = await t("help", ["help"], { code: 0, noBase: true, out: ["usage: edgeflow fleet", "rollout-start GROUP SNAPSHOT|latest"] });

    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log((failures ? "FAILED " : "ok ") + (checks - failures) + "/" + checks + " checks");
    process.exit(failures ? 1 : 0);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
