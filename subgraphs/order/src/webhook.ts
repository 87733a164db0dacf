import { createHmac, timingSafeEqual } from "node:crypto";
import express, { type Express } from "express";
import { z } from "zod";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { settlePayment } from "./payments.ts";

export const WEBHOOK_PATH = "/webhooks/payment";
export const SIGNATURE_HEADER = "x-signature";

/** `sha256=<hex HMAC-SHA256 of the raw body>`: what a provider sends and what tests sign with. */
export function signWebhook(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;
}

/** Constant-time comparison over the raw bytes; a missing or malformed header is simply not valid. */
export function verifyWebhookSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const expected = Buffer.from(signWebhook(secret, rawBody), "latin1");
  const given = Buffer.from(header.toLowerCase(), "latin1");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const notification = z.discriminatedUnion("status", [
  z.object({ paymentId: z.string().uuid(), status: z.literal("succeeded"), providerRef: z.string().min(1).max(200) }),
  z.object({
    paymentId: z.string().uuid(),
    status: z.literal("failed"),
    reason: z.string().min(1).max(200),
    providerRef: z.string().max(200).optional(),
  }),
]);

/**
 * `POST /webhooks/payment`: the entry point for providers that answer asynchronously. The signature is checked
 * over the exact bytes received (so the body is read raw, never re-serialised), then the outcome goes through
 * the same `settlePayment` as the payment worker: PaymentSucceeded/PaymentFailed, once, however often the
 * provider retries. 2xx tells the provider to stop retrying, so a duplicate is 200 as well.
 */
export function paymentWebhookRoute(deps: { prisma: PrismaClient; secret: string; logger: Logger }) {
  const log = deps.logger.child({ component: "payment-webhook" });
  return (app: Express) => {
    app.post(WEBHOOK_PATH, express.raw({ type: () => true, limit: "64kb" }), async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!verifyWebhookSignature(deps.secret, raw, req.header(SIGNATURE_HEADER))) {
        log.warn({ ip: req.ip }, "payment webhook with a bad signature refused");
        res.status(401).json({ error: "invalid signature" });
        return;
      }
      let body: z.infer<typeof notification>;
      try {
        body = notification.parse(JSON.parse(raw.toString("utf8")));
      } catch {
        res.status(400).json({ error: "body must be { paymentId, status: succeeded|failed, providerRef | reason }" });
        return;
      }
      try {
        if (!(await deps.prisma.payment.findUnique({ where: { id: body.paymentId }, select: { id: true } }))) {
          res.status(404).json({ error: "unknown payment" });
          return;
        }
        const applied = await settlePayment(deps.prisma, body.paymentId, body);
        res.status(200).json({ received: true, applied });
      } catch (error) {
        log.error({ err: error, paymentId: body.paymentId }, "payment webhook failed");
        res.status(500).json({ error: "internal error; retry" });
      }
    });
  };
}
