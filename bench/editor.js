#!/usr/bin/env node
/*
 * editor.js - editor benchmarks, edgeflow side by side with Node-RED 4.1.15:
 *
 *   1. editor load: first byte of the page to the palette ready (headless
 *      Chromium; median of N cold page loads, browser cache disabled);
 *   2. deploy latency: POST /flows (full deploy) of a 1,000-node flow,
 *      median of N, as the client sees it (request sent to answer received),
 *      which bounds the runtime's own time.
 *
 *   node bench/editor.js EDGEFLOW [--runs N] [--json OUT]
 *
 * Benchmarks report; they do not pass or fail.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const h = require("../tests/integration/editor_harness.js");
const { chromium } = require(path.join(h.modules, "playwright-core"));

const args = process.argv.slice(2);
const bin = args[0];
const runs = Number(args[args.indexOf("--runs") + 1]) || (args.includes("--runs") ? 5 : 5);
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;
const demo = path.join(h.root, "flows", "demo.json");

function bigFlow(n) {
    /* n nodes on one tab: chains of inject -> change -> switch -> debug */
    const f = [{ id: "bt", type: "tab", label: "big" }];
    let i = 0;
    while (f.length - 1 < n) {
        const y = 40 + (i % 40) * 40, x = 100 + Math.floor(i / 40) * 700;
        const ids = ["i" + i, "c" + i, "s" + i, "d" + i];
        f.push({ id: ids[0], type: "inject", z: "bt", props: [{ p: "payload" }], repeat: "", crontab: "", once: false,
                 onceDelay: 0.1, topic: "", payload: "1", payloadType: "num", x, y, wires: [[ids[1]]] });
        f.push({ id: ids[1], type: "change", z: "bt", rules: [{ t: "set", p: "topic", pt: "msg", to: "t" + i, tot: "str" }],
                 x: x + 150, y, wires: [[ids[2]]] });
        f.push({ id: ids[2], type: "switch", z: "bt", property: "payload", propertyType: "msg",
                 rules: [{ t: "gt", v: "0", vt: "num" }], checkall: "true", repair: false, outputs: 1,
                 x: x + 300, y, wires: [[ids[3]]] });
        f.push({ id: ids[3], type: "debug", z: "bt", active: false, tosidebar: true, console: false, tostatus: false,
                 complete: "false", x: x + 450, y, wires: [] });
        i++;
    }
    return f.slice(0, n + 1);
}

async function startNodeRed(flowsFile) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nr-bench-"));
    fs.copyFileSync(flowsFile, path.join(dir, "flows.json"));
    const port = await h.freePort();
    fs.writeFileSync(path.join(dir, "settings.js"),
        "module.exports = { uiHost: '127.0.0.1', uiPort: " + port + ", flowFile: 'flows.json', credentialSecret: false," +
        " editorTheme: { tours: false, palette: { catalogues: [] } }, externalModules: { palette: { allowInstall: false } }," +
        " telemetry: { enabled: false }, logging: { console: { level: 'error' } } };\n");
    const child = spawn(process.execPath, [path.join(h.modules, "node-red", "red.js"), "-u", dir, "-s",
                                           path.join(dir, "settings.js")], { stdio: "ignore" });
    const base = "http://127.0.0.1:" + port;
    const end = Date.now() + 60000;
    for (;;) {
        try {
            if ((await fetch(base + "/settings")).ok) break;
        } catch (e) { /* not yet */ }
        if (Date.now() > end) throw new Error("Node-RED did not start");
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        base, dir,
        stop: () => new Promise((resolve) => { child.on("exit", resolve); child.kill("SIGINT"); }),
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function editorLoad(browser, base) {
    const times = [];
    for (let i = 0; i < runs; i++) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        await page.goto(base + "/");
        await page.waitForSelector("#red-ui-palette .red-ui-palette-node[data-palette-type='inject']", { timeout: 60000 });
        await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType("debug") &&
                                         document.querySelectorAll("#red-ui-workspace-chart .red-ui-flow-node").length > 0);
        const ms = await page.evaluate(() => performance.timeOrigin + performance.now() - performance.timing.responseStart);
        times.push(ms);
        await ctx.close();
    }
    return median(times);
}

async function deployLatency(base) {
    const flows = bigFlow(1000);
    const times = [];
    for (let i = 0; i < runs + 1; i++) {
        const t0 = process.hrtime.bigint();
        const r = await fetch(base + "/flows", {
            method: "POST",
            headers: { "Content-Type": "application/json", "Node-RED-Deployment-Type": "full" },
            body: JSON.stringify(flows),
        });
        await r.text();
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status >= 300) throw new Error("deploy answered " + r.status);
        if (i > 0) times.push(ms); /* the first one loads a new configuration */
    }
    return median(times);
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.EF_CHROMIUM || "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
    const result = {};
    try {
        const ef = await h.start(bin, demo);
        result.edgeflow = { editorLoadMs: await editorLoad(browser, ef.base), deploy1000Ms: await deployLatency(ef.base) };
        await ef.stop();
        ef.cleanup();
        const nr = await startNodeRed(demo);
        result.nodeRed = { editorLoadMs: await editorLoad(browser, nr.base), deploy1000Ms: await deployLatency(nr.base) };
        await nr.stop();
        nr.cleanup();
    } finally {
        await browser.close();
    }
    const f = (x) => x.toFixed(1).padStart(9);
    console.log("editor benchmark (median of " + runs + ")      edgeflow   Node-RED   ratio");
    console.log("editor load, first byte -> palette ready ms" + f(result.edgeflow.editorLoadMs) + "  " +
                f(result.nodeRed.editorLoadMs) + "  " + (result.nodeRed.editorLoadMs / result.edgeflow.editorLoadMs).toFixed(2) + "x");
    console.log("full deploy of 1,000 nodes, round trip ms  " + f(result.edgeflow.deploy1000Ms) + "  " +
                f(result.nodeRed.deploy1000Ms) + "  " + (result.nodeRed.deploy1000Ms / result.edgeflow.deploy1000Ms).toFixed(2) + "x");
    if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 1) + "\n");
}

main().catch((e) => {
    console.error(e && e.stack || e);
    process.exit(1);
});
