#!/usr/bin/env node
/*
 * full_disk.js - the file node when the disk is full. A 64 KB tmpfs is
 * mounted on a fresh directory (needs root and CAP_SYS_ADMIN), then a flow
 * appends 40000-byte payloads to MNT/a.txt until the filesystem is full,
 * deletes a.txt with a file node in delete mode, appends to MNT/b.txt and
 * reads it back with a file in node. The ENOSPC errors must reach the catch
 * node with Node-RED's text, edgeflow must not crash, and the write after
 * the space was freed must work. Writes to /dev/full (ENOSPC on every
 * write) run in the same flow, so when mounting is not permitted the test
 * still checks the ENOSPC path, with only those cases (the rest is skipped,
 * and says so).
 * The debug lines were recorded from Node-RED 4.1.15 (tools/nr-run.js) into
 * expected-full-disk.json; the mount directory is written as MNT.
 *
 *   node full_disk.js EDGEFLOW_BINARY     compare with expected-full-disk.json
 *   node full_disk.js --record            re-record it from Node-RED (needs the mount)
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn, spawnSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..", "..");
/* ids of the cases that need the tmpfs */
const TMPFS_IDS = ["d1", "d1x", "d2", "d2x", "d3"];

function buildFlow(mnt, withTmpfs) {
    const nodes = [{ id: "t1", type: "tab", label: "full disk" }];
    const inject = (id, delay, props, wires) => nodes.push({ id, type: "inject", z: "t1",
        props: props.map(([p, v, vt]) => ({ p, v, vt })), repeat: "", crontab: "", once: true,
        onceDelay: delay, topic: "", wires: [wires] });
    const file = (id, mode, wires) => nodes.push({ id, type: "file", z: "t1", name: "", filename: "filename",
        filenameType: "msg", appendNewline: false, createDir: false, overwriteFile: mode, encoding: "none",
        wires: [wires] });
    const debug = (id, complete) => nodes.push({ id, type: "debug", z: "t1", active: true, tosidebar: true,
        console: false, tostatus: false, complete, targetType: "msg", wires: [] });
    const katch = (id, scope, wires) => nodes.push({ id, type: "catch", z: "t1", name: "", scope,
        uncaught: false, wires: [wires] });
    const big = "x".repeat(40000);
    if (withTmpfs) {
        /* 40000 bytes fit in 64 KB, the second write fills it part way and fails, the third fails */
        for (let i = 1; i <= 3; i++) {
            inject(`ia${i}`, 0.1 + 0.2 * i, [["payload", big, "str"], ["filename", `${mnt}/a.txt`, "str"],
                ["topic", `write ${i}`, "str"]], ["f1"]);
        }
        file("f1", "false", ["d1"]);
        debug("d1", "topic");
        katch("c1", ["f1"], ["d1x"]);
        debug("d1x", "error.message");
        /* free the space, then write again and read it back */
        inject("idel", 1.2, [["filename", `${mnt}/a.txt`, "str"], ["topic", "delete", "str"]], ["f2"]);
        file("f2", "delete", ["d2"]);
        debug("d2", "topic");
        katch("c2", ["f2"], ["d2x"]);
        debug("d2x", "error.message");
        inject("iafter", 1.6, [["payload", "written after space was freed", "str"],
            ["filename", `${mnt}/b.txt`, "str"]], ["f3"]);
        file("f3", "false", ["fin"]);
        nodes.push({ id: "fin", type: "file in", z: "t1", name: "", filename: "filename", filenameType: "msg",
            format: "utf8", chunk: false, sendError: false, encoding: "none", allProps: false, wires: [["d3"]] });
        debug("d3", "payload");
    }
    /* /dev/full: ENOSPC on every write, append and overwrite */
    inject("ifa", 2.0, [["payload", "abc", "str"], ["filename", "/dev/full", "str"], ["topic", "append", "str"]],
        ["f4"]);
    inject("ifo", 2.2, [["payload", "abc", "str"], ["filename", "/dev/full", "str"], ["topic", "overwrite", "str"]],
        ["f5"]);
    file("f4", "false", ["d4"]);
    file("f5", "true", ["d4"]);
    debug("d4", "topic");
    katch("c4", ["f4", "f5"], ["d4x"]);
    debug("d4x", "error.message");
    return nodes;
}

function collect(cmd, args, runMs) {
    return new Promise((resolve) => {
        const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "", err = "";
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (err += d));
        const timer = cmd === process.execPath ? null : setTimeout(() => p.kill("SIGTERM"), runMs);
        p.on("close", (code, sig) => {
            if (timer) clearTimeout(timer);
            resolve({ out, err, code, sig });
        });
    });
}

async function main() {
    const argv = process.argv.slice(2);
    const record = argv[0] === "--record";
    const bin = argv[0];
    if (!bin) {
        console.error("usage: node full_disk.js EDGEFLOW_BINARY | --record");
        process.exit(2);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-full-"));
    const mnt = path.join(dir, "mnt");
    fs.mkdirSync(mnt);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], { encoding: "utf8" });
    const mounted = m.status === 0;
    if (!mounted) {
        if (record) {
            console.error("--record needs the tmpfs mount: " + (m.stderr || m.error));
            process.exit(1);
        }
        console.log(`tmpfs mount not permitted (${(m.stderr || String(m.error)).trim()}): ` +
            "only the /dev/full cases run");
    }
    let fails = 0;
    try {
        const flowFile = path.join(dir, "flow.json");
        fs.writeFileSync(flowFile, JSON.stringify(buildFlow(mnt, mounted), null, 1));
        const args = record ? [path.join(ROOT, "tools", "nr-run.js"), flowFile, "--run-ms", "2800"]
            : ["run", flowFile, "--debug-stdout", "--port", "0", "--user-dir", dir];
        const res = await collect(record ? process.execPath : bin, args, 3300);
        const lines = res.out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l.split(mnt).join("MNT")));
        const fixture = path.join(__dirname, "expected-full-disk.json");
        if (record) {
            fs.writeFileSync(fixture, JSON.stringify(lines, null, 1) + "\n");
            process.stderr.write(res.err);
            console.log(`recorded ${lines.length} lines`);
        } else {
            const want = JSON.parse(fs.readFileSync(fixture)).filter((l) => mounted || !TMPFS_IDS.includes(l.id));
            /* per debug node, in order */
            const by = (a) => {
                const o = {};
                for (const l of a) (o[l.id] = o[l.id] || []).push(JSON.stringify(l.value));
                return o;
            };
            const w = by(want), g = by(lines);
            for (const id of new Set([...Object.keys(w), ...Object.keys(g)])) {
                if (JSON.stringify(w[id] || []) !== JSON.stringify(g[id] || [])) {
                    console.error(`debug ${id}:\n  expected ${(w[id] || []).join("\n           ")}\n` +
                        `  got      ${(g[id] || []).join("\n           ")}`);
                    fails++;
                }
            }
            if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(res.err) ||
                (res.code !== 0 && res.sig !== "SIGTERM")) {
                console.error(`edgeflow exited ${res.code} ${res.sig}`);
                fails++;
            }
            if (mounted && fs.existsSync(path.join(mnt, "a.txt"))) {
                console.error("a.txt was not deleted");
                fails++;
            }
            if (fails) console.error("stderr:\n" + res.err);
            else console.log(`ok: ${lines.length} lines match`);
        }
    } finally {
        if (mounted) spawnSync("umount", [mnt]);
        fs.rmSync(dir, { recursive: true, force: true });
    }
    process.exitCode = fails ? 1 : 0;
}

main().catch((e) => {
    console.error(e && e.stack || e);
    process.exit(1);
});
