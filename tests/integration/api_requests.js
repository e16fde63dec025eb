/*
 * api_requests.js - the admin API requests and /comms exchange that the
 * editor API conformance test makes. The same script runs against the
 * reference Node-RED (tools/nr-capture-api.js records its answers into
 * fixtures/nr-4.1.15-api.json) and against edgeflow (editor_api.js), so the
 * two sets of answers can be compared request by request.
 *
 * run(base, WebSocket) -> { responses: [{name, method, path, status, type, body}],
 *                           comms: [{topic, data}] }
 * The flows are fixtures/api-flows.json (loaded before run is called).
 */
"use strict";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function request(base, name, method, path, opts = {}) {
    const headers = Object.assign({}, opts.headers || {});
    let body = opts.body;
    if (body !== undefined && typeof body !== "string") {
        body = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
    } else if (body !== undefined && !headers["Content-Type"]) {
        headers["Content-Type"] = "application/json";
    }
    if (!headers.Accept) headers.Accept = "application/json";
    const r = await fetch(base + path, { method, headers, body });
    const text = await r.text();
    let parsed = text;
    const type = (r.headers.get("content-type") || "").split(";")[0];
    if (type === "application/json") {
        try {
            parsed = JSON.parse(text);
        } catch (e) {
            parsed = { unparsable: text };
        }
    }
    return { name, method, path, status: r.status, type, body: parsed };
}

async function run(base, WebSocket) {
    const comms = [];
    const ws = new WebSocket(base.replace(/^http/, "ws") + "/comms");
    await new Promise((resolve, reject) => {
        ws.on("open", resolve);
        ws.on("error", reject);
    });
    ws.on("message", (data) => {
        let batch;
        try {
            batch = JSON.parse(String(data));
        } catch (e) {
            comms.push({ topic: "unparsable", data: String(data) });
            return;
        }
        for (const m of batch) comms.push(m);
    });
    for (const t of ["notification/#", "status/#", "debug"]) {
        ws.send(JSON.stringify({ subscribe: t }));
    }
    await sleep(400); /* the once inject sets context; retained messages arrive */

    const out = [];
    const r = async (...a) => {
        const res = await request(base, ...a);
        out.push(res);
        return res;
    };
    await r("settings", "GET", "/settings");
    await r("settings-user", "GET", "/settings/user");
    await r("nodes-json", "GET", "/nodes");
    await r("nodes-messages", "GET", "/nodes/messages?lng=en-US");
    await r("icons", "GET", "/icons");
    await r("plugins", "GET", "/plugins");
    await r("plugins-messages", "GET", "/plugins/messages?lng=en-US");
    await r("theme", "GET", "/theme");
    const v1 = await r("flows-v1", "GET", "/flows");
    const v2 = await r("flows-v2", "GET", "/flows", { headers: { "Node-RED-API-Version": "v2" } });
    await r("flows-bad-version", "GET", "/flows", { headers: { "Node-RED-API-Version": "v3" } });
    await r("flows-state", "GET", "/flows/state");
    await r("flow-global", "GET", "/flow/global");
    await r("flow-tab", "GET", "/flow/t1");
    await r("flow-missing", "GET", "/flow/nope");
    await r("context-global", "GET", "/context/global");
    await r("context-global-key", "GET", "/context/global/site");
    await r("context-flow", "GET", "/context/flow/t1");
    await r("context-flow-key", "GET", "/context/flow/t1/count");
    await r("context-node", "GET", "/context/node/dbg");
    await r("diagnostics", "GET", "/diagnostics");
    await r("library-flows", "GET", "/library/local/flows/");
    await r("unknown-route", "GET", "/no/such/route");

    for (const id of ["inj-str", "inj-num", "inj-bool", "inj-obj", "inj-arr", "inj-buf", "inj-null",
                      "inj-full"]) {
        await r("inject-" + id, "POST", "/inject/" + id, { body: {} });
        await sleep(120); /* keep the debug messages in order */
    }
    await r("inject-missing", "POST", "/inject/nope", { body: {} });
    await sleep(300);
    await r("debug-disable", "POST", "/debug/dbg/disable", { body: {} });
    await r("debug-enable", "POST", "/debug/dbg/enable", { body: {} });
    await r("debug-missing", "POST", "/debug/nope/enable", { body: {} });
    await r("debug-bad-state", "POST", "/debug/dbg/sideways", { body: {} });

    const flows = v1.body;
    const rev = v2.body.rev;
    await r("deploy-malformed", "POST", "/flows", { body: "{\"flows\": [", headers: { "Node-RED-API-Version": "v2" } });
    const d1 = await r("deploy-v2", "POST", "/flows", {
        body: { flows, rev },
        headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
    });
    await r("deploy-stale", "POST", "/flows", {
        body: { flows, rev: "0".repeat(64) },
        headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "nodes" },
    });
    await r("deploy-nodes", "POST", "/flows", {
        body: { flows, rev: d1.body.rev },
        headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "nodes" },
    });
    await r("deploy-v1", "POST", "/flows", { body: flows, headers: { "Node-RED-Deployment-Type": "flows" } });
    await r("deploy-reload", "POST", "/flows", {
        body: {},
        headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "reload" },
    });
    await r("flows-state-post", "POST", "/flows/state", { body: { state: "stop" } });

    const added = await r("flow-add", "POST", "/flow", {
        body: { label: "Added", nodes: [{ id: "added-c", type: "comment", name: "hi", x: 100, y: 100 }] },
    });
    const fid = added.body && added.body.id;
    await r("flow-get-added", "GET", "/flow/" + fid);
    await r("flow-put", "PUT", "/flow/" + fid, {
        body: { id: fid, label: "Renamed", nodes: [{ id: "added-c", type: "comment", name: "hey", x: 100, y: 100 }] },
    });
    await r("flow-delete", "DELETE", "/flow/" + fid);
    await r("flow-delete-missing", "DELETE", "/flow/nope");
    await sleep(300);
    ws.close();
    return { responses: out, comms };
}

module.exports = { run, request };
