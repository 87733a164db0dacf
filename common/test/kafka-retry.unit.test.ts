import { expect, test } from "@jest/globals";
import kafkajs from "kafkajs";
import { z } from "zod";
import { InfrastructureError } from "../errors.ts";
import { Prisma } from "../prisma.ts";
import { backoffDelay, classifyFailure, consumerRetryPolicy, PermanentEventError } from "../kafka/retry.ts";

// The errors below have the shapes the libraries throw (as seen against real services: a stopped PostgreSQL,
// Redis and Kafka); consumer-outage.int.test.ts classifies the ones a real outage produces.
const prismaError = (code: string, cause?: Record<string, unknown>) =>
  new Prisma.PrismaClientKnownRequestError("Raw query failed", {
    code,
    clientVersion: "7",
    meta: cause ? { driverAdapterError: { name: "DriverAdapterError", cause } } : undefined,
  });
const pgError = (code: string) => Object.assign(new Error("pg"), { code, severity: "ERROR" });
const socketError = (code: string) => Object.assign(new Error(`connect ${code}`), { code, errno: -111, syscall: "connect" });

test("the event's own faults are permanent", () => {
  expect(classifyFailure(new PermanentEventError("payment p1 does not exist"))).toBe("permanent");
  expect(classifyFailure(new InfrastructureError("schema mismatch", false))).toBe("permanent");
  expect(classifyFailure(z.object({ a: z.number() }).safeParse({}).error)).toBe("permanent");
  expect(classifyFailure(prismaError("P2010", { kind: "ValueOutOfRange", originalCode: "22003" }))).toBe("permanent");
  expect(classifyFailure(prismaError("P2010", { kind: "postgres", code: "23514" }))).toBe("permanent"); // check violation
  expect(classifyFailure(prismaError("P2003"))).toBe("permanent");
  expect(classifyFailure(pgError("22P02"))).toBe("permanent");
  const tooLarge = Object.assign(new Error("The request included a message larger than the max message size"), {
    type: "MESSAGE_TOO_LARGE",
    retriable: false,
  });
  expect(classifyFailure(new kafkajs.KafkaJSProtocolError(tooLarge))).toBe("permanent");
});

test("infrastructure failures are transient, however they are wrapped", () => {
  expect(classifyFailure(new InfrastructureError("connection reset", true))).toBe("transient");
  expect(classifyFailure(prismaError("P1001", { kind: "DatabaseNotReachable" }))).toBe("transient");
  expect(classifyFailure(prismaError("P2010", { kind: "DatabaseNotReachable", host: "127.0.0.1" }))).toBe("transient");
  expect(classifyFailure(prismaError("P2010", { kind: "TransactionWriteConflict", originalCode: "40001" }))).toBe("transient");
  expect(classifyFailure(prismaError("P2010", { kind: "postgres", code: "57014" }))).toBe("transient"); // statement timeout
  expect(classifyFailure(prismaError("P2010", { kind: "postgres", code: "57P01" }))).toBe("transient"); // admin shutdown
  expect(classifyFailure(prismaError("P2028"))).toBe("transient"); // transaction expired while the database was slow
  expect(classifyFailure(pgError("08006"))).toBe("transient");
  expect(classifyFailure(new Error("Connection terminated unexpectedly"))).toBe("transient");
  expect(classifyFailure(new Error("Connection terminated due to connection timeout"))).toBe("transient");
  expect(classifyFailure(socketError("ECONNREFUSED"))).toBe("transient");
  expect(classifyFailure(Object.assign(new Error("Reached the max retries"), { name: "MaxRetriesPerRequestError" }))).toBe("transient");
  expect(classifyFailure(new Error("Command timed out"))).toBe("transient");
  expect(classifyFailure(Object.assign(new Error("LOADING Redis is loading the dataset in memory"), { name: "ReplyError" }))).toBe("transient");
  const refused = new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED");
  expect(classifyFailure(new kafkajs.KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 100 }))).toBe("transient");
  expect(classifyFailure(new Error("mail failed", { cause: socketError("ETIMEDOUT") }))).toBe("transient");
  // An explicit verdict around a transient cause wins.
  expect(classifyFailure(new PermanentEventError("bad", { cause: socketError("ECONNRESET") }))).toBe("permanent");
});

test("anything else is unknown: retried a bounded number of times, then dead-lettered", () => {
  expect(classifyFailure(new TypeError("Cannot read properties of undefined"))).toBe("unknown");
  expect(classifyFailure(Object.assign(new Error("WRONGTYPE Operation against a key"), { name: "ReplyError" }))).toBe("unknown");
  expect(classifyFailure(prismaError("P2010", { kind: "UniqueConstraintViolation", originalCode: "23505" }))).toBe("unknown");
  expect(classifyFailure("a thrown string")).toBe("unknown");
});

test("backoff doubles from the first delay to the cap, with half of it random", () => {
  const policy = consumerRetryPolicy({
    KAFKA_CONSUMER_RETRY_INITIAL_MS: 100,
    KAFKA_CONSUMER_RETRY_MAX_MS: 5_000,
    KAFKA_CONSUMER_UNKNOWN_ERROR_ATTEMPTS: 5,
  });
  const ceilings = [1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelay(policy, n, () => 1));
  expect(ceilings).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  const floors = [1, 6, 20].map((n) => backoffDelay(policy, n, () => 0));
  expect(floors).toEqual([50, 1_600, 2_500]);
});
