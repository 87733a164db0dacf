-- Orders no longer update the stock row of every product they hold: each reservation, release and commit is
-- appended here in the order's own statement or transaction, and the stock aggregator (subgraphs/order/src/
-- stock-aggregator.ts) folds these rows into `stock` in batches, one row update per product per batch.
-- PostgreSQL's current stock of a product is its row plus its rows here (docs/orders.md, Stock journal).
CREATE TABLE "stock_moves" (
    "id" BIGSERIAL NOT NULL,
    "product_id" UUID NOT NULL,
    "order_id" UUID NOT NULL,
    "available" INTEGER NOT NULL,
    "reserved" INTEGER NOT NULL,
    "sold" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_moves_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "stock_moves_product_id_idx" ON "stock_moves"("product_id");
