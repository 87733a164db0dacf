/**
 * The response shape of an operation, compiled once from the API schema: what gateway-js `computeResponse`
 * (resultShaping.ts) derives from the operation on every request (response names, field types, `@skip` /
 * `@include` conditions, fragments and their type conditions) is read here once, and `shapeResponse` walks
 * the fetched data with it. The walk is the gateway's, step for step: field order from the query, extra
 * fetched fields dropped, `__typename` filled from the schema for root types, nulls bubbled up to the nearest
 * nullable parent, and the same INVALID_GRAPHQL errors (which the gateway ships as `extensions.valueCompletion`
 * when the plan itself raised none).
 */
import type { GraphQLError } from "graphql";
import {
  ERRORS,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  isSubtype,
  isValidLeafValue,
  typenameFieldName,
  Variable,
  type CompositeType,
  type Operation,
  type OperationElement,
  type OutputType,
  type Schema,
  type SelectionSet,
  type Type,
} from "@apollo/federation-internals";
import { getOwn, type ResultMap } from "./merge.ts";

type Path = (string | number)[];
type Variables = Record<string, unknown>;
/** Whether a selection is left out for these variables (`@skip` / `@include`); absent when it has neither. */
type Skip = ((variables: Variables) => boolean) | undefined;

interface FieldEntry {
  kind: "field";
  skip: Skip;
  responseName: string;
  isTypename: boolean;
  type: OutputType;
  selectionSet: CompiledSelectionSet | undefined;
}

interface FragmentEntry {
  kind: "fragment";
  skip: Skip;
  typeCondition: CompositeType | undefined;
  selectionSet: CompiledSelectionSet;
}

type CompiledSelectionSet = (FieldEntry | FragmentEntry)[];

/** Thrown at compile time for what the executor leaves to the gateway (introspection). */
export class UnsupportedOperation extends Error {}

function ifValue(arg: unknown, directive: string): (variables: Variables) => boolean {
  if (arg instanceof Variable) {
    const name = arg.name;
    return (variables) => {
      const value = variables[name];
      if (value === undefined || typeof value !== "boolean") throw new Error(`Unexpected value ${value} for variable ${arg} of ${directive}`);
      return value;
    };
  }
  const constant = arg === true;
  return () => constant;
}

function compileSkip(element: OperationElement, schema: Schema): Skip {
  const skip = element.appliedDirectivesOf(schema.skipDirective())[0];
  const include = element.appliedDirectivesOf(schema.includeDirective())[0];
  if (!skip && !include) return undefined;
  const skipIf = skip ? ifValue(skip.arguments().if, String(skip)) : undefined;
  const includeIf = include ? ifValue(include.arguments().if, String(include)) : undefined;
  return (variables) => (skipIf ? skipIf(variables) : false) || (includeIf ? !includeIf(variables) : false);
}

function compileSelectionSet(selectionSet: SelectionSet, schema: Schema): CompiledSelectionSet {
  const entries: CompiledSelectionSet = [];
  for (const selection of selectionSet.selections()) {
    const skip = compileSkip(selection.element, schema);
    if (selection.kind === "FieldSelection") {
      const field = selection.element;
      if (field.definition.isSchemaIntrospectionField()) throw new UnsupportedOperation("introspection");
      entries.push({
        kind: "field",
        skip,
        responseName: field.responseName(),
        isTypename: field.name === typenameFieldName,
        type: field.definition.type!,
        selectionSet: selection.selectionSet ? compileSelectionSet(selection.selectionSet, schema) : undefined,
      });
    } else {
      entries.push({
        kind: "fragment",
        skip,
        typeCondition: selection.element.typeCondition,
        selectionSet: compileSelectionSet(selection.selectionSet, schema),
      });
    }
  }
  return entries;
}

export interface ResponseShape {
  schema: Schema;
  rootType: CompositeType;
  root: CompiledSelectionSet;
  defaultedVariables: Variables;
}

/** Compiles the shape of `operation` (built on the API schema). Throws UnsupportedOperation for introspection. */
export function compileShape(operation: Operation): ResponseShape {
  const schema = operation.schema();
  return {
    schema,
    rootType: schema.schemaDefinition.rootType(operation.rootKind)!,
    root: compileSelectionSet(operation.selectionSet, schema),
    defaultedVariables: operation.collectDefaultedVariableValues(),
  };
}

/**
 * Compiles the shape of one part of a deferred operation (a Defer node's `subselection`, at its parent type;
 * none: no field), shaped as `shapeResponse` shapes a whole operation.
 */
export function compileSelectionShape(
  parentType: CompositeType,
  selectionSet: SelectionSet | undefined,
  schema: Schema,
  defaultedVariables: Variables,
): ResponseShape {
  return { schema, rootType: parentType, root: selectionSet ? compileSelectionSet(selectionSet, schema) : [], defaultedVariables };
}

interface Run {
  schema: Schema;
  variables: Variables;
  errors: GraphQLError[];
}

const NULL_BUBBLE_UP = 1;
const OK = 0;

function typeConditionApplies(
  schema: Schema,
  typeCondition: CompositeType | undefined,
  typename: string | undefined,
  parentType: CompositeType,
): boolean {
  if (!typeCondition) return true;
  if (typename) {
    const type = schema.type(typename);
    return !!type && isSubtype(typeCondition, type);
  }
  return isSubtype(typeCondition, parentType);
}

function describeLast(path: Path, currentType: Type, parentType: CompositeType): string {
  const element = path[path.length - 1];
  return typeof element === "string" ? `field ${parentType}.${element}` : `array element of type ${currentType} at index ${element}`;
}

function applySelectionSet(
  input: ResultMap,
  entries: CompiledSelectionSet,
  output: ResultMap,
  run: Run,
  path: Path,
  parentType: CompositeType,
): number {
  for (const entry of entries) {
    if (entry.skip && entry.skip(run.variables)) continue;
    if (entry.kind === "field") {
      const responseName = entry.responseName;
      const outputValue = output[responseName];
      let inputValue = getOwn(input, responseName) ?? null;
      if (entry.isTypename) {
        if (outputValue === undefined) {
          if (inputValue === null && responseName !== typenameFieldName) inputValue = input[typenameFieldName] ?? null;
          const type = inputValue !== null && typeof inputValue === "string" ? (run.schema.type(inputValue) ?? parentType) : parentType;
          if (!isObjectType(type)) return NULL_BUBBLE_UP;
          output[responseName] = type.name;
        }
        continue;
      }
      path.push(responseName);
      const { updated, isInvalid } = updateOutputValue(outputValue, entry.type, inputValue, entry.selectionSet, path, run, parentType);
      output[responseName] = updated;
      path.pop();
      if (isInvalid) return NULL_BUBBLE_UP;
    } else {
      const typename = input[typenameFieldName];
      if (typename && typeof typename !== "string") throw new Error(`Got unexpected value for __typename: ${String(typename)}`);
      if (typeConditionApplies(run.schema, entry.typeCondition, typename as string | undefined, parentType)) {
        const res = applySelectionSet(input, entry.selectionSet, output, run, path, entry.typeCondition ?? parentType);
        if (res === NULL_BUBBLE_UP) return NULL_BUBBLE_UP;
      }
    }
  }
  return OK;
}

interface Updated {
  updated: unknown;
  isInvalid?: boolean;
  hasErrors?: boolean;
}

function invalid(run: Run, message: string, path: Path): void {
  run.errors.push(ERRORS.INVALID_GRAPHQL.err(message, { path: Array.from(path) }));
}

function updateOutputValue(
  outputValue: unknown,
  type: OutputType,
  inputValue: unknown,
  selectionSet: CompiledSelectionSet | undefined,
  path: Path,
  run: Run,
  parentType: CompositeType,
): Updated {
  if (outputValue === null || (outputValue !== undefined && !selectionSet)) return { updated: outputValue };

  if (isNonNullType(type)) {
    const { updated, hasErrors } = updateOutputValue(outputValue, type.ofType, inputValue, selectionSet, path, run, parentType);
    if (updated === null) {
      if (!hasErrors) invalid(run, `Cannot return null for non-nullable ${describeLast(path, type.ofType, parentType)}.`, path);
      return { updated, isInvalid: true, hasErrors: true };
    }
    return { updated };
  }

  if (inputValue === null) return { updated: null };

  if (isListType(type)) {
    if (!Array.isArray(inputValue)) throw new Error(`Invalid non-list value ${inputValue} returned by subgraph for list type ${type}`);
    if (outputValue !== undefined && !Array.isArray(outputValue))
      throw new Error(`Invalid non-list value ${outputValue} returned by subgraph for list type ${type}`);
    const outputList: unknown[] = outputValue === undefined ? new Array<unknown>(inputValue.length).fill(undefined) : (outputValue as unknown[]);
    if (inputValue.length !== outputList.length) throw new Error(`list length ${inputValue.length} !== ${outputList.length}`);
    let shouldNullify = false;
    let hasErrors = false;
    const updated = outputList.map((element, index) => {
      path.push(index);
      const result = updateOutputValue(element, type.ofType, inputValue[index], selectionSet, path, run, parentType);
      path.pop();
      shouldNullify ||= !!result.isInvalid;
      hasErrors ||= !!result.hasErrors;
      return result.updated;
    });
    return { updated: shouldNullify ? null : updated, hasErrors };
  }

  if (isCompositeType(type)) {
    if (!selectionSet) throw new Error(`Invalid empty selection set for composite type ${type}`);
    if (typeof inputValue !== "object") throw new Error(`Invalid non-object value ${inputValue} returned by subgraph for composite type ${type}`);
    if (outputValue !== undefined && typeof outputValue !== "object")
      throw new Error(`Invalid non-object value ${inputValue} returned by subgraph for composite type ${type}`);
    const input = inputValue as ResultMap;
    const inputTypename = input[typenameFieldName];
    if (inputTypename !== undefined && typeof inputTypename !== "string")
      throw new Error(`Invalid non-string value ${String(inputTypename)} for __typename at ${path.join(",")}`);
    let objType: CompositeType = type;
    if (inputTypename) {
      const typenameType = run.schema.type(inputTypename);
      if (!typenameType || !isCompositeType(typenameType)) {
        invalid(run, `Invalid __typename found for object at ${describeLast(path, type, parentType)}.`, path);
        return { updated: null, hasErrors: true };
      }
      objType = typenameType;
    }
    const outputObject: ResultMap = outputValue === undefined ? Object.create(null) : (outputValue as ResultMap);
    const res = applySelectionSet(input, selectionSet, outputObject, run, path, objType);
    const hasErrors = res === NULL_BUBBLE_UP;
    return { updated: hasErrors ? null : outputObject, hasErrors };
  }

  if (outputValue !== undefined) throw new Error(`Excepted output to be undefined but got ${type} for type ${type}`);
  const valid = isValidLeafValue(run.schema, inputValue, type as never);
  if (!valid) invalid(run, `Invalid value found for ${describeLast(path, type, parentType)}.`, path);
  return { updated: valid ? inputValue : null, hasErrors: !valid };
}

/**
 * The client's `data` from what the plan fetched, with the value-completion errors found on the way; `path`
 * is where `input` is in the response (a deferred part's object), for those errors' paths.
 * Throws on data no subgraph of a valid plan can send (the gateway's assertions).
 */
export function shapeResponse(
  shape: ResponseShape,
  input: ResultMap,
  variables: Variables | undefined,
  path: Path = [],
): { data: ResultMap | null; errors: GraphQLError[] } {
  const run: Run = { schema: shape.schema, variables: { __proto__: null, ...shape.defaultedVariables, ...variables }, errors: [] };
  const data: ResultMap = Object.create(null);
  const res = applySelectionSet(input, shape.root, data, run, [...path], shape.rootType);
  return { data: res === NULL_BUBBLE_UP ? null : data, errors: run.errors };
}
