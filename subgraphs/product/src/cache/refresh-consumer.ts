import type { KafkaContext, Producer } from "../../../../common/kafka/client.ts";
import { PermanentEventError } from "../../../../common/kafka/retry.ts";
import { runConsumer } from "../../../../common/kafka/consumer.ts";
import type { Logger } from "../../../../common/logger.ts";
import type { ProductEvent, InventoryEvent } from "../../../../common/events.ts";
import { uuid } from "../../../../common/validation.ts";
import type { ProductStore } from "../products.ts";
import type { ProductCaching } from "./caching.ts";

export interface RefreshConsumerDeps {
  ctx: KafkaContext;
  producer: Producer;
  store: ProductStore;
  caching: ProductCaching;
  logger: Logger;
  /**
   * Consumer group; all instances share it, so each event refreshes the cache once (default "product-cache"
   * under the topic prefix, like every group of the platform, so tenants and test files sharing a broker never
   * join each other's group).
   */
  groupId?: string;
  /**
   * Where a new group starts (default false: the end). Events from before this group existed describe
   * changes the database already shows, and L2 entries older than them expire within their TTL.
   */
  fromBeginning?: boolean;
}

/** Whether an event can change which products a list or search returns. */
export const changesCatalogue = (event: ProductEvent | InventoryEvent) => event.type === "ProductCreated";

/**
 * Makes writes by any process reach the cache: for every `product` and `inventory` event, the
 * product is re-read from PostgreSQL, put into L2 (never over a newer copy) and announced on pub/sub
 * so every instance drops its L1 copy. Re-reading instead of applying the payload makes the handler
 * idempotent and immune to order: a duplicate or late event only writes the current row again.
 * Stock is not part of a cached product; an inventory event refreshes the product all the same, so a
 * product first seen through its stock (created by a process that bypasses the cache) converges too.
 */
export function runCacheRefreshConsumer(deps: RefreshConsumerDeps): Promise<{ close: () => Promise<void> }> {
  return runConsumer({
    ctx: deps.ctx,
    producer: deps.producer,
    groupId: deps.groupId ?? deps.ctx.topic("product-cache"),
    topics: ["product", "inventory"],
    logger: deps.logger,
    fromBeginning: deps.fromBeginning ?? false,
    handle: async (event) => {
      if (!uuid.safeParse(event.aggregateId).success) throw new PermanentEventError(`aggregate id ${event.aggregateId} is not a product id`);
      await deps.caching.refresh([event.aggregateId], deps.store.findByIds, { catalogueChanged: changesCatalogue(event) });
    },
  });
}
