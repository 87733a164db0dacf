-- AlterTable
ALTER TABLE "stock" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 0;

-- Not expressible in schema.prisma: every change to a stock row bumps its version, whoever makes it, so
-- StockChanged events and subscription snapshots can be ordered and a stale value never follows a newer one.
CREATE FUNCTION "bump_stock_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;
CREATE TRIGGER "stock_version_bump" BEFORE UPDATE ON "stock" FOR EACH ROW EXECUTE FUNCTION "bump_stock_version"();
