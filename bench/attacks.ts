/**
 * The hostile requests of issue 19, as `bench:attack` and anyone reproducing them send them: each returns how the
 * router answered (HTTP status and error code, or the WebSocket close code).
 */
import WebSocket from "ws";

export interface AttackOutcome {
  attack: string;
  /** `400 OPERATION_LIMIT_EXCEEDED`, `ws 1009`, `error: ...` */
  answer: string;
  ms: number;
}

const post = async (url: string, body: string, contentType = "application/json") => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? (text.includes('"errors"') ? "ERROR" : "data");
  return `${response.status} ${code}`;
};

/** One `subscribe` message of about `bytes` bytes on a fresh graphql-ws socket; the close code the router answers with. */
const hugeSubscribe = (url: string, message: string) =>
  new Promise<string>((resolve) => {
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    const timer = setTimeout(() => (socket.terminate(), resolve("ws timeout")), 60_000);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.on("message", (data) => {
      if (JSON.parse(String(data)).type === "connection_ack") socket.send(message);
    });
    socket.on("close", (code) => (clearTimeout(timer), resolve(`ws ${code}`)));
    socket.on("error", () => undefined);
  });

const aliases = Array.from({ length: 100 }, (_, i) => `p${i}: products(first: 100) { nodes { stock { available } } }`).join(" ");
const deep = (levels: number) => `{ __schema { types { ${"fields { type { ".repeat(levels)}name${" } }".repeat(levels)} } } }`;
const fragmentBomb = [
  "query { ...F0 }",
  ...Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`),
  "fragment F30 on Query { __typename }",
].join("\n");
const json = (query: string, variables?: Record<string, unknown>) => JSON.stringify(variables ? { query, variables } : { query });

// Built once: the sender's own work per attack is then sending bytes, which the router's side of the bench
// shares the machine with.
const BODIES = {
  typename: json(`{ ${"__typename ".repeat(20_000)}}`),
  fourMegabytes: json("{ __typename }", { pad: "x".repeat(4 * 1024 * 1024) }),
  aliases: json(`{ ${aliases} }`),
  deep: json(deep(40)),
  fragmentBomb: json(fragmentBomb),
  nul: json('{ searchProducts(query: "a\\u0000b") { id } }'),
  products: json("{ products(first: 1) { nodes { id } } }"),
  introspection: json('{ products(first: 1) { nodes { id } } __type(name: "Query") { fields { name } } }'),
  subscribe: `{"id":"1","type":"subscribe","payload":{"query":"subscription { __typename${" ".repeat(4 * 1024 * 1024)}}"}}`,
};

/** The attacks, each a function of the router's `/graphql` URL. */
export const ATTACKS: Record<string, (url: string) => Promise<string>> = {
  "200 KB of __typename": (url) => post(url, BODIES.typename),
  "4 MB body": (url) => post(url, BODIES.fourMegabytes),
  "100 aliased products(first:100)+stock": (url) => post(url, BODIES.aliases),
  "deep nesting": (url) => post(url, BODIES.deep),
  "fragment bomb": (url) => post(url, BODIES.fragmentBomb),
  "NUL in searchProducts": (url) => post(url, BODIES.nul),
  "text/plain; x=json": (url) => post(url, BODIES.products, "text/plain; x=json"),
  "subgraph introspection via __type": (url) => post(url, BODIES.introspection),
  "4 MB WebSocket subscribe": (url) => hugeSubscribe(url, BODIES.subscribe),
};

export async function attack(name: string, url: string): Promise<AttackOutcome> {
  const started = performance.now();
  let answer: string;
  try {
    answer = await ATTACKS[name]!(url);
  } catch (error) {
    answer = `error: ${(error as Error).message}`;
  }
  return { attack: name, answer, ms: performance.now() - started };
}
