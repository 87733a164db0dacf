/**
 * One run of a program and its answer: the plan's fetches, then the response shaping, with the outcome
 * gateway-js `executeQueryPlan` and Apollo Server give them (status, errors, `extensions.valueCompletion`),
 * serialised once as Apollo Server writes it (`errors`, `data`, `extensions`, a trailing newline).
 */
import type { GraphQLError } from "graphql";
import { asGraphQLError, formatForClient } from "./errors.ts";
import type { PlanRun } from "./fetch.ts";
import type { Program } from "./program.ts";
import { shapeResponse } from "./shape.ts";

export interface Outcome {
  status: number;
  errors?: unknown[];
  data?: unknown;
  extensions?: Record<string, unknown>;
}

/**
 * Runs `program` for one request; `fetched` is the result its fetches merge into (a deferred operation's
 * primary part shares it with the parts sent after).
 */
export async function execute(
  program: Pick<Program, "plan" | "shape">,
  run: PlanRun,
  fetched: Record<string, unknown> = Object.create(null),
): Promise<Outcome> {
  try {
    if (program.plan) await program.plan(run, { path: [], data: fetched, fullResult: fetched });
  } catch (error) {
    return { status: 500, errors: [error] }; // Apollo Server's answer to an executor that throws
  }
  try {
    const { data, errors } = shapeResponse(program.shape, fetched, run.variables);
    // As the gateway: value-completion errors only when the plan raised none, and then as an extension.
    if (run.errors.length === 0 && errors.length > 0) return { status: 200, data, extensions: { valueCompletion: errors } };
    return { status: 200, data, errors: run.errors.length === 0 ? undefined : run.errors };
  } catch (error) {
    return { status: 400, errors: [error] }; // errors and no data: Apollo Server's 400
  }
}

/**
 * The response body, its errors (for the log of unexpected ones) and its metrics outcome: "ok" or the first
 * error's code.
 */
export function serialise(outcome: Outcome, requestId: string): { body: string; errors: GraphQLError[]; code: string } {
  const errors = (outcome.errors ?? []).map(asGraphQLError);
  const formatted = outcome.errors ? errors.map((error) => formatForClient(error, requestId)) : undefined;
  const body = JSON.stringify({ errors: formatted, data: outcome.data, extensions: outcome.extensions }) + "\n";
  return { body, errors, code: formatted?.length ? String(formatted[0]!.extensions?.code ?? "ERROR") : "ok" };
}
