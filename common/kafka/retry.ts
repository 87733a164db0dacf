import { InfrastructureError } from "../errors.ts";

/** An error that retrying cannot fix; the consumer sends the message to the dead-letter topic at once. */
export class PermanentEventError extends Error {
  override name = "PermanentEventError";
}

/**
 * The one retry policy, as kafkajs's `retry/index.js` acts on its errors' `retriable`: whether handling an event
 * again can help. A PermanentEventError never; an InfrastructureError as its own `retriable` flag says (which is
 * why that flag exists: the code that met the failure knows); anything else is presumed transient (a lost
 * connection, a deadlock, a timeout) and is retried up to the consumer's attempts, then dead-lettered.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof PermanentEventError) return false;
  if (error instanceof InfrastructureError) return error.retriable;
  return true;
}
