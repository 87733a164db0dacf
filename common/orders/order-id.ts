// Order ids are one scheme for regular orders and flash purchases, so one idempotency key names one order
// whichever subgraph takes it, and the order subgraph finds a flash order by the id its buyer was given.

import { v5 as uuidv5 } from "uuid";

/** Fixed namespace of order ids; changing it would give every retried request a new order. */
const ORDER_ID_NAMESPACE = "7b6c1f0e-4a53-5d2b-9c8e-0f3a61d2b9a4";

/** Deterministic: the same user and key always name the same order, which is what makes retries safe. */
export function orderIdFor(userId: string, idempotencyKey: string): string {
  return uuidv5(`${userId}\n${idempotencyKey}`, ORDER_ID_NAMESPACE);
}
