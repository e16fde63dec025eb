#!/usr/bin/env node
/*
 * record.js - writes the file node flow cases (tests/flows/file/*.json):
 * each flow below is run in Node-RED 4.1.15 (tools/nr-run.js) and what its
 * debug nodes showed becomes the case's "expect" (message ids as "<any>").
 * Every case works in its own directory /tmp/ef-file-test-<case>/, which
 * its flow creates (createDir) and removes at the end (delete, then an exec
 * node's rm -rf). Steps that
 * depend on earlier writes are spaced well apart (120 ms, reads at 1.2 s,
 * clean-up at 1.6 s) so slow runs (valgrind) keep the order; flowtest ends the case as
 * soon as the loop is idle.
 *
 *   node tests/flows/file/record.js [CASE...]
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..", "..");
let nodes;
let at;

function dir(c) { return `/tmp/ef-file-test-${c}`; }
function inject(id, props, wires, delay) {
    at = delay !== undefined ? delay : Math.round((at + 0.12) * 100) / 100;
    nodes.push({ id, type: "inject", z: "t1", props: props.map(([p, v, vt]) => ({ p, v, vt })), repeat: "",
        crontab: "", once: true, onceDelay: at, topic: "", wires: [wires] });
}
function file(id, cfg, wires) {
    nodes.push(Object.assign({ id, type: "file", z: "t1", name: "", filename: "", filenameType: "str",
        appendNewline: true, createDir: true, overwriteFile: "false", encoding: "none" }, cfg,
        { wires: [wires || []] }));
}
function filein(id, cfg, wires) {
    nodes.push(Object.assign({ id, type: "file in", z: "t1", name: "", filename: "", filenameType: "str",
        format: "utf8", chunk: false, sendError: false, encoding: "none", allProps: false }, cfg,
        { wires: [wires || []] }));
}
function debug(id, complete) {
    nodes.push({ id, type: "debug", z: "t1", active: true, tosidebar: true, console: false,
        tostatus: false, complete: complete || "true", targetType: "full", wires: [] });
}
function catcher(id, wires) {
    nodes.push({ id, type: "catch", z: "t1", name: "", scope: null, uncaught: false, wires: [wires] });
}
function start() {
    nodes = [{ id: "t1", type: "tab", label: "file" }];
    at = 0;
}
/* Deletes the case's file (delete mode), then its directory (exec rm -rf). */
function cleanup(name) {
    inject("iclean", [], ["fclean"], 1.6);
    file("fclean", { filename: name, overwriteFile: "delete" }, ["rmdir"]);
    nodes.push({ id: "rmdir", type: "exec", z: "t1", name: "", command: "rm -rf " + name.split("/").slice(0, 3).join("/"),
        addpay: "", append: "", useSpawn: "false", timer: "", winHide: false, oldrc: false, wires: [[], [], []] });
}

const cases = {};

cases.write_read_utf8 = (c) => {
    const f = dir(c) + "/sub/dir/a.txt";
    start();
    inject("i1", [["payload", "héllo", "str"], ["topic", "t", "str"]], ["w1"]);
    file("w1", { filename: f, overwriteFile: "true" }, ["r1", "d0"]);
    filein("r1", { filename: "filename", filenameType: "msg" }, ["d1"]);
    debug("d0"); debug("d1");
    cleanup(f);
    return "overwrite with createDir and a newline, msg.filename set, read back as a UTF-8 string";
};
cases.append_in_order = (c) => {
    const f = dir(c) + "/b.txt";
    start();
    inject("i0", [["payload", "first", "str"]], ["w0"]);
    file("w0", { filename: f, overwriteFile: "true", appendNewline: false });
    for (let i = 1; i <= 5; i++) inject("i" + i, [["payload", "line " + i, "str"]], ["w1"], 0.5);
    file("w1", { filename: f }, []);
    inject("ir", [], ["r1"], 1.2);
    filein("r1", { filename: f }, ["d1"]);
    debug("d1", "payload");
    cleanup(f);
    return "appends queue and land in order; file in with a configured filename";
};
cases.payload_types = (c) => {
    const f = dir(c) + "/c.txt";
    start();
    inject("i0", [["payload", "{\"a\":[1,\"x\"],\"b\":null}", "json"]], ["w0"]);
    file("w0", { filename: f, overwriteFile: "true" });
    inject("i1", [["payload", "42.5", "num"]], ["w1"]);
    inject("i2", [["payload", "true", "bool"]], ["w1"]);
    inject("i3", [["payload", "[65,66,10,67]", "bin"]], ["w1"]);
    inject("i4", [["payload", "last", "str"], ["parts", "{\"type\":\"string\",\"index\":1,\"count\":2}", "json"]], ["w1"]);
    inject("i5", [["payload", "mid", "str"], ["parts", "{\"type\":\"string\",\"index\":0,\"count\":2}", "json"]], ["w1"]);
    file("w1", { filename: f });
    inject("ir", [], ["r1"], 1.2);
    filein("r1", { filename: f, format: "" }, ["d1"]);
    debug("d1", "payload");
    cleanup(f);
    return "objects as JSON, numbers and booleans as text, Buffers as is, no newline after the last string part";
};
cases.encodings = (c) => {
    const f = dir(c) + "/d.bin";
    start();
    inject("i0", [["payload", "48656c6c6f0aff", "str"]], ["w0"]);
    file("w0", { filename: f, overwriteFile: "true", encoding: "hex", appendNewline: true });
    inject("i1", [["payload", "aGk=", "str"]], ["w1"]);
    file("w1", { filename: f, encoding: "base64" });
    inject("i2", [["payload", "é€", "str"]], ["w2"]);
    file("w2", { filename: f, encoding: "binary", appendNewline: false });
    inject("i3", [["payload", "ü", "str"], ["encoding", "utf8", "str"]], ["w3"]);
    file("w3", { filename: f, encoding: "setbymsg", appendNewline: false });
    inject("ir", [], ["r1", "r2", "r3", "r4", "r5"], 1.2);
    filein("r1", { filename: f, format: "" }, ["d1"]);
    filein("r2", { filename: f, encoding: "hex" }, ["d2"]);
    filein("r3", { filename: f, encoding: "base64" }, ["d3"]);
    filein("r4", { filename: f, encoding: "binary" }, ["d4"]);
    filein("r5", { filename: f, encoding: "utf8" }, ["d5"]);
    for (let i = 1; i <= 5; i++) debug("d" + i, "payload");
    cleanup(f);
    return "hex, base64, binary and per-message encodings when writing; decoding when reading";
};
cases.lines = (c) => {
    const f = dir(c) + "/e.txt";
    start();
    inject("i0", [["payload", "one\ntwo\n\nfour", "str"], ["topic", "tp", "str"], ["extra", "x", "str"]], ["w0"]);
    file("w0", { filename: f, overwriteFile: "true", appendNewline: false }, ["r1", "r2"]);
    filein("r1", { filename: "filename", filenameType: "msg", format: "lines" }, ["d1"]);
    filein("r2", { filename: "filename", filenameType: "msg", format: "lines", allProps: true }, ["d2"]);
    debug("d1"); debug("d2");
    cleanup(f);
    return "a message per line with msg.parts; allProps keeps the other properties";
};
cases.stream = (c) => {
    const f = dir(c) + "/f.bin";
    start();
    inject("i0", [["payload", "[1,2,3]", "bin"]], ["w0"]);
    file("w0", { filename: f, overwriteFile: "true" }, ["r1"]);
    filein("r1", { filename: "filename", filenameType: "msg", format: "stream" }, ["d1"]);
    debug("d1");
    cleanup(f);
    return "a small file as one Buffer chunk with parts.count";
};
cases.errors = (c) => {
    const f = dir(c) + "/nothere.txt";
    start();
    inject("i0", [["payload", "x", "str"]], ["r1", "r2", "del"]);
    filein("r1", { filename: f }, ["d1"]);
    filein("r2", { filename: f, sendError: true }, ["d2"]);
    file("del", { filename: f, overwriteFile: "delete" }, ["d3"]);
    inject("i1", [["payload", "x", "str"]], ["nofile"]);
    file("nofile", { filename: "", filenameType: "str" }, ["d3"]);
    inject("i2", [["payload", "y", "str"]], ["wdir"]);
    file("wdir", { filename: "/proc/ef-no-such-dir/x", createDir: false }, ["d3"]);
    catcher("c1", ["d4"]);
    debug("d1"); debug("d2"); debug("d3");
    debug("d4", "error.message");
    return "missing files: error to catch, message with error only when sendError; write failures";
};
cases.msg_filename = (c) => {
    const f = dir(c) + "/g.txt";
    start();
    inject("i0", [["payload", "via msg", "str"], ["filename", f, "str"]], ["w0"]);
    file("w0", { filename: "", filenameType: "" }, ["r1"]);
    filein("r1", { filename: "filename", filenameType: "msg", format: "" }, ["d1"]);
    debug("d1", "payload");
    cleanup(f);
    return "legacy empty filename means msg.filename; typed msg filename";
};

function scrub(v) {
    if (Array.isArray(v)) return v.map(scrub);
    if (v && typeof v === "object") {
        const o = {};
        for (const k of Object.keys(v)) o[k] = (k === "_msgid" || k === "id") && typeof v[k] === "string" ? "<any>" : scrub(v[k]);
        return o;
    }
    return v;
}

/* cases whose debug lines come from reads running side by side */
const unordered = new Set(["encodings", "errors", "lines"]);

const only = process.argv.slice(2);
for (const c of Object.keys(cases)) {
    if (only.length && !only.includes(c)) continue;
    fs.rmSync(dir(c), { recursive: true, force: true });
    const description = cases[c](c);
    const tmp = path.join("/tmp", `ef-file-record-${c}.json`);
    fs.writeFileSync(tmp, JSON.stringify(nodes));
    const out = execFileSync(process.execPath, [path.join(ROOT, "tools", "nr-run.js"), tmp, "--run-ms", "2000"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    fs.rmSync(tmp);
    fs.rmSync(dir(c), { recursive: true, force: true });
    const expect = out.split("\n").filter((l) => l.trim()).map((l) => {
        const line = JSON.parse(l);
        return { id: line.id, value: scrub(line.value) };
    });
    const tc = { description, run_ms: 5000, flow: nodes, expect };
    if (unordered.has(c)) tc.unordered = true;
    fs.writeFileSync(path.join(__dirname, c + ".json"), JSON.stringify(tc, null, 1) + "\n");
    console.log(`${c}: ${expect.length} lines`);
}
