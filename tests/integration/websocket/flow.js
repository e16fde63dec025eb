/*
 * flow.js - the flows run.js runs: websocket listeners driven by the test's
 * clients (echo in payload and whole-message mode, broadcast), websocket
 * clients connecting to the test's ws server, debug and status nodes that
 * show what happens; a flow for the hostile cases, and the one deployed
 * over it.
 */
"use strict";

const dbg = (id, complete) => ({
    id, type: "debug", z: "t1", active: true, tosidebar: true, console: false,
    complete: complete || "true", targetType: complete === "status" ? "msg" : "full", wires: [],
});

const inject = (id, delay, payload, payloadType, wires) => ({
    id, type: "inject", z: "t1", props: [{ p: "payload" }], repeat: "", crontab: "", once: true,
    onceDelay: delay, topic: "", payload, payloadType, wires: [wires],
});

function buildFlow(peerPort) {
    return [
        { id: "t1", type: "tab", label: "websocket" },
        { id: "L1", type: "websocket-listener", path: "/ws/echo", wholemsg: "false" },
        { id: "L2", type: "websocket-listener", path: "ws/whole", wholemsg: "true" },
        { id: "L3", type: "websocket-listener", path: "/ws/bcast", wholemsg: "false" },
        { id: "C1", type: "websocket-client", path: `ws://127.0.0.1:${peerPort}/plain`, tls: "",
            wholemsg: "false", hb: "", subprotocol: "",
            headers: [{ keyType: "other", keyValue: "X-Edge", valueType: "other", valueValue: "yes" }] },
        { id: "C2", type: "websocket-client", path: `ws://127.0.0.1:${peerPort}/whole`, tls: "",
            wholemsg: "true", hb: "5", subprotocol: "chat, superchat", headers: [] },
        /* echo: the reply goes to msg._session */
        { id: "i1", type: "websocket in", z: "t1", name: "", server: "L1", client: "", wires: [["o1", "d_echo"]] },
        { id: "o1", type: "websocket out", z: "t1", name: "", server: "L1", client: "", wires: [] },
        dbg("d_echo"),
        { id: "i2", type: "websocket in", z: "t1", name: "", server: "L2", client: "", wires: [["o2", "d_whole"]] },
        { id: "o2", type: "websocket out", z: "t1", name: "", server: "L2", client: "", wires: [] },
        dbg("d_whole"),
        /* broadcast: without _session the message goes to every client */
        { id: "i3", type: "websocket in", z: "t1", name: "", server: "L3", client: "", wires: [["ch3"]] },
        { id: "ch3", type: "change", z: "t1", name: "", rules: [{ t: "delete", p: "_session", pt: "msg" }],
            wires: [["o3"]] },
        { id: "o3", type: "websocket out", z: "t1", name: "", server: "L3", client: "", wires: [] },
        { id: "s3", type: "status", z: "t1", name: "", scope: ["i3"], wires: [["d_s3"]] },
        dbg("d_s3", "status"),
        /* client in payload mode: what the peer sends; a reply to the client's _session goes nowhere */
        { id: "ic1", type: "websocket in", z: "t1", name: "", server: "", client: "C1", wires: [["d_c1", "oc1"]] },
        { id: "oc1", type: "websocket out", z: "t1", name: "", server: "", client: "C1", wires: [] },
        dbg("d_c1"),
        { id: "sc1", type: "status", z: "t1", name: "", scope: ["ic1"], wires: [["d_sc1"]] },
        dbg("d_sc1", "status"),
        inject("j1", "2.5", "from-flow", "str", ["oc1"]),
        inject("j2", "2.7", "[1,2,3]", "bin", ["oc1"]),
        inject("j3", "2.9", "{\"k\":[1,\"two\"]}", "json", ["oc1"]),
        inject("j4", "3.1", "", "str", ["oc1"]),
        /* client in whole-message mode, with subprotocols and a heartbeat */
        { id: "ic2", type: "websocket in", z: "t1", name: "", server: "", client: "C2", wires: [["d_c2"]] },
        { id: "oc2", type: "websocket out", z: "t1", name: "", server: "", client: "C2", wires: [] },
        dbg("d_c2"),
        {
            id: "j5", type: "inject", z: "t1", props: [{ p: "payload" }, { p: "topic", vt: "str" }],
            repeat: "", crontab: "", once: true, onceDelay: "3.3", topic: "tt", payload: "w-out",
            payloadType: "str", wires: [["oc2"]],
        },
    ];
}

/* Echo on /ws/echo and /ws/old (hostile run, httpNodeRoot /api/). */
function buildHostileFlow() {
    return [
        { id: "t1", type: "tab", label: "websocket" },
        { id: "L1", type: "websocket-listener", path: "/ws/echo", wholemsg: "false" },
        { id: "L2", type: "websocket-listener", path: "/ws/old", wholemsg: "false" },
        { id: "i1", type: "websocket in", z: "t1", name: "", server: "L1", client: "", wires: [["o1"]] },
        { id: "o1", type: "websocket out", z: "t1", name: "", server: "L1", client: "", wires: [] },
        { id: "i2", type: "websocket in", z: "t1", name: "", server: "L2", client: "", wires: [["o2"]] },
        { id: "o2", type: "websocket out", z: "t1", name: "", server: "L2", client: "", wires: [] },
    ];
}

/* The hostile flow with /ws/old replaced by /ws/new; /ws/echo unchanged. */
function buildRedeployFlow() {
    return [
        { id: "t1", type: "tab", label: "websocket" },
        { id: "L1", type: "websocket-listener", path: "/ws/echo", wholemsg: "false" },
        { id: "L3", type: "websocket-listener", path: "/ws/new", wholemsg: "false" },
        { id: "i1", type: "websocket in", z: "t1", name: "", server: "L1", client: "", wires: [["o1"]] },
        { id: "o1", type: "websocket out", z: "t1", name: "", server: "L1", client: "", wires: [] },
        { id: "i3", type: "websocket in", z: "t1", name: "", server: "L3", client: "", wires: [["o3"]] },
        { id: "o3", type: "websocket out", z: "t1", name: "", server: "L3", client: "", wires: [] },
    ];
}

/*
 * Client cases (edgeflow only): wss with a CA from a tls-config node, wss
 * without verification, wss that must fail verification, a heartbeat to a
 * server that never answers pings, a server whose message is over the
 * limit, a server that starts late and a URL that is not one.
 */
function buildClientFlow(p) {
    const nodes = [
        { id: "t1", type: "tab", label: "websocket clients" },
        { id: "tls1", type: "tls-config", name: "", cert: "", key: "", ca: p.ca, certname: "", keyname: "",
            caname: "", servername: "", verifyservercert: true, alpnprotocol: "" },
        { id: "tls2", type: "tls-config", name: "", cert: "", key: "", ca: "", certname: "", keyname: "",
            caname: "", servername: "", verifyservercert: false, alpnprotocol: "" },
        { id: "Cbad2", type: "websocket-client", path: "ws://", tls: "", wholemsg: "false", hb: "", subprotocol: "" },
    ];
    const clients = [
        ["sec", `wss://127.0.0.1:${p.tls}/secure`, "tls1", ""],
        ["insec", `wss://127.0.0.1:${p.tls}/insecure`, "tls2", ""],
        ["bad", `wss://127.0.0.1:${p.tls}/bad`, "", ""],
        ["hb", `ws://127.0.0.1:${p.nopong}/hb`, "", "1"],
        ["big", `ws://127.0.0.1:${p.peer}/big`, "", ""],
        ["late", `ws://127.0.0.1:${p.late}/late`, "", ""],
    ];
    for (const [name, url, tls, hb] of clients) {
        nodes.push(
            { id: "C_" + name, type: "websocket-client", path: url, tls, wholemsg: "false", hb, subprotocol: "",
                headers: [] },
            { id: "i_" + name, type: "websocket in", z: "t1", name: "", server: "", client: "C_" + name,
                wires: [["d_" + name]] },
            dbg("d_" + name),
            { id: "s_" + name, type: "status", z: "t1", name: "", scope: ["i_" + name], wires: [["ds_" + name]] },
            dbg("ds_" + name, "status"),
        );
    }
    nodes.push({ id: "i_bad2", type: "websocket in", z: "t1", name: "", server: "", client: "Cbad2", wires: [[]] });
    return nodes;
}

module.exports = { buildFlow, buildHostileFlow, buildRedeployFlow, buildClientFlow };
