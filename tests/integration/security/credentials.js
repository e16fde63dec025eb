#!/usr/bin/env node
/*
 * credentials.js - flows_cred.json exchanged with real Node-RED 4.1.15.
 *
 *   node tests/integration/security/credentials.js EDGEFLOW
 *
 * 1. Node-RED (credentialSecret "sekrit") is given a flow whose
 *    mqtt-broker has a user and a password through its admin API, and
 *    writes flows.json and an encrypted flows_cred.json.
 * 2. edgeflow starts on those files: GET /credentials/mqtt-broker/<id>
 *    answers exactly as Node-RED did (user, has_password, no password);
 *    no admin answer contains the password. A deploy that changes the
 *    password writes a flows.json without credentials and a
 *    flows_cred.json that Node.js's crypto decrypts (AES-256-CTR,
 *    key sha256(secret), IV in hex before the base64) to the new values.
 * 3. Node-RED starts on edgeflow's files and shows the same credentials.
 * 4. A wrong credentialSecret is refused with a clear message.
 * 5. Without credentialSecret, as Node-RED: Node-RED's generated key in
 *    .config.runtime.json decrypts its file in edgeflow, and edgeflow
 *    generates one (0600) and encrypts with it when there is none;
 *    credentialSecret false writes plain JSON.
 */
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const crypto = require("crypto");
const { spawn } = require("child_process");
const h = require("../editor_harness.js");

const bin = process.argv[2];
const t = h.reporter("security.credentials");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = "sekrit";
const PW1 = "first-Pa55word", PW2 = "second-Pa55word";

const FLOWS = [
    { id: "t1", type: "tab", label: "Flow 1" },
    { id: "b1", type: "mqtt-broker", name: "broker", broker: "127.0.0.1", port: "1", clientid: "",
      autoConnect: false, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true,
      autoUnsubscribe: true, birthTopic: "", closeTopic: "", willTopic: "", userProps: "", sessionExpiry: "" },
    { id: "r1", type: "http request", z: "t1", name: "", method: "GET", ret: "txt", paytoqs: "ignore",
      url: "http://127.0.0.1:1/", tls: "", persist: false, proxy: "", insecureHTTPParser: false,
      authType: "basic", senderr: false, headers: [], x: 100, y: 100, wires: [[]] },
];

async function nodeRed(dir, noSecret) {
    const port = await h.freePort();
    const settings = { uiHost: "127.0.0.1", uiPort: port, flowFile: "flows.json", credentialSecret: SECRET,
                       logging: { console: { level: "error" } } };
    if (noSecret) delete settings.credentialSecret;
    fs.writeFileSync(path.join(dir, "settings.js"), "module.exports = " + JSON.stringify(settings) + ";\n");
    const child = spawn(process.execPath, [path.join(h.modules, "node-red", "red.js"), "-u", dir,
        "-s", path.join(dir, "settings.js")], { stdio: ["ignore", "ignore", "inherit"] });
    const base = "http://127.0.0.1:" + port;
    const end = Date.now() + 60000;
    for (;;) {
        try {
            if ((await fetch(base + "/settings")).ok) break;
        } catch (e) { /* not yet */ }
        if (Date.now() > end) throw new Error("Node-RED did not start");
        await sleep(100);
    }
    return { base, stop: () => new Promise((r) => { child.on("exit", r); child.kill("SIGINT"); }) };
}

const getJSON = async (url) => (await fetch(url)).json();
const postFlows = (base, flows) => fetch(base + "/flows", {
    method: "POST", body: JSON.stringify(flows),
    headers: { "Content-Type": "application/json", "Node-RED-Deployment-Type": "full" } });

function decrypt(file, secret) {
    const enc = JSON.parse(fs.readFileSync(file, "utf8")).$;
    const key = crypto.createHash("sha256").update(secret || SECRET).digest();
    const d = crypto.createDecipheriv("aes-256-ctr", key, Buffer.from(enc.substring(0, 32), "hex"));
    return JSON.parse(d.update(enc.substring(32), "base64", "utf8") + d.final("utf8"));
}

async function main() {
    const nrDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-nr-"));
    fs.writeFileSync(path.join(nrDir, "flows.json"), "[]");
    let nr = await nodeRed(nrDir);
    let nrAnswer, nrAnswer3;
    try {
        const withCreds = FLOWS.map((n) => n.id === "b1" ? { ...n, credentials: { user: "bob", password: PW1 } }
            : n.id === "r1" ? { ...n, credentials: { user: "alice", password: PW1 } } : n);
        t.check("Node-RED deploys the flow", (await postFlows(nr.base, withCreds)).status === 204);
        nrAnswer = await getJSON(nr.base + "/credentials/mqtt-broker/b1");
        nrAnswer3 = await getJSON(nr.base + "/credentials/inject/r1");
    } finally {
        await nr.stop();
    }
    const nrCred = path.join(nrDir, "flows_cred.json");
    t.check("Node-RED wrote an encrypted flows_cred.json", /^\{"\$":"[0-9a-f]{32}/.test(fs.readFileSync(nrCred, "utf8")));
    t.check("Node-RED's answer has user and has_password",
            JSON.stringify(nrAnswer) === JSON.stringify({ user: "bob", has_password: true }), JSON.stringify(nrAnswer));

    /* edgeflow on Node-RED's files */
    const flowsFile = path.join(nrDir, "flows.json");
    /* edgeflow on a folder holding both files */
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-ef-"));
    fs.copyFileSync(flowsFile, path.join(dir, "flows.json"));
    fs.copyFileSync(nrCred, path.join(dir, "flows_cred.json"));
    const run = async (secret, where) => {
        const port = await h.freePort();
        const d = where || dir;
        fs.writeFileSync(path.join(d, "settings.json"), JSON.stringify(secret === undefined ? {} : { credentialSecret: secret }));
        const child = spawn(bin, ["run", path.join(d, "flows.json"), "--port", String(port), "--user-dir", d,
                                  "--settings", path.join(d, "settings.json")], { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (d) => { err += d; });
        const end = Date.now() + 15000;
        while (Date.now() < end && !/editor (at|not started)/.test(err) && child.exitCode === null) await sleep(50);
        return { base: "http://127.0.0.1:" + port, log: () => err,
                 stop: () => new Promise((r) => {
                     if (child.exitCode !== null) return r(child.exitCode);
                     child.on("exit", (code) => r(code));
                     child.kill("SIGTERM");
                 }) };
    };
    let e = await run(SECRET);
    try {
        const a = await getJSON(e.base + "/credentials/mqtt-broker/b1");
        t.check("edgeflow reads Node-RED's flows_cred.json: same answer",
                JSON.stringify(a) === JSON.stringify(nrAnswer), JSON.stringify(a));
        const a2 = await getJSON(e.base + "/credentials/http%20request/r1");
        /* (Node-RED 4.1.15 answers {} here once the node runs; the definition is user + password) */
        t.check("http request credentials: user and has_password",
                JSON.stringify(a2) === JSON.stringify({ user: "alice", has_password: true }), JSON.stringify(a2));
        const a3 = await getJSON(e.base + "/credentials/inject/r1");
        t.check("asked with a type without credentials: {} as Node-RED",
                JSON.stringify(a3) === JSON.stringify(nrAnswer3) && JSON.stringify(a3) === "{}", JSON.stringify(a3));
        let leaked = [];
        for (const p of ["/flows", "/flow/t1", "/credentials/mqtt-broker/b1", "/credentials/http%20request/r1",
                         "/credentials/tab/t1", "/settings", "/diagnostics", "/nodes"]) {
            const text = await (await fetch(e.base + p, { headers: { Accept: "application/json" } })).text();
            if (text.includes(PW1)) leaked.push(p);
        }
        t.check("no admin answer contains the password", leaked.length === 0, leaked.join(","));
        /* the editor sends changed credentials only: a new password, user not sent */
        const flows = await getJSON(e.base + "/flows");
        const changed = flows.map((n) => n.id === "b1" ? { ...n, credentials: { password: PW2 } } : n);
        t.check("edgeflow deploys a changed password", [200, 204].includes((await postFlows(e.base, changed)).status));
        const flowsText = fs.readFileSync(path.join(dir, "flows.json"), "utf8");
        t.check("flows.json holds no credentials", !/credentials|bob|Pa55word/.test(flowsText), flowsText);
        const credText = fs.readFileSync(path.join(dir, "flows_cred.json"), "utf8");
        const cred = JSON.parse(credText);
        t.check("flows_cred.json is encrypted", Object.keys(cred).join() === "$" &&
                /^[0-9a-f]{32}[A-Za-z0-9+/=]+$/.test(cred.$) && !/bob|Pa55word/.test(credText), credText);
        const dec = decrypt(path.join(dir, "flows_cred.json"));
        t.check("it decrypts with Node.js crypto to the new values",
                JSON.stringify(dec.b1) === JSON.stringify({ user: "bob", password: PW2 }), JSON.stringify(dec));
    } finally {
        const code = await e.stop();
        t.check("edgeflow exits 0 (and no leaks under ASan)", code === 0, code + "\n" + e.log().slice(-2000));
    }
    const ivOf = () => JSON.parse(fs.readFileSync(path.join(dir, "flows_cred.json"), "utf8")).$.substring(0, 32);
    const iv1 = ivOf();

    /* Node-RED on edgeflow's files */
    const backDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-back-"));
    fs.copyFileSync(path.join(dir, "flows.json"), path.join(backDir, "flows.json"));
    fs.copyFileSync(path.join(dir, "flows_cred.json"), path.join(backDir, "flows_cred.json"));
    nr = await nodeRed(backDir);
    try {
        const a = await getJSON(nr.base + "/credentials/mqtt-broker/b1");
        t.check("Node-RED reads edgeflow's flows_cred.json",
                JSON.stringify(a) === JSON.stringify({ user: "bob", has_password: true }), JSON.stringify(a));
        /* and re-saves it: the password is still the one edgeflow wrote */
        const flows = await getJSON(nr.base + "/flows");
        const again = flows.map((n) => n.id === "b1" ? { ...n, credentials: { user: "bob2" } } : n);
        await postFlows(nr.base, again);
        const dec = decrypt(path.join(backDir, "flows_cred.json"));
        t.check("Node-RED kept edgeflow's password", dec.b1 && dec.b1.password === PW2 && dec.b1.user === "bob2",
                JSON.stringify(dec));
    } finally {
        await nr.stop();
    }

    /* a second edgeflow deploy uses a fresh IV */
    e = await run(SECRET);
    try {
        const flows = await getJSON(e.base + "/flows");
        await postFlows(e.base, flows.map((n) => n.id === "b1" ? { ...n, credentials: { password: PW1 } } : n));
        const iv2 = ivOf();
        t.check("every save has a new random IV", /^[0-9a-f]{32}$/.test(iv2) && iv1 !== iv2, iv1 + " " + iv2);
    } finally {
        const code = await e.stop();
        t.check("edgeflow exits 0 (and no leaks under ASan)", code === 0, code + "\n" + e.log().slice(-2000));
    }

    /* the wrong secret */
    e = await run("not-the-secret");
    await sleep(300);
    await e.stop();
    t.check("a wrong credentialSecret is refused, naming the file",
            /flows_cred\.json: encrypted credentials cannot be read \(wrong credentialSecret\?\)/.test(e.log()), e.log());

    /* no credentialSecret: Node-RED's generated key */
    const sysDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-sys-"));
    fs.writeFileSync(path.join(sysDir, "flows.json"), "[]");
    nr = await nodeRed(sysDir, true);
    try {
        await postFlows(nr.base, FLOWS.map((n) => n.id === "b1" ? { ...n, credentials: { user: "carol", password: PW1 } } : n));
    } finally {
        await nr.stop();
    }
    const nrKey = JSON.parse(fs.readFileSync(path.join(sysDir, ".config.runtime.json"), "utf8"))._credentialSecret;
    t.check("Node-RED generated a key", typeof nrKey === "string" && nrKey.length > 0);
    e = await run(undefined, sysDir);
    try {
        const a = await getJSON(e.base + "/credentials/mqtt-broker/b1");
        t.check("edgeflow decrypts with Node-RED's generated key",
                JSON.stringify(a) === JSON.stringify({ user: "carol", has_password: true }), JSON.stringify(a) + e.log());
        const st = await getJSON(e.base + "/settings");
        t.check("flowEncryptionType system", st.flowEncryptionType === "system", st.flowEncryptionType);
    } finally {
        await e.stop();
    }
    const genDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-gen-"));
    fs.writeFileSync(path.join(genDir, "flows.json"), "[]");
    e = await run(undefined, genDir);
    try {
        t.check("no key before credentials are saved", !fs.existsSync(path.join(genDir, ".config.runtime.json")));
        await postFlows(e.base, FLOWS.map((n) => n.id === "b1" ? { ...n, credentials: { user: "dave", password: PW2 } } : n));
        const rtFile = path.join(genDir, ".config.runtime.json");
        const key = JSON.parse(fs.readFileSync(rtFile, "utf8"))._credentialSecret;
        t.check("edgeflow generated a 256-bit key", /^[0-9a-f]{64}$/.test(key), key);
        t.check(".config.runtime.json is 0600", (fs.statSync(rtFile).mode & 0o777) === 0o600,
                (fs.statSync(rtFile).mode & 0o777).toString(8));
        const dec = decrypt(path.join(genDir, "flows_cred.json"), key);
        t.check("and encrypted with it", dec.b1 && dec.b1.user === "dave" && dec.b1.password === PW2, JSON.stringify(dec));
        t.check("the generation is logged", /generated a key in .*\.config\.runtime\.json/.test(e.log()), e.log());
    } finally {
        await e.stop();
    }
    nr = await nodeRed(genDir, true);
    try {
        const a = await getJSON(nr.base + "/credentials/mqtt-broker/b1");
        t.check("Node-RED reads them with edgeflow's generated key",
                JSON.stringify(a) === JSON.stringify({ user: "dave", has_password: true }), JSON.stringify(a));
    } finally {
        await nr.stop();
    }
    const plainDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef-cred-plain-"));
    fs.writeFileSync(path.join(plainDir, "flows.json"), "[]");
    e = await run(false, plainDir);
    try {
        await postFlows(e.base, FLOWS.map((n) => n.id === "b1" ? { ...n, credentials: { user: "erin", password: PW2 } } : n));
        const plain = JSON.parse(fs.readFileSync(path.join(plainDir, "flows_cred.json"), "utf8"));
        t.check("credentialSecret false: plain JSON, as Node-RED",
                plain.b1 && plain.b1.user === "erin" && !fs.existsSync(path.join(plainDir, ".config.runtime.json")),
                JSON.stringify(plain));
    } finally {
        await e.stop();
    }

    for (const d of [nrDir, dir, backDir, sysDir, genDir, plainDir]) fs.rmSync(d, { recursive: true, force: true });
    t.done();
}

main().catch((e) => {
    console.log("FAIL " + (e && e.stack || e));
    process.exit(1);
});
