#!/usr/bin/env node
/*
 * make-lua-case.js - fills in the expected output of a Lua flow case from
 * Node-RED 4.1.15 running the case's function-node twin.
 *
 *   node tests/lua/make-lua-case.js CASE.json...
 *
 * A case (tests/lua/cases/nr_*.json) holds the edgeflow flow ("flow", with
 * `lua` nodes) and, in "nr_js", the JavaScript of each lua node by id:
 *   "nr_js": {"<lua node id>": {"func": "...", "initialize": "...", "finalize": "..."}}
 * The twin is the same flow with those nodes turned into function nodes
 * running that JavaScript. It runs in Node-RED through tools/nr-run.js
 * (run_ms, env as in the case); the debug lines, with _msgid and the other
 * random values scrubbed to "<any>" as tools/make-flow-case.js does, become
 * the case's "expect". Everything else in the case is kept.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");

const root = path.join(__dirname, "..", "..");
const runner = path.join(root, "tools", "nr-run.js");

function scrub(v, anyKeys) {
    if (Array.isArray(v)) return v.map(e => scrub(e, anyKeys));
    if (v && typeof v === "object") {
        const o = {};
        const isError = "message" in v && "source" in v;
        for (const k of Object.keys(v)) {
            if (isError && k === "stack") continue;
            o[k] = anyKeys.has(k) ? "<any>" : scrub(v[k], anyKeys);
        }
        // error/status/complete sources name the twin's type: it is "lua" here
        if (o.source && o.source.type === "function") o.source.type = "lua";
        return o;
    }
    return v;
}

for (const file of process.argv.slice(2)) {
    const tc = JSON.parse(fs.readFileSync(file, "utf8"));
    const twin = tc.flow.map(n => {
        const js = tc.nr_js && tc.nr_js[n.id];
        if (n.type !== "lua" || !js) return n;
        return Object.assign({}, n, { type: "function", func: js.func || "",
            initialize: js.initialize || "", finalize: js.finalize || "" });
    });
    const tmp = path.join(os.tmpdir(), "lua-twin-" + process.pid + ".json");
    fs.writeFileSync(tmp, JSON.stringify(twin));
    const envArgs = [];
    for (const k of Object.keys(tc.env || {})) envArgs.push("--env", k + "=" + tc.env[k]);
    const out = execFileSync(process.execPath,
        [runner, tmp, "--run-ms", String(tc.run_ms || 500), ...envArgs],
        { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    fs.unlinkSync(tmp);
    const anyKeys = new Set(["_msgid", ...(tc.any_keys || [])]);
    tc.expect = out.split("\n").filter(l => l.trim()).map(l => scrub(JSON.parse(l), anyKeys));
    fs.writeFileSync(file, JSON.stringify(tc, null, 1) + "\n");
    console.log(`${file}: ${tc.expect.length} expected line(s) from Node-RED`);
}
