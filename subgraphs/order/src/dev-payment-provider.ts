import type { PrismaClient } from "../../../common/prisma.ts";
import type { PaymentProvider } from "./payments.ts";

export const DECLINED_TOKEN = "tok_declined";
/** Answered `pending`: the charge completes later and reaches us through the webhook (`capturePending`). */
export const ASYNC_TOKEN = "tok_async";

type Money = { paymentId: string; amountCents: number; currency: string };

/**
 * The development provider: declines `tok_declined`, answers `pending` for `tok_async`, approves any other token,
 * after `latencyMs` (PAYMENT_LATENCY_MS) so the asynchronous saga is visible in a demo. Refunds answer after the
 * same latency. With `ledger` it books every capture and refund in `dev_provider_ledger`, one of each per
 * payment id (its idempotency key): a charge or refund asked twice, even by a restarted worker, moves money once,
 * and tests count there what was captured and paid back. Without it (unit tests) it books nothing.
 */
export function createDevPaymentProvider(options: { latencyMs: number; sleep?: (ms: number) => Promise<void>; ledger?: PrismaClient }) {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const book = async (kind: "capture" | "refund", { paymentId, amountCents, currency }: Money) => {
    if (!options.ledger) return;
    await options.ledger.$executeRaw`
      INSERT INTO dev_provider_ledger (payment_id, kind, amount_cents, currency)
      VALUES (${paymentId}::uuid, ${kind}, ${amountCents}, ${currency}) ON CONFLICT DO NOTHING`;
  };
  const provider = {
    async charge({ paymentId, paymentToken, amountCents, currency }) {
      if (options.latencyMs > 0) await sleep(options.latencyMs);
      if (paymentToken === DECLINED_TOKEN) return { status: "failed", reason: "card_declined", providerRef: `dev_${paymentId}` };
      if (paymentToken === ASYNC_TOKEN) return { status: "pending", providerRef: `dev_${paymentId}` };
      await book("capture", { paymentId, amountCents, currency });
      return { status: "succeeded", providerRef: `dev_${paymentId}` };
    },
    async refund(request) {
      if (options.latencyMs > 0) await sleep(options.latencyMs);
      await book("refund", request);
      return { refundRef: `dev_refund_${request.paymentId}` };
    },
  } satisfies PaymentProvider;
  return {
    ...provider,
    /**
     * Completes a `tok_async` charge on the provider's side (books the capture) and returns the webhook body the
     * provider then sends to `POST /webhooks/payment`.
     */
    async capturePending(payment: Money) {
      await book("capture", payment);
      return { paymentId: payment.paymentId, status: "succeeded" as const, providerRef: `dev_${payment.paymentId}` };
    },
  };
}
