/*
 * flow.js - the flows run.js runs: one inject -> http request -> debug chain
 * per case, against server.js on `port`. Debug ids name the case; catch
 * nodes scoped to one request node show its errors.
 */
"use strict";

let nodes;

function inject(id, delay, props, wires) {
    nodes.push({ id, type: "inject", z: "t1", props: props.map(([p, v, vt]) => ({ p, v, vt })),
        repeat: "", crontab: "", once: true, onceDelay: delay, topic: "", wires: [wires] });
}
function request(id, cfg, wires) {
    nodes.push(Object.assign({ id, type: "http request", z: "t1", name: "", method: "GET", ret: "txt",
        paytoqs: "ignore", url: "", tls: "", persist: false, proxy: "", insecureHTTPParser: false,
        authType: "", senderr: false, headers: [] }, cfg, { wires: [wires] }));
}
function debug(id, complete) {
    nodes.push({ id, type: "debug", z: "t1", active: true, tosidebar: true, console: false,
        tostatus: false, complete: complete || "payload", targetType: "msg", wires: [] });
}
function catcher(id, scope, wires) {
    nodes.push({ id, type: "catch", z: "t1", name: "", scope, uncaught: false, wires: [wires] });
}

/* One case: inject (props) -> request (cfg) -> debug nodes showing `show`. */
function kase(n, delay, props, cfg, show) {
    const ds = show.map((_, i) => `d${n}${String.fromCharCode(97 + i)}`);
    inject(`i${n}`, delay, props, [`r${n}`]);
    request(`r${n}`, cfg, ds);
    show.forEach((s, i) => debug(ds[i], s));
}

function buildFlow(port, closedPort) {
    const base = `http://127.0.0.1:${port}`;
    nodes = [{ id: "t1", type: "tab", label: "http request" }];
    kase(1, 0.05, [], { url: base + "/json", ret: "obj" },
        ["payload", "statusCode", "headers", "responseUrl", "redirectList", "retry"]);
    kase(2, 0.1, [], { url: base + "/text" }, ["payload", "headers.content-type"]);
    kase(3, 0.15, [], { url: base + "/bin", ret: "bin" }, ["payload"]);
    kase(4, 0.2, [], { url: base + "/redirect2", ret: "obj" }, ["payload", "redirectList", "responseUrl"]);
    kase(5, 0.25, [["payload", "a&b", "str"], ["topic", "c d/é", "str"], ["a", "{\"b\":5}", "json"]],
        { url: base + "/echo?x={{payload}}&y={{{topic}}}&z={{a.b}}&w={{missing}}", ret: "obj" }, ["payload"]);
    kase(6, 0.3, [["payload", "{\"x\":1,\"y\":[true,null]}", "json"]],
        { url: base + "/echo", method: "POST", ret: "obj" }, ["payload"]);
    kase(7, 0.35, [["payload", "hi there", "str"], ["method", "put", "str"],
        ["headers", "{\"X-Test\":\"yes\",\"content-type\":\"text/plain\",\"x-empty\":\"\"}", "json"]],
        { url: base + "/echo", method: "use", ret: "obj" }, ["payload"]);
    kase(8, 0.4, [["payload", "[0,1,200,255]", "bin"]],
        { url: base + "/echo", method: "POST", ret: "obj" }, ["payload"]);
    kase(9, 0.45, [["payload", "{\"a\":1,\"b\":\"x y&\",\"c\":[1,2],\"d\":true,\"e\":null}", "json"]],
        { url: base + "/echo?q=1", paytoqs: "query", ret: "obj" }, ["payload"]);
    kase(10, 0.5, [["requestTimeout", "300", "num"]], { url: base + "/slow" }, ["payload", "statusCode"]);
    catcher("c10", ["r10"], ["d10x"]);
    debug("d10x", "error.message");
    kase(11, 0.55, [], { url: `http://127.0.0.1:${closedPort}/x` }, ["payload", "statusCode"]);
    catcher("c11", ["r11"], ["d11x"]);
    debug("d11x", "error.message");
    kase(12, 0.6, [], { url: base + "/badjson", ret: "obj" }, ["payload"]);
    kase(13, 0.65, [], { url: base + "/nocontent", ret: "obj" }, ["payload", "statusCode"]);
    kase(14, 0.7, [], { url: base + "/cookies" }, ["responseCookies", "headers"]);
    /* chained: the first response's headers are not sent on */
    kase(15, 0.75, [], { url: base + "/json" }, []);
    nodes.find((x) => x.id === "r15").wires = [["r15b"]];
    request("r15b", { url: base + "/echo", ret: "obj" }, ["d15"]);
    debug("d15", "payload");
    kase(16, 0.8, [], { url: `http://us%20er:pa:ss@127.0.0.1:${port}/echo`, ret: "obj" }, ["payload"]);
    kase(17, 0.85, [], { url: base + "/notfound" }, ["payload", "statusCode"]);
    kase(18, 0.9, [], { url: `http://127.0.0.1:${closedPort}/y`, senderr: true }, ["payload"]);
    catcher("c18", ["r18"], ["d18x"]);
    debug("d18x", "error.message");
    kase(19, 0.95, [["followRedirects", "false", "bool"]], { url: base + "/redirect" },
        ["statusCode", "headers.location"]);
    kase(20, 1.0, [], { url: base + "/echo", method: "DELETE", ret: "obj" }, ["payload"]);
    /* msg.url when the node has none; host without scheme */
    kase(21, 1.05, [["url", `127.0.0.1:${port}/text`, "str"]], {}, ["payload"]);
    kase(22, 1.1, [["payload", "{\"k\":\"v w\",\"n\":2}", "json"],
        ["headers", "{\"Content-Type\":\"application/x-www-form-urlencoded\"}", "json"]],
        { url: base + "/echo", method: "POST", ret: "obj" }, ["payload"]);
    kase(23, 1.15, [["payload", "42", "num"]],
        { url: base + "/echo", method: "PATCH", ret: "obj",
          headers: [{ keyType: "other", keyValue: "X-Conf", valueType: "other", valueValue: "c1" },
                    { keyType: "Accept", keyValue: "", valueType: "msg", valueValue: "topic" }] },
        ["payload"]);
    /* several requests in flight at once: the fast one answers first */
    inject("i24", 1.2, [["payload", "1", "num"]], ["r24slow", "r24fast"]);
    request("r24slow", { url: base + "/slow" }, ["d24"]);
    request("r24fast", { url: base + "/text" }, ["d24"]);
    debug("d24", "payload");
    /* still in flight when the flow stops: dropped cleanly, nothing shown */
    kase(25, 3.3, [], { url: base + "/slow" }, ["payload"]);
    return nodes;
}

/* edgeflow-only: credentials from the node (Node-RED reads them only from its credentials file). */
function buildExtraFlow(port) {
    const base = `http://127.0.0.1:${port}`;
    nodes = [{ id: "t1", type: "tab", label: "credentials" }];
    kase(1, 0.05, [], { url: base + "/echo", ret: "obj", authType: "basic" }, ["payload.headers"]);
    nodes.find((x) => x.id === "r1").credentials = { user: "ann", password: "s3cret" };
    kase(2, 0.1, [], { url: base + "/echo", ret: "obj", authType: "bearer" }, ["payload.headers"]);
    nodes.find((x) => x.id === "r2").credentials = { password: "tok123" };
    /* keep-alive: the second request reuses the first one's connection */
    kase(3, 0.2, [], { url: base + "/conn" }, ["payload"]);
    inject("i3b", 0.4, [], ["r3"]);
    return nodes;
}

const extraExpected = [
    { id: "d1a", value: { authorization: "Basic " + Buffer.from("ann:s3cret").toString("base64") } },
    { id: "d2a", value: { authorization: "Bearer tok123" } },
    { id: "d3a", value: "1" },
    { id: "d3a", value: "2" },
];

module.exports = { buildFlow, buildExtraFlow, extraExpected };

/* udp in/out: datagrams over loopback to three listeners on free ports p[0..2]. */
function buildUdpFlow(p) {
    nodes = [{ id: "t1", type: "tab", label: "udp" }];
    const udpIn = (id, port, datatype, wires) => nodes.push({ id, type: "udp in", z: "t1", name: "",
        iface: "", port: String(port), ipv: "udp4", multicast: "false", group: "", datatype, wires: [wires] });
    const udpOut = (id, cfg) => nodes.push(Object.assign({ id, type: "udp out", z: "t1", name: "",
        addr: "127.0.0.1", iface: "", port: "", ipv: "udp4", outport: "", base64: false, multicast: "false" },
        cfg, { wires: [] }));
    udpIn("u1", p[0], "utf8", ["d1", "d1ip"]);
    udpIn("u2", p[1], "buffer", ["d2"]);
    udpIn("u3", p[2], "base64", ["d3"]);
    debug("d1", "payload"); debug("d1ip", "ip"); debug("d2", "payload"); debug("d3", "payload");
    udpOut("o1", { port: String(p[0]) });
    udpOut("o2", { port: p[1] });
    udpOut("o3", { addr: "", port: "" });
    udpOut("o4", { port: String(p[2]), base64: true });
    inject("i1", 0.3, [["payload", "hello ü", "str"]], ["o1"]);
    inject("i2", 0.4, [["payload", "{\"a\":1}", "json"]], ["o1"]);
    inject("i3", 0.5, [["payload", "12.5", "num"]], ["o1"]);
    inject("i4", 0.6, [["payload", "[0,1,255]", "bin"]], ["o2"]);
    inject("i5", 0.7, [["payload", "via msg", "str"], ["ip", "127.0.0.1", "str"], ["port", String(p[0]), "num"]], ["o3"]);
    inject("i6", 0.8, [["payload", "AAEC/w==", "str"]], ["o4"]);
    inject("i7", 0.9, [["payload", "no address", "str"]], ["o3"]);
    return nodes;
}

module.exports.buildUdpFlow = buildUdpFlow;
