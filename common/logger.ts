import { pino, type Logger } from "pino";

export type { Logger };

/** One root logger per process; callers derive children per request and per consumer. */
export function createLogger(name: string, level: string = "info"): Logger {
  return pino({ name, level, base: { service: name } });
}
