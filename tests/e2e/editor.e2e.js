#!/usr/bin/env node
/*
 * editor.e2e.js - browser tests of the Node-RED editor served by edgeflow,
 * in headless Chromium (Debian's /usr/bin/chromium) driven by
 * playwright-core from tools/node_modules.
 *
 *   node tests/e2e/editor.e2e.js EDGEFLOW STEP SCREENSHOT_DIR
 *
 * STEP is one of:
 *   load          the editor loads with no console errors, palette ready
 *   inject_debug  drag inject and debug from the palette, wire them, deploy,
 *                 click the inject button, see the message in the debug sidebar
 *   change_dialog edit a change node's rule in its dialog, redeploy, see the
 *                 new value
 *   import        import a flow from the clipboard dialog
 *   conflict      a deploy from a second tab makes the first tab's deploy
 *                 stale: the editor shows Node-RED's conflict dialog
 *   login         with adminAuth: the editor's login dialog refuses a wrong
 *                 password, the right one opens the editor and deploys; a
 *                 read-only user's editor is locked and its deploy refused
 * Each step starts its own edgeflow (fresh user directory, free port) and
 * saves a screenshot per stage into SCREENSHOT_DIR as <step>-<n>-<what>.png.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const h = require("../integration/editor_harness.js");
const { chromium } = require(path.join(h.modules, "playwright-core"));

const [bin, step, shots] = process.argv.slice(2);
const t = h.reporter("e2e." + step);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let shotN = 0;

async function shot(page, what) {
    fs.mkdirSync(shots, { recursive: true });
    const f = path.join(shots, step + "-" + (++shotN) + "-" + what + ".png");
    await page.screenshot({ path: f });
    console.log("     screenshot " + f);
}

async function openEditor(browser, base, errors) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base + "/");
    await page.waitForSelector("#red-ui-palette .red-ui-palette-node[data-palette-type='inject']", { timeout: 30000 });
    await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType("inject") &&
                                     document.querySelector("#red-ui-workspace-chart svg"));
    await sleep(300);
    return page;
}

/* Drags a palette node onto the canvas at (x, y) in page coordinates. */
async function dragFromPalette(page, type, x, y) {
    const item = page.locator("#red-ui-palette .red-ui-palette-node[data-palette-type='" + type + "']");
    await item.scrollIntoViewIfNeeded();
    const b = await item.boundingBox();
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) {
        await page.mouse.move(b.x + (x - b.x) * i / 10, b.y + (y - b.y) * i / 10);
        await sleep(20);
    }
    await page.mouse.up();
    await sleep(200);
}

async function nodeIdsOfType(page, type) {
    return page.evaluate((ty) => {
        const ids = [];
        RED.nodes.eachNode((n) => { if (n.type === ty) ids.push(n.id); });
        return ids;
    }, type);
}

async function center(page, sel) {
    const b = await page.locator(sel).first().boundingBox();
    return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

async function wire(page, fromId, toId) {
    const a = await center(page, "[id='" + fromId + "'] .red-ui-flow-port-output");
    const b = await center(page, "[id='" + toId + "'] .red-ui-flow-port-input");
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) {
        await page.mouse.move(a.x + (b.x - a.x) * i / 10, a.y + (b.y - a.y) * i / 10);
        await sleep(20);
    }
    await page.mouse.up();
    await sleep(200);
}

/* Clicks Deploy and waits for POST /flows to answer; returns its status. */
async function deploy(page) {
    const resp = page.waitForResponse((r) => r.url().endsWith("/flows") && r.request().method() === "POST",
                                      { timeout: 15000 });
    await page.click("#red-ui-header-button-deploy");
    const r = await resp;
    await sleep(500);
    return r.status();
}

async function openDebugSidebar(page) {
    await page.evaluate(() => RED.sidebar.show("debug"));
    await page.waitForSelector("#red-ui-sidebar-content .red-ui-debug-content", { timeout: 5000 });
}

async function debugText(page) {
    return page.evaluate(() => Array.from(document.querySelectorAll(".red-ui-debug-msg"))
        .map((e) => e.textContent).join("\n"));
}

/* Logs in through the editor's login dialog; returns whether it was accepted. */
async function loginAs(page, user, password) {
    await page.waitForSelector("#node-dialog-login-username", { timeout: 30000 });
    await page.fill("#node-dialog-login-username", user);
    await page.fill("#node-dialog-login-password", password);
    const resp = page.waitForResponse((r) => r.url().endsWith("/auth/token"), { timeout: 10000 });
    await page.click("#node-dialog-login-submit");
    return (await resp).status() === 200;
}

async function waitEditor(page) {
    await page.waitForSelector("#red-ui-palette .red-ui-palette-node[data-palette-type='inject']", { timeout: 30000 });
    await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType("inject") &&
                                     document.querySelector("#red-ui-workspace-chart svg"));
    await sleep(300);
}

async function loginStep(browser, ef) {
    const errors = [];
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(ef.base + "/");
    await page.waitForSelector("#node-dialog-login-fields", { timeout: 30000 });
    await shot(page, "login-dialog");
    t.check("a wrong password is refused", !(await loginAs(page, "admin", "wrong")));
    await page.waitForSelector("#node-dialog-login-failed", { state: "visible", timeout: 5000 });
    t.check("the dialog says so", await page.isVisible("#node-dialog-login-failed"));
    await shot(page, "login-failed");
    t.check("the right password is accepted", await loginAs(page, "admin", "secret"));
    await waitEditor(page);
    const user = await page.evaluate(() => RED.settings.user);
    t.check("the editor knows the user", user && user.username === "admin" && user.permissions === "*", JSON.stringify(user));
    await dragFromPalette(page, "inject", 500, 450);
    t.check("deploy as admin answers 200", (await deploy(page)) === 200);
    let saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
    const count = saved.length;
    t.check("the new inject node was saved", saved.filter((n) => n.type === "inject").length === 2, count);
    await shot(page, "admin-deployed");
    t.check("the deploy is in the audit log", /audit: flows\.set user=admin type=full/.test(ef.stderr()));
    await ctx.close();

    /* a read-only user, in a fresh browser context */
    const ctx2 = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page2 = await ctx2.newPage();
    page2.on("pageerror", (e) => errors.push(String(e)));
    await page2.goto(ef.base + "/");
    t.check("the reader logs in", await loginAs(page2, "reader", "secret"));
    await waitEditor(page2);
    t.check("the deploy button is locked",
            await page2.evaluate(() => $(".red-ui-deploy-button-group").hasClass("readOnly") &&
                                       $("#red-ui-header-button-deploy").hasClass("disabled")));
    let posted = false;
    page2.on("request", (r) => { if (r.url().endsWith("/flows") && r.method() === "POST") posted = true; });
    await dragFromPalette(page2, "debug", 500, 300);
    await page2.click("#red-ui-header-button-deploy", { force: true });
    await sleep(1000);
    t.check("clicking Deploy sends nothing", !posted);
    const direct = await page2.evaluate(async () => {
        const tok = RED.settings.get("auth-tokens").access_token;
        const r = await fetch("flows", { method: "POST", body: "[]",
            headers: { "Content-Type": "application/json", Authorization: "Bearer " + tok } });
        return r.status;
    });
    t.check("a deploy with the reader's token is refused (401, as Node-RED)", direct === 401, direct);
    saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
    t.check("the flows file is unchanged", saved.length === count, saved.length);
    await shot(page2, "reader-locked");
    await ctx2.close();
    t.check("no page errors", errors.length === 0, errors.join(" | "));
}

async function run(browser, ef) {
    if (step === "login") {
        return loginStep(browser, ef);
    }
    const errors = [];
    const page = await openEditor(browser, ef.base, errors);
    if (step === "load") {
        const title = await page.title();
        t.check("page title", title.startsWith("edgeflow"), title);
        const palette = await page.evaluate(() => Array.from(document.querySelectorAll(
            "#red-ui-palette .red-ui-palette-node")).map((e) => e.getAttribute("data-palette-type")));
        for (const ty of ["inject", "debug", "change", "switch"]) {
            t.check("palette has " + ty, palette.includes(ty));
        }
        t.check("palette has no type edgeflow cannot run", !palette.includes("function"),
                palette.join(","));
        const nodes = await page.evaluate(() => RED.nodes.filterNodes({ z: "e2e-tab" }).length);
        t.check("the flows are on the canvas", nodes === 3, nodes);
        await shot(page, "loaded");
        t.check("no console errors", errors.length === 0, errors.join(" | "));
        return;
    }
    if (step === "inject_debug") {
        const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
        await dragFromPalette(page, "inject", chart.x + 200, chart.y + 120);
        await dragFromPalette(page, "debug", chart.x + 480, chart.y + 120);
        const inj = (await nodeIdsOfType(page, "inject")).filter((id) => id !== "inj-chg");
        const dbg = (await nodeIdsOfType(page, "debug")).filter((id) => id !== "dbg-chg");
        t.check("inject dropped on the canvas", inj.length === 1, inj.join(","));
        t.check("debug dropped on the canvas", dbg.length === 1, dbg.join(","));
        await shot(page, "dropped");
        await wire(page, inj[0], dbg[0]);
        const wired = await page.evaluate(([a, b]) => RED.nodes.filterLinks({ source: { id: a } })
            .some((l) => l.target.id === b), [inj[0], dbg[0]]);
        t.check("inject wired to debug", wired);
        await shot(page, "wired");
        t.check("deploy answers 200", (await deploy(page)) === 200);
        const saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
        t.check("deploy saved the flows file", saved.some((n) => n.id === inj[0]));
        await openDebugSidebar(page);
        await page.click("[id='" + inj[0] + "'] .red-ui-flow-node-button");
        await page.waitForFunction(() => document.querySelectorAll(".red-ui-debug-msg").length > 0, null, { timeout: 5000 })
            .catch(() => {});
        const text = await debugText(page);
        t.check("debug sidebar shows the injected timestamp", /msg\.payload\s*:\s*number\s*\d{13}/.test(text), text.slice(0, 200));
        await shot(page, "debug-message");
        t.check("no console errors", errors.length === 0, errors.join(" | "));
        return;
    }
    if (step === "change_dialog") {
        await page.dblclick("[id='chg'] .red-ui-flow-node");
        await page.waitForSelector("#node-input-rule-container", { timeout: 5000 });
        await sleep(300);
        await shot(page, "dialog-open");
        /* the rule's "to" typed input: the first visible value field of the rule */
        const input = page.locator("#node-input-rule-container li").first()
            .locator("input.red-ui-typedInput-input:visible").nth(1);
        await input.fill("after-edit");
        await input.press("Tab");
        await shot(page, "rule-edited");
        await page.click("#node-dialog-ok");
        await sleep(300);
        t.check("deploy answers 200", (await deploy(page)) === 200);
        const saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
        const chg = saved.find((n) => n.id === "chg");
        t.check("the saved rule has the new value", chg && chg.rules[0].to === "after-edit", JSON.stringify(chg && chg.rules));
        await openDebugSidebar(page);
        await page.click("[id='inj-chg'] .red-ui-flow-node-button");
        await page.waitForFunction(() => /after-edit/.test(document.body.innerText), null, { timeout: 5000 }).catch(() => {});
        const text = await debugText(page);
        t.check("the redeployed change node runs the new rule", /after-edit/.test(text), text.slice(0, 200));
        await shot(page, "after-redeploy");
        t.check("no console errors", errors.length === 0, errors.join(" | "));
        return;
    }
    if (step === "import") {
        const flow = [{ id: "imp-c", type: "comment", name: "imported from the clipboard", info: "", x: 300, y: 200, wires: [] }];
        await page.evaluate(() => RED.actions.invoke("core:show-import-dialog"));
        await page.waitForSelector("#red-ui-clipboard-dialog-import-text", { timeout: 5000 });
        await page.fill("#red-ui-clipboard-dialog-import-text", JSON.stringify(flow));
        await page.press("#red-ui-clipboard-dialog-import-text", "End"); /* the dialog validates on keyup */
        await shot(page, "import-dialog");
        await page.click("#red-ui-clipboard-dialog-ok");
        await sleep(300);
        const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
        await page.mouse.move(chart.x + 300, chart.y + 220);
        await page.mouse.click(chart.x + 300, chart.y + 220);
        await sleep(300);
        const names = await page.evaluate(() => RED.nodes.filterNodes({ type: "comment" }).map((n) => n.name));
        t.check("the imported node is in the workspace", names.includes("imported from the clipboard"), names.join(","));
        t.check("deploy answers 200", (await deploy(page)) === 200);
        const saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
        t.check("the imported node was deployed", saved.some((n) => n.type === "comment" && n.name === "imported from the clipboard"));
        await shot(page, "imported");
        t.check("no console errors", errors.length === 0, errors.join(" | "));
        return;
    }
    if (step === "conflict") {
        const errors2 = [];
        const page2 = await openEditor(browser, ef.base, errors2);
        /* tab 2 changes the change node's name and deploys */
        await page2.evaluate(() => {
            const n = RED.nodes.node("chg");
            n.name = "renamed in tab 2";
            n.changed = true;
            n.dirty = true;
            RED.nodes.dirty(true);
            RED.view.redraw();
        });
        t.check("tab 2 deploys", (await deploy(page2)) === 200);
        await shot(page2, "tab2-deployed");
        /* tab 1, still on the old rev, changes something and deploys */
        await sleep(500);
        await page.evaluate(() => {
            const n = RED.nodes.node("dbg-chg");
            n.name = "renamed in tab 1";
            n.changed = true;
            n.dirty = true;
            RED.nodes.dirty(true);
            RED.view.redraw();
        });
        const resp = page.waitForResponse((r) => r.url().endsWith("/flows") && r.request().method() === "POST",
                                          { timeout: 15000 });
        await page.click("#red-ui-header-button-deploy");
        const r = await resp;
        t.check("the stale deploy gets 409", r.status() === 409, r.status());
        await page.waitForSelector("#red-ui-deploy-dialog-confirm-type-conflict, .red-ui-notification", { timeout: 5000 })
            .catch(() => {});
        await sleep(500);
        const text = await page.evaluate(() => document.body.innerText);
        t.check("the editor shows the conflict", /updated|conflict|merge/i.test(text), text.slice(0, 300));
        await shot(page, "conflict");
        const saved = JSON.parse(fs.readFileSync(path.join(ef.dir, "flows.json")));
        t.check("tab 2's deploy is what was saved", saved.find((n) => n.id === "chg").name === "renamed in tab 2");
        const unexpected = errors.concat(errors2).filter((e) => !/409/.test(e)); /* the 409 itself is logged */
        t.check("no other console errors", unexpected.length === 0, unexpected.join(" | "));
        return;
    }
    t.check("known step " + step, false);
}

async function main() {
    /* the login step runs with adminAuth: admin ("*") and reader ("read"), password "secret" */
    const settings = step === "login" ? { adminAuth: require("../integration/security/auth_requests.js").adminAuth("users") }
        : undefined;
    const ef = await h.start(bin, path.join(__dirname, "e2e-flows.json"), { settings });
    const browser = await chromium.launch({
        executablePath: process.env.EF_CHROMIUM || "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
    try {
        await run(browser, ef);
    } catch (e) {
        t.check("step ran", false, e && e.stack || e);
    } finally {
        await browser.close();
        await ef.stop();
        t.check("edgeflow still running until stopped", !/Assertion|Segmentation|AddressSanitizer/.test(ef.stderr()),
                ef.stderr().slice(-1500));
        ef.cleanup();
    }
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
