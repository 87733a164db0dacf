import { expect, test } from "@jest/globals";
import { InfrastructureError } from "../errors.ts";
import { isRetriable, PermanentEventError } from "../kafka/retry.ts";

test("the retry policy: permanent errors never, infrastructure errors as they say, anything else yes", () => {
  expect(isRetriable(new PermanentEventError("payment p1 does not exist"))).toBe(false);
  expect(isRetriable(new InfrastructureError("schema mismatch", false))).toBe(false);
  expect(isRetriable(new InfrastructureError("connection reset", true))).toBe(true);
  expect(isRetriable(new Error("deadlock detected"))).toBe(true);
  expect(isRetriable("a thrown string")).toBe(true);
});
