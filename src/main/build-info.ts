import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Version and build date for /version, /builddate and -version. */
export function buildInfo(): { version: string; buildDate: string } {
  let version = 'dirty';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    if (pkg.version) version = pkg.version;
  } catch {
    // running from an unusual layout: keep Go's default
  }
  let buildDate = 'dirty';
  try {
    buildDate = statSync(fileURLToPath(import.meta.url)).mtime.toISOString();
  } catch {
    // keep default
  }
  return { version, buildDate };
}
