/**
 * How fetched data joins the in-memory result, as @apollo/gateway does it (gateway-js `utilities/deepMerge.ts`,
 * `dataRewrites.ts`): the executor must build the very same intermediate result the gateway builds, because the
 * response shaping (shape.ts) and the next fetches' representations read it.
 */
import { isAbstractType, isInterfaceType, isObjectType, type GraphQLSchema } from "graphql";
import type { FetchDataRewrite } from "@apollo/query-planner";

/** An object of the result as fetched and merged (JSON from subgraphs). */
export type ResultMap = Record<string, unknown>;

export const hasOwn = (obj: object, prop: PropertyKey): boolean => Object.prototype.hasOwnProperty.call(obj, prop);

export const getOwn = (obj: object, prop: PropertyKey): unknown =>
  Object.prototype.hasOwnProperty.call(obj, prop) ? (obj as Record<PropertyKey, unknown>)[prop] : undefined;

/** Makes `prop` an own property of `obj` when only its prototype has it (results are plain objects from JSON). */
function defineOwn(obj: object, prop: PropertyKey): void {
  if (!hasOwn(obj, prop) && prop in obj) Object.defineProperty(obj, prop, { configurable: true, enumerable: true, value: undefined, writable: true });
}

export const isObject = (value: unknown): value is ResultMap =>
  value !== undefined && value !== null && typeof value === "object" && !Array.isArray(value);

/** Merges `source` into `target` (gateway-js `deepMerge`): objects recursively, equal-length lists element-wise. */
export function deepMerge(target: ResultMap, source: unknown): ResultMap {
  if (source === undefined || source === null) return target;
  for (const key of Object.keys(source)) {
    const value = (source as ResultMap)[key];
    if (value === undefined) continue;
    defineOwn(target, key);
    const existing = target[key];
    if (existing && isObject(value)) {
      deepMerge(existing as ResultMap, value);
    } else if (Array.isArray(value) && Array.isArray(existing) && value.length === existing.length) {
      for (let i = 0; i < value.length; i++) {
        if (isObject(existing[i]) && isObject(value[i])) deepMerge(existing[i] as ResultMap, value[i]);
        else existing[i] = value[i];
      }
    } else {
      target[key] = value;
    }
  }
  return target;
}

/** Whether `obj` (by its `__typename`) is of `typeCondition` in `schema` (gateway-js `isObjectOfType`). */
export function isObjectOfType(schema: GraphQLSchema, obj: ResultMap, typeCondition: string, defaultOnUnknownObjectType = false): boolean {
  const typename = obj["__typename"];
  if (!typename) return defaultOnUnknownObjectType;
  if (typeof typename !== "string") return false;
  if (typeCondition === typename) return true;
  const type = schema.getType(typename);
  if (!type) return false;
  const condition = schema.getType(typeCondition);
  if (!condition) return false;
  if (isAbstractType(condition)) return (isObjectType(type) || isInterfaceType(type)) && schema.isSubType(condition, type as never);
  return false;
}

const FRAGMENT_PREFIX = "... on ";

function applyAtPath(schema: GraphQLSchema, path: string[], value: unknown, apply: (obj: ResultMap) => void): void {
  if (Array.isArray(value)) {
    for (const element of value) applyAtPath(schema, path, element, apply);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (path.length === 0) {
    apply(value as ResultMap);
    return;
  }
  const [first, ...rest] = path as [string, ...string[]];
  if (first.startsWith(FRAGMENT_PREFIX)) {
    if (isObjectOfType(schema, value as ResultMap, first.slice(FRAGMENT_PREFIX.length), true)) applyAtPath(schema, rest, value, apply);
  } else {
    applyAtPath(schema, rest, getOwn(value, first), apply);
  }
}

/** Applies a fetch's input or output rewrites to `value` (gateway-js `applyRewrites`). */
export function applyRewrites(schema: GraphQLSchema, rewrites: FetchDataRewrite[] | undefined, value: unknown): void {
  if (!rewrites) return;
  for (const rewrite of rewrites) {
    if (rewrite.path.length === 0) continue;
    const parent = rewrite.path.slice(0, -1);
    const last = rewrite.path[rewrite.path.length - 1]!;
    if (last.startsWith(FRAGMENT_PREFIX)) throw new Error(`Unexpected fragment as last element of ${rewrite.path.join(",")}`);
    applyAtPath(schema, parent, value, (obj) => {
      if (rewrite.kind === "ValueSetter") {
        defineOwn(obj, last);
        obj[last] = rewrite.setValueTo;
        return;
      }
      const atPath = getOwn(obj, last);
      if (atPath) {
        defineOwn(obj, rewrite.renameKeyTo);
        obj[rewrite.renameKeyTo] = atPath;
        obj[last] = undefined;
      }
    });
  }
}
