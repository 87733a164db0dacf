import { ZodError } from "zod";
import { InfrastructureError } from "../errors.ts";
import { Prisma } from "../prisma.ts";

/** An error that retrying cannot fix; the consumer sends the message to the dead-letter topic at once. */
export class PermanentEventError extends Error {
  override name = "PermanentEventError";
}

/**
 * What a consumer does about a failed event, decided here and nowhere else (as kafkajs's `retry/index.js` acts on
 * its errors' `retriable`):
 * - `transient`: the infrastructure failed, not the event (PostgreSQL, Redis or Kafka unreachable, timed out,
 *   restarting, a serialization failure or deadlock). Retried without limit: the event is fine, and dead-lettering
 *   it would lose a payment or an order that nothing replays.
 * - `permanent`: the event itself cannot be applied (`PermanentEventError`, schema-invalid data, a value or
 *   constraint PostgreSQL refuses). Dead-lettered at once.
 * - `unknown`: anything not recognised above, most likely a handler bug that this event triggers. Retried
 *   `unknownAttempts` times, then dead-lettered: a bug must not hold a partition (every later event of its keys)
 *   forever, and the letter keeps the error and the payload for `npm run dlq -- replay` once it is fixed. A real
 *   infrastructure failure that lands here is a missing case below, which its dead letter's error names.
 */
export type FailureKind = "transient" | "permanent" | "unknown";

/** PostgreSQL SQLSTATEs that say "try again later" (class 08 is matched as a whole). */
const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled: our statement_timeout under load
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "53000", // insufficient_resources
  "53100", // disk_full
  "53200", // out_of_memory
  "53300", // too_many_connections
  "58000", // system_error
  "58030", // io_error
]);

/** Prisma's codes for an unreachable, slow or conflicting database (the driver adapter's kinds are below). */
const TRANSIENT_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028", "P2034"]);
/** Prisma's codes for values the database refuses whatever the moment. */
const PERMANENT_PRISMA_CODES = new Set(["P2000", "P2003", "P2004", "P2005", "P2006", "P2007", "P2011", "P2012", "P2019", "P2020", "P2023"]);
/** `@prisma/adapter-pg`'s mapped error kinds that are about the connection, not the query. */
const TRANSIENT_ADAPTER_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
  "TransactionWriteConflict",
]);
const PERMANENT_ADAPTER_KINDS = new Set([
  "LengthMismatch",
  "ValueOutOfRange",
  "InvalidInputValue",
  "NullConstraintViolation",
  "ForeignKeyConstraintViolation",
]);

/** Errors `pg` and `pg-pool` raise without a code when a connection dies or cannot be had in time. */
const PG_CONNECTION_MESSAGES = new Set([
  "Connection terminated unexpectedly",
  "Connection terminated due to connection timeout",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
  "Query read timeout",
]);
/** Node's socket and DNS failures (pg, ioredis and kafkajs all surface these). */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** ioredis: its own connection failures (no class exported for all of them) and Redis replies that mean "later". */
const REDIS_ERROR_NAMES = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError"]);
const REDIS_CONNECTION_MESSAGES = new Set([
  "Command timed out",
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
]);
const REDIS_TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM) /;

/** Kafka refusals of the record itself: sending it again fails the same way. */
const PERMANENT_KAFKA_TYPES = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE"]);

/** The SQLSTATE of a pg error, or of the one Prisma's driver adapter wrapped. */
function sqlState(error: Record<string, unknown>): string | undefined {
  if (typeof error.code === "string" && /^[0-9A-Z]{5}$/.test(error.code) && typeof error.severity === "string") return error.code;
  const adapter = adapterCause(error);
  const code = adapter?.originalCode ?? adapter?.code;
  return typeof code === "string" ? code : undefined;
}

function adapterCause(error: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = error.meta as { driverAdapterError?: { cause?: Record<string, unknown> } } | undefined;
  return meta?.driverAdapterError?.cause ?? (error.name === "DriverAdapterError" ? (error.cause as Record<string, unknown>) : undefined);
}

function classifySqlState(state: string): FailureKind | undefined {
  if (state.startsWith("08") || TRANSIENT_SQLSTATES.has(state)) return "transient";
  if (state === "23505") return "unknown"; // unique_violation: a concurrent duplicate is settled by the next attempt
  if (state.startsWith("22") || state.startsWith("23")) return "permanent"; // data exception, integrity violation
  return undefined;
}

function classifyOwn(error: unknown): FailureKind | undefined {
  if (error instanceof PermanentEventError || error instanceof ZodError) return "permanent";
  if (error instanceof InfrastructureError) return error.retriable ? "transient" : "permanent";
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as Record<string, unknown>;

  const state = sqlState(e);
  const bySqlState = state ? classifySqlState(state) : undefined;
  if (bySqlState) return bySqlState;
  const kind = adapterCause(e)?.kind;
  if (typeof kind === "string" && TRANSIENT_ADAPTER_KINDS.has(kind)) return "transient";
  if (typeof kind === "string" && PERMANENT_ADAPTER_KINDS.has(kind)) return "permanent";
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    if (TRANSIENT_PRISMA_CODES.has(error.code)) return "transient";
    if (PERMANENT_PRISMA_CODES.has(error.code)) return "permanent";
  }
  if (error instanceof Prisma.PrismaClientInitializationError) return "transient";

  if (typeof e.code === "string" && SOCKET_CODES.has(e.code)) return "transient";
  if (typeof e.message === "string" && PG_CONNECTION_MESSAGES.has(e.message)) return "transient";

  if (typeof e.name === "string" && REDIS_ERROR_NAMES.has(e.name)) return "transient";
  if (typeof e.message === "string" && REDIS_CONNECTION_MESSAGES.has(e.message)) return "transient";
  if (e.name === "ReplyError" && typeof e.message === "string" && REDIS_TRANSIENT_REPLY.test(e.message)) return "transient";

  // kafkajs's errors (matched by name: its CommonJS entry spreads them into its exports, which Node's ESM import
  // cannot name) say whether kafkajs itself would retry them; once its own retries are spent it throws a
  // non-retriable KafkaJSNumberOfRetriesExceeded whose cause is the retriable error (the cause chain below).
  if (typeof e.name === "string" && e.name.startsWith("KafkaJS")) {
    if (e.name === "KafkaJSProtocolError" && typeof e.type === "string" && PERMANENT_KAFKA_TYPES.has(e.type)) return "permanent";
    if (e.retriable === true) return "transient";
  }
  return undefined;
}

/**
 * Classifies a handler's failure. The error and then its `cause` chain are checked (Prisma wraps pg's error,
 * kafkajs wraps its own when its retries run out, callers wrap in InfrastructureError): the first link that is
 * recognised decides, so an explicit `InfrastructureError` or `PermanentEventError` around a cause wins.
 */
export function classifyFailure(error: unknown): FailureKind {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const kind = classifyOwn(current);
    if (kind) return kind;
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined;
  }
  return "unknown";
}

export interface RetryPolicy {
  /** First delay after a failure, in ms; doubled with every further failure of the same event (default 100). */
  initialMs: number;
  /** Longest delay between two attempts, in ms (default 10 000). */
  maxMs: number;
  /** Attempts an event failing with an unclassified error gets before it is dead-lettered (default 5). */
  unknownAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { initialMs: 100, maxMs: 10_000, unknownAttempts: 5 };

/**
 * The wait before attempt `failures + 1`: `initialMs * 2^(failures-1)` capped at `maxMs`, of which a random half
 * ("equal jitter"), so instances that failed together do not all come back at the same instant.
 */
export function backoffDelay(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The policy the configuration asks for (KAFKA_CONSUMER_RETRY_INITIAL_MS, _MAX_MS, KAFKA_CONSUMER_UNKNOWN_ERROR_ATTEMPTS). */
export function consumerRetryPolicy(config: {
  KAFKA_CONSUMER_RETRY_INITIAL_MS: number;
  KAFKA_CONSUMER_RETRY_MAX_MS: number;
  KAFKA_CONSUMER_UNKNOWN_ERROR_ATTEMPTS: number;
}): RetryPolicy {
  return {
    initialMs: config.KAFKA_CONSUMER_RETRY_INITIAL_MS,
    maxMs: Math.max(config.KAFKA_CONSUMER_RETRY_MAX_MS, config.KAFKA_CONSUMER_RETRY_INITIAL_MS),
    unknownAttempts: config.KAFKA_CONSUMER_UNKNOWN_ERROR_ATTEMPTS,
  };
}
