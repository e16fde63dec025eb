#!/usr/bin/env node
/*
 * fleet.e2e.js - the Fleet sidebar tab (editor/plugins/fleet.html) in the
 * editor served by `edgeflow manager`, in headless Chromium driven by
 * playwright-core, against a real fleet: a mosquitto, a manager and two
 * `edgeflow agent` processes on 127.0.0.1 free ports.
 *
 *   node tests/e2e/fleet.e2e.js EDGEFLOW SCREENSHOT_DIR
 *
 * Stages (one screenshot each, fleet-<n>-<what>.png):
 *   1. GET /plugins lists the fleet plugin; the editor loads with the Fleet
 *      tab; opening it shows both devices online in group line-1; the
 *      filter narrows the list
 *   2. the authoring group is set from the tab (GET /authoring follows)
 *   3. a rollout of a snapshot started from the tab's form completes: both
 *      devices run it healthy, the tab shows 2/2 healthy
 *   4. a second rollout is paused from the tab (the manager says paused and
 *      the second wave does not start), then resumed and completes
 *   5. "Roll back" on it brings both devices back to the first snapshot
 * and no console errors on the way.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");
const h = require("../integration/editor_harness.js");
const { chromium } = require(path.join(h.modules, "playwright-core"));

const [bin, shots] = process.argv.slice(2);
const t = h.reporter("e2e.fleet");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let shotN = 0;
const children = [];

async function shot(page, what) {
    fs.mkdirSync(shots, { recursive: true });
    const f = path.join(shots, "fleet-" + (++shotN) + "-" + what + ".png");
    await page.screenshot({ path: f });
    console.log("     screenshot " + f);
}

/* A child process whose stderr is kept; killed at the end. */
function child(name, argv, opts = {}) {
    const c = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], ...opts });
    let err = "";
    c.stderr.on("data", (d) => { err += d; });
    c.on("error", (e) => { err += String(e) + "\n"; });
    const rec = { name, c, stderr: () => err, alive: () => c.exitCode === null && c.signalCode === null };
    children.push(rec);
    return rec;
}

async function waitFor(what, fn, ms = 20000, step = 200) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        await sleep(step);
    }
    throw new Error("timed out waiting for " + what + (last instanceof Error ? ": " + last.message : ""));
}

/* The manager's REST API (open: no adminAuth, no API tokens, bound to 127.0.0.1). */
function api(base) {
    return async (method, p, body) => {
        const r = await fetch(base + "/fleet/v1" + p, {
            method,
            headers: body !== undefined ? { "Content-Type": "application/json" } : {},
            body: body !== undefined ? JSON.stringify(body) : undefined,
        });
        const text = await r.text();
        if (!r.ok) throw new Error(method + " " + p + ": HTTP " + r.status + " " + text);
        return text ? JSON.parse(text) : null;
    };
}

async function startFleet(dir) {
    const bport = await h.freePort();
    const mport = await h.freePort();
    const conf = path.join(dir, "mosquitto.conf");
    fs.writeFileSync(conf, (process.getuid && process.getuid() === 0 ? "user root\n" : "") +
        "listener " + bport + " 127.0.0.1\nallow_anonymous true\npersistence false\n");
    const mosq = child("mosquitto", [process.env.EF_MOSQUITTO || "mosquitto", "-c", conf]);
    await waitFor("mosquitto", () => new Promise((resolve) => {
        const s = require("net").connect(bport, "127.0.0.1", () => { s.end(); resolve(true); });
        s.on("error", () => resolve(false));
    }));
    const mdir = path.join(dir, "manager");
    fs.mkdirSync(mdir);
    const mgr = child("manager", [bin, "manager", "--data-dir", mdir, "--port", String(mport),
                                  "--broker", "mqtt://127.0.0.1:" + bport]);
    const base = "http://127.0.0.1:" + mport;
    const call = api(base);
    await waitFor("the manager's REST API", async () => {
        if (!mgr.alive()) throw new Error("the manager exited: " + mgr.stderr());
        return Array.isArray(await call("GET", "/groups"));
    });
    await call("POST", "/groups", { name: "line-1", description: "e2e", env: { LIMIT: "1" } });
    const tok = (await call("POST", "/provisioning-tokens", { group: "line-1", uses: 2 })).token;
    const agents = [];
    for (const name of ["dev-a", "dev-b"]) {
        const sdir = path.join(dir, name);
        fs.mkdirSync(sdir);
        agents.push(child(name, [bin, "agent", "--state-dir", sdir, "--manager", base, "--token", tok,
                                 "--name", name]));
    }
    return { base, call, mgr, agents };
}

function snapshotBody(label) {
    return {
        group: "line-1", description: label,
        flows: [
            { id: "tab1", type: "tab", label: "e2e" },
            { id: "inj", type: "inject", z: "tab1", repeat: "1", once: true, onceDelay: 0.1, payload: "",
              payloadType: "date", props: [{ p: "payload" }], wires: [["chg"]] },
            { id: "chg", type: "change", z: "tab1", name: label,
              rules: [{ t: "set", p: "v", pt: "msg", to: label, tot: "str" }], wires: [] },
        ],
        env: {},
    };
}

/* Fills the tab's rollout form and clicks Start; returns the new rollout's id. */
async function startRolloutFromTab(page, snapshot, waves, health) {
    await page.selectOption(".red-ui-fleet-form-group", "line-1");
    await page.click(".red-ui-fleet-snapshots");
    await page.waitForSelector(".red-ui-fleet-form-snapshot option[value='" + snapshot + "']",
                               { state: "attached", timeout: 5000 });
    await page.selectOption(".red-ui-fleet-form-snapshot", snapshot);
    await page.selectOption(".red-ui-fleet-form-strategy", "waves");
    await page.fill(".red-ui-fleet-form-waves", waves);
    await page.fill(".red-ui-fleet-form-healthSeconds", String(health));
    const resp = page.waitForResponse((r) => /\/fleet\/v1\/rollouts$/.test(r.url()) &&
                                              r.request().method() === "POST", { timeout: 10000 });
    await page.click(".red-ui-fleet-start");
    const r = await resp;
    t.check("POST /rollouts from the tab answered " + r.status(), r.status() === 201 || r.status() === 200);
    return (await r.json()).id;
}

async function rolloutState(page, id) {
    return page.evaluate((rid) => {
        const el = document.querySelector(".red-ui-fleet-rollout[data-rollout='" + rid + "']");
        return el ? el.getAttribute("data-state") : null;
    }, id);
}

async function devicesRun(call, snap) {
    const devs = await call("GET", "/devices?group=line-1");
    return devs.length === 2 && devs.every((d) => d.snapshot === snap && d.health === "healthy");
}

async function run(browser, fleet) {
    const { base, call } = fleet;
    const plugins = await (await fetch(base + "/plugins", { headers: { Accept: "application/json" } })).json();
    t.check("GET /plugins lists the fleet plugin", plugins.some((p) => p.id === "edgeflow-plugins/fleet"),
            JSON.stringify(plugins));

    await waitFor("both agents online", async () => {
        const devs = await call("GET", "/devices");
        return devs.filter((d) => d.online).length === 2;
    }, 30000);

    const errors = [];
    const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base + "/");
    await page.waitForSelector("#red-ui-palette .red-ui-palette-node[data-palette-type='inject']", { timeout: 30000 });
    await page.waitForSelector("#red-ui-tab-fleet", { state: "attached", timeout: 10000 });
    t.check("the Fleet tab is in the sidebar", true);
    /* the sidebar has more tabs than fit: open it from the sidebar's tab menu, as a user would */
    await page.click("#red-ui-sidebar .red-ui-tab-link-button-menu");
    await page.click("[id='red-ui-tabs-menu-option-fleet']");
    await page.waitForSelector(".red-ui-fleet-devices tr.red-ui-fleet-device", { timeout: 10000 });
    const rows = await waitFor("two devices online in the tab", () => page.evaluate(() => {
        const r = Array.from(document.querySelectorAll(".red-ui-fleet-devices tr.red-ui-fleet-device"))
            .map((tr) => ({ id: tr.getAttribute("data-device"),
                            state: tr.querySelector(".red-ui-fleet-online").textContent }));
        return r.length === 2 && r.every((x) => x.state === "online") ? r : null;
    }), 10000);
    t.check("the tab lists dev-a and dev-b online", rows.map((r) => r.id).sort().join() === "dev-a,dev-b",
            JSON.stringify(rows));
    await page.fill(".red-ui-fleet-filter", "dev-b");
    const filtered = await page.$$eval(".red-ui-fleet-devices tr.red-ui-fleet-device", (trs) => trs.map((tr) => tr.getAttribute("data-device")));
    t.check("the filter narrows the list to dev-b", filtered.join() === "dev-b", filtered.join());
    await page.fill(".red-ui-fleet-filter", "");
    const groupRow = await page.locator(".red-ui-fleet-groups tr[data-group='line-1']").count();
    t.check("the tab lists group line-1", groupRow === 1);
    await shot(page, "devices-online");

    /* authoring group */
    const put = page.waitForResponse((r) => /\/fleet\/v1\/authoring$/.test(r.url()) &&
                                            r.request().method() === "PUT", { timeout: 5000 });
    await page.selectOption(".red-ui-fleet-authoring", "line-1");
    t.check("PUT /authoring from the tab", (await put).ok());
    const auth = await call("GET", "/authoring");
    t.check("the authoring group is line-1", auth && auth.group === "line-1", JSON.stringify(auth));

    /* rollout 1, started from the tab */
    const s1 = (await call("POST", "/snapshots", snapshotBody("one"))).id;
    const r1 = await startRolloutFromTab(page, s1, "1, 100%", 1);
    await waitFor("rollout 1 completed in the tab", async () => (await rolloutState(page, r1)) === "completed",
                  40000, 300);
    const progress = await page.textContent(".red-ui-fleet-rollout[data-rollout='" + r1 + "'] .red-ui-fleet-rollout-progress");
    t.check("the tab shows 2/2 healthy", /^2\/2 healthy/.test(progress), progress);
    t.check("both devices run snapshot 1 healthy", await devicesRun(call, s1));
    await shot(page, "rollout-completed");

    /* rollout 2: pause after the canary, resume */
    const s2 = (await call("POST", "/snapshots", snapshotBody("two"))).id;
    const r2 = await startRolloutFromTab(page, s2, "1, 100%", 3);
    await page.waitForSelector(".red-ui-fleet-rollout[data-rollout='" + r2 + "'] .red-ui-fleet-pause", { timeout: 10000 });
    await page.click(".red-ui-fleet-rollout[data-rollout='" + r2 + "'] .red-ui-fleet-pause");
    await waitFor("rollout 2 paused in the tab", async () => (await rolloutState(page, r2)) === "paused", 10000);
    t.check("the manager says paused", (await call("GET", "/rollouts/" + r2)).state === "paused");
    await sleep(4500); /* longer than the canary's health gate: the second wave must not start */
    const paused = await call("GET", "/rollouts/" + r2);
    const updated = (paused.devices || []).filter((d) => d.status !== "waiting").length;
    t.check("while paused, only the canary was sent the snapshot", updated <= 1, JSON.stringify(paused.devices));
    await shot(page, "rollout-paused");
    await page.click(".red-ui-fleet-rollout[data-rollout='" + r2 + "'] .red-ui-fleet-resume");
    await waitFor("rollout 2 completed after resume", async () => (await rolloutState(page, r2)) === "completed",
                  40000, 300);
    t.check("both devices run snapshot 2 healthy", await devicesRun(call, s2));
    await shot(page, "rollout-resumed-completed");

    /* roll back rollout 2 from the tab */
    await page.click(".red-ui-fleet-rollout[data-rollout='" + r2 + "'] .red-ui-fleet-rollback");
    await waitFor("rollout 2 rolled back in the tab", async () => (await rolloutState(page, r2)) === "rolledback", 10000);
    await waitFor("both devices back on snapshot 1", () => devicesRun(call, s1), 30000, 300);
    t.check("both devices run snapshot 1 again", true);
    await shot(page, "rolled-back");
    t.check("no console errors", errors.length === 0, errors.join(" | "));
}

async function main() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-fleet-e2e-"));
    const browser = await chromium.launch({
        executablePath: process.env.EF_CHROMIUM || "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
    let fleet;
    try {
        fleet = await startFleet(dir);
        await run(browser, fleet);
    } catch (e) {
        t.check("the test ran", false, e && e.stack || e);
    } finally {
        await browser.close();
        for (const c of children.slice().reverse()) {
            if (c.alive()) {
                const exited = new Promise((r) => c.c.on("exit", r));
                c.c.kill("SIGTERM");
                await Promise.race([exited, sleep(5000)]);
                if (c.alive()) c.c.kill("SIGKILL");
            }
        }
        for (const c of children) {
            t.check(c.name + " did not crash", !/Assertion|Segmentation|AddressSanitizer|LeakSanitizer|runtime error/.test(c.stderr()),
                    c.stderr().slice(-1500));
        }
        if (t.failed) {
            for (const c of children) console.log("---- " + c.name + " stderr (tail)\n" + c.stderr().slice(-2000));
        }
        fs.rmSync(dir, { recursive: true, force: true });
    }
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
