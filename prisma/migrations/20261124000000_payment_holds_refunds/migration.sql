-- Money is never kept for an order that ends EXPIRED or CANCELLED (docs/orders.md, Payment saga).
-- holds_until: a payment in flight (PENDING, or SUCCEEDED and not yet applied) keeps its RESERVED order from
-- expiring until then (reserved_until + PAYMENT_HOLD_SECONDS, set by payOrder). NULL (rows written before
-- this column) holds nothing past reserved_until.
-- REFUNDED, refunded_at, refund_ref: the provider confirmed the refund of a REFUND_REQUESTED payment.
ALTER TYPE "PaymentStatus" ADD VALUE 'REFUNDED';
ALTER TABLE "payments"
  ADD COLUMN "holds_until" TIMESTAMPTZ(3),
  ADD COLUMN "refunded_at" TIMESTAMPTZ(3),
  ADD COLUMN "refund_ref" TEXT;

-- The development payment provider's own book (subgraphs/order/src/dev-payment-provider.ts): one capture and at
-- most one refund per payment id, its idempotency key. A real provider keeps this on its side; the development
-- one keeps it here so it survives a restart of the worker and a test can count what was captured and refunded.
CREATE TABLE "dev_provider_ledger" (
    "payment_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "amount_cents" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "dev_provider_ledger_pkey" PRIMARY KEY ("payment_id", "kind"),
    CONSTRAINT "dev_provider_ledger_kind_check" CHECK ("kind" IN ('capture', 'refund'))
);
