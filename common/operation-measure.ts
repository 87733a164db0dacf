/**
 * What a document would cost, measured on its AST before validation: depth, aliases, root fields, fields,
 * directives and an estimated cost, with fragment spreads expanded as execution would expand them. Expanding
 * naively is exponential (a fragment that spreads the next one twice, thirty times over) and never ends on a
 * fragment cycle, so each fragment is measured once per context and its tally reused; a spread back into a
 * fragment being measured counts nothing (validation refuses the cycle afterwards). The work is linear in the
 * document's size.
 */
import { Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode, type TypeNode, type ValueNode } from "graphql";

/** What the cost estimate knows of one field of the API schema. */
export interface FieldInfo {
  /** The named type the field returns. */
  type: string;
  /** Whether it returns a list. */
  list: boolean;
  /** Bit mask of the subgraphs that can resolve it (supergraph `@join__field`, or its type's `@join__type`). */
  graphs: number;
  /** Its slicing arguments (`first`, `last`) and their schema defaults. */
  sizeArgs: ReadonlyMap<string, number | undefined>;
}

/** The API schema as the cost estimate sees it: fields by `Type.field`, and the root type of each operation kind. */
export interface CostModel {
  fields: ReadonlyMap<string, FieldInfo>;
  roots: Readonly<Record<"query" | "mutation" | "subscription", string>>;
}

/** What one document measures. */
export interface OperationMeasure {
  depth: number;
  aliases: number;
  rootFields: number;
  fields: number;
  directives: number;
  cost: number;
  /** Whether the cost depends on the variables (a slicing argument given as `$variable`). */
  costUsesVariables: boolean;
}

/** Arguments that bound the length of the list a field returns (Relay connections and plain lists alike). */
const SLICING_ARGUMENTS = new Set(["first", "last", "limit"]);
/** Assumed length of a list without a slicing argument (an order's items, a sale's items, `flashSales`). */
export const DEFAULT_LIST_SIZE = 10;
/**
 * Extra cost of a field another subgraph resolves than its parent's (Product.stock under `products`): one
 * `_entities` representation to build, send, resolve and merge back, several times a local field's work.
 */
export const ENTITY_JOIN_COST = 5;
const INTROSPECTION_ROOTS = new Set(["__schema", "__type"]);

interface Tally {
  depth: number;
  aliases: number;
  topFields: number;
  fields: number;
  directives: number;
  cost: number;
}

const empty = (): Tally => ({ depth: 0, aliases: 0, topFields: 0, fields: 0, directives: 0, cost: 0 });

/** The cost model of a supergraph SDL: field types, list-ness, slicing arguments and which subgraphs resolve what. */
export function costModelFromSupergraph(document: DocumentNode): CostModel {
  const graphBits = new Map<string, number>();
  const bitOf = (graph: string) => {
    if (!graphBits.has(graph)) graphBits.set(graph, 1 << graphBits.size);
    return graphBits.get(graph)!;
  };
  const graphsOf = (
    directives: readonly { name: { value: string }; arguments?: readonly { name: { value: string }; value: ValueNode }[] }[] | undefined,
    name: string,
  ) => {
    let mask = 0;
    for (const directive of directives ?? []) {
      if (directive.name.value !== name) continue;
      const args = new Map(directive.arguments?.map((a) => [a.name.value, a.value]));
      const external = args.get("external");
      if (external?.kind === Kind.BOOLEAN && external.value) continue;
      const graph = args.get("graph");
      if (graph?.kind === Kind.ENUM) mask |= bitOf(graph.value);
    }
    return mask;
  };
  const fields = new Map<string, FieldInfo>();
  const roots = { query: "Query", mutation: "Mutation", subscription: "Subscription" };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.SCHEMA_DEFINITION) {
      for (const op of definition.operationTypes) roots[op.operation] = op.type.name.value;
    }
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    const typeGraphs = graphsOf(definition.directives, "join__type");
    for (const field of definition.fields ?? []) {
      const sizeArgs = new Map<string, number | undefined>();
      for (const arg of field.arguments ?? []) {
        if (SLICING_ARGUMENTS.has(arg.name.value))
          sizeArgs.set(arg.name.value, arg.defaultValue?.kind === Kind.INT ? Number(arg.defaultValue.value) : undefined);
      }
      const { type, list } = unwrap(field.type);
      const graphs = graphsOf(field.directives, "join__field") || typeGraphs;
      fields.set(`${definition.name.value}.${field.name.value}`, { type, list, graphs, sizeArgs });
    }
  }
  return { fields, roots };
}

function unwrap(type: TypeNode): { type: string; list: boolean } {
  if (type.kind === Kind.NAMED_TYPE) return { type: type.name.value, list: false };
  const inner = unwrap(type.type);
  return { type: inner.type, list: inner.list || type.kind === Kind.LIST_TYPE };
}

/** Measures `document` against `model`; `variables` give the slicing arguments passed as variables. */
export function measureOperation(document: DocumentNode, model: CostModel, variables?: Record<string, unknown>): OperationMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const memo = new Map<string, Tally>();
  const inProgress = new Set<string>();
  const measured = new Set<string>();
  let costUsesVariables = false;
  let variableDefaults = new Map<string, ValueNode>();

  /** A slicing argument's value: a literal, a variable (its value, else its default), else the schema default. */
  function sizeOf(node: { arguments?: readonly { name: { value: string }; value: ValueNode }[] }, info: FieldInfo): number | undefined {
    for (const [name, fallback] of info.sizeArgs) {
      const arg = node.arguments?.find((a) => a.name.value === name);
      let value: unknown = fallback;
      if (arg?.value.kind === Kind.INT) value = Number(arg.value.value);
      else if (arg?.value.kind === Kind.VARIABLE) {
        costUsesVariables = true;
        const given = variables?.[arg.value.name.value];
        const declared = variableDefaults.get(arg.value.name.value);
        value = typeof given === "number" ? given : declared?.kind === Kind.INT ? Number(declared.value) : fallback;
      }
      if (typeof value === "number" && Number.isFinite(value)) return Math.max(0, value);
    }
    return undefined;
  }

  /**
   * The tally of a selection set on `type` (undefined when unknown), relative to it: depth below it and cost at
   * multiplier 1. `graphs` is the mask of the subgraphs that resolved the parent (0 when unknown), `sized`
   * whether the parent was sliced (a connection's `nodes` take its `first`), `introspection` whether this is
   * inside `__schema`/`__type`, where depth is not counted and lists are not multiplied.
   */
  function measureSet(set: SelectionSetNode, type: string | undefined, graphs: number, sized: boolean, introspection: boolean): Tally {
    const tally = empty();
    const add = (inner: Tally, multiplier: number, depthOffset: number) => {
      tally.depth = Math.max(tally.depth, introspection ? 0 : inner.depth + depthOffset);
      tally.aliases += inner.aliases;
      tally.fields += inner.fields;
      tally.directives += inner.directives;
      tally.cost += multiplier * inner.cost;
    };
    for (const selection of set.selections) {
      tally.directives += selection.directives?.length ?? 0;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        tally.fields += 1;
        tally.topFields += 1;
        if (selection.alias) tally.aliases += 1;
        tally.depth = Math.max(tally.depth, introspection ? 0 : 1);
        const info = type === undefined ? undefined : model.fields.get(`${type}.${name}`);
        const join = info !== undefined && graphs !== 0 && (info.graphs & graphs) === 0;
        tally.cost += 1 + (join ? ENTITY_JOIN_COST : 0);
        if (!selection.selectionSet) continue;
        const size = info && !introspection ? sizeOf(selection, info) : undefined;
        const multiplier = introspection || !info ? 1 : (size ?? (info.list && !sized ? DEFAULT_LIST_SIZE : 1));
        const childGraphs = info ? info.graphs & graphs || info.graphs : graphs;
        const child = measureSet(
          selection.selectionSet,
          info?.type,
          childGraphs,
          size !== undefined && !info?.list,
          introspection || INTROSPECTION_ROOTS.has(name),
        );
        add(child, multiplier, 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const inner = measureSet(selection.selectionSet, selection.typeCondition?.name.value ?? type, graphs, sized, introspection);
        add(inner, 1, 0);
        tally.topFields += inner.topFields;
      } else {
        const inner = fragmentTally(selection.name.value, graphs, sized, introspection);
        if (inner) {
          add(inner, 1, 0);
          tally.topFields += inner.topFields;
        }
      }
    }
    return tally;
  }

  function fragmentTally(name: string, graphs: number, sized: boolean, introspection: boolean): Tally | undefined {
    const fragment = fragments.get(name);
    if (!fragment || inProgress.has(name)) return undefined;
    const key = `${name}\0${graphs}\0${sized}\0${introspection}`;
    let tally = memo.get(key);
    if (!tally) {
      inProgress.add(name);
      tally = measureSet(fragment.selectionSet, fragment.typeCondition.name.value, graphs, sized, introspection);
      tally.directives += fragment.directives?.length ?? 0;
      inProgress.delete(name);
      memo.set(key, tally);
      measured.add(name);
    }
    return tally;
  }

  const total: OperationMeasure = { depth: 0, aliases: 0, rootFields: 0, fields: 0, directives: 0, cost: 0, costUsesVariables: false };
  const addTotal = (tally: Tally) => {
    total.depth = Math.max(total.depth, tally.depth);
    total.aliases += tally.aliases;
    total.rootFields += tally.topFields;
    total.fields += tally.fields;
    total.directives += tally.directives;
    total.cost += tally.cost;
  };
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    variableDefaults = new Map(d.variableDefinitions?.flatMap((v) => (v.defaultValue ? [[v.variable.name.value, v.defaultValue]] : [])));
    total.directives += d.directives?.length ?? 0;
    addTotal(measureSet(d.selectionSet, model.roots[d.operation], 0, false, false));
  }
  // Fragments no operation spreads are still validated: count each once.
  for (const name of fragments.keys()) {
    if (!measured.has(name)) addTotal(fragmentTally(name, 0, false, false) ?? empty());
  }
  total.costUsesVariables = costUsesVariables;
  return total;
}
