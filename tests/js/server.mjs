// A real uvicorn for the client tests, started and stopped by PID; the Python comes from $PYTHON.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PYTHON = process.env.PYTHON ?? "python3";

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolve once `condition()` is true; reject naming `what` after `timeout` ms. */
export async function until(condition, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(10);
  }
}

export class Server {
  constructor(app, port, env = {}) {
    this.app = app;
    this.port = port;
    this.env = env;
    this.process = null;
  }

  static async start(app = "tests.apps.clients:app", { port, env } = {}) {
    const server = new Server(app, port ?? (await freePort()), env);
    await server.start();
    return server;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get pid() {
    return this.process.pid;
  }

  async start() {
    const child = spawn(
      PYTHON,
      ["-m", "uvicorn", this.app, "--host", "127.0.0.1", "--port", String(this.port), "--log-level", "warning"],
      { cwd: ROOT, env: { ...process.env, ...this.env, PYTHONPATH: ROOT }, stdio: ["ignore", "inherit", "inherit"] },
    );
    this.process = child;
    this.exited = new Promise((resolve) => child.once("exit", resolve));
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`uvicorn exited with ${child.exitCode}`);
      return listening(this.port);
    }, `uvicorn on port ${this.port}`, 20000);
  }

  /** SIGTERM (graceful: sockets closed with 1001), SIGKILL if it lingers. */
  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGCONT"); // in case a test left it stopped
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10000);
    await this.exited;
    clearTimeout(killer);
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  pause() {
    this.process.kill("SIGSTOP");
  }

  resume() {
    this.process.kill("SIGCONT");
  }
}
