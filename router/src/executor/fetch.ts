/**
 * A plan's `Fetch` node compiled once: the subgraph, its request body up to the variables (the operation text
 * is serialised once, not per request), the representation builder of an entity fetch, and the rewrites. At
 * run time it does what gateway-js `executeFetch` does: picks the variables the fetch uses, builds the
 * entities' representations, calls the subgraph, rewrites the subgraph's errors into the client's paths and
 * merges what came back into the result.
 */
import type { GraphQLError, GraphQLFormattedError, GraphQLSchema } from "graphql";
import type { FetchNode } from "@apollo/query-planner";
import type { Upstream } from "../subgraph-batch.ts";
import { applyRewrites, deepMerge, hasOwn, isObject, type ResultMap } from "./merge.ts";
import { compileRepresentation } from "./representations.ts";
import { downstreamServiceError, errorPathGenerator, failedResponseError, type ResponsePath } from "./errors.ts";

/** A place in the result the plan is working on (gateway-js `ResultCursor`). */
export interface Cursor {
  path: ResponsePath;
  data: ResultMap | ResultMap[];
  fullResult: ResultMap;
}

/** What one request's run of a program shares across its nodes. */
export interface PlanRun {
  /** The request's variables as the client sent them (the gateway forwards them uncoerced). */
  variables: Record<string, unknown> | undefined;
  /** Errors raised while the plan runs, in the order the gateway would collect them. */
  errors: unknown[];
  /** Sends a fetch's body to its subgraph with the caller's headers. */
  call: (to: Upstream, body: string, isQuery: boolean) => Promise<{ status: number; text: string }>;
}

export interface FetchRoute extends Upstream {
  url: string;
}

export type CompiledFetch = (run: PlanRun, cursor: Cursor) => Promise<void>;

interface SubgraphResponse {
  data?: ResultMap | null;
  errors?: GraphQLFormattedError[];
}

/** The subgraph's answer as `RemoteGraphQLDataSource` takes it: a 2xx JSON object, or it throws. */
function readAnswer(route: FetchRoute, answer: { status: number; text: string }): SubgraphResponse {
  if (answer.status < 200 || answer.status > 299) throw failedResponseError(route.url, answer.status, answer.text);
  const body: unknown = JSON.parse(answer.text);
  if (!isObject(body)) throw new Error(`Expected JSON response body, but received: ${body}`);
  return body as SubgraphResponse;
}

export function compileFetch(node: FetchNode, route: FetchRoute, supergraphSchema: GraphQLSchema): CompiledFetch {
  const usages = node.variableUsages ?? [];
  const pick = node.requires ? compileRepresentation(node.requires, supergraphSchema) : undefined;
  const isQuery = node.operationKind === "query";
  const bodyStart = `{"query":${JSON.stringify(node.operation)},${node.operationName === undefined ? "" : `"operationName":${JSON.stringify(node.operationName)},`}"variables":`;

  async function send(run: PlanRun, cursor: Cursor, variables: Record<string, unknown>): Promise<ResultMap | null | undefined> {
    const response = readAnswer(route, await run.call(route, bodyStart + JSON.stringify(variables) + "}", isQuery));
    if (response.errors) {
      const pathOf = errorPathGenerator(!!node.requires, cursor.path, cursor.fullResult);
      const errors: GraphQLError[] = response.errors.map((error) => downstreamServiceError(error, node.serviceName, pathOf));
      run.errors.push(...errors);
    }
    return response.data;
  }

  return async function executeFetch(run, cursor) {
    const entities: ResultMap[] = Array.isArray(cursor.data)
      ? cursor.data.filter((entity) => entity !== null && entity !== undefined)
      : [cursor.data];
    if (entities.length < 1) return;

    const variables: Record<string, unknown> = Object.create(null);
    const provided = run.variables;
    for (const name of usages) {
      if (provided && hasOwn(provided, name) && typeof provided[name] !== "undefined") variables[name] = provided[name];
    }

    if (!pick) {
      const data = await send(run, cursor, variables);
      if (data) applyRewrites(supergraphSchema, node.outputRewrites, data);
      for (const entity of entities) deepMerge(entity, data);
      return;
    }

    const representations: ResultMap[] = [];
    const representationToEntity: number[] = [];
    entities.forEach((entity, index) => {
      const representation = pick(entity);
      if (representation && representation["__typename"]) {
        applyRewrites(supergraphSchema, node.inputRewrites, representation);
        representations.push(representation);
        representationToEntity.push(index);
      }
    });
    if (representations.length < 1) return;
    if ("representations" in variables) throw new Error(`Variables cannot contain key "representations"`);

    const data = await send(run, cursor, { ...variables, representations });
    if (!data) return;
    const received: unknown = data._entities;
    if (!(received && Array.isArray(received))) throw new Error(`Expected "data._entities" in response to be an array`);
    if (received.length !== representations.length) throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
    for (let i = 0; i < received.length; i++) {
      const entity = received[i] as ResultMap | null;
      const existing = entities[representationToEntity[i]!]!;
      if (entity && !entity["__typename"]) entity["__typename"] = existing["__typename"];
      applyRewrites(supergraphSchema, node.outputRewrites, entity);
      deepMerge(existing, entity);
    }
  };
}
