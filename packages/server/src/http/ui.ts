import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface UiOptions {
  /**
   * Folder of the built web UI (`packages/ui/dist`), or `false` to serve no UI. Default: the
   * `ui/dist` folder beside this package in the repository.
   */
  distDir?: string | false;
}

/** Paths the UI never answers, so an unknown API path keeps its JSON 404. */
const API_PATH = /^\/(api|ajax-api|v1)(\/|$)|^\/(health|version)$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Trace content is untrusted and the UI renders it as text only; this policy is the second line:
 * no inline or foreign script, no plugins, no framing, requests only to this server.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface UiFile {
  body: Buffer;
  type: string;
  immutable: boolean;
}

/** `packages/ui/dist`, found from this file in `src/http` or `dist/http` of the server package. */
export function defaultUiDistDir(): string {
  return fileURLToPath(new URL('../../../ui/dist', import.meta.url));
}

/**
 * Serves the built single-page UI at `/`: its files by exact path, and `index.html` for every
 * other GET (client routes such as `/experiments/0/sessions/s-1`), except the API's own paths.
 * The files are read once at start-up: the build is a few hundred kilobytes, and serving only
 * paths listed from the folder leaves nothing to traverse. Without a build, `/` says how to make one.
 */
export function registerUiRoutes(app: FastifyInstance, options: UiOptions = {}): void {
  if (options.distDir === false) return;
  const distDir = options.distDir ?? defaultUiDistDir();
  const files = readUiFiles(distDir);
  const index = files.get('/index.html');

  const serve = (path: string, reply: FastifyReply): FastifyReply => {
    const file = files.get(path);
    if (file) {
      void reply.header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      return sendFile(reply, file);
    }
    if (!index) {
      void reply.status(path === '/' ? 503 : 404).type('text/plain; charset=utf-8');
      return reply.send(
        `Threadline's web UI is not built (no ${join(distDir, 'index.html')}).\n` +
          'Build it with `npm run build -w @threadline/ui` (or `npm install` at the repository root), then restart the server.\n' +
          'The API is served under /api/ as usual.\n',
      );
    }
    // A missing hashed asset is a stale page asking for an old build: a 404, not the app.
    if (path.startsWith('/assets/')) return reply.status(404).type('text/plain; charset=utf-8').send('Not found.\n');
    void reply.header('cache-control', 'no-cache');
    return sendFile(reply, index);
  };

  app.get('/', async (_req, reply) => serve('/', reply));
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if (API_PATH.test(path)) return reply.callNotFound();
    return serve(safeDecode(path), reply);
  });
}

function sendFile(reply: FastifyReply, file: UiFile): FastifyReply {
  void reply.header('x-content-type-options', 'nosniff');
  if (file.type.startsWith('text/html')) void reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('referrer-policy', 'no-referrer');
  return reply.type(file.type).send(file.body);
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Every file under the build folder by URL path; empty when the folder does not exist. */
function readUiFiles(distDir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(dir, name);
      const stat = statSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        const urlPath = '/' + relative(distDir, full).split(sep).join('/');
        files.set(urlPath, {
          body: readFileSync(full),
          type: CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
          immutable: urlPath.startsWith('/assets/'),
        });
      }
    }
  };
  walk(distDir);
  if (files.has('/index.html')) files.set('/', files.get('/index.html')!);
  return files;
}
