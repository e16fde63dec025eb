/*
 * bench-nodes.js - benchmark node types for Node-RED, with the same names,
 * properties and output as the C versions in bench/nodes/bench_nodes.c, so
 * both engines run the very same flows.json.
 *
 * bench-source  props: count (messages, default 1), payload (any JSON,
 *               default 0), seq (true: payload is the message index),
 *               size (>0: payload is one Buffer of `size` bytes, filled,
 *               allocated once and sent in every message), batch (messages
 *               per loop turn, default 1000), window (at most this many
 *               messages sent but not yet counted by the bench-sinks that
 *               name this source; 0 = no limit), delay (ms before starting),
 *               start (default true: run once the flows have started; an
 *               input message also starts a run).
 *               It sends up to `batch` messages (fewer if the window is
 *               full), then yields to the event loop (setImmediate) before
 *               the next batch, so queues stay bounded: a closed loop that
 *               measures the rate the flow sustains, not how fast a queue
 *               can be filled.
 *               Just before the first send it records its start time and RSS.
 * bench-sink    props: count (default 1), source (id of a bench-source: the
 *               time is measured from its first send), hold (keep every
 *               message received until close, to measure their memory).
 *               On the count-th message it takes the time and, on the next
 *               loop turn (setImmediate), prints one line on stdout:
 *   {"bench":"done","id":"<sink id>","n":N,"ms":<since the source's first send>,
 *    "rss_kb":<VmRSS now>,"hwm_kb":<VmHWM now>,"rss0_kb":<VmRSS at the first send>}
 */
"use strict";
const fs = require("fs");

function procStatus() {
    const out = { rss: -1, hwm: -1 };
    try {
        const s = fs.readFileSync("/proc/self/status", "utf8");
        const r = /VmRSS:\s+(\d+)/.exec(s);
        const h = /VmHWM:\s+(\d+)/.exec(s);
        if (r) out.rss = Number(r[1]);
        if (h) out.hwm = Number(h[1]);
    } catch (e) { /* not Linux */ }
    return out;
}

function num(v, def) {
    const n = Number(v);
    return (v === undefined || v === null || v === "" || !Number.isFinite(n)) ? def : n;
}

function bool(v) {
    return v === true || v === "true";
}

module.exports = function (RED) {
    function BenchSource(n) {
        RED.nodes.createNode(this, n);
        const node = this;
        const count = num(n.count, 1);
        const batch = Math.max(1, num(n.batch, 1000));
        const size = num(n.size, 0);
        const delay = num(n.delay, 0);
        const windowSize = num(n.window, 0);
        const seq = bool(n.seq);
        const payload = n.payload === undefined ? 0 : n.payload;
        const autoStart = n.start === undefined ? true : bool(n.start);
        let pending = null;
        let delayTimer = null;
        node.startTime = null;
        node.rss0 = -1;
        node.acked = 0; /* incremented by the sinks that name this source */

        function run() {
            const buf = size > 0 ? Buffer.allocUnsafe(size) : null;
            if (buf) for (let i = 0; i < size; i++) buf[i] = i & 0xff;
            node.acked = 0;
            node.rss0 = procStatus().rss;
            node.startTime = performance.now();
            let sent = 0;
            const step = function () {
                pending = null;
                let end = Math.min(count, sent + batch);
                if (windowSize > 0) end = Math.min(end, node.acked + windowSize);
                for (; sent < end; sent++) {
                    node.send({ payload: buf ? buf : (seq ? sent : payload) });
                }
                if (sent < count) pending = setImmediate(step);
            };
            step();
        }
        function kick() {
            if (delay > 0) delayTimer = setTimeout(run, delay);
            else run();
        }
        const onStarted = function () {
            RED.events.removeListener("flows:started", onStarted);
            kick();
        };
        if (autoStart) RED.events.on("flows:started", onStarted);
        node.on("input", function (msg, send, done) {
            kick();
            done();
        });
        node.on("close", function () {
            RED.events.removeListener("flows:started", onStarted);
            if (pending) clearImmediate(pending);
            if (delayTimer) clearTimeout(delayTimer);
        });
    }
    RED.nodes.registerType("bench-source", BenchSource);

    function BenchSink(n) {
        RED.nodes.createNode(this, n);
        const node = this;
        const count = num(n.count, 1);
        const sourceId = n.source || "";
        const hold = bool(n.hold);
        let held = hold ? [] : null;
        let got = 0;
        let first = 0;
        let src = null;
        let report = null;
        node.on("input", function (msg, send, done) {
            if (got === 0) {
                first = performance.now();
                src = sourceId ? RED.nodes.getNode(sourceId) : null;
            }
            got++;
            if (src && typeof src.acked === "number") src.acked++;
            if (held) held.push(msg);
            if (got === count) {
                const now = performance.now();
                const t0 = src && src.startTime !== null && src.startTime !== undefined ? src.startTime : first;
                const n = got, ms = Math.round((now - t0) * 1000) / 1000, rss0 = src ? src.rss0 : -1;
                /* Report on the next loop turn, so that reading /proc and printing
                   do not delay deliveries still queued (e.g. the other fan-out wires). */
                report = setImmediate(() => {
                    report = null;
                    const st = procStatus();
                    const line = { bench: "done", id: node.id, n: n, ms: ms, rss_kb: st.rss, hwm_kb: st.hwm, rss0_kb: rss0 };
                    process.stdout.write(JSON.stringify(line) + "\n");
                });
            }
            done();
        });
        node.on("close", function () {
            if (report) clearImmediate(report);
            held = null;
        });
    }
    RED.nodes.registerType("bench-sink", BenchSink);
};
