#!/usr/bin/env node
/*
 * bench.js - the side-by-side benchmark driver: runs the same flows.json
 * (bench/flows/) in edgeflow and in node-red@4.1.15, alternately, several
 * times each, and prints a markdown table of medians and edgeflow/Node-RED
 * ratios. It reports; it never fails (exit 0 unless its own arguments are
 * wrong). bench/run.sh builds everything and calls it.
 *
 *   node bench/bench.js [--edgeflow BIN] [--plugin-dir DIR] [--reps N]
 *                       [--only a,b,c,d] [--json FILE] [--md FILE]
 *
 *   --edgeflow BIN    edgeflow binary (omit: Node-RED only, edgeflow "n/a")
 *   --plugin-dir DIR  where bench_nodes.so is (edgeflow --plugin-dir)
 *   --reps N          runs per benchmark and engine (default 5, env BENCH_REPS)
 *   --only LIST       subset of: chain, pipeline, fanout, idle
 *   --json FILE       also write every raw run as JSON
 *   --md FILE         also write the report (markdown) to FILE
 *   --ef-build TEXT   how edgeflow was built, for the report (default "Release")
 * Env BENCH_CPU=N pins both engines to CPU N with taskset.
 *
 * Each run execs the engine from a tiny bash wrapper that prints the wall
 * clock just before `exec` (t0; Node's spawn() itself costs 15-30 ms):
 *   edgeflow: edgeflow run FLOWS --user-dir TMP --port P --host 127.0.0.1
 *             --debug-stdout --plugin-dir DIR
 *   Node-RED: node tools/node_modules/node-red/red.js --settings
 *             bench/settings.js --userDir TMP --port P FLOWS
 *             (the full runtime with its editor, as users run it)
 * It reads stdout lines: the first line starting with '{' is the first
 * message (a debug line or a bench-sink line), and bench-sink lines
 * ({"bench":"done",...}) carry n, ms, rss_kb, rss0_kb. Then the process gets
 * SIGTERM (SIGKILL after 5 s).
 *
 * Benchmarks (flows from bench/gen-flows.js):
 *   chain     chain10.json   msgs/s through 10 change nodes = n / ms
 *   pipeline  pipeline.json  msgs/s through inject(bench-source) -> change -> switch -> sink
 *   fanout    fanout.json    one 1 MiB buffer to 10 wires: time to the 10th
 *                            sink, and RSS added (max sink rss_kb - source
 *                            rss0_kb, taken after the buffer exists)
 *   idle      idle100.json   start-up: exec -> first message on stdout; idle
 *                            RSS: VmRSS 1 s after the first message (+VmHWM)
 */
"use strict";

const fs = require("fs");
const os = require("os");
const net = require("net");
const path = require("path");
const { spawn, execFileSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..");
const RED_JS = path.join(ROOT, "tools", "node_modules", "node-red", "red.js");
const NR_SETTINGS = path.join(__dirname, "settings.js");
const FLOWS = path.join(__dirname, "flows");
const RUN_TIMEOUT_MS = 120000;
const IDLE_WAIT_MS = 1000;

function usage(msg) {
    process.stderr.write("bench: " + msg + "\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = { edgeflow: null, pluginDir: null, reps: Number(process.env.BENCH_REPS) || 5,
                only: null, json: null, md: null, efBuild: "Release" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => (i + 1 < argv.length ? argv[++i] : usage("missing value for " + a));
        if (a === "--edgeflow") o.edgeflow = path.resolve(next());
        else if (a === "--plugin-dir") o.pluginDir = path.resolve(next());
        else if (a === "--reps") o.reps = Number(next());
        else if (a === "--only") o.only = next().split(",");
        else if (a === "--json") o.json = next();
        else if (a === "--md") o.md = next();
        else if (a === "--ef-build") o.efBuild = next();
        else usage("unknown argument " + a);
    }
    if (!Number.isInteger(o.reps) || o.reps < 1) usage("bad --reps");
    return o;
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const p = s.address().port;
            s.close(() => resolve(p));
        });
    });
}

function procStatus(pid) {
    try {
        const s = fs.readFileSync("/proc/" + pid + "/status", "utf8");
        const get = (k) => {
            const m = new RegExp(k + ":\\s+(\\d+)").exec(s);
            return m ? Number(m[1]) : null;
        };
        return { rss_kb: get("VmRSS"), hwm_kb: get("VmHWM") };
    } catch (e) {
        return { rss_kb: null, hwm_kb: null };
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/*
 * Runs one engine on one flow. Resolves (never rejects) with
 * {ok, error, startup_ms, done: [sink lines], rss_kb, hwm_kb, stderr}.
 */
async function runOnce(engine, opts, flowFile, expectDone, idleWait) {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-bench-"));
    const port = await freePort();
    let cmd, args;
    const env = Object.assign({}, process.env);
    if (engine === "baseline") { /* exec cost of a trivial program, for scale */
        cmd = "/bin/echo";
        args = ['{"bench":"done","n":1,"ms":0}'];
    } else if (engine === "edgeflow") {
        cmd = opts.edgeflow;
        args = ["run", flowFile, "--user-dir", userDir, "--port", String(port), "--host", "127.0.0.1",
                "--debug-stdout"];
        if (opts.pluginDir) args.push("--plugin-dir", opts.pluginDir);
    } else {
        cmd = process.execPath;
        args = [RED_JS, "--settings", NR_SETTINGS, "--userDir", userDir, "--port", String(port), flowFile];
        env.BENCH_NR_PORT = String(port);
    }
    if (process.env.BENCH_CPU) {
        args = ["-c", process.env.BENCH_CPU, cmd].concat(args);
        cmd = "taskset";
    }
    /*
     * Start-up is timed from the exec: Node's own spawn() costs 15-30 ms (it
     * forks this big process), so a bash wrapper prints the wall clock just
     * before it execs the engine (same pid), and the first stdout line is
     * stamped with the same clock here.
     */
    args = ["-c", 'printf "BENCH_T0 %s\\n" "$EPOCHREALTIME" >&2; exec "$@"', "bench-exec", cmd].concat(args);
    cmd = "bash";
    env.LC_NUMERIC = "C";
    const res = { ok: false, error: null, startup_ms: null, done: [], rss_kb: null, hwm_kb: null, stderr: "" };
    const wallMs = () => performance.timeOrigin + performance.now();
    let t0 = null; /* ms since the epoch when bash exec'd the engine */
    let firstLineAt = null;
    let child;
    try {
        child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        res.error = "spawn: " + e.message;
        return res;
    }
    let exited = false;
    const exitP = new Promise((resolve) => {
        child.once("exit", (code, sig) => { exited = true; resolve({ code, sig }); });
        child.once("error", (e) => { exited = true; res.error = res.error || "spawn: " + e.message; resolve({}); });
    });
    child.stderr.on("data", (d) => {
        res.stderr += d.toString();
        if (t0 === null) {
            const m = /BENCH_T0 (\d+(?:\.\d+)?)/.exec(res.stderr);
            if (m) t0 = Number(m[1]) * 1000;
        }
        if (res.stderr.length > 20000) res.stderr = res.stderr.slice(-10000);
    });
    let buf = "";
    let finished;
    const finishedP = new Promise((resolve) => { finished = resolve; });
    child.stdout.on("data", (d) => {
        const now = wallMs();
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line.startsWith("{")) continue;
            if (firstLineAt === null) firstLineAt = now;
            let o;
            try { o = JSON.parse(line); } catch (e) { continue; }
            if (o && o.bench === "done") {
                res.done.push(o);
                if (res.done.length >= expectDone) finished();
            }
        }
    });
    const timer = setTimeout(() => { res.error = "timed out after " + RUN_TIMEOUT_MS + " ms"; finished(); },
                             RUN_TIMEOUT_MS);
    await Promise.race([finishedP, exitP]);
    clearTimeout(timer);
    if (t0 !== null && firstLineAt !== null) res.startup_ms = firstLineAt - t0;
    if (!exited && res.done.length >= expectDone) {
        if (idleWait) await sleep(idleWait);
        const st = procStatus(child.pid);
        res.rss_kb = st.rss_kb;
        res.hwm_kb = st.hwm_kb;
        res.ok = true;
    } else if (!res.error) {
        res.error = exited ? "exited before finishing" : "incomplete";
    }
    if (!exited) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => { if (!exited) child.kill("SIGKILL"); }, 5000);
        await exitP;
        clearTimeout(killer);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
    return res;
}

const BENCHES = {
    chain: {
        title: "10-node change chain", flow: "chain10.json", expect: 1,
        metrics: (r) => ({ msgs_per_s: r.done[0].n / r.done[0].ms * 1000 })
    },
    pipeline: {
        title: "inject → change → switch → sink", flow: "pipeline.json", expect: 1,
        metrics: (r) => ({ msgs_per_s: r.done[0].n / r.done[0].ms * 1000 })
    },
    fanout: {
        title: "1 MiB buffer fan-out to 10 wires", flow: "fanout.json", expect: 10,
        metrics: (r) => {
            const rss = Math.max(...r.done.map((d) => d.rss_kb));
            const rss0 = r.done[0].rss0_kb;
            return { fanout_ms: Math.max(...r.done.map((d) => d.ms)),
                     added_kb: rss0 > 0 ? rss - rss0 : null };
        }
    },
    idle: {
        title: "100-node flow", flow: "idle100.json", expect: 1, idleWait: IDLE_WAIT_MS,
        metrics: (r) => ({ startup_ms: r.startup_ms, idle_rss_kb: r.rss_kb, hwm_kb: r.hwm_kb })
    }
};

function median(xs) {
    const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function fmtNum(x, digits) {
    if (x === null || x === undefined) return "n/a";
    if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
    return x.toFixed(digits === undefined ? 1 : digits);
}

/* Compact number for ranges: 1.2M, 340k, 12.5, 0.042. */
function fmtShort(x, digits) {
    const a = Math.abs(x);
    if (a >= 1e6) return (x / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return Math.round(x / 1e3) + "k";
    if (a >= 1000) return Math.round(x).toString();
    return x.toFixed(digits === undefined ? 1 : digits);
}

function fmtRatio(a, b) {
    if (a === null || b === null || a === undefined || b === undefined || b === 0) return "n/a";
    const r = a / b;
    if (r >= 100) return Math.round(r) + "×";
    if (r >= 10) return r.toFixed(1) + "×";
    if (r >= 0.1) return r.toFixed(2) + "×";
    return r.toFixed(3) + "×";
}

function machineInfo() {
    let cpu = "unknown";
    try {
        const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
        if (m) cpu = m[1].trim();
    } catch (e) { /* ignore */ }
    let efVersion = null;
    return {
        nproc: os.cpus().length, cpu, mem_mb: Math.round(os.totalmem() / 1048576),
        kernel: os.release(), node: process.version, efVersion
    };
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const engines = ["edgeflow", "node-red"];
    const haveEf = !!(opts.edgeflow && fs.existsSync(opts.edgeflow));
    if (!haveEf) process.stderr.write("bench: no edgeflow binary; running Node-RED only\n");
    if (!fs.existsSync(RED_JS)) process.stderr.write("bench: " + RED_JS + " missing (run scripts/setup.sh)\n");
    const names = (opts.only || Object.keys(BENCHES)).filter((b) => {
        if (!BENCHES[b]) { process.stderr.write("bench: unknown benchmark " + b + "\n"); return false; }
        return true;
    });
    const info = machineInfo();
    const loadavg = () => os.loadavg().map((x) => x.toFixed(1)).join(" ");
    info.load_start = loadavg();
    if (haveEf) {
        try { info.efVersion = execFileSync(opts.edgeflow, ["version"]).toString().trim(); } catch (e) { /* ignore */ }
    }
    let nrVersion = null;
    try { nrVersion = require(path.join(ROOT, "tools", "node_modules", "node-red", "package.json")).version; } catch (e) { /* ignore */ }

    const raw = {};
    for (const b of names) {
        const B = BENCHES[b];
        raw[b] = { "edgeflow": [], "node-red": [] };
        const flowFile = path.join(FLOWS, B.flow);
        for (let rep = 0; rep < opts.reps; rep++) {
            /* alternate which engine goes first */
            const order = rep % 2 ? engines.slice().reverse() : engines;
            for (const eng of order) {
                if (eng === "edgeflow" && !haveEf) continue;
                const r = await runOnce(eng, opts, flowFile, B.expect, B.idleWait);
                let m = null;
                if (r.ok) {
                    try { m = B.metrics(r); } catch (e) { r.error = "bad output: " + e.message; }
                }
                raw[b][eng].push({ ok: r.ok && !!m, error: r.error, metrics: m, done: r.done,
                                   startup_ms: r.startup_ms, rss_kb: r.rss_kb, hwm_kb: r.hwm_kb });
                const tag = "bench: " + b + " #" + (rep + 1) + " " + eng + ": ";
                if (r.ok && m) {
                    process.stderr.write(tag + Object.entries(m).map(([k, v]) => k + "=" + fmtNum(v, 2)).join(" ") + "\n");
                } else {
                    process.stderr.write(tag + "FAILED (" + r.error + ")\n" +
                        r.stderr.split("\n").slice(-8).map((l) => "    " + l).join("\n") + "\n");
                }
            }
        }
    }

    /* The same exec -> first line timing for /bin/echo: what any process costs here. */
    let baseline = null;
    if (names.includes("idle")) {
        const xs = [];
        for (let rep = 0; rep < opts.reps; rep++) {
            const r = await runOnce("baseline", opts, null, 1, 0);
            if (r.ok && r.startup_ms !== null) xs.push(r.startup_ms);
        }
        baseline = median(xs);
        process.stderr.write("bench: exec baseline (/bin/echo): " + fmtNum(baseline, 2) + " ms\n");
    }

    info.load_end = loadavg();
    const vals = (b, eng, key) => raw[b] ? raw[b][eng].filter((x) => x.ok).map((x) => x.metrics[key])
        .filter((x) => typeof x === "number" && Number.isFinite(x)) : [];
    const med = (b, eng, key) => median(vals(b, eng, key));
    const range = (b, eng, key, scale, digits) => {
        const v = vals(b, eng, key);
        if (v.length < 2) return "";
        return fmtShort(Math.min(...v) * scale, digits) + "–" + fmtShort(Math.max(...v) * scale, digits);
    };
    const okCount = (b, eng) => raw[b] ? raw[b][eng].filter((x) => x.ok).length : 0;
    /* rows: [benchmark, metric, key, better, scale, digits, target text, target test] */
    const rows = [];
    const add = (b, metric, key, better, scale, digits, target, meets) => {
        if (!raw[b]) return;
        const ef = med(b, "edgeflow", key), nr = med(b, "node-red", key);
        const efS = ef === null ? null : ef * scale, nrS = nr === null ? null : nr * scale;
        rows.push({
            bench: BENCHES[b].title, metric, ef: efS, nr: nrS, digits,
            ratio: better === "higher" ? fmtRatio(efS, nrS) : fmtRatio(efS, nrS),
            better, target: target || "",
            efRange: range(b, "edgeflow", key, scale, digits), nrRange: range(b, "node-red", key, scale, digits),
            met: target && efS !== null ? (meets(efS) ? "yes" : "no") : (target ? "n/a" : ""),
            runs: okCount(b, "edgeflow") + "/" + okCount(b, "node-red")
        });
    };
    add("chain", "throughput (msgs/s)", "msgs_per_s", "higher", 1, 0, "≥ 1,000,000", (v) => v >= 1e6);
    add("pipeline", "throughput (msgs/s)", "msgs_per_s", "higher", 1, 0, "", null);
    add("fanout", "time to 10th sink (ms)", "fanout_ms", "lower", 1, 3, "", null);
    add("fanout", "RSS added (MiB)", "added_kb", "lower", 1 / 1024, 2, "< 1", (v) => v < 1);
    add("idle", "start-up to first message (ms)", "startup_ms", "lower", 1, 1, "< 20", (v) => v < 20);
    add("idle", "idle RSS (MiB)", "idle_rss_kb", "lower", 1 / 1024, 2, "< 5", (v) => v < 5);
    add("idle", "peak RSS, VmHWM (MiB)", "hwm_kb", "lower", 1 / 1024, 2, "", null);

    const lines = [];
    lines.push("Machine: " + info.nproc + " CPUs, " + info.cpu + ", " + info.mem_mb + " MiB RAM, Linux " +
               info.kernel + "; Node.js " + info.node + ". Load average (1/5/15 min) " + info.load_start +
               " at the start, " + info.load_end + " at the end (" + info.nproc + " CPUs).");
    lines.push("Engines: " + (info.efVersion ? info.efVersion + " (" + opts.efBuild + ")" : "edgeflow n/a") + " vs node-red " + (nrVersion || "?") +
               ". Medians (and min–max) of " + opts.reps + " runs per engine, run alternately" +
               (process.env.BENCH_CPU ? ", both pinned to CPU " + process.env.BENCH_CPU : "") + ".");
    lines.push("");
    lines.push("| benchmark | metric | edgeflow | Node-RED | edgeflow / Node-RED | edgeflow target | met | edgeflow range | Node-RED range | ok runs (ef/NR) |");
    lines.push("|---|---|---:|---:|---:|---|---|---|---|---|");
    for (const r of rows) {
        lines.push("| " + [r.bench, r.metric, fmtNum(r.ef, r.digits), fmtNum(r.nr, r.digits), r.ratio,
                              r.target, r.met, r.efRange, r.nrRange, r.runs].join(" | ") + " |");
    }
    lines.push("");
    if (baseline !== null) {
        lines.push("Start-up is timed from exec to the first message line on stdout. For scale, /bin/echo timed the same way: " +
                   fmtNum(baseline, 1) + " ms (median).");
    }
    lines.push("Ratios are edgeflow's value divided by Node-RED's: above 1× is better for throughput, below 1× is better for time and memory.");
    const md = lines.join("\n") + "\n";
    process.stdout.write("\n" + md);
    if (opts.md) fs.writeFileSync(opts.md, md);
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ info, nrVersion, reps: opts.reps, raw }, null, 1) + "\n");
}

main().catch((e) => {
    process.stderr.write("bench: internal error: " + (e && e.stack || e) + "\n");
    process.exit(0); /* benchmarks report, they never fail the build */
});
