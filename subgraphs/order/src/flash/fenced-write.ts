// Every flash order is written through here (the writer's batches, persistPending): the fence's decision and the
// write of what it admitted happen under the items' rebuild locks, so a rebuild of an item after a Redis loss
// (common/orders/flash-rebuild.ts) reads every order the fence admitted before it, and the fence decides every
// later order against the rebuilt item (docs/flash-sales.md, Warm-up and what Redis loss means).

import type { PrismaClient } from "../../../../common/prisma.ts";
import type { FlashOrderPlaced } from "../../../../common/events.ts";
import { FLASH_SOLD_OUT_REASON, type FenceOutcome, type FlashFence } from "../../../../common/orders/flash-fence.ts";
import { lockFlashItemsShared } from "../../../../common/orders/flash-rebuild.ts";
import { writeFlashOrders } from "./order-writer.ts";

/** A batch may wait for a rebuild of its items, which reads and locks every order of a large item. */
const WRITE_TX = { maxWait: 10_000, timeout: 60_000 } as const;

/**
 * One transaction: the items' rebuild locks (shared), the fence, then the admitted orders written RESERVED and
 * the refused ones CANCELLED. Orders whose item Redis does not have are left out (`unloaded`), unless
 * `writeUnloaded` says their sale is not live any more (never reloaded), in which case they are written as they are.
 */
export function writeFenced(
  prisma: PrismaClient,
  fence: FlashFence,
  placed: readonly FlashOrderPlaced[],
  writeUnloaded: (saleId: string, productId: string) => boolean = () => false,
): Promise<FenceOutcome<FlashOrderPlaced>> {
  return prisma.$transaction(async (tx) => {
    await lockFlashItemsShared(tx, placed);
    const outcome = await fence.decide(placed, writeUnloaded);
    await writeFlashOrders(tx, outcome.write);
    await writeFlashOrders(tx, outcome.cancel, { cancelReason: FLASH_SOLD_OUT_REASON });
    return outcome;
  }, WRITE_TX);
}
