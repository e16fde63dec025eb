#!/usr/bin/env node
/*
 * sequence.js - side-by-side benchmark of the sequence and parser nodes:
 * edgeflow and node-red@4.1.15 run the same flows, alternately, and we
 * report throughput and peak RSS (VmHWM of the engine process) with ratios.
 *
 *   node bench/sequence.js --edgeflow BIN [--reps N] [--n N] [--md FILE]
 *
 * Benchmarks (flows built here, the same JSON for both engines):
 *   splitjoin  inject([1..N]) -> split -> change -> join(auto) -> result
 *   csvjson    inject(N CSV lines) -> csv(rfc, one message per row) ->
 *              json(stringify) -> join(auto) -> result
 * The inject sets msg.t0 (a timestamp) after building its payload; the last
 * change node puts {dt: $millis() - t0, n: ...} in payload, which a debug
 * node prints. Throughput = N / dt. Node-RED runs embedded by
 * tools/nr-run.js (its runtime without the editor); edgeflow runs as
 * `edgeflow run FLOWS --debug-stdout`. Peak RSS is read from
 * /proc/PID/status (VmHWM) once the result line appears.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
let edgeflow = null, reps = 3, N = 100000, md = null;
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--edgeflow") edgeflow = path.resolve(args[++i]);
    else if (args[i] === "--reps") reps = Number(args[++i]);
    else if (args[i] === "--n") N = Number(args[++i]);
    else if (args[i] === "--md") md = args[++i];
    else { console.error("usage: sequence.js --edgeflow BIN [--reps N] [--n N] [--md FILE]"); process.exit(2); }
}

function injectNode(payloadExpr, wires) {
    return { id: "in", type: "inject", z: "t", name: "", repeat: "", crontab: "", once: true,
             onceDelay: 0.2, topic: "",
             props: [{ p: "payload", v: payloadExpr, vt: "jsonata" }, { p: "t0", v: "", vt: "date" }],
             wires: [wires] };
}
const result = { id: "res", type: "change", z: "t", name: "",
    rules: [{ t: "set", p: "payload", pt: "msg", to: "{\"dt\": $millis() - t0, \"n\": $count(payload)}", tot: "jsonata" }],
    wires: [["dbg"]] };
const debug = { id: "dbg", type: "debug", z: "t", active: true, tosidebar: true, console: false,
                tostatus: false, complete: "payload", targetType: "msg", wires: [] };
const tab = { id: "t", type: "tab", label: "bench" };

function splitJoinFlow() {
    return [tab, injectNode("[1.." + N + "]", ["sp"]),
        { id: "sp", type: "split", z: "t", name: "", splt: "\\n", spltType: "str", arraySplt: 1,
          arraySpltType: "len", stream: false, addname: "", wires: [["ch"]] },
        { id: "ch", type: "change", z: "t", name: "",
          rules: [{ t: "set", p: "topic", pt: "msg", to: "item", tot: "str" }], wires: [["jn"]] },
        { id: "jn", type: "join", z: "t", name: "", mode: "auto", build: "object", property: "payload",
          propertyType: "msg", key: "topic", joiner: "\\n", joinerType: "str", accumulate: false,
          timeout: "", count: "", reduceRight: false, wires: [["res"]] },
        result, debug];
}

function csvJsonFlow() {
    const expr = "$join([1.." + N + "].($string($) & \",sensor-\" & $string($ % 10) & \",\" & $string($ * 1.5) & \",\\\"ok, fine\\\"\"), \"\\n\")";
    return [tab, injectNode(expr, ["ncsv"]),
        { id: "ncsv", type: "csv", z: "t", name: "", spec: "rfc", sep: ",", hdrin: "", hdrout: "none",
          multi: "one", ret: "\\r\\n", temp: "id,name,value,note", skip: "0", strings: true,
          include_empty_strings: "", include_null_values: "", wires: [["njs"]] },
        { id: "njs", type: "json", z: "t", name: "", property: "payload", action: "", pretty: false,
          wires: [["jn"]] },
        { id: "jn", type: "join", z: "t", name: "", mode: "auto", build: "object", property: "payload",
          propertyType: "msg", key: "topic", joiner: "\\n", joinerType: "str", accumulate: false,
          timeout: "", count: "", reduceRight: false, wires: [["res"]] },
        result, debug];
}

function vmhwm(pid) {
    try {
        const s = fs.readFileSync("/proc/" + pid + "/status", "utf8");
        const m = /VmHWM:\s+(\d+)/.exec(s);
        return m ? Number(m[1]) : NaN;
    } catch (e) { return NaN; }
}

function runOnce(engine, flowFile) {
    return new Promise((resolve) => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "seqbench-"));
        let cmd, argv;
        if (engine === "edgeflow") {
            cmd = edgeflow;
            argv = ["run", flowFile, "--user-dir", tmp, "--port", "0", "--host", "127.0.0.1", "--debug-stdout"];
        } else {
            cmd = process.execPath;
            argv = ["--max-old-space-size=8192", path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms", "120000"];
        }
        const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
        let buf = "", done = false, err = "";
        const finish = (res) => {
            if (done) return;
            done = true;
            try { child.kill("SIGKILL"); } catch (e) { /* gone */ }
            fs.rmSync(tmp, { recursive: true, force: true });
            resolve(res);
        };
        child.stderr.on("data", d => { err += d; });
        child.stdout.on("data", d => {
            buf += d;
            let nl;
            while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                let o;
                try { o = JSON.parse(line); } catch (e) { continue; }
                if (o && o.value && typeof o.value.dt === "number") {
                    finish({ dt: o.value.dt, n: o.value.n, rss: vmhwm(child.pid) });
                }
            }
        });
        child.on("exit", () => finish({ error: "exited: " + err.slice(-300) }));
        setTimeout(() => finish({ error: "timeout" }), 180000);
    });
}

function median(a) {
    const s = a.slice().sort((x, y) => x - y);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

(async () => {
    const benches = { splitjoin: splitJoinFlow(), csvjson: csvJsonFlow() };
    const lines = ["| benchmark | engine | msgs/s (median) | dt ms | peak RSS MB |",
                   "|---|---|---|---|---|"];
    const summary = [];
    for (const [name, flow] of Object.entries(benches)) {
        const file = path.join(os.tmpdir(), "seqbench-" + name + ".json");
        fs.writeFileSync(file, JSON.stringify(flow));
        const res = { edgeflow: [], nodered: [] };
        for (let r = 0; r < reps; r++) {
            for (const engine of edgeflow ? ["edgeflow", "nodered"] : ["nodered"]) {
                const o = await runOnce(engine, file);
                if (o.error) { console.error(name, engine, o.error); continue; }
                if (o.n !== N) console.error(name, engine, "count", o.n, "!=", N);
                res[engine].push(o);
            }
        }
        const row = {};
        for (const engine of Object.keys(res)) {
            if (!res[engine].length) continue;
            const dt = median(res[engine].map(o => o.dt));
            const rss = median(res[engine].map(o => o.rss)) / 1024;
            row[engine] = { tput: N / (dt / 1000), dt, rss };
            lines.push(`| ${name} | ${engine} | ${Math.round(N / (dt / 1000))} | ${dt} | ${rss.toFixed(1)} |`);
        }
        if (row.edgeflow && row.nodered) {
            summary.push(`| ${name} | ${(row.edgeflow.tput / row.nodered.tput).toFixed(1)}x | ${(row.nodered.rss / row.edgeflow.rss).toFixed(1)}x less |`);
        }
    }
    let out = `N = ${N}, ${reps} runs per engine (medians)\n\n` + lines.join("\n") + "\n\n" +
        "| benchmark | throughput edgeflow/Node-RED | peak RSS Node-RED/edgeflow |\n|---|---|---|\n" + summary.join("\n") + "\n";
    console.log(out);
    if (md) fs.writeFileSync(md, out);
})();
