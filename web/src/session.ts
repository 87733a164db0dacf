import { useSyncExternalStore } from "react";

// Who is signed in: a client JWT, from a `#token=<jwt>` link or the development "Sign in as" box, kept in
// localStorage so a reload stays signed in.
const KEY = "flashgraph.token";
const listeners = new Set<() => void>();
let token: string | null = localStorage.getItem(KEY);

/** Takes a `#token=<jwt>` fragment off the address (so it is not bookmarked or shared) and signs in with it. */
export function adoptTokenFromLocation(): void {
  const match = /^#token=([\w-]+\.[\w-]+\.[\w-]+)$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  setToken(match[1]!);
}

export function setToken(next: string | null): void {
  token = next;
  if (next) localStorage.setItem(KEY, next);
  else localStorage.removeItem(KEY);
  listeners.forEach((listener) => listener());
}

export const getToken = () => token;

export function useToken(): string | null {
  return useSyncExternalStore(
    (listener) => (listeners.add(listener), () => void listeners.delete(listener)),
    () => token,
  );
}

/** The token's user id (`sub`), for display only: the router verifies the token, the page does not. */
export function userOf(jwt: string | null): string | null {
  try {
    const payload = JSON.parse(atob(jwt!.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: unknown };
    return typeof payload.sub === "string" ? payload.sub : null;
  } catch {
    return null;
  }
}

/** Asks the storefront's own server for a development token (it exists only outside production). */
export async function devSignIn(sub: string): Promise<void> {
  const res = await fetch("/dev/token", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sub }) });
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!res.ok || !body.token) throw new Error(body.error ?? `sign-in failed (HTTP ${res.status})`);
  setToken(body.token);
}
