import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { signClientToken } from "../../common/identity.ts";

export interface StorefrontServerOptions {
  /** The built app (`vite build` output): index.html and assets/. */
  distDir: string;
  /** The router URL the pages call (HTTP; WebSocket on the same URL as ws://). */
  graphqlUrl: string;
  /**
   * Development only: the JWT secret `POST /dev/token` signs "Sign in as" tokens with. Absent (production),
   * the endpoint does not exist and the page shows no "Sign in as" box.
   */
  devTokenSecret?: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".ico": "image/x-icon",
};
/** A development user id: letters, digits and `-_.@`, 1 to 64 characters. */
const USER_ID = /^[\w.@-]{1,64}$/;

/**
 * The storefront's own origin: the single-page app (every unknown path is index.html, the app routes it),
 * `/config.json` (where the router is, whether dev sign-in exists), `/health`, and in development
 * `POST /dev/token`. The pages reach the router directly, through CORS, as a deployed web app does.
 */
export function createStorefrontServer(options: StorefrontServerOptions): Server {
  const root = path.resolve(options.distDir);
  const publicConfig = JSON.stringify({ graphqlUrl: options.graphqlUrl, devSignIn: options.devTokenSecret !== undefined });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://storefront");
    if (url.pathname === "/health") return send(res, 200, "application/json", '{"status":"ok"}');
    if (url.pathname === "/config.json") return send(res, 200, "application/json", publicConfig, "no-store");
    if (url.pathname === "/dev/token") return devToken(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed");
    const file = path.resolve(root, `.${decodeURIComponent(url.pathname)}`);
    const asset = file.startsWith(root + path.sep) && path.extname(file) !== "" ? await readFile(file).catch(() => null) : null;
    if (asset) return send(res, 200, TYPES[path.extname(file)] ?? "application/octet-stream", asset, "public, max-age=31536000, immutable");
    if (url.pathname.startsWith("/assets/")) return send(res, 404, "text/plain", "not found");
    return send(res, 200, TYPES[".html"]!, await readFile(path.join(root, "index.html")), "no-cache");
  }

  async function devToken(req: IncomingMessage, res: ServerResponse) {
    if (options.devTokenSecret === undefined) return send(res, 404, "text/plain", "not found");
    if (req.method !== "POST" || !req.headers["content-type"]?.startsWith("application/json"))
      return send(res, 400, "application/json", '{"error":"POST a JSON body {\\"sub\\": \\"alice\\"}"}');
    const body = await readBody(req);
    const sub = (body as { sub?: unknown } | null)?.sub;
    if (typeof sub !== "string" || !USER_ID.test(sub)) return send(res, 400, "application/json", '{"error":"sub: 1 to 64 of letters, digits, -_.@"}');
    const token = await signClientToken(options.devTokenSecret, sub, [], "12h");
    return send(res, 200, "application/json", JSON.stringify({ token }), "no-store");
  }

  return createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, "text/plain", "internal error"));
  });
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache?: string) {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { "content-type": type, "x-content-type-options": "nosniff", ...(cache ? { "cache-control": cache } : {}) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 4_096) return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
