import { z } from "zod";
import { PermanentEventError } from "../../../common/kafka/retry.ts";

/**
 * Runtime shapes of the event payloads the order workers act on. An event whose data does not parse is a
 * poison message: retrying cannot fix it, so it goes straight to the dead-letter topic.
 */
const id = z.string().uuid();

export const eventId = id;
export const paymentRequested = z.object({
  paymentId: id,
  orderId: id,
  userId: z.string().min(1),
  amountCents: z.number().int().min(0),
  currency: z.string().length(3),
  paymentToken: z.string().min(1),
});
export const paymentSucceeded = z.object({ paymentId: id, orderId: id, providerRef: z.string().min(1) });
export const paymentFailed = z.object({ paymentId: id, orderId: id, reason: z.string().min(1) });
export const orderStatusChanged = z.object({
  previousStatus: z.enum(["RESERVED", "PAID", "CONFIRMED", "CANCELLED", "EXPIRED"]).nullable(),
  order: z.object({
    id,
    userId: z.string().min(1),
    status: z.enum(["RESERVED", "PAID", "CONFIRMED", "CANCELLED", "EXPIRED"]),
    items: z.array(z.object({ productId: id, quantity: z.number().int(), unitPriceCents: z.number().int() })),
    totalCents: z.number().int(),
    currency: z.string(),
    reservedUntil: z.string(),
    cancelReason: z.string().nullable(),
  }),
});

/** Parses `data` (and the event id the consumers record) or throws PermanentEventError naming the problem. */
export function parseEventData<T>(schema: z.ZodType<T>, event: { id: string; type: string; data: unknown }): T {
  if (!eventId.safeParse(event.id).success) throw new PermanentEventError(`${event.type}: event id ${JSON.stringify(event.id)} is not a UUID`);
  const parsed = schema.safeParse(event.data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new PermanentEventError(`${event.type}: data.${issue.path.join(".")}: ${issue.message}`);
}
