#!/usr/bin/env node
/*
 * make-flow-case.js - turns a flow into a flow-test case whose expected
 * output is what Node-RED 4.1.15 really does.
 *
 *   node tools/make-flow-case.js FLOW.json OUT.json [--run-ms N] [--wait]
 *        [--unordered] [--any KEY]... [--description TEXT] [--env K=V]...
 *
 * It runs FLOW.json with tools/nr-run.js, takes the debug lines it prints,
 * replaces the values of random keys (_msgid always, plus each --any KEY,
 * at any depth) with "<any>", and writes {description, flow, run_ms, expect}
 * for tests/flows/flowtest.c. The flow itself is copied unchanged.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const args = process.argv.slice(2);
if (args.length < 2) {
    console.error("usage: make-flow-case.js FLOW.json OUT.json [--run-ms N] [--wait] [--unordered] [--any KEY]... [--description TEXT] [--env K=V]...");
    process.exit(2);
}
const [flowFile, outFile] = args;
let runMs = 500, wait = false, unordered = false, description = "";
const anyKeys = new Set(["_msgid"]);
const env = {};
for (let i = 2; i < args.length; i++) {
    const a = args[i];
    if (a === "--run-ms") runMs = Number(args[++i]);
    else if (a === "--wait") wait = true;
    else if (a === "--unordered") unordered = true;
    else if (a === "--any") anyKeys.add(args[++i]);
    else if (a === "--description") description = args[++i];
    else if (a === "--env") { const [k, ...v] = args[++i].split("="); env[k] = v.join("="); }
    else { console.error("unknown option " + a); process.exit(2); }
}

// Random values become "<any>": _msgid (and --any keys) anywhere, and the
// event ids link call puts in msg._linkSource. JavaScript stack traces of
// caught errors ({message, source, stack}) are dropped: they name JS files.
function scrub(v, parentKey) {
    if (Array.isArray(v)) return v.map(e => scrub(e, parentKey));
    if (v && typeof v === "object") {
        const o = {};
        const isError = "message" in v && "source" in v;
        for (const k of Object.keys(v)) {
            if (isError && k === "stack") continue;
            if (anyKeys.has(k) || (parentKey === "_linkSource" && k === "id")) o[k] = "<any>";
            else o[k] = scrub(v[k], k);
        }
        return o;
    }
    return v;
}

const runner = path.join(__dirname, "nr-run.js");
const envArgs = [];
for (const k of Object.keys(env)) envArgs.push("--env", k + "=" + env[k]);
const out = execFileSync(process.execPath, [runner, flowFile, "--run-ms", String(runMs), ...envArgs],
                         { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const expect = out.split("\n").filter(l => l.trim()).map(l => scrub(JSON.parse(l), null));
const flow = JSON.parse(fs.readFileSync(flowFile, "utf8"));
const tc = {};
if (description) tc.description = description;
if (Object.keys(env).length) tc.env = env;
tc.run_ms = runMs;
if (wait) tc.wait = true;
if (unordered) tc.unordered = true;
tc.flow = flow;
tc.expect = expect;
fs.writeFileSync(outFile, JSON.stringify(tc, null, 1) + "\n");
console.log(`${outFile}: ${expect.length} expected line(s)`);
