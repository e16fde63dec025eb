#!/usr/bin/env node
/*
 * editor_api.js - admin API and /comms conformance: replays
 * api_requests.js against edgeflow and compares every answer with what
 * Node-RED 4.1.15 gave for the same flows (fixtures/nr-4.1.15-api.json,
 * captured by tools/nr-capture-api.js).
 *
 *   node tests/integration/editor_api.js path/to/edgeflow
 *
 * Same status and content type everywhere; same body (deep equal) where the
 * answer depends only on the flows (flows v1/v2 and their rev, single
 * flows, context, icons, inject/debug buttons, errors); the same shape
 * (keys and value types) where it describes the server (settings, nodes,
 * diagnostics); the same debug sidebar messages, byte for byte except
 * message ids.
 */
"use strict";

const path = require("path");
const fs = require("fs");
const h = require("./editor_harness.js");
const requests = require("./api_requests.js");
const WebSocket = require(path.join(h.modules, "ws"));

const t = h.reporter("editor.api");
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function shape(v) {
    if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
    if (v && typeof v === "object") {
        const o = {};
        for (const k of Object.keys(v).sort()) o[k] = shape(v[k]);
        return o;
    }
    return typeof v;
}

/* every key of `ref` (recursively) is in `got` with a value of the same type */
function covers(ref, got, at = "") {
    if (typeof ref !== typeof got || Array.isArray(ref) !== Array.isArray(got)) {
        return at + ": " + typeof ref + " vs " + typeof got;
    }
    if (ref && typeof ref === "object" && !Array.isArray(ref)) {
        for (const k of Object.keys(ref)) {
            if (!(k in got)) return at + "." + k + " missing";
            const r = covers(ref[k], got[k], at + "." + k);
            if (r) return r;
        }
    }
    return null;
}

const normId = (s) => String(s).replace(/(_msgid\\*":\\*")[0-9a-f]+/g, "$1*");

async function main() {
    const bin = process.argv[2];
    const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "nr-4.1.15-api.json")));
    const ef = await h.start(bin, path.join(__dirname, "fixtures", "api-flows.json"));
    let got, code;
    try {
        got = await requests.run(ef.base, WebSocket);
    } finally {
        code = await ef.stop();
    }
    t.check("SIGTERM exits 0 (and no leaks under ASan)", code === 0, code + "\n" + ef.stderr().slice(-2000));
    const byName = (list) => Object.fromEntries(list.map((r) => [r.name, r]));
    const R = byName(ref.responses), G = byName(got.responses);

    /* answers Node-RED gives as Express HTML error pages: status only */
    const htmlErrors = new Set(["unknown-route", "deploy-malformed", "flows-state-post"]);
    for (const name of Object.keys(R)) {
        const r = R[name], g = G[name];
        if (!t.check(name + " answered", !!g)) continue;
        t.check(name + " status " + r.status, r.status === g.status, "got " + g.status + " " + JSON.stringify(g.body).slice(0, 200));
        if (!htmlErrors.has(name) && r.status !== 204) {
            t.check(name + " content type", r.type === g.type, r.type + " vs " + g.type);
        }
    }
    const deep = ["flows-v1", "flows-v2", "flows-bad-version", "flows-state", "flow-global", "flow-tab",
                  "flow-missing", "context-global", "context-global-key", "context-flow",
                  "context-flow-key", "context-node", "library-flows", "icons", "nodes-messages",
                  "plugins", "plugins-messages", "settings-user", "deploy-v2", "deploy-stale",
                  "deploy-nodes", "deploy-reload", "flow-delete-missing",
                  "inject-inj-str", "inject-missing", "debug-disable", "debug-enable",
                  "debug-missing", "debug-bad-state"];
    for (const name of deep) {
        if (!G[name]) continue;
        t.check(name + " body equals Node-RED's", same(R[name].body, G[name].body),
                JSON.stringify(G[name].body).slice(0, 300) + "\n     want " + JSON.stringify(R[name].body).slice(0, 300));
    }
    /* the rev is sha256 of the compact flows JSON: equal to Node-RED's */
    t.check("rev equals Node-RED's", R["flows-v2"].body.rev === G["flows-v2"].body.rev);
    /* a flow added through the API reads back as in Node-RED, apart from its new id */
    const added = (x) => JSON.stringify(x.body).split(x.body.id).join("ID");
    t.check("flow-get-added matches", added(R["flow-get-added"]) === added(G["flow-get-added"]),
            added(G["flow-get-added"]));
    t.check("flow-add id is 16 hex digits", /^[0-9a-f]{16}$/.test(G["flow-add"].body.id));
    t.check("flow-put answers the flow's id", same(G["flow-put"].body, { id: G["flow-add"].body.id }));

    /* settings, theme and diagnostics describe the server: same keys and types */
    for (const name of ["theme"]) {
        t.check(name + " shape", same(shape(R[name].body), shape(G[name].body)));
    }
    const s = G.settings.body, rs = R.settings.body;
    for (const k of Object.keys(rs)) {
        if (k === "libraries") continue; /* Node-RED adds its examples library */
        t.check("settings." + k, k in s && typeof s[k] === typeof rs[k]);
    }
    t.check("settings.context", same(rs.context, s.context));
    t.check("settings.version", s.version === "4.1.15");
    t.check("settings.libraries has local", same(rs.libraries[0], s.libraries[0]));
    t.check("settings.editorTheme.languages", same(rs.editorTheme.languages, s.editorTheme.languages));
    const d = G.diagnostics.body, rd = R.diagnostics.body;
    for (const k of Object.keys(rd)) {
        if (k === "nodejs") continue;
        const r = covers(rd[k], d[k], k);
        if (k === "runtime") {
            t.check("diagnostics.runtime", !covers({ version: "", isStarted: true, flows: rd.runtime.flows }, d.runtime));
        } else {
            t.check("diagnostics." + k, !r, r);
        }
    }
    /* /nodes: the sets edgeflow lists are Node-RED's (same id, name, types) or its own */
    const rsets = Object.fromEntries(R["nodes-json"].body.map((x) => [x.id, x]));
    for (const set of G["nodes-json"].body) {
        t.check("nodes set " + set.id + " shape", same(shape(set), shape(R["nodes-json"].body[0])));
        if (set.module === "node-red") {
            t.check("nodes set " + set.id + " as in Node-RED", same(set, rsets[set.id]));
        }
    }
    for (const id of ["node-red/inject", "node-red/debug", "node-red/change", "node-red/switch",
                      "node-red/junction", "node-red/unknown"]) {
        t.check("nodes lists " + id, G["nodes-json"].body.some((x) => x.id === id));
    }

    /* /comms: the debug sidebar messages, in order, byte for byte (ids aside) */
    const dbg = (list) => list.filter((m) => m.topic === "debug" && m.data && (m.data.id === "dbg" || m.data.id === "dbg-full"))
                              .map((m) => normId(JSON.stringify(m)));
    const rdbg = dbg(ref.comms), gdbg = dbg(got.comms);
    t.check("debug message count " + rdbg.length, rdbg.length === gdbg.length, gdbg.length);
    for (let i = 0; i < rdbg.length; i++) {
        t.check("debug message " + i + " " + rdbg[i].slice(0, 80), rdbg[i] === gdbg[i],
                "\n     got  " + (gdbg[i] || "").slice(0, 400) + "\n     want " + rdbg[i].slice(0, 400));
    }
    const firstOf = (list, topic) => list.find((m) => m.topic === topic);
    t.check("retained runtime-state on subscribe", same(firstOf(ref.comms, "notification/runtime-state"),
                                                        firstOf(got.comms, "notification/runtime-state")));
    const dep = (list) => list.filter((m) => m.topic === "notification/runtime-deploy");
    t.check("runtime-deploy carries the rev", dep(got.comms).length > 1 &&
            dep(got.comms)[0].data.revision === R["flows-v2"].body.rev);
    t.check("status/dbg-full like Node-RED", same(firstOf(ref.comms, "status/dbg-full"),
                                                  firstOf(got.comms, "status/dbg-full")));
    const deployStates = (list) => list.filter((m) => m.topic === "notification/runtime-state" && m.data.deploy)
                                      .map((m) => m.data.state).slice(0, 2);
    t.check("deploy notifies stop then start", same(deployStates(got.comms), ["stop", "start"]),
            JSON.stringify(deployStates(got.comms)));
    ef.cleanup();
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
