#!/usr/bin/env node
/*
 * gen-flows.js - writes the benchmark flows into bench/flows/ (the generated
 * files are committed; rerun this after changing it). Both engines run these
 * very files. Usage: node bench/gen-flows.js
 *
 *   chain10.json   bench-source -> 10 change nodes -> bench-sink
 *   pipeline.json  bench-source (the "inject") -> change -> switch -> bench-sink
 *   fanout.json    bench-source (one 1 MiB Buffer) -> 10 wires -> 10 bench-sinks
 *                  holding what they receive
 *   idle100.json   100 nodes: 19 x (inject -> change -> switch -> change -> debug)
 *                  + bench-source -> change -> switch -> (debug, bench-sink);
 *                  used for start-up time to first message and idle RSS
 */
"use strict";
const fs = require("fs");
const path = require("path");

const CHAIN_N = 200000;
const PIPE_N = 200000;
const WINDOW = 1000; /* messages in flight at most (see bench-source) */
const FAN_SIZE = 1048576;

const out = path.join(__dirname, "flows");
fs.mkdirSync(out, { recursive: true });

function tab(id, label) {
    return { id: id, type: "tab", label: label, disabled: false, info: "" };
}
function change(id, z, x, y, rules, wires) {
    return { id, type: "change", z, name: "", rules, action: "", property: "", from: "", to: "", reg: false, x, y, wires };
}
function setStr(prop, v) {
    return { t: "set", p: prop, pt: "msg", to: v, tot: "str" };
}
function sw(id, z, x, y, rules, wires) {
    return { id, type: "switch", z, name: "", property: "payload", propertyType: "msg", rules,
             checkall: "true", repair: false, outputs: rules.length, x, y, wires };
}
function source(id, z, x, y, props, wires) {
    return Object.assign({ id, type: "bench-source", z, name: "", count: 1, payload: 0, seq: false, size: 0,
                           batch: 1000, window: 0, delay: 0, start: true }, props, { x, y, wires });
}
function sink(id, z, x, y, props) {
    return Object.assign({ id, type: "bench-sink", z, name: "", count: 1, source: "", hold: false }, props,
                         { x, y, wires: [] });
}
function debug(id, z, x, y) {
    return { id, type: "debug", z, name: "", active: true, tosidebar: true, console: false, tostatus: false,
             complete: "false", statusVal: "", statusType: "auto", x, y, wires: [] };
}
function inject(id, z, x, y, wires) {
    return { id, type: "inject", z, name: "", props: [{ p: "payload" }, { p: "topic", vt: "str" }],
             repeat: "", crontab: "", once: false, onceDelay: 0.1, topic: "", payload: "", payloadType: "date",
             x, y, wires };
}
function write(name, flows) {
    fs.writeFileSync(path.join(out, name), "[\n" + flows.map((n) => JSON.stringify(n)).join(",\n") + "\n]\n");
}

/* (a) 10-node change chain */
{
    const f = [tab("chain", "10-node change chain")];
    f.push(source("src", "chain", 100, 40, { count: CHAIN_N, payload: 1, window: WINDOW }, [["c1"]]));
    for (let i = 1; i <= 10; i++) {
        f.push(change("c" + i, "chain", 100 + i * 120, 40, [setStr("topic", "stage " + i)],
                      [[i < 10 ? "c" + (i + 1) : "sink"]]));
    }
    f.push(sink("sink", "chain", 1400, 40, { count: CHAIN_N, source: "src" }));
    write("chain10.json", f);
}

/* (b) inject -> change -> switch -> sink */
{
    const f = [tab("pipe", "inject -> change -> switch -> sink")];
    f.push(source("src", "pipe", 100, 40, { count: PIPE_N, seq: true, window: WINDOW }, [["chg"]]));
    f.push(change("chg", "pipe", 260, 40, [setStr("topic", "reading")], [["sw"]]));
    f.push(sw("sw", "pipe", 420, 40, [{ t: "lt", v: String(PIPE_N / 2), vt: "num" }, { t: "else" }],
              [["sink"], ["sink"]]));
    f.push(sink("sink", "pipe", 580, 40, { count: PIPE_N, source: "src" }));
    write("pipeline.json", f);
}

/* (c) fan-out of a 1 MiB buffer to 10 wires */
{
    const f = [tab("fan", "1 MiB fan-out to 10 wires")];
    const sinks = [];
    for (let i = 1; i <= 10; i++) sinks.push("k" + i);
    f.push(source("src", "fan", 100, 200, { count: 1, size: FAN_SIZE, delay: 200 }, [sinks]));
    sinks.forEach((id, i) => f.push(sink(id, "fan", 400, 20 + i * 40, { count: 1, source: "src", hold: true })));
    write("fanout.json", f);
}

/* (d, e) 100-node flow: idle RSS and start-up to first message */
{
    const f = [tab("idle", "100 nodes")];
    for (let c = 0; c < 19; c++) {
        const y = 40 + c * 50, p = "n" + c + "_";
        f.push(inject(p + "inj", "idle", 100, y, [[p + "c1"]]));
        f.push(change(p + "c1", "idle", 260, y, [setStr("topic", "line " + c)], [[p + "sw"]]));
        f.push(sw(p + "sw", "idle", 420, y, [{ t: "gt", v: "0", vt: "num" }, { t: "else" }],
                  [[p + "c2"], [p + "c2"]]));
        f.push(change(p + "c2", "idle", 580, y, [setStr("kind", "reading")], [[p + "dbg"]]));
        f.push(debug(p + "dbg", "idle", 740, y));
    }
    const y = 40 + 19 * 50;
    f.push(source("first", "idle", 100, y, { count: 1, payload: 1 }, [["f_c1"]]));
    f.push(change("f_c1", "idle", 260, y, [setStr("topic", "first")], [["f_sw"]]));
    f.push(sw("f_sw", "idle", 420, y, [{ t: "gt", v: "0", vt: "num" }, { t: "else" }], [["f_dbg", "f_sink"], []]));
    f.push(debug("f_dbg", "idle", 580, y));
    f.push(sink("f_sink", "idle", 580, y + 40, { count: 1, source: "first" }));
    if (f.length !== 101) throw new Error("idle100 has " + (f.length - 1) + " nodes");
    write("idle100.json", f);
}
