import { loadConfig } from "../common/config.ts";
import { createLogger, type Logger } from "../common/logger.ts";
import { createPrisma, type PrismaClient } from "../common/prisma.ts";
import { createProductStore } from "../subgraphs/product/src/products.ts";

/** A small catalogue for trying the platform: things people queue for at 9:00. */
export const DEMO_PRODUCTS = [
  {
    sku: "TIX-ARENA-GA",
    name: "Arena concert — general admission",
    description: "Standing ticket, doors 18:00.",
    priceCents: 8900,
    initialStock: 500,
  },
  { sku: "TIX-ARENA-VIP", name: "Arena concert — VIP", description: "Seated, lounge access, merch pack.", priceCents: 24900, initialStock: 50 },
  { sku: "SNK-RETRO-42", name: "Retro runner sneaker, size 42", description: "Limited colourway drop.", priceCents: 17900, initialStock: 120 },
  { sku: "SNK-RETRO-43", name: "Retro runner sneaker, size 43", description: "Limited colourway drop.", priceCents: 17900, initialStock: 120 },
  { sku: "CON-HANDHELD", name: "Handheld game console", description: "OLED screen, 512 GB.", priceCents: 44900, initialStock: 200 },
  { sku: "CON-CTRL-PRO", name: "Pro controller", description: "Wireless, hall-effect sticks.", priceCents: 6900, initialStock: 800 },
  { sku: "PHN-FLAGSHIP", name: "Flagship phone 256 GB", description: "Launch-day allocation.", priceCents: 99900, initialStock: 100 },
  { sku: "COF-GEISHA", name: "Geisha coffee, 250 g", description: "Micro-lot, roasted to order.", priceCents: 3900, initialStock: 60 },
  { sku: "BK-SIGNED-1ST", name: "Signed first edition", description: "Numbered, with certificate.", priceCents: 12000, initialStock: 25 },
  { sku: "TOY-BLINDBOX", name: "Collectible blind box", description: "One of twelve figures.", priceCents: 1500, initialStock: 2000 },
].map((p) => ({ ...p, currency: "USD" }));

/** Loads the demo catalogue once: does nothing when the database already has products. */
export async function seed(prisma: PrismaClient, logger: Logger): Promise<number> {
  if ((await prisma.product.count()) > 0) {
    logger.info("catalogue already has products; demo data not loaded again");
    return 0;
  }
  const store = createProductStore(prisma);
  for (const product of DEMO_PRODUCTS) await store.create(product);
  logger.info({ products: DEMO_PRODUCTS.length }, "loaded demo catalogue");
  return DEMO_PRODUCTS.length;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const config = loadConfig();
  const logger = createLogger("seed", config.LOG_LEVEL);
  const prisma = createPrisma(config.DATABASE_URL);
  if (config.SEED) await seed(prisma, logger);
  else logger.info("SEED=false: demo data skipped");
  await prisma.$disconnect();
}
