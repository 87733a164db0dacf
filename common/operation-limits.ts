/**
 * Operation limits (docs/edge-protection.md): a document is parsed under a token limit, then measured on its AST
 * (operation-measure.ts) for depth, aliases, root fields, fields, directives and cost, all before validation,
 * whose OverlappingFieldsCanBeMerged rule is quadratic in the fields of a selection set. String inputs (literals
 * and variables) holding NUL or unpaired UTF-16 surrogates are refused too: PostgreSQL and JSON consumers cannot
 * store them. Every path of the router and every subgraph calls this one module.
 */
import { GraphQLError, Kind, parse, visit, type DocumentNode, type ValueNode } from "graphql";
import { LRUCache } from "lru-cache";
import { badInput, ErrorCode } from "./errors.ts";
import { measureOperation, type CostModel, type OperationMeasure } from "./operation-measure.ts";

/** The limits one document is held to; `Infinity` turns one off. */
export interface OperationLimits {
  maxTokens: number;
  maxDepth: number;
  maxAliases: number;
  maxRootFields: number;
  maxFields: number;
  maxDirectives: number;
  maxCost: number;
  /** Largest `variables`, as JSON, in bytes. */
  maxVariablesBytes: number;
  /** The API schema's list fields, slicing arguments and subgraph joins (the committed supergraph). */
  costModel: CostModel;
}

/** Which limit refused a request (`extensions.kind`). */
export type LimitKind = "tokens" | "depth" | "aliases" | "rootFields" | "fields" | "directives" | "cost" | "variablesSize" | "bodySize";

/** A refusal: HTTP status 400 (413 for a body) with OPERATION_LIMIT_EXCEEDED, `kind`, `limit` and `value`. */
export function limitExceeded(kind: LimitKind, limit: number, value: number, message?: string): GraphQLError {
  return new GraphQLError(message ?? `The operation exceeds the ${kind} limit (${value} > ${limit}).`, {
    extensions: { code: ErrorCode.OPERATION_LIMIT_EXCEEDED, kind, limit, value, http: { status: kind === "bodySize" ? 413 : 400 } },
  });
}

const MEASURED: readonly [LimitKind, keyof OperationLimits, keyof OperationMeasure][] = [
  ["depth", "maxDepth", "depth"],
  ["aliases", "maxAliases", "aliases"],
  ["rootFields", "maxRootFields", "rootFields"],
  ["fields", "maxFields", "fields"],
  ["directives", "maxDirectives", "directives"],
  ["cost", "maxCost", "cost"],
];

function checkMeasure(measure: OperationMeasure, limits: OperationLimits): void {
  for (const [kind, limit, value] of MEASURED) {
    if ((measure[value] as number) > (limits[limit] as number)) throw limitExceeded(kind, limits[limit] as number, measure[value] as number);
  }
}

/**
 * Parses `source` under `limits` and checks its shape and string literals; `variables` give slicing arguments
 * passed as variables (their own strings are checked by `checkVariables`). Throws a GraphQLError:
 * OPERATION_LIMIT_EXCEEDED, BAD_USER_INPUT for a NUL in a string literal, or the usual syntax error.
 */
export function parseWithinLimits(source: string, limits: OperationLimits, variables?: Record<string, unknown>): DocumentNode {
  const document = parseUnderTokenLimit(source, limits.maxTokens);
  checkMeasure(measureOperation(document, limits.costModel, variables), limits);
  checkLiterals(document);
  return document;
}

function parseUnderTokenLimit(source: string, maxTokens: number): DocumentNode {
  try {
    return parse(source, { maxTokens: Number.isFinite(maxTokens) ? maxTokens : undefined });
  } catch (error) {
    // graphql-js stops lexing at the limit, so the refusal costs maxTokens tokens however long the document is.
    if (error instanceof GraphQLError && /Document contains more th(?:an|at|en) \d+ tokens/.test(error.message)) {
      throw limitExceeded("tokens", maxTokens, maxTokens + 1, `The operation has more than ${maxTokens} tokens.`);
    }
    throw error;
  }
}

/** BAD_USER_INPUT for a string no store can hold, answered with HTTP 400 before execution. */
function refusedInput(field: string, message: string): GraphQLError {
  const error = badInput(field, message);
  return new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });
}

/** Whether a string can be stored as text: no NUL, no unpaired surrogate. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isStorableText = (text: string) => !text.includes("\0") && !LONE_SURROGATE.test(text);

function checkLiterals(document: DocumentNode): void {
  const checkValue = (value: ValueNode, field: string): void => {
    if (value.kind === Kind.STRING && !isStorableText(value.value)) throw refusedInput(field, `${field} holds a NUL character or invalid UTF-16.`);
    if (value.kind === Kind.LIST) value.values.forEach((item) => checkValue(item, field));
    if (value.kind === Kind.OBJECT) value.fields.forEach((f) => checkValue(f.value, `${field}.${f.name.value}`));
  };
  visit(document, {
    Argument: (node) => (checkValue(node.value, node.name.value), false),
    VariableDefinition: (node) => (node.defaultValue && checkValue(node.defaultValue, node.variable.name.value), false),
  });
}

/** Refuses `variables` over the size limit or holding a string with NUL or invalid UTF-16 (BAD_USER_INPUT, `field`). */
export function checkVariables(variables: unknown, limits: OperationLimits): void {
  if (variables == null || typeof variables !== "object") return;
  if (Number.isFinite(limits.maxVariablesBytes)) {
    const size = Buffer.byteLength(JSON.stringify(variables));
    if (size > limits.maxVariablesBytes) throw limitExceeded("variablesSize", limits.maxVariablesBytes, size);
  }
  const walk = (value: unknown, field: string): void => {
    if (typeof value === "string") {
      if (!isStorableText(value)) throw refusedInput(field, `Variable ${field} holds a NUL character or invalid UTF-16.`);
    } else if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${field}.${i}`));
    else if (value && typeof value === "object") for (const [key, item] of Object.entries(value)) walk(item, field ? `${field}.${key}` : key);
  };
  walk(variables, "");
}

/**
 * Whether `error` refuses a request before GraphQL runs, to be answered with its `extensions.http.status`
 * (a limit, or a string input that cannot be stored).
 */
export function isRefusal(error: unknown): error is GraphQLError {
  return error instanceof GraphQLError && typeof (error.extensions.http as { status?: unknown } | undefined)?.status === "number";
}

/** One request's GraphQL parameters, as a guard checks them. */
export interface OperationRequest {
  query: string;
  variables?: unknown;
}

/** Checks one operation and returns its document; `documentOf` gives a document it checked before, without checking. */
export type OperationGuard = ((request: OperationRequest) => DocumentNode) & { documentOf: (query: string) => DocumentNode | undefined };

/** Longest document the guard remembers; longer ones (long literals, comments) are checked every time. */
const MAX_CACHED_SOURCE = 16 * 1024;

/**
 * `parseWithinLimits` plus `checkVariables` for every request of a service, remembering documents it has checked
 * (by source, as the fast path and the pass-through do) so a repeated operation costs a map lookup; a cost that
 * depends on variables is measured again per request (linear, no parse). Returns the document, or throws.
 */
export function createOperationGuard(limits: OperationLimits): OperationGuard {
  const checked = new LRUCache<string, { document: DocumentNode; costUsesVariables: boolean }>({ max: 1_000 });
  const check = (request: OperationRequest): DocumentNode => {
    checkVariables(request.variables, limits);
    const variables = isRecord(request.variables) ? request.variables : undefined;
    const hit = checked.get(request.query);
    if (hit) {
      if (hit.costUsesVariables) checkMeasure(measureOperation(hit.document, limits.costModel, variables), limits);
      return hit.document;
    }
    const document = parseUnderTokenLimit(request.query, limits.maxTokens);
    const measure = measureOperation(document, limits.costModel, variables);
    checkMeasure(measure, limits);
    checkLiterals(document);
    if (request.query.length <= MAX_CACHED_SOURCE) checked.set(request.query, { document, costUsesVariables: measure.costUsesVariables });
    return document;
  };
  return Object.assign(check, { documentOf: (query: string) => checked.get(query)?.document });
}

/** The operations a `/graphql` request carries: a JSON body's (each of an array's), or a GET's URL parameters. */
export function operationRequestsOf(req: { method?: string; url?: string }, body: unknown): OperationRequest[] {
  if (req.method === "GET") {
    const params = new URL(req.url ?? "/", "http://localhost").searchParams;
    const query = params.get("query");
    if (query === null) return [];
    let variables: unknown;
    try {
      variables = JSON.parse(params.get("variables") ?? "null");
    } catch {
      variables = undefined; // Apollo Server answers malformed variables
    }
    return [{ query, variables }];
  }
  const bodies = Array.isArray(body) ? body : [body];
  return bodies.filter((b): b is OperationRequest => isRecord(b) && typeof b.query === "string");
}

/**
 * Checks every operation of a `/graphql` request with `guard` (`createOperationGuard`), throwing the first refusal (answer it
 * with `answerFailure`). A document that does not parse is left to the path that runs it, which answers it as
 * it always did.
 */
export function createRequestGuard(guard: (request: OperationRequest) => DocumentNode) {
  return (req: { method?: string; url?: string }, body: unknown): void => {
    for (const request of operationRequestsOf(req, body)) {
      try {
        guard(request);
      } catch (error) {
        if (isRefusal(error)) throw error;
      }
    }
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
