/*
 * cert.js - a self-signed certificate for 127.0.0.1 made with openssl at
 * test time (makeCert(dir): {key, cert} file paths), for the https servers
 * of faults.js and proxy.js.
 */
"use strict";
const path = require("path");
const { execFileSync } = require("child_process");

function makeCert(dir) {
    const key = path.join(dir, "key.pem"), cert = path.join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        { stdio: "ignore" });
    return { key, cert };
}

module.exports = { makeCert };
