"use strict";
// fast green: a tiny Socket.IO server for benchmarks/swarm_hold.py (--server node).
//
// It speaks only the part of green's real-time contract (CONTRACT.md, "green real-time") that the
// connection swarm and the anchor use, and as cheaply as a Socket.IO server gets, so that a
// benchmark against it measures the generator rather than the server:
//
//   path /socket.io/, WebSocket transport only, default namespace
//   handshake auth.token: any non-empty string (else "Authentication failed")
//   on connection        -> connected {status: "connected", userId, message: "Connected"}
//   ping <token>         -> pong "Pong: <token>"
//   join-room {chatId}   -> joins the room chatId, joined-room {chatId}
//   send-message {chatId, content} -> message {chatId, content} to the room, message-sent to the sender
//   GET /health          -> 200 {"status": "ok"} (outside the REST base, as green has it: the
//                           benchmark's readiness check and loadbench's health probe)
//   GET /api/auth/me     -> 200 {userId, username, roles} from the Bearer token's claims, else 401
//                           (loadbench's preflight asks it whether a minted token is taken)
//
// It is a stand-in for a fast server, not an implementation of the contract: the handshake token
// is NOT verified (no JWT signature check, no expiry, no user lookup); its `sub` claim is read
// unverified, only to fill `userId`. Never expose it beyond the loopback address it binds.
//
//   node server.js [PORT] [WORKERS]   (or FAST_GREEN_PORT, FAST_GREEN_WORKERS; port 0 or nothing:
//                                     any free port; workers: 1)
//
// It prints one line, "fast-green ready http://127.0.0.1:PORT", once it listens, and exits when its
// standard input closes (the parent went away, however it died) or on SIGTERM / SIGINT.
//
// WORKERS > 1: that many server processes (node:cluster) share the port, the primary handing each
// new connection to the next, and rooms span them (@socket.io/cluster-adapter: a room's message
// reaches its members on every worker). What past 20,000 connections needs here: each process may
// hold at most 20,000 open files. WebSocket only, so no sticky sessions are needed. The workers
// exit with the primary (their IPC channel closes).

const cluster = require("node:cluster");
const http = require("node:http");
const { Server } = require("socket.io");

const HOST = "127.0.0.1";
const AUTH_FAILED = "Authentication failed";

function integerArg(index, envName, fallback, min, max, what) {
  const raw = process.argv[index] ?? process.env[envName] ?? fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    process.stderr.write(`fast-green: not ${what}: ${raw}\n`);
    process.exit(2);
  }
  return value;
}

const PORT = integerArg(2, "FAST_GREEN_PORT", "0", 0, 65535, "a port");
const WORKERS = integerArg(3, "FAST_GREEN_WORKERS", "1", 1, 64, "a worker count (1-64)");

// The JWT's payload, read without any verification (see above); null when it is not one.
function unverifiedClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return claims !== null && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

function unverifiedSubject(token) {
  const claims = unverifiedClaims(token);
  return claims !== null && typeof claims.sub === "string" ? claims.sub : "";
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

// green's GET {base}/auth/me: {userId, username, roles} (CONTRACT.md, "Auth"), 401 without a token.
function authMe(req, res) {
  const header = req.headers.authorization || "";
  const claims = header.startsWith("Bearer ") ? unverifiedClaims(header.slice(7)) : null;
  if (claims === null || typeof claims.sub !== "string") {
    sendJson(res, 401, { statusCode: 401, message: "Unauthorized" });
    return;
  }
  sendJson(res, 200, { userId: claims.sub, username: claims.username, roles: claims.roles });
}

function runServer() {
  const httpServer = http.createServer((req, res) => {
    // Socket.IO answers its own path before this handler; everything else lands here.
    const path = (req.url || "").split("?")[0];
    if (req.method === "GET" && path === "/health") {
      sendJson(res, 200, { status: "ok" });
      return;
    }
    if (req.method === "GET" && path === "/api/auth/me") {
      authMe(req, res);
      return;
    }
    sendJson(res, 404, { statusCode: 404, message: "Not Found" });
  });

  const io = new Server(httpServer, {
    path: "/socket.io/",
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
    httpCompression: false,
  });

  io.use((socket, next) => {
    const auth = socket.handshake.auth;
    const token = auth !== null && typeof auth === "object" ? auth.token : undefined;
    if (typeof token !== "string" || token === "") {
      next(new Error(AUTH_FAILED));
      return;
    }
    socket.data.userId = unverifiedSubject(token);
    next();
  });

  io.on("connection", (socket) => {
    // Emitted after the namespace's CONNECT packet, as the real green does.
    socket.emit("connected", { status: "connected", userId: socket.data.userId, message: "Connected" });

    // No acknowledgements, for this or any event: green sends none (its answers are events).
    socket.on("ping", (token) => {
      socket.emit("pong", "Pong: " + token);
    });

    socket.on("join-room", (data) => {
      const chatId = data !== null && typeof data === "object" ? data.chatId : undefined;
      if (typeof chatId !== "string" || chatId === "") {
        socket.emit("error", { message: "Invalid chat ID" });
        return;
      }
      socket.join(chatId);
      socket.emit("joined-room", { chatId });
    });

    socket.on("send-message", (data) => {
      const chatId = data !== null && typeof data === "object" ? data.chatId : undefined;
      if (typeof chatId !== "string" || chatId === "") {
        socket.emit("error", { message: "Invalid chat ID" });
        return;
      }
      const content = data.content;
      io.to(chatId).emit("message", { chatId, content });
      socket.emit("message-sent", { chatId });
    });
  });

  if (cluster.isWorker) {
    // Rooms over every worker; the primary relays (setupPrimary there).
    const { createAdapter } = require("@socket.io/cluster-adapter");
    io.adapter(createAdapter());
    process.on("disconnect", () => process.exit(0)); // the primary went away
  }

  httpServer.on("error", (error) => {
    process.stderr.write(`fast-green: ${error.message}\n`);
    process.exit(1);
  });

  httpServer.listen(PORT, HOST, () => {
    if (cluster.isWorker) return; // the primary says when every worker listens
    announce(httpServer.address().port);
  });
}

function announce(port) {
  process.stdout.write(`fast-green ready http://${HOST}:${port}\n`);
}

let exiting = false;

function shutdown(code = 0) {
  if (exiting) return;
  exiting = true;
  if (cluster.isPrimary) {
    for (const worker of Object.values(cluster.workers ?? {})) worker.process.kill("SIGTERM");
  }
  process.exit(code);
}

// The parent holds our stdin open; when it goes away (even by SIGKILL) the pipe closes.
function exitWithParent() {
  process.on("SIGTERM", () => shutdown(0));
  process.on("SIGINT", () => shutdown(0));
  process.stdin.on("end", () => shutdown(0));
  process.stdin.on("close", () => shutdown(0));
  process.stdin.on("error", () => shutdown(0));
  process.stdin.resume();
}

function runPrimary() {
  const { setupPrimary } = require("@socket.io/cluster-adapter");
  setupPrimary();
  cluster.setupPrimary({ stdio: ["ignore", "ignore", "inherit", "ipc"] });
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    listening += 1;
    if (listening === WORKERS) announce(address.port);
  });
  cluster.on("exit", (worker, code, signal) => {
    if (exiting) return;
    process.stderr.write(`fast-green: worker ${worker.process.pid} exited (${signal ?? code})\n`);
    shutdown(1);
  });
  for (let n = 0; n < WORKERS; n += 1) cluster.fork();
  exitWithParent();
}

if (WORKERS > 1 && cluster.isPrimary) {
  runPrimary();
} else {
  if (!cluster.isWorker) exitWithParent();
  runServer();
}
