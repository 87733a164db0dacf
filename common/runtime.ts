import type { Logger } from "./logger.ts";

type Closer = { name: string; close: () => Promise<unknown> | unknown };

/**
 * Collects resources as they start and closes them in reverse order on SIGTERM/SIGINT, so a service
 * drains requests before it lets go of Kafka, Redis and PostgreSQL. Exits non-zero if startup fails.
 */
export function createLifecycle(logger: Logger) {
  const closers: Closer[] = [];
  let closing: Promise<void> | null = null;

  const closeAll = () =>
    (closing ??= (async () => {
      for (const { name, close } of closers.reverse()) {
        try {
          await close();
        } catch (error) {
          logger.warn({ err: error, resource: name }, "error while closing");
        }
      }
    })());

  // kafkajs can reject a promise nobody awaits while a broker is unreachable; Node would then kill the
  // process, taking the HTTP service down with Kafka. Log it instead: the clients reconnect on their own.
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logger.info({ signal }, "shutting down");
      void closeAll().then(() => process.exit(0));
    });
  }

  return {
    /** Registers a resource to close on shutdown and returns it. */
    add<T>(name: string, resource: T, close: (r: T) => Promise<unknown> | unknown): T {
      closers.push({ name, close: () => close(resource) });
      return resource;
    },
    closeAll,
    /** Runs `main`; on failure logs, closes what started and exits 1. */
    async run(main: () => Promise<void>) {
      try {
        await main();
      } catch (error) {
        logger.fatal({ err: error }, "failed to start");
        await closeAll();
        process.exit(1);
      }
    },
  };
}
