/*
 * comms_drops.js - an editor that stops reading /comms while a flow floods
 * the debug sidebar: past the client's soft queue limit debug messages are
 * dropped, the drops are counted in GET /diagnostics (runtime.commsDropped),
 * and the editor server keeps answering.
 *
 *   node comms_drops.js EDGEFLOW_BINARY
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const h = require("./editor_harness.js");
const WebSocket = require(path.join(h.modules, "ws"));

const t = h.reporter("editor.comms_drops");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* inject -> split (one message per character) -> debug: 200,000 debug messages at once */
function floodFlows() {
    return [
        { id: "t1", type: "tab", label: "flood" },
        { id: "i1", type: "inject", z: "t1", props: [{ p: "payload" }], repeat: "", crontab: "",
          once: true, onceDelay: 1.5, topic: "", payload: "x".repeat(200000), payloadType: "str",
          wires: [["s1"]] },
        { id: "s1", type: "split", z: "t1", splt: "1", spltType: "len", arraySplt: 1,
          arraySpltType: "len", stream: false, addname: "", wires: [["d1"]] },
        { id: "d1", type: "debug", z: "t1", active: true, tosidebar: true, console: false,
          tostatus: false, complete: "payload", targetType: "msg", wires: [] },
    ];
}

async function diagnostics(base) {
    const r = await fetch(base + "/diagnostics");
    return JSON.parse(await r.text());
}

async function main() {
    const bin = process.argv[2];
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ef-comms-"));
    const flowsFile = path.join(tmp, "flows.json");
    fs.writeFileSync(flowsFile, JSON.stringify(floodFlows()));
    const ef = await h.start(bin, flowsFile);
    try {
        const d0 = await diagnostics(ef.base);
        t.check("diagnostics count drops, none yet", d0.runtime.commsDropped === 0,
                JSON.stringify(d0.runtime));
        /* a client that subscribes and then stops reading its socket */
        const ws = new WebSocket("ws://127.0.0.1:" + ef.port + "/comms");
        await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
        ws.send(JSON.stringify({ subscribe: "debug" }));
        await sleep(200);
        ws._socket.pause();
        let dropped = 0;
        for (let i = 0; i < 60 && dropped === 0; i++) {
            await sleep(250);
            dropped = (await diagnostics(ef.base)).runtime.commsDropped;
        }
        t.check("debug messages for the stalled client are dropped and counted", dropped > 0,
                String(dropped));
        const r = await fetch(ef.base + "/flows");
        t.check("the editor API still answers", r.status === 200, r.status);
        t.check("process alive", ef.alive());
        ws.terminate();
    } finally {
        const code = await ef.stop();
        t.check("SIGTERM exits 0", code === 0, code + "\n" + ef.stderr().slice(-2000));
        ef.cleanup();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
