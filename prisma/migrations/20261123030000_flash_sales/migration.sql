-- CreateTable
CREATE TABLE "flash_sales" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "starts_at" TIMESTAMPTZ(3) NOT NULL,
    "ends_at" TIMESTAMPTZ(3) NOT NULL,
    "per_user_limit" INTEGER NOT NULL,
    "ended_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flash_sales_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "flash_sale_items" (
    "sale_id" UUID NOT NULL,
    "product_id" UUID NOT NULL,
    "sale_price_cents" INTEGER NOT NULL,
    "quantity" INTEGER NOT NULL,
    "returned_quantity" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "flash_sale_items_pkey" PRIMARY KEY ("sale_id","product_id")
);

-- CreateIndex
CREATE INDEX "flash_sales_ends_at_idx" ON "flash_sales"("ends_at");

-- CreateIndex
CREATE INDEX "flash_sale_items_product_id_idx" ON "flash_sale_items"("product_id");

-- AddForeignKey
ALTER TABLE "flash_sale_items" ADD CONSTRAINT "flash_sale_items_sale_id_fkey" FOREIGN KEY ("sale_id") REFERENCES "flash_sales"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Not expressible in schema.prisma: a sale has a window and a limit, an item has units at a non-negative price,
-- and never more units go back to regular stock than the sale took out of it.
ALTER TABLE "flash_sales" ADD CONSTRAINT "flash_sales_window" CHECK ("starts_at" < "ends_at" AND "per_user_limit" >= 1);
ALTER TABLE "flash_sale_items" ADD CONSTRAINT "flash_sale_items_amounts" CHECK (
  "quantity" >= 1 AND "sale_price_cents" >= 0 AND "returned_quantity" >= 0 AND "returned_quantity" <= "quantity");
