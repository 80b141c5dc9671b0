// The seed's stack for bench/compare.sh: Express with Debian's `ws`, serving the gateway's benchmarked routes the
// way express + ws users write them.
//
//   NODE_PATH=/usr/share/nodejs node bench/node/server.js --port P [--host 127.0.0.1] [--token T]
//
// GET /health                   {"status":"ok","engine":"echo","version":...}
// WS  /api/realtime-voice/echo  token in the `token` header, `Authorization: Bearer`, or ?token=; echoes text and
//                               binary messages; {"type":"ping"} is answered {"type":"pong"}. A heartbeat pings every
//                               client each 20 s and drops one that did not answer the last (the gateway's autoPing),
//                               as in ws's README ("How to detect and close broken connections").
'use strict';
const http = require('http');
const express = require('express');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
function option(name, fallback) {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const host = option('host', '127.0.0.1');
const port = Number(option('port', '8080'));
const tokens = new Set(option('token', 'bench').split(','));
const maxPayload = Number(option('max-frame-bytes', String(64 * 1024)));
const pingIntervalMs = Number(option('ping-interval', '20')) * 1000;
const ECHO_PATH = '/api/realtime-voice/echo';
const VERSION = `node-${process.versions.node}-express-${require('express/package.json').version}-ws-${require('ws/package.json').version}`;

function tokenOf(request, url) {
    const header = request.headers['token'];
    if (header) return header;
    const authorization = request.headers['authorization'];
    if (authorization && authorization.startsWith('Bearer ')) return authorization.slice(7).trim();
    return url.searchParams.get('token');
}

const app = express();
app.disable('x-powered-by');
app.get('/health', (req, res) => res.json({ status: 'ok', engine: 'echo', version: VERSION }));
app.get(ECHO_PATH, (req, res) => res.status(426).json({ error: { code: 'upgrade_required', message: 'This is a WebSocket endpoint.' } }));

const server = http.createServer(app);
const wss = new WebSocketServer({ noServer: true, maxPayload });

server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url, 'http://localhost');
    if (url.pathname !== ECHO_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
    }
    const token = tokenOf(request, url);
    if (!token || !tokens.has(token)) {
        const body = JSON.stringify({ error: { code: 'unauthorized', message: 'A valid token is required.' } });
        socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});

wss.on('connection', (ws) => {
    ws.isAlive = true;
    ws.on('pong', () => { ws.isAlive = true; });
    ws.on('message', (data, isBinary) => {
        if (!isBinary) {
            try {
                const message = JSON.parse(data.toString());
                if (message && message.type === 'ping') { ws.send('{"type":"pong"}'); return; }
            } catch (_) { /* not JSON: echoed as it is */ }
        }
        ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
});

const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
        if (!ws.isAlive) { ws.terminate(); continue; }
        ws.isAlive = false;
        ws.ping();
    }
}, pingIntervalMs);
wss.on('close', () => clearInterval(heartbeat));

server.listen(port, host, () => console.log(`listening on http://${host}:${server.address().port}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => { clearInterval(heartbeat); for (const ws of wss.clients) ws.terminate(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); });
}
