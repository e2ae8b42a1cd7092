import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";

// Starts the private stack (scripts/e2e-stack.sh) unless E2E_BASE_URL names a running one,
// hands its address and admin to the tests through the environment, and stops it afterwards.
const stackScript = path.resolve(import.meta.dirname, "../../scripts/e2e-stack.sh");
const stackVariables = ["E2E_BASE_URL", "E2E_ADMIN_EMAIL", "E2E_ADMIN_PASSWORD", "E2E_SERVICE_URLS"] as const;

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

export default async function globalSetup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.E2E_BASE_URL) {
    if (!process.env.E2E_ADMIN_EMAIL || !process.env.E2E_ADMIN_PASSWORD) {
      throw new Error("E2E_BASE_URL is set: set E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD (the bootstrap admin) too");
    }
    return undefined;
  }
  const child = spawn(stackScript, [], { stdio: ["ignore", "pipe", "inherit"] });
  if (!child.stdout) throw new Error("scripts/e2e-stack.sh has no standard output");
  const lines = createInterface({ input: child.stdout });
  const values = new Map<string, string>();
  const ready = new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line === "E2E_READY") resolve();
      const at = line.indexOf("=");
      if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
    });
    child.once("exit", (code, signal) => reject(new Error(`scripts/e2e-stack.sh exited before the stack was ready (${signal ?? code})`)));
    child.once("error", reject);
  });
  await ready;
  for (const name of stackVariables) {
    const value = values.get(name);
    if (value === undefined) throw new Error(`scripts/e2e-stack.sh did not print ${name}`);
    process.env[name] = value;
  }
  return async () => {
    child.kill("SIGTERM");
    await stopped(child);
  };
}
