/*
 * auth_requests.js - the adminAuth exchange the security test makes: login
 * prompts, the token endpoint's answers and errors, permissions of a "*"
 * and a "read" user on admin routes, revoking, the login rate limit and
 * /comms authentication. The same script runs against the reference
 * Node-RED (capture.js records its answers into
 * ../fixtures/nr-4.1.15-auth.json) and against edgeflow (auth.js), so the
 * answers can be compared request by request.
 *
 * SETTINGS(variant) is adminAuth for both (users admin "*" and reader
 * "read", password "secret"); variant "anon" adds default: read.
 * run(base, WebSocket, variant) -> [{name, status, type, body}]
 * Access tokens in bodies are replaced by "<token>".
 */
"use strict";

/* bcrypt of "secret", cost 8, as bcryptjs (Node-RED) makes it */
const HASH = "$2b$08$/4W38Iu4Yur/gHvOzaKUlOabpI3JRNqf7.3EloZpYpasW4udW3Jc2";

function adminAuth(variant) {
    const a = {
        type: "credentials",
        users: [
            { username: "admin", password: HASH, permissions: "*" },
            { username: "reader", password: HASH, permissions: "read" },
        ],
    };
    if (variant === "anon") a.default = { permissions: "read" };
    return a;
}

const FLOWS = [
    { id: "t1", type: "tab", label: "Flow 1" },
    { id: "i1", type: "inject", z: "t1", name: "", props: [{ p: "payload" }], repeat: "",
      crontab: "", once: false, onceDelay: 0.1, topic: "", payload: "", payloadType: "date",
      x: 100, y: 100, wires: [[]] },
];

async function request(base, name, method, path, opts = {}) {
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (opts.token) headers.Authorization = "Bearer " + opts.token;
    let body = opts.body;
    if (opts.form) {
        body = new URLSearchParams(opts.form).toString();
        headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else if (body !== undefined) {
        body = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
    }
    const r = await fetch(base + path, { method, headers, body });
    const text = await r.text();
    const type = (r.headers.get("content-type") || "").split(";")[0];
    let parsed = text;
    if (type === "application/json") {
        try {
            parsed = JSON.parse(text);
        } catch (e) {
            parsed = { unparsable: text };
        }
    }
    let token;
    if (parsed && typeof parsed === "object" && typeof parsed.access_token === "string") {
        token = parsed.access_token;
        parsed = Object.assign({}, parsed, { access_token: "<token>" });
    }
    if (opts.pick && parsed && typeof parsed === "object") parsed = parsed[opts.pick];
    if (opts.statusOnly) parsed = undefined;
    return { rec: { name, status: r.status, body: parsed }, token };
}

/* Opens /comms, sends msgs in turn, collects what comes back for ms. */
function comms(base, WebSocket, msgs, ms) {
    return new Promise((resolve) => {
        const got = [];
        const ws = new WebSocket(base.replace(/^http/, "ws") + "/comms");
        let closed = false;
        ws.on("open", () => msgs.forEach((m) => ws.send(JSON.stringify(m))));
        ws.on("message", (d) => {
            const m = JSON.parse(String(d));
            /* only the auth answers: events differ between the runtimes */
            if (!Array.isArray(m)) got.push(m);
        });
        ws.on("close", () => { closed = true; });
        ws.on("error", () => {});
        setTimeout(() => {
            const r = { messages: got, closed };
            try { ws.close(); } catch (e) { /* already */ }
            resolve(r);
        }, ms);
    });
}

const login = (user, password, scope, extra) => Object.assign(
    { client_id: "node-red-editor", grant_type: "password", scope, username: user, password }, extra || {});

async function run(base, WebSocket, variant) {
    const out = [];
    const add = async (name, method, path, opts) => {
        const r = await request(base, name, method, path, opts);
        out.push(r.rec);
        return r.token;
    };
    await add("login prompts", "GET", "/auth/login");
    await add("settings without a token", "GET", "/settings", { pick: "user", statusOnly: variant !== "anon" });
    await add("flows without a token", "GET", "/flows", { statusOnly: variant === "anon" });
    await add("flows with a bogus token", "GET", "/flows", { token: "bogus", statusOnly: variant === "anon" });
    await add("deploy without a token", "POST", "/flows", { body: FLOWS });
    await add("icons list without a token", "GET", "/icons", { statusOnly: true });
    for (const p of ["/", "/theme", "/locales/editor", "/red/red.min.js", "/icons/node-red/inject.svg"]) {
        await add("public " + p, "GET", p, { statusOnly: true });
    }
    await add("token: wrong password", "POST", "/auth/token", { form: login("admin", "wrong", "") });
    await add("token: unknown user", "POST", "/auth/token", { form: login("nobody", "secret", "") });
    await add("token: no password", "POST", "/auth/token",
              { form: { client_id: "node-red-editor", grant_type: "password", scope: "", username: "admin" } });
    await add("token: unsupported grant", "POST", "/auth/token", { form: login("admin", "secret", "", { grant_type: "foo" }) });
    await add("token: unknown client", "POST", "/auth/token", { form: login("admin", "secret", "", { client_id: "other" }) });
    await add("token: wrong client secret", "POST", "/auth/token", { form: login("admin", "secret", "", { client_secret: "x" }) });
    await add("token: reader asks for *", "POST", "/auth/token", { form: login("reader", "secret", "*") });
    const admin = await add("token: admin", "POST", "/auth/token", { form: login("admin", "secret", "") });
    const reader = await add("token: reader (JSON body)", "POST", "/auth/token", { body: login("reader", "secret", "") });
    const adminRead = await add("token: admin asks for read", "POST", "/auth/token", { form: login("admin", "secret", "read") });
    await add("settings: admin", "GET", "/settings", { token: admin, pick: "user" });
    await add("settings: reader", "GET", "/settings", { token: reader, pick: "user" });
    await add("flows: reader", "GET", "/flows", { token: reader });
    await add("deploy: reader", "POST", "/flows", { token: reader, body: FLOWS });
    await add("deploy: admin with a read token", "POST", "/flows", { token: adminRead, body: FLOWS });
    await add("inject: reader", "POST", "/inject/i1", { token: reader });
    await add("debug toggle: reader", "POST", "/debug/i1/enable", { token: reader });
    await add("context delete: reader", "DELETE", "/context/global/x?store=memory", { token: reader });
    await add("user settings write: reader", "POST", "/settings/user", { token: reader, body: { a: 1 } });
    await add("context read: reader", "GET", "/context/global", { token: reader, statusOnly: true });
    await add("deploy: admin", "POST", "/flows",
              { token: admin, body: FLOWS, headers: { "Node-RED-API-Version": "v1" } });
    out.push({ name: "comms: reader token", ...await comms(base, WebSocket, [{ auth: reader }], 500) });
    out.push({ name: "comms: bogus token", ...await comms(base, WebSocket, [{ auth: "bogus" }], 500) });
    out.push({ name: "comms: no auth message", ...await comms(base, WebSocket, [{ subscribe: "status/#" }], 500) });
    await add("revoke without a token", "POST", "/auth/revoke", { form: { token: admin } });
    await add("revoke", "POST", "/auth/revoke", { token: admin, form: { token: admin } });
    await add("flows with the revoked token", "GET", "/flows", { token: admin, statusOnly: variant === "anon" });
    out.push({ name: "comms: revoked token", ...await comms(base, WebSocket, [{ auth: admin }], 500) });
    for (let i = 1; i <= 7; i++) {
        await add("rate limit: attempt " + i, "POST", "/auth/token", { form: login("victim", "x", "") });
    }
    return out;
}

module.exports = { run, adminAuth, FLOWS, HASH };
