import { GraphQLScalarType, Kind } from "graphql";
import { badInput } from "./errors.ts";

/** ISO-8601 date-time, serialised in UTC with milliseconds. */
export const DateTime = new GraphQLScalarType<Date, string>({
  name: "DateTime",
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new TypeError("DateTime cannot represent an invalid date");
    return date.toISOString();
  },
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => (ast.kind === Kind.STRING ? parseDate(ast.value) : parseDate(null)),
});

function parseDate(value: unknown): Date {
  const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
  if (typeof value !== "string" || Number.isNaN(date.getTime())) throw badInput("DateTime", "DateTime must be an ISO-8601 string");
  return date;
}
