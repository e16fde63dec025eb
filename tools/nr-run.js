#!/usr/bin/env node
/*
 * nr-run.js - run a flows.json in the reference Node-RED (node-red@4.1.15,
 * embedded in this process) and print what its debug nodes show.
 *
 * This is how edgeflow captures Node-RED's exact behaviour for flow tests:
 * the output format is the same as `edgeflow run FLOWS --debug-stdout`.
 *
 *   node tools/nr-run.js FLOWS.json [--run-ms N] [--env K=V ...]
 *                        [--port N] [--nodes-dir DIR] [--log-level L]
 *
 *   --run-ms N      run for N ms after the flows have started (default 500),
 *                   then stop Node-RED cleanly and exit 0
 *   --env K=V       set an environment variable before the flows load
 *                   (for ${K} substitution and env typed inputs); repeatable
 *   --port N        port for HTTP-in nodes on 127.0.0.1 (default: a free port,
 *                   shown at --log-level info); the editor and admin API
 *                   are disabled
 *   --nodes-dir DIR extra node modules to load (Node-RED's nodesDir); repeatable
 *   --log-level L   stderr threshold: error, warn (default), info, debug, trace
 *   --setting K=JSON  a settings.js key with a JSON value (socketTimeout=500,
 *                   fileWorkingDirectory="/tmp"); repeatable
 *
 * stdout: one line per message a debug node shows, exactly
 *   {"id":"<debug node id>","value":<what it shows>}
 * value is msg.payload (complete "false"), the whole msg ("true"), the
 * property named by `complete`, or the JSONata result (targetType "jsonata"),
 * serialised by JSON.stringify (Buffers as {"type":"Buffer","data":[...]},
 * an undefined value drops the "value" key, circular references become
 * "[Circular]"). Debug nodes with active:false or tosidebar:false show nothing.
 * For a debug node inside a subflow instance, id is its id in flows.json.
 *
 * The tap is Node-RED's own debug node: it calls RED.util.encodeObject() on
 * the object it is about to publish to the editor's sidebar, just before
 * RED.comms.publish("debug", ...). We wrap that function and take the value
 * before it is encoded (truncated, hex-encoded) for the browser, so what we
 * print is exactly what the real debug node chose to display.
 *
 * stderr: Node-RED's log, one line per entry: `[level] [type:id] text` for
 * node.error/warn/log, `[level] text` for runtime messages (at the default
 * --log-level warn, runtime messages only from level error up, so stderr
 * holds just what the nodes reported).
 *
 * Note: like Node-RED's own loader, a node without "x" and "y" counts as a
 * config node; a subflow instance ("subflow:ID") without them never starts.
 * Give every flow node x/y in test flows.
 *
 * Exit status: 0 after a run (node errors do not change it); 1 if Node-RED
 * fails to start or a node type is unknown; 2 on bad usage or an unreadable flows file.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const http = require("http");

function usage(msg) {
    if (msg) process.stderr.write("nr-run: " + msg + "\n");
    process.stderr.write("usage: node tools/nr-run.js FLOWS.json [--run-ms N] [--env K=V ...] " +
        "[--port N] [--nodes-dir DIR] [--log-level L] [--setting K=JSON ...]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = { flows: null, runMs: 500, env: [], port: 0, nodesDir: [], logLevel: "warn", settings: {} };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) usage("missing value for " + a);
            return argv[++i];
        };
        if (a === "--run-ms") {
            o.runMs = Number(next());
            if (!Number.isFinite(o.runMs) || o.runMs < 0) usage("bad --run-ms");
        } else if (a === "--env") {
            const kv = next();
            const eq = kv.indexOf("=");
            if (eq <= 0) usage("--env wants K=V, got " + kv);
            o.env.push([kv.slice(0, eq), kv.slice(eq + 1)]);
        } else if (a === "--setting") {
            const kv = next();
            const eq = kv.indexOf("=");
            if (eq <= 0) usage("--setting wants K=JSON, got " + kv);
            try {
                o.settings[kv.slice(0, eq)] = JSON.parse(kv.slice(eq + 1));
            } catch (e) {
                usage("--setting " + kv + ": " + e.message);
            }
        } else if (a === "--port") {
            o.port = Number(next());
            if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage("bad --port");
        } else if (a === "--nodes-dir") {
            o.nodesDir.push(path.resolve(next()));
        } else if (a === "--log-level") {
            o.logLevel = next();
            if (!["fatal", "error", "warn", "info", "debug", "trace"].includes(o.logLevel)) usage("bad --log-level");
        } else if (a === "-h" || a === "--help") {
            usage();
        } else if (a.startsWith("--")) {
            usage("unknown option " + a);
        } else if (o.flows === null) {
            o.flows = a;
        } else {
            usage("more than one flows file");
        }
    }
    if (o.flows === null) usage("no flows file");
    return o;
}

const LEVEL_NAMES = { 10: "fatal", 20: "error", 30: "warn", 40: "info", 50: "debug", 60: "trace" };

function logText(m) {
    let t = m.msg;
    if (t instanceof Error) return t.message;
    if (t && typeof t === "object") {
        if (typeof t.message === "string" && String(t) === "[object Object]") return t.message;
        try { return JSON.stringify(t); } catch (e) { return String(t); }
    }
    return String(t);
}

/* JSON.stringify that survives circular structures and BigInts. */
function stringifyLine(obj) {
    try {
        return JSON.stringify(obj);
    } catch (e) {
        const seen = new WeakSet();
        return JSON.stringify(obj, function (k, v) {
            if (typeof v === "bigint") return v.toString();
            if (v && typeof v === "object") {
                if (seen.has(v)) return "[Circular]";
                seen.add(v);
            }
            return v;
        });
    }
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));

    let flows;
    try {
        flows = JSON.parse(fs.readFileSync(opts.flows, "utf8"));
    } catch (e) {
        process.stderr.write("nr-run: cannot read " + opts.flows + ": " + e.message + "\n");
        process.exit(2);
    }
    /* Accept the admin API's {rev, flows} form as well as the plain array. */
    if (flows && !Array.isArray(flows) && Array.isArray(flows.flows)) flows = flows.flows;
    if (!Array.isArray(flows)) {
        process.stderr.write("nr-run: " + opts.flows + ": not a flows array\n");
        process.exit(2);
    }

    for (const [k, v] of opts.env) process.env[k] = v;

    /* Nothing but debug lines may reach stdout. */
    console.log = console.error;
    console.info = console.error;

    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "nr-run-"));
    fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flows));

    const RED = require("node-red");

    /* The tap: see the header comment. */
    const util = RED.util;
    const encodeObject = util.encodeObject;
    util.encodeObject = function (o, encOpts) {
        if (o && typeof o === "object" && !("level" in o) && "msg" in o && typeof o.id === "string") {
            const id = typeof o._alias === "string" ? o._alias : o.id;
            process.stdout.write(stringifyLine({ id: id, value: o.msg }) + "\n");
        }
        return encodeObject.apply(this, arguments);
    };

    const server = http.createServer();
    const settings = {
        userDir: userDir,
        credentialSecret: false,
        flowFile: "flows.json",
        httpAdminRoot: false,
        httpNodeRoot: "/",
        uiHost: "127.0.0.1",
        disableEditor: true,
        logging: {
            nrrun: {
                level: opts.logLevel,
                metrics: false,
                audit: false,
                handler: function () {
                    return function (m) {
                        /* Runtime chatter (no node) only above the threshold's
                           default: keeps stderr to the nodes' own errors/warnings. */
                        if (!m.type && m.level > 20 && opts.logLevel === "warn") return;
                        const lvl = LEVEL_NAMES[m.level] || String(m.level);
                        const who = m.type ? "[" + m.type + ":" + (m._alias || m.id) + "] " : "";
                        process.stderr.write("[" + lvl + "] " + who + logText(m) + "\n");
                    };
                }
            }
        },
        functionExternalModules: false,
        externalModules: { autoInstall: false, palette: { allowInstall: false } },
        contextStorage: { default: { module: "memory" } },
        exportGlobalContextKeys: false,
        nodesDir: opts.nodesDir.length ? opts.nodesDir : undefined,
        editorTheme: { tours: false },
        telemetry: { enabled: false },
        diagnostics: { enabled: false }
    };
    Object.assign(settings, opts.settings);

    await new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, "127.0.0.1", resolve);
    });
    if (opts.logLevel !== "warn" && opts.logLevel !== "error" && opts.logLevel !== "fatal") {
        process.stderr.write("[info] nr-run: http nodes on 127.0.0.1:" + server.address().port + "\n");
    }

    RED.init(server, settings);
    let stopping = false;
    const finish = async (code) => {
        if (stopping) return;
        stopping = true;
        /* A node whose close never completes must not hang the capture. */
        setTimeout(() => {
            process.stderr.write("[warn] nr-run: Node-RED did not stop within 5 s\n");
            process.exit(code);
        }, 5000).unref();
        try {
            await RED.stop();
        } catch (e) {
            process.stderr.write("[error] nr-run: stop: " + (e && e.message) + "\n");
        }
        server.close();
        fs.rmSync(userDir, { recursive: true, force: true });
        process.exit(code);
    };
    process.on("SIGINT", () => finish(0));
    process.on("SIGTERM", () => finish(0));

    try {
        await RED.start();
    } catch (e) {
        process.stderr.write("[error] nr-run: start: " + (e && e.stack || e) + "\n");
        await finish(1);
        return;
    }
    /* Node-RED does not start any flow while a type is missing; say so. */
    const structural = new Set(["tab", "subflow", "group", "junction"]);
    const subflowIds = new Set(flows.filter((n) => n && n.type === "subflow").map((n) => n.id));
    const missing = flows.filter((n) => n && typeof n.type === "string" && !structural.has(n.type) &&
        !(n.type.startsWith("subflow:") && subflowIds.has(n.type.slice(8))) && !RED.nodes.getType(n.type));
    if (missing.length) {
        for (const n of missing) {
            process.stderr.write("[error] [" + n.type + ":" + n.id + "] unknown node type; Node-RED will not start the flows\n");
        }
        await finish(1);
        return;
    }
    setTimeout(() => finish(0), opts.runMs);
}

main().catch((e) => {
    process.stderr.write("[error] nr-run: " + (e && e.stack || e) + "\n");
    process.exit(1);
});
