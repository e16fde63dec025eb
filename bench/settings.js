/*
 * settings.js - Node-RED settings for the side-by-side benchmarks
 * (bench/bench.js runs `node tools/node_modules/node-red/red.js --settings
 * bench/settings.js --userDir <temp> --port <free port> FLOWS`).
 *
 * Node-RED as a user runs it (editor and admin API enabled), bound to
 * 127.0.0.1, with the benchmark nodes loaded from bench/nodered-nodes,
 * logging only warnings and errors to its console, no telemetry, no palette
 * installs, no credential encryption prompts. Flow files are only read, so no
 * backups are written.
 */
const path = require("path");

module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.BENCH_NR_PORT) || 1880,
    credentialSecret: false,
    nodesDir: [path.join(__dirname, "nodered-nodes")],
    logging: {
        console: { level: "warn", metrics: false, audit: false }
    },
    contextStorage: { default: { module: "memory" } },
    functionExternalModules: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, projects: { enabled: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    exportGlobalContextKeys: false
};
