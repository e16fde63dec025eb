#!/usr/bin/env node
/*
 * auth.js - adminAuth conformance and behaviour of edgeflow's editor server.
 *
 *   node tests/integration/security/auth.js EDGEFLOW
 *
 * 1. Replays auth_requests.js against edgeflow with the same adminAuth as
 *    the reference run, once with users only and once with an anonymous
 *    read-only default, and compares every answer (status, JSON body,
 *    /comms auth replies) with Node-RED 4.1.15's in
 *    ../fixtures/nr-4.1.15-auth.json.
 * 2. edgeflow's own promises: audit log lines (login, failed login with
 *    user and address, logout, deploy with user and type), the per-address
 *    limit on failed logins, tokens expiring after sessionExpiryTime, and
 *    settings that are refused at start (a plain-text password).
 */
"use strict";

const fs = require("fs");
const path = require("path");
const h = require("../editor_harness.js");
const WebSocket = require(path.join(h.modules, "ws"));
const reqs = require("./auth_requests.js");

const bin = process.argv[2];
const t = h.reporter("security.auth");
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "nr-4.1.15-auth.json"), "utf8"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function flowsFile() {
    const f = path.join(require("os").tmpdir(), "ef-auth-flows-" + process.pid + ".json");
    fs.writeFileSync(f, JSON.stringify(reqs.FLOWS));
    return f;
}

const form = (o) => ({ method: "POST", body: new URLSearchParams(o).toString(),
                       headers: { "Content-Type": "application/x-www-form-urlencoded" } });
const login = (user, password) => form({ client_id: "node-red-editor", grant_type: "password", scope: "",
                                         username: user, password });

async function conformance(variant, flows) {
    const ef = await h.start(bin, flows, { settings: { credentialSecret: "sekrit", adminAuth: reqs.adminAuth(variant) } });
    try {
        const got = await reqs.run(ef.base, WebSocket, variant);
        const want = fixture[variant];
        t.check(variant + ": same number of answers", got.length === want.length, got.length + " vs " + want.length);
        for (let i = 0; i < want.length; i++) {
            const g = JSON.stringify(got[i]), w = JSON.stringify(want[i]);
            t.check(variant + ": " + want[i].name, g === w, "\n     edgeflow: " + g + "\n     node-red: " + w);
        }
    } finally {
        const code = await ef.stop();
        t.check(variant + ": SIGTERM exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
    }
    return ef.stderr();
}

/* Runs edgeflow with settings until it says whether the editor started; returns its log. */
async function refused(flows, settings) {
    const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "ef-auth-bad-"));
    fs.writeFileSync(path.join(dir, "settings.json"), JSON.stringify(settings));
    const port = await h.freePort();
    const child = require("child_process").spawn(bin, ["run", flows, "--port", String(port), "--user-dir", dir,
        "--settings", path.join(dir, "settings.json")], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => { err += d; });
    const end = Date.now() + 15000;
    while (Date.now() < end && !/editor (at|not started)/.test(err) && child.exitCode === null) await sleep(50);
    await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on("exit", resolve);
        child.kill("SIGTERM");
    });
    fs.rmSync(dir, { recursive: true, force: true });
    return err;
}

async function main() {
    const flows = flowsFile();
    const log = await conformance("users", flows);
    await conformance("anon", flows);

    /* audit lines of the "users" run */
    const has = (re) => t.check("audit log: " + re, re.test(log), log.split("\n").slice(-40).join("\n"));
    has(/\[info\] audit: auth\.login user=admin scope=\* from 127\.0\.0\.1/);
    has(/\[info\] audit: auth\.login\.fail\.credentials user=admin from 127\.0\.0\.1/);
    has(/\[info\] audit: auth\.login\.fail\.credentials user=nobody from 127\.0\.0\.1/);
    has(/\[warn\] audit: auth\.login\.fail\.too-many-attempts user=victim from 127\.0\.0\.1/);
    has(/\[info\] audit: permission\.fail user=reader permission=flows\.write path=\/flows from 127\.0\.0\.1/);
    has(/\[info\] audit: flows\.set user=admin type=full path=\/flows from 127\.0\.0\.1/);
    has(/\[info\] audit: auth\.login\.revoke user=admin from 127\.0\.0\.1/);
    has(/\[info\] audit: comms\.auth user=reader from 127\.0\.0\.1/);
    t.check("no password or token in the log", !/secret|[0-9a-f]{64}/.test(log));

    /* per-address limit: 20 failed logins from one address, whatever the names */
    let ef = await h.start(bin, flows, { settings: { adminAuth: Object.assign(reqs.adminAuth("users"), { sessionExpiryTime: 1 }) } });
    try {
        const statuses = [];
        for (let i = 0; i < 21; i++) {
            statuses.push((await fetch(ef.base + "/auth/token", login("user" + i, "x"))).status);
        }
        t.check("20 failed logins from one address, then refused",
                statuses.slice(0, 20).every((s) => s === 403) && statuses[20] === 500, statuses.join(","));
        const r = await fetch(ef.base + "/auth/token", login("admin", "secret"));
        t.check("even for a right password from that address", r.status === 500, r.status);
    } finally {
        const code = await ef.stop();
        t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
    }

    /* sessionExpiryTime */
    ef = await h.start(bin, flows, { settings: { adminAuth: Object.assign(reqs.adminAuth("users"), { sessionExpiryTime: 1 }) } });
    try {
        /* a user name longer than what the attempt log keeps is limited all the same */
        const long = "x".repeat(300), st = [];
        for (let i = 0; i < 6; i++) st.push((await fetch(ef.base + "/auth/token", login(long, "x"))).status);
        t.check("long user names are rate-limited too", st.join() === "403,403,403,403,403,500", st.join());
        const r = await fetch(ef.base + "/auth/token", login("admin", "secret"));
        const body = await r.json();
        t.check("expires_in is sessionExpiryTime", body.expires_in === 1, JSON.stringify(body));
        t.check("the token is 64 hex digits", /^[0-9a-f]{64}$/.test(body.access_token), body.access_token);
        const auth = { headers: { Authorization: "Bearer " + body.access_token } };
        t.check("the token works", (await fetch(ef.base + "/flows", auth)).status === 200);
        await sleep(1300);
        t.check("and not after it expired", (await fetch(ef.base + "/flows", auth)).status === 401);

        /* a /comms client whose session is revoked gets {"auth":"fail"} and is closed */
        const r2 = await (await fetch(ef.base + "/auth/token", login("reader", "secret"))).json();
        const events = [];
        const ws = new WebSocket(ef.base.replace(/^http/, "ws") + "/comms");
        const closed = new Promise((resolve) => ws.on("close", resolve));
        ws.on("open", () => ws.send(JSON.stringify({ auth: r2.access_token })));
        ws.on("message", (d) => events.push(String(d)));
        await sleep(300);
        await fetch(ef.base + "/auth/revoke", { ...form({ token: r2.access_token }),
            headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: "Bearer " + r2.access_token } });
        const how = await Promise.race([closed.then(() => "closed"), sleep(3000).then(() => "open")]);
        t.check("revoking closes the session's /comms connection", how === "closed" &&
                JSON.stringify(events) === JSON.stringify(['{"auth":"ok"}', '{"auth":"fail"}']), how + " " + JSON.stringify(events));
    } finally {
        const code = await ef.stop();
        t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
    }

    /* edgeflow hash-pw: Node-RED's bcryptjs accepts the hash, and so does a login */
    const made = require("child_process").spawnSync(bin, ["hash-pw"], { input: "n3w pass\n", encoding: "utf8" });
    const hash = made.stdout.trim();
    const bcrypt = require(path.join(h.modules, "bcryptjs"));
    t.check("hash-pw prints a $2b$ hash that bcryptjs verifies", /^\$2b\$08\$/.test(hash) &&
            bcrypt.compareSync("n3w pass", hash) && !bcrypt.compareSync("n3w pasS", hash), made.stdout + made.stderr);
    ef = await h.start(bin, flows, { settings: { adminAuth: { type: "credentials",
        users: [{ username: "u", password: hash, permissions: "*" }] } } });
    try {
        t.check("a login with that hash", (await fetch(ef.base + "/auth/token", login("u", "n3w pass"))).status === 200);
    } finally {
        const code = await ef.stop();
        t.check("exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
    }

    /* settings edgeflow refuses to start with */
    const bad = [
        [{ type: "credentials", users: [{ username: "a", password: "secret", permissions: "*" }] }, /password must be a bcrypt hash/],
        [{ type: "strategy", strategy: {} }, /type "credentials"/],
        [{ type: "credentials", users: [{ username: "a", password: reqs.HASH, permissions: 3 }] }, /permissions must be/],
    ];
    for (const [aa, re] of bad) {
        t.check("refused at start: " + re, re.test(await refused(flows, { adminAuth: aa })));
    }
    fs.rmSync(flows, { force: true });
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
