import { GraphQLError } from "graphql";
import { formatError, badInput, withRequestId } from "../errors.ts";
import { loadConfig } from "../config.ts";
import { decodeCursor, encodeCursor, parseInput, pageSize } from "../validation.ts";
import { z } from "zod";

describe("formatError", () => {
  test("keeps API codes and their extensions, drops stack traces", () => {
    const formatted = formatError({ message: "bad", extensions: { code: "BAD_USER_INPUT", field: "sku", stacktrace: ["x"] } });
    expect(formatted).toEqual({ message: "bad", extensions: { code: "BAD_USER_INPUT", field: "sku" } });
  });

  test("masks anything else as INTERNAL_SERVER_ERROR without internals", () => {
    const formatted = formatError({ message: 'relation "secret_table" does not exist', path: ["product"], extensions: { code: "P2010" } });
    expect(formatted).toEqual({
      message: "Internal server error",
      path: ["product"],
      locations: undefined,
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  });

  // Apollo Server and the fast path give every error without a code INTERNAL_SERVER_ERROR before formatError
  // sees it, so that code alone must not let the message through (a Prisma or plain Error's text would).
  test("an error already coded INTERNAL_SERVER_ERROR loses its message and every other extension", () => {
    const formatted = formatError({
      message: "Invalid `prisma.$queryRaw()` invocation: Raw query failed. Code: `22021`.",
      locations: [{ line: 1, column: 3 }],
      path: ["searchProducts"],
      extensions: { code: "INTERNAL_SERVER_ERROR", stacktrace: ["at store.search"], meta: { code: "22021" } },
    });
    expect(formatted).toEqual({
      message: "Internal server error",
      path: ["searchProducts"],
      locations: [{ line: 1, column: 3 }],
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  });

  test("a masked error names the request id a client quotes; an expected one does not", () => {
    expect(formatError({ message: "ECONNREFUSED 127.0.0.1:5432", path: ["product"] }, "req-1")).toEqual({
      message: "Internal server error",
      path: ["product"],
      locations: undefined,
      extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "req-1" },
    });
    const expected = { message: "Product x does not exist.", extensions: { code: "NOT_FOUND" } };
    expect(formatError(expected, "req-1")).toEqual(expected);
    expect(withRequestId(expected, "req-1")).toEqual(expected);
    expect(withRequestId(formatError({ message: "boom" }), "req-2").extensions).toEqual({ code: "INTERNAL_SERVER_ERROR", requestId: "req-2" });
  });

  test("a masked error keeps the name of the subgraph the gateway says it came from", () => {
    const formatted = formatError({
      message: "connect ECONNREFUSED 10.0.0.7:4001",
      extensions: { code: "DOWNSTREAM_SERVICE_ERROR", serviceName: "product", exception: { errno: -111 } },
    });
    expect(formatted).toEqual({
      message: "Internal server error",
      path: undefined,
      locations: undefined,
      extensions: { code: "INTERNAL_SERVER_ERROR", serviceName: "product" },
    });
  });
});

describe("input validation", () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
      return null;
    } catch (error) {
      return (error as GraphQLError).extensions;
    }
  };

  test("names the offending field", () => {
    expect(code(() => parseInput(pageSize, 0, "first"))).toEqual({ code: "BAD_USER_INPUT", field: "first" });
    expect(code(() => parseInput(z.object({ sku: z.string().min(1) }), { sku: "" }, "input"))).toEqual({
      code: "BAD_USER_INPUT",
      field: "input.sku",
    });
    expect(badInput("x", "y").extensions).toEqual({ code: "BAD_USER_INPUT", field: "x" });
  });

  test("cursors round-trip and a forged cursor is BAD_USER_INPUT on after", () => {
    const schema = z.object({ id: z.string() });
    expect(decodeCursor(encodeCursor({ id: "a" }), schema)).toEqual({ id: "a" });
    expect(code(() => decodeCursor("%%%", schema))).toEqual({ code: "BAD_USER_INPUT", field: "after" });
  });
});

describe("config", () => {
  test("defaults for every variable", () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(4000);
    expect(config.KAFKA_BROKERS).toBe("127.0.0.1:9092");
    expect(config.SEED).toBe(true);
  });

  test("a bad variable fails fast naming it", () => {
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => loadConfig({ SEED: "maybe" })).toThrow(/SEED/);
  });
});
