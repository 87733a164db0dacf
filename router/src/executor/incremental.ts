/**
 * One run of a deferred operation (defer-plan.ts), sent as it completes: the primary part's fetches and its
 * payload (with the gateway's rules for errors, as respond.ts), then every deferred part as soon as its own
 * fetches are done, parts nested in it after it. Each part's payload holds one item per object at its
 * `queryPath` (a part under a list has one per element), each with the part's fields shaped there (nulls
 * bubbled up to the nearest nullable field inside the part, or the item's `data` is null) and the errors
 * of the part's fetches whose path is under it (an error without such a path goes with the part's first
 * item); value-completion errors go, as the gateway ships them, in `extensions.valueCompletion` when the
 * part's fetches raised none. A part whose objects were nulled before it is not sent. When the client is
 * gone no further part starts, and the run's `call` refuses to send more (executor.ts).
 */
import { GraphQLError } from "graphql";
import type { Cursor, PlanRun } from "./fetch.ts";
import type { CompiledDefer, DeferredPart } from "./defer-plan.ts";
import { deepMerge, getOwn, isObject, type ResultMap } from "./merge.ts";
import { asGraphQLError, formatForClient, type ResponsePath } from "./errors.ts";
import { execute, type Outcome } from "./respond.ts";
import { shapeResponse } from "./shape.ts";

/** One entry of a subsequent payload's `incremental` list. */
export interface IncrementalItem {
  label?: string;
  data: ResultMap | null;
  path: ResponsePath;
  errors?: unknown[];
  extensions?: Record<string, unknown>;
}

/** Where a run's payloads go (a multipart response, executor.ts). */
export interface IncrementalSink {
  /** The primary part; not 200 (the plan or its shaping threw) ends the run with that answer. */
  initial(outcome: Outcome, hasNext: boolean): void;
  subsequent(items: IncrementalItem[], hasNext: boolean): void;
  /** The client is gone: nothing more is sent or fetched. */
  readonly closed: boolean;
}

/** The concrete paths of the objects at `queryPath` under `value` (into every element of a list). */
function objectPaths(value: unknown, queryPath: string[], from: number, path: ResponsePath, found: ResponsePath[]): ResponsePath[] {
  if (Array.isArray(value)) {
    value.forEach((element, index) => objectPaths(element, queryPath, from, [...path, index], found));
  } else if (isObject(value)) {
    if (from === queryPath.length) found.push(path);
    else objectPaths(getOwn(value, queryPath[from]!), queryPath, from + 1, [...path, queryPath[from]!], found);
  }
  return found;
}

function valueAt(value: unknown, path: ResponsePath): unknown {
  let current = value;
  for (const element of path) {
    if (typeof element === "number") current = Array.isArray(current) ? current[element] : undefined;
    else current = isObject(current) ? getOwn(current, element) : undefined;
  }
  return current;
}

const isUnder = (errorPath: readonly (string | number)[] | undefined, path: ResponsePath) =>
  !!errorPath && errorPath.length >= path.length && path.every((element, i) => errorPath[i] === element);

/** The part's items, one per object, with the errors of its fetches and of its shaping. */
function itemsOf(part: DeferredPart, paths: ResponsePath[], fetched: ResultMap, run: PlanRun): IncrementalItem[] {
  const items = paths.map((path): IncrementalItem => {
    const item: IncrementalItem = { ...(part.label === undefined ? {} : { label: part.label }), data: null, path };
    const source = valueAt(fetched, path);
    try {
      const shaped = isObject(source) ? shapeResponse(part.shape, source, run.variables, path) : { data: null, errors: [] };
      item.data = shaped.data;
      if (run.errors.length === 0 && shaped.errors.length > 0) item.extensions = { valueCompletion: shaped.errors };
    } catch (error) {
      item.errors = [error];
    }
    return item;
  });
  for (const error of run.errors) {
    const errorPath = error instanceof GraphQLError ? error.path : undefined;
    const item = items.find((candidate) => isUnder(errorPath, candidate.path)) ?? items[0];
    if (item) (item.errors ??= []).push(error);
  }
  return items;
}

/**
 * Merges a sent item into a copy of what the client holds, so the parts nested in it find their objects
 * (payloads already handed to the sink are not changed).
 */
function deliver(delivered: { data: unknown; copied: boolean }, item: IncrementalItem): void {
  if (!item.data) return;
  if (!delivered.copied) Object.assign(delivered, { data: structuredClone(delivered.data), copied: true });
  const target = valueAt(delivered.data, item.path);
  if (isObject(target)) deepMerge(target, structuredClone(item.data));
}

/** Runs a deferred operation, handing each payload to `sink` as soon as it is complete. */
export async function executeIncrementally(defer: CompiledDefer, run: PlanRun, sink: IncrementalSink): Promise<void> {
  const fetched: ResultMap = Object.create(null);
  const root: Cursor = { path: [], data: fetched, fullResult: fetched };
  const initial = await execute({ plan: defer.primary.node, shape: defer.primary.shape }, run, fetched);
  let pending = initial.status === 200 ? defer.deferred.length : 0;
  sink.initial(initial, pending > 0);
  if (pending === 0) return;
  const delivered = { data: initial.data as unknown, copied: false };

  async function runPart(part: DeferredPart): Promise<void> {
    if (sink.closed) return;
    const paths = objectPaths(delivered.data, part.queryPath, 0, [], []);
    const partRun: PlanRun = { variables: run.variables, errors: [], call: run.call };
    if (paths.length > 0 && part.node) {
      try {
        await part.node(partRun, root);
      } catch (error) {
        partRun.errors.push(error);
      }
    }
    if (sink.closed) return;
    const items = itemsOf(part, paths, fetched, partRun);
    const nested = items.length > 0 ? part.deferred : [];
    pending += nested.length - 1;
    if (items.length > 0 || pending === 0) sink.subsequent(items, pending > 0);
    if (nested.length > 0) for (const item of items) deliver(delivered, item);
    await Promise.all(nested.map(runPart));
  }

  await Promise.all(defer.deferred.map(runPart));
}

const formatAll = (errors: unknown[] | undefined, requestId: string) =>
  errors?.length ? errors.map((error) => formatForClient(asGraphQLError(error), requestId)) : undefined;

/** The first payload (the primary part) as Apollo Router writes it: `data`, `errors`, `extensions`, `hasNext`. */
export function serialiseInitial(outcome: Outcome, hasNext: boolean, requestId: string): string {
  return JSON.stringify({ data: outcome.data, errors: formatAll(outcome.errors, requestId), extensions: outcome.extensions, hasNext });
}

/** A subsequent payload: `hasNext`, then the items of one deferred part (none: only the end of the stream). */
export function serialiseSubsequent(items: IncrementalItem[], hasNext: boolean, requestId: string): string {
  const incremental = items.map(({ label, data, path, errors, extensions }) => ({
    label,
    data,
    path,
    errors: formatAll(errors, requestId),
    extensions,
  }));
  return JSON.stringify({ hasNext, incremental: incremental.length ? incremental : undefined });
}
