import type { PaymentProvider } from "./payments.ts";

export const DECLINED_TOKEN = "tok_declined";

/**
 * The development provider: declines `tok_declined`, approves any other token, after `latencyMs`
 * (PAYMENT_LATENCY_MS) so the asynchronous saga is visible in a demo.
 */
export function createDevPaymentProvider(options: { latencyMs: number; sleep?: (ms: number) => Promise<void> }): PaymentProvider {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return {
    async charge({ paymentId, paymentToken }) {
      if (options.latencyMs > 0) await sleep(options.latencyMs);
      if (paymentToken === DECLINED_TOKEN) return { status: "failed", reason: "card_declined", providerRef: `dev_${paymentId}` };
      return { status: "succeeded", providerRef: `dev_${paymentId}` };
    },
  };
}
