import type { Answer, Upstream } from "../subgraph-batch.ts";

export type Send = (to: Upstream, headers: Record<string, string>, body: string) => Promise<Answer>;

/**
 * In-flight de-duplication of identical subgraph queries: while one is on its way, the same operation with
 * the same variables for the same caller identity (the signed `x-flashgraph-identity` header is part of the
 * key, so two users never share an answer) waits for its answer instead of sending another. The answer's text
 * is shared and every request parses its own copy, since the plan merges into what it parsed. Mutations are
 * never shared. The request id and client address forwarded are those of the call that went out.
 */
export function dedupeQueries(send: Send, identityHeader: string, onShared: () => void = () => undefined) {
  const inFlight = new Map<string, Promise<Answer>>();
  return (to: Upstream, headers: Record<string, string>, body: string, isQuery: boolean): Promise<Answer> => {
    if (!isQuery) return send(to, headers, body);
    const key = `${to.serviceName}\u0000${headers[identityHeader] ?? ""}\u0000${body}`;
    const pending = inFlight.get(key);
    if (pending) {
      onShared();
      return pending;
    }
    const call = send(to, headers, body).finally(() => inFlight.delete(key));
    inFlight.set(key, call);
    return call;
  };
}

export type DedupedSend = ReturnType<typeof dedupeQueries>;
