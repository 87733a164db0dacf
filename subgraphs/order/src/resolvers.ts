import { z } from "zod";
import { forbidden, notFound } from "../../../common/errors.ts";
import { requireUser, type Identity } from "../../../common/identity.ts";
import { decodeCursor, encodeCursor, pageSize, parseInput, uuid } from "../../../common/validation.ts";
import { DateTime } from "../../../common/scalars.ts";
import type { BaseContext } from "../../../common/service.ts";
import { parsePlaceOrderInput } from "./input.ts";
import type { OrderReader } from "./orders.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import type { OrderDomain } from "./domain.ts";
import type { OrderStatusChanges } from "./order-status-changes.ts";
import type { OrderSnapshot } from "../../../common/events.ts";

export interface OrderContext extends BaseContext {
  identity: Identity;
  domain: OrderDomain;
  orderLoader: ReturnType<OrderReader["createLoader"]>;
  /** Kafka-fed order events; null where this instance runs no event hub (subscriptions refused). */
  statusChanges: OrderStatusChanges | null;
}

const cursor = z.object({ createdAt: z.string().datetime(), id: z.string().uuid() });
const paymentToken = z.string().min(1, "must not be empty").max(255, "must be at most 255 characters");
const toEdge = (node: OrderRecord) => ({ cursor: encodeCursor({ createdAt: node.createdAt.toISOString(), id: node.id }), node });

/** The owner or an admin may see an order; anyone else gets FORBIDDEN (unknown ids are null, as for products). */
async function visibleOrder(id: string, ctx: OrderContext): Promise<OrderRecord | null> {
  const user = requireUser(ctx.identity);
  const order = await ctx.orderLoader.load(id);
  if (order && order.userId !== user.id && !user.isAdmin) throw forbidden("This order belongs to someone else.");
  return order;
}

export const resolvers = {
  DateTime,
  Query: {
    order: (_: unknown, args: { id: string }, ctx: OrderContext) => visibleOrder(parseInput(uuid, args.id, "id").toLowerCase(), ctx),
    myOrders: async (_: unknown, args: { first: number; after?: string | null }, ctx: OrderContext) => {
      const user = requireUser(ctx.identity);
      const first = parseInput(pageSize, args.first, "first");
      const after = args.after ? decodeCursor(args.after, cursor) : null;
      const { rows, hasNextPage } = await ctx.domain.orders.pageForUser(user.id, first, after);
      const edges = rows.map(toEdge);
      return { edges, nodes: rows, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
  },
  Mutation: {
    placeOrder: (_: unknown, args: { input: unknown }, ctx: OrderContext) => {
      const user = requireUser(ctx.identity);
      return ctx.domain.placeOrder(user.id, parsePlaceOrderInput(args.input));
    },
    payOrder: (_: unknown, args: { id: string; paymentToken: string }, ctx: OrderContext) => {
      const user = requireUser(ctx.identity);
      const id = parseInput(uuid, args.id, "id").toLowerCase();
      return ctx.domain.actions.pay(user, id, parseInput(paymentToken, args.paymentToken, "paymentToken"));
    },
    cancelOrder: (_: unknown, args: { id: string }, ctx: OrderContext) => {
      const user = requireUser(ctx.identity);
      return ctx.domain.actions.cancel(user, parseInput(uuid, args.id, "id").toLowerCase());
    },
  },
  Subscription: {
    orderStatusChanged: {
      subscribe: async (_: unknown, args: { orderId: string }, ctx: OrderContext) => {
        const id = parseInput(uuid, args.orderId, "orderId").toLowerCase();
        if (!(await visibleOrder(id, ctx))) throw notFound("Order");
        if (!ctx.statusChanges) throw forbidden("Subscriptions are not enabled on this instance.");
        return ctx.statusChanges(id);
      },
      resolve: (order: OrderSnapshot) => order,
    },
  },
  Order: {
    __resolveReference: (ref: { id: string }, ctx: OrderContext) => (uuid.safeParse(ref.id).success ? visibleOrder(ref.id.toLowerCase(), ctx) : null),
    currency: (order: OrderRecord) => order.currency.trim(),
    payment: (order: { id: string }, _: unknown, ctx: OrderContext) => ctx.domain.payments.ofOrder(order.id),
  },
  OrderItem: {
    product: (item: { productId: string }) => ({ __typename: "Product", id: item.productId }),
  },
};
