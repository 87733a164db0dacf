import { z } from "zod";
import { badInput } from "./errors.ts";

/** Parses `value` with `schema`; the first problem becomes BAD_USER_INPUT naming its field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, fieldPrefix = ""): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = [fieldPrefix, ...issue.path.map(String)].filter(Boolean).join(".");
  throw badInput(field || "input", `${field || "input"}: ${issue.message}`);
}

export const uuid = z.string().uuid({ message: "must be a valid id" });
export const pageSize = z.number().int().min(1, "must be at least 1").max(100, "must be at most 100");

/** Opaque cursors are base64url JSON; a cursor that does not decode is BAD_USER_INPUT on `after`. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>, field = "after"): T {
  try {
    return parseInput(schema, JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    throw badInput(field, `${field}: is not a cursor this API returned`);
  }
}
