/** Start the built veneur-proxy as a real child process and learn its ports from its logs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeTempConfig } from './veneur-process.js';

export const PROXY_BIN = fileURLToPath(new URL('../../dist/main/veneur-proxy.js', import.meta.url));

export interface ProxyProcess {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export async function startProxy(yaml: string, env: Record<string, string> = {}): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [PROXY_BIN, '-f', writeTempConfig(yaml)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let grpcPort = 0;
  let httpPort = 0;
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`veneur-proxy did not start:\n${stderr}`)), 15_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr += `${line}\n`;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.msg === 'gRPC ingest server listening') grpcPort = rec.port as number;
      if (rec.msg === 'HTTP server listening') httpPort = rec.port as number;
      if (rec.msg === 'veneur-proxy running') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`veneur-proxy exited (${code}):\n${stderr}`));
    });
  });
  return {
    child,
    get grpcPort() {
      return grpcPort;
    },
    get httpPort() {
      return httpPort;
    },
    logs,
    exited,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
