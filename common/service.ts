/**
 * What every service of the platform shares whatever serves its GraphQL (router or subgraph): the base of each
 * operation's context and the dependency checks behind `/ready`, so the HTTP shell and the services agree on them.
 */
import type { Logger } from "./logger.ts";

export interface ReadinessCheck {
  name: string;
  check: () => Promise<unknown>;
}

export interface BaseContext {
  requestId: string;
  logger: Logger;
}

/** Rejects with "`what` timed out after `ms` ms" when `promise` has not settled by then. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
